"""Figures for training and for the tutorials: loss curves, segmentation overlays, feature maps.

Each function draws on a matplotlib Figure with an Agg canvas (works without a display and
without switching matplotlib's global backend), saves a PNG when `path` is given, and returns the
Figure (a notebook shows it when it is the last value of a cell). Arrays may be NumPy, CuPy or
minicnn Tensors; they are copied to the host first.
"""
import math
import os

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor


def host(array):
    """A NumPy array from a NumPy/CuPy array or a Tensor."""
    return array.numpy() if isinstance(array, Tensor) else backend.to_numpy(array)


def new_figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, constrained_layout=True)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
    return fig


def _columns(history):
    """{key: list} from a dict of lists or a list of dicts (a key missing in a row gives None)."""
    if isinstance(history, dict):
        return {k: list(v) for k, v in history.items()}
    if isinstance(history, (list, tuple)) and all(isinstance(row, dict) for row in history):
        keys = list(dict.fromkeys(k for row in history for k in row))
        return {k: [row.get(k) for row in history] for k in keys}
    raise TypeError(f"history must be a list of dicts (one per step) or a dict of lists, with "
                    f"keys such as step, loss, val_loss, val_iou; got {type(history).__name__}")


def _points(xs, ys):
    """The (x, y) pairs where y was recorded (not None, not NaN)."""
    pairs = [(x, float(y)) for x, y in zip(xs, ys) if y is not None and not math.isnan(float(y))]
    return ([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else ([], [])


def plot_curves(history, path=None):
    """Training curves: loss (and val_loss) on a log scale on the left; IoU keys (val_iou,
    train_iou, iou) on a second panel when present. x axis: 'step' (or 'epoch', or the row
    number). Returns the Figure; saves it (e.g. 'curves.png') when path is given."""
    cols = _columns(history)
    if "loss" not in cols:
        raise ValueError(f"plot_curves: history needs a 'loss' entry, it has {sorted(cols)}")
    xkey = "step" if "step" in cols else "epoch" if "epoch" in cols else None
    xs = cols[xkey] if xkey else list(range(len(cols["loss"])))
    iou_keys = [k for k in ("val_iou", "train_iou", "iou") if k in cols]
    fig = new_figure((11 if iou_keys else 6, 4))
    panels = fig.subplots(1, 2 if iou_keys else 1, squeeze=False)[0]
    loss_ax = panels[0]
    for key, style in (("loss", "-"), ("val_loss", "o-")):
        if key in cols:
            px, py = _points(xs, cols[key])
            loss_ax.plot(px, py, style, ms=3, label=key)
    if any(y > 0 for k in ("loss", "val_loss") if k in cols for y in _points(xs, cols[k])[1]):
        loss_ax.set_yscale("log")
    loss_ax.set_xlabel(xkey or "record")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    loss_ax.legend()
    loss_ax.grid(True, which="both", alpha=0.3)
    if iou_keys:
        iou_ax = panels[1]
        for key in iou_keys:
            px, py = _points(xs, cols[key])
            iou_ax.plot(px, py, "o-", ms=3, label=key)
        iou_ax.set_ylim(0, 1)
        iou_ax.set_xlabel(xkey or "record")
        iou_ax.set_ylabel("IoU (intersection over union)")
        iou_ax.set_title("segmentation quality")
        iou_ax.legend()
        iou_ax.grid(True, alpha=0.3)
    return _finish(fig, path)


def _image_2d(array, what):
    a = np.squeeze(host(array))
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        return a  # an RGB(A) picture
    if a.ndim != 2:
        raise ValueError(f"plot_overlay: {what} must be one 2-D image (H, W) (singleton axes are "
                         f"dropped), got shape {np.shape(host(array))}")
    return a


def foreground(mask):
    """True where a mask marks an object: labels or 0/1 values > 0, probabilities > 0.5."""
    mask = np.asarray(mask)
    return mask > 0.5 if mask.dtype.kind == "f" else mask != 0


def plot_overlay(image, truth, prediction, path=None, title=None):
    """Four panels: the image, the ground truth, the prediction, and the image with the outlines
    of the ground truth (green) and the prediction (magenta) drawn over it."""
    image = _image_2d(image, "image")
    truth, prediction = _image_2d(truth, "truth"), _image_2d(prediction, "prediction")
    if truth.shape != image.shape[:2] or prediction.shape != image.shape[:2]:
        raise ValueError(f"plot_overlay: image {image.shape[:2]}, truth {truth.shape} and "
                         f"prediction {prediction.shape} must have the same height and width")
    fig = new_figure((16, 4.6))
    axes = fig.subplots(1, 4)
    gray = "gray" if image.ndim == 2 else None
    axes[0].imshow(image, cmap=gray)
    axes[0].set_title("image")
    axes[1].imshow(foreground(truth), cmap="gray", interpolation="nearest")
    axes[1].set_title("ground truth")
    shown = prediction if prediction.dtype.kind == "f" else foreground(prediction)
    axes[2].imshow(shown, cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    axes[2].set_title("prediction")
    axes[3].imshow(image, cmap=gray)
    for mask, color in ((truth, "lime"), (prediction, "magenta")):
        fg = foreground(mask).astype(np.float32)
        if 0 < fg.sum() < fg.size:  # contour needs both inside and outside
            axes[3].contour(fg, levels=[0.5], colors=[color], linewidths=1)
    axes[3].set_title("outlines: truth (green), prediction (magenta)")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_feature_maps(maps, path=None, max_maps=16, title=None):
    """A grid of the first `max_maps` channels of feature maps (C, H, W) (or (1, C, H, W)),
    each with its own colour range: what the filters of one layer respond to."""
    maps = host(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps needs maps of shape (C, H, W) or (1, C, H, W), got "
                         f"{maps.shape}; for a batch pick one sample, e.g. maps[0]")
    if max_maps < 1:
        raise ValueError(f"max_maps must be at least 1, got {max_maps}")
    count = min(maps.shape[0], max_maps)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig = new_figure((2.2 * cols, 2.2 * rows + (0.4 if title else 0)))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < count:
            ax.imshow(maps[i], cmap="viridis")
            ax.set_title(f"channel {i}", fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
