"""The whole job, as functions the command line and the tutorials call: paired raw and annotated
images in, a trained fully convolutional network out, applied to images it never saw.

    train_pairs(...)     normalize, split, build a U-Net, fit, write model/curves/overlay
    demo(...)            train_pairs on the bundled DSB 2018 nuclei image (offline)
    predict_files(...)   a model applied to TIFF files: probabilities, masks, instances
    evaluate_folders()   predicted masks against ground truth: IoU, Dice, object F1
"""
import contextlib
import dataclasses
import os
import time
import warnings
import zipfile
from importlib import resources

import numpy as np

from minicnn import io, metrics
from minicnn.data import (DEFAULT_NORMALIZATION, DataError, Pair, normalize, read_image,
                          sample_nuclei, split_train_val, write_image)
from minicnn.data.files import (LOCK_NAME, TEMP_PREFIX, FolderLock, refuse_non_utf8_name,
                                refuse_overwrite, remove_stale_temporaries, write_csv)
from minicnn.data.pairs import (channels_before_plane, refuse_non_labels, refuse_pixel_type,
                                refuse_undeclared_channels, tiff_files)
from minicnn.data.tiff import tiff_header
from minicnn.models import UNet
from minicnn.predict import predict_image, predict_stack, probabilities_to_mask
from minicnn.train import Interrupted, Trainer, TrainSettings, mask_scores

PRETRAINED = {"nuclei": "nuclei.npz"}       # names `minicnn predict` accepts instead of a file
DEMO_MARKER = ".minicnn-demo"               # lets `minicnn demo` replace its own earlier output


def refuse_file_as_folder(out_dir):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"the output folder {out_dir} is a file; give --out the name of a "
                        f"folder (a new one is created)")


def holds_our_run(out_dir, resume=None, marker=None):
    """True when out_dir holds the run that `resume` (a checkpoint path) continues, or the
    output of an earlier run of the same command (`marker` is there)."""
    if resume is not None and os.path.samefile(os.path.dirname(os.path.abspath(resume)),
                                               out_dir):
        return True
    return marker is not None and os.path.exists(os.path.join(out_dir, marker))


def prepare_output_folder(out_dir, force=False, resume=None, marker=None):
    """Create `out_dir`; refuse a non-empty one (nothing a user wrote is overwritten) unless
    force, unless it holds `marker` (an earlier run of the same command), or unless it is the
    folder of the checkpoint `resume` continues (the run's own files)."""
    refuse_file_as_folder(out_dir)
    if os.path.isdir(out_dir):
        FolderLock(out_dir).check_free()
        user_files = [name for name in os.listdir(out_dir)
                      if name != LOCK_NAME and not name.startswith(TEMP_PREFIX)]
        if user_files and not (force or holds_our_run(out_dir, resume, marker)):
            raise FileExistsError(f"the output folder {out_dir} already exists and is not empty; "
                                  f"choose a new --out, or add --force to write into it")
    os.makedirs(out_dir, exist_ok=True)
    if marker:
        open(os.path.join(out_dir, marker), "w").close()


@contextlib.contextmanager
def output_folder(out_dir, force=False, resume=None, marker=None, must_be_empty=True):
    """The folder a run writes into, held by this process (a lock file with our pid) for the
    block; temporary files of earlier, killed runs are removed. must_be_empty: see
    `prepare_output_folder`; False (predict) only creates the folder."""
    if must_be_empty:
        prepare_output_folder(out_dir, force=force, resume=resume, marker=marker)
    else:
        refuse_file_as_folder(out_dir)
        os.makedirs(out_dir, exist_ok=True)
    with FolderLock(out_dir):
        remove_stale_temporaries(out_dir)
        yield out_dir


def draw_pictures(history, best, val, settings, out_dir):
    """curves.png and overlay.png. A picture that fails never fails the run: the model is
    saved by then, so a failure is a warning."""
    from minicnn import viz

    def overlay(path):
        name, image, mask = val[0]
        probs = predict_image(best, image, device=settings.device)
        prediction = probabilities_to_mask(probs, settings.threshold)
        viz.plot_overlay(image if image.ndim == 2 else image[0], mask, prediction, path,
                         title=f"validation: {name}")

    pictures = {"curves.png": lambda path: viz.plot_curves(history, path),
                "overlay.png": overlay}
    for name, draw in pictures.items():
        try:
            draw(os.path.join(out_dir, name))
        except Exception as error:  # noqa: BLE001  (any failure of a picture is a warning)
            warnings.warn(f"{name} could not be drawn ({type(error).__name__}: {error}); the "
                          f"model is saved", stacklevel=2)


def refuse_small_images(parts, depth):
    """Each training and validation part must be big enough to learn from: at least
    max(8, 2**(depth-1)) pixels on each side (a 3 x 3 image trains nothing)."""
    side = max(8, 2 ** (depth - 1))
    for name, image, _ in parts:
        height, width = image.shape[-2:]
        if min(height, width) < side:
            raise DataError(f"{name} is {height} x {width} pixels: too small to train on (each "
                            f"image, and each part of a single image split for validation, "
                            f"needs at least {side} x {side}); use larger images, or for a "
                            f"single image a --val-fraction (val_fraction=) that leaves both "
                            f"parts {side} pixels wide")


def normalize_named(image, settings, name):
    """normalize(image, settings); a DataError names the image."""
    try:
        return normalize(image, settings)
    except DataError as error:
        raise DataError(f"{name}: {error}") from None


def normalize_pairs(pairs, settings=None):
    settings = settings or DEFAULT_NORMALIZATION
    return [Pair(name, normalize_named(image, settings, name), mask)
            for name, image, mask in pairs]


def train_pairs(pairs, out_dir, settings=None, model_options=None, val_fraction=0.25,
                resume=None, progress=True, normalization=None, channel_axis=None):
    """Train a U-Net on (name, image, mask) pairs; returns (model, history, summary dict).

    channel_axis: the axis of the image files that held the channels (what `read_pairs` was
    given); it is stored in model.npz so that `predict_files` reads new images the same way.

    Writes to out_dir: model.npz (best validation IoU), checkpoint.npz (to resume),
    history.csv, curves.png (loss and IoU) and overlay.png (validation image / truth / prediction).
    resume: a checkpoint.npz to continue from; the run continues in out_dir (the checkpoint's
    folder, or a new one that receives a copy of the run's best model).
    """
    settings = settings or TrainSettings()
    normalization = normalization or DEFAULT_NORMALIZATION
    train, val = split_train_val(normalize_pairs(pairs, normalization), val_fraction)
    refuse_small_images(train + val, (model_options or {}).get("depth", 3))
    channels = 1 if train[0].image.ndim == 2 else train[0].image.shape[0]
    options = {"in_channels": channels, "out_channels": settings.classes or 1,
               **(model_options or {})}
    model = UNet(**options)
    if settings.device != "cpu":
        model.to(settings.device)
    metadata = {"normalization": normalization, "classes": settings.classes,
                "threshold": settings.threshold, "channel_axis": channel_axis,
                "training": dataclasses.asdict(settings)}
    trainer = Trainer(model, train, val, settings, out_dir, extra_metadata=metadata)
    if resume:
        trainer.resume(resume)
    start = time.perf_counter()
    try:
        history = trainer.fit(progress=progress)
        seconds = time.perf_counter() - start
        best = io.load(os.path.join(out_dir, "model.npz"))       # the best model, not the last
        if settings.device != "cpu":
            best.to(settings.device)
        draw_pictures(history, best, val, settings, out_dir)
    except Interrupted:
        raise
    except KeyboardInterrupt:             # e.g. a second Ctrl-C while the checkpoint was saved
        raise Interrupted(f"interrupted at step {trainer.step}: "
                                  f"{trainer.what_was_saved()}") from None
    summary = {"val_iou": max(row["val_iou"] for row in history), "steps": trainer.step,
               "seconds": seconds, "best_step": max(history, key=lambda r: r["val_iou"])["step"],
               "out_dir": out_dir}
    return best, history, summary


def demo_settings(quick=False, device="cpu"):
    """The demo's recipe: quick finishes in under a minute on 2 CPU cores."""
    if quick:
        return TrainSettings(steps=120, batch=4, patch=96, val_every=40, warmup_steps=10,
                             lr=5e-3, device=device), {"base_channels": 8, "depth": 3}
    return TrainSettings(steps=800, batch=8, patch=128, val_every=50, device=device), {}


def demo(out_dir="minicnn-demo", quick=False, device="cpu", progress=True, force=False):
    """Train on the bundled DSB 2018 image: left three quarters train, right quarter validation."""
    with output_folder(out_dir, force=force, marker=DEMO_MARKER):
        image, labels = sample_nuclei()
        settings, model_options = demo_settings(quick, device)
        return train_pairs([Pair("dsb2018_nuclei", image, labels > 0)], out_dir, settings,
                           model_options, val_fraction=0.25, progress=progress)


TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")     # classic and BigTIFF


def refuse_other_model_formats(path):
    """A TIFF, a bioimage.io package or a PyTorch file where a model.npz goes: say which it is
    and what to give instead (mc.load would only say 'not a valid minicnn file')."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"the model {path} is a folder; give the model.npz inside it")
    with open(path, "rb") as f:
        head = f.read(4)
    if head in TIFF_MAGIC:
        raise DataError(f"the model {path} is a TIFF image, not a model (the model.npz of "
                        f"`minicnn train`); predict takes the model first, then the images: "
                        f"`minicnn predict MODEL.npz IMAGE.tif ... --out FOLDER`")
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if "rdf.yaml" in names:
        raise DataError(f"the model {path} is a bioimage.io package (for Fiji, ilastik, ...); "
                        f"give the model.npz it was exported from, or unzip it and give its "
                        f"model.onnx")
    if any(name.endswith("data.pkl") for name in names):
        raise DataError(f"the model {path} is a PyTorch file (`minicnn export --format torch`); "
                        f"give the model.npz it was exported from, or its model.onnx (`minicnn "
                        f"export MODEL.npz --format onnx`); from Python, "
                        f"minicnn.interop.from_torch(minicnn.interop.load_torch(path)) brings "
                        f"it back")


def load_model(model):
    """A model from a .npz path, a bundled pretrained name ('nuclei'), or a model.onnx written
    by `minicnn export` (run by ONNX Runtime: minicnn.interop.OnnxModel)."""
    refuse_non_utf8_name(model)
    if str(model).lower().endswith(".onnx"):
        from minicnn.interop import OnnxModel

        return OnnxModel(model)
    if model in PRETRAINED:
        path = resources.files("minicnn.data") / "pretrained" / PRETRAINED[model]
        with resources.as_file(path) as real_path:
            return io.load(real_path)
    if not os.path.exists(model):
        raise FileNotFoundError(f"no model file {model}; give a model.npz written by `minicnn "
                                f"train`, or one of the bundled names: {', '.join(PRETRAINED)}")
    refuse_other_model_formats(model)
    try:
        loaded = io.load(model)
    except io.ModelFileError as error:
        detail = str(error).removeprefix("mc.load: ")
        raise io.ModelFileError(f"{detail} (the model must be a model.npz written by `minicnn "
                                f"train`, a model.onnx from `minicnn export`, or "
                                f"{', '.join(PRETRAINED)})") from None
    if isinstance(loaded, dict):
        raise ValueError(f"{model} holds a bare state dict or checkpoint, not a model; give the "
                         f"model.npz that `minicnn train` wrote")
    return loaded


def model_input_planes(image, channel_axis, in_channels, path):
    """The image with its channel axis moved just before (H, W), so (..., C, H, W) with
    C == in_channels; channel_axis=None: the image unchanged (2-D, or a stack of 2-D planes)."""
    if channel_axis is None:
        if in_channels != 1:
            raise ValueError(f"the model takes {in_channels}-channel images but no channel axis "
                             f"was given for {path} (shape {image.shape}); pass --channel-axis "
                             f"(channel_axis=) with the axis that holds the {in_channels} "
                             f"channels, e.g. -1 for (H, W, C) or 0 for (C, H, W)")
        return image
    if image.ndim == 2 and in_channels == 1:
        return image[None]                                               # (1, H, W)
    image = channels_before_plane(image, channel_axis, path)            # (..., C, H, W)
    if image.shape[-3] != in_channels:
        raise ValueError(f"{path} has {image.shape[-3]} channels on axis {channel_axis} (shape "
                         f"after moving it before (H, W): {image.shape}) but the model was "
                         f"trained on {in_channels}-channel images; pass the --channel-axis that "
                         f"holds the {in_channels} channels")
    return image


LEADING_AXES = "TZ"          # what may stand before the image planes: a stack, a time series


def output_names(stem, instances):
    return [f"{stem}_prob.tif", f"{stem}_mask.tif"] + ([f"{stem}_labels.tif"] if instances else [])


def check_prediction_inputs(image_paths, out_dir, instances, force, channel_axis, in_channels):
    """Everything that can be checked before the first image is predicted: names, headers
    (shape and axes: channels, at most T and Z before the planes), and the files to be written.
    Returns the stems."""
    stems = {}
    for path in image_paths:
        refuse_non_utf8_name(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems and os.path.abspath(stems[stem]) == os.path.abspath(path):
            raise DataError(f"{path} is given twice; give each image once")
        if stem in stems:
            raise DataError(f"{stems[stem]} and {path} share the name {stem}: their outputs would "
                            f"overwrite each other; predict them into different --out folders")
        stems[stem] = path
        shape, axes, dtype = tiff_header(path)
        refuse_pixel_type(dtype, path)
        if in_channels == 1:
            refuse_undeclared_channels(axes, shape, path, channel_axis)
        # the layout checks on a stand-in array of the file's shape (broadcast: no memory)
        planes = model_input_planes(np.broadcast_to(np.float32(0), shape), channel_axis,
                                    in_channels, path)
        leading = planes.ndim - (2 if channel_axis is None else 3)
        if leading > len(LEADING_AXES):
            raise DataError(f"{path} has shape {shape} (axes {axes}): prediction takes 2-D images,"
                            f" stacks (Z, Y, X) and time series (T, Z, Y, X), with one more axis "
                            f"for channels (--channel-axis); split the file, e.g. one file per "
                            f"time point or channel (Fiji: Image > Stacks > Tools)")
    for stem in stems:
        for name in output_names(stem, instances):
            refuse_overwrite(os.path.join(out_dir, name), force)
    if instances:
        refuse_overwrite(os.path.join(out_dir, "counts.csv"), force)
    return list(stems)


def planes_axes(leading, channels=False):
    """ImageJ axes of an output: 'YX', 'ZYX', 'TZYX', with C before YX for several channels."""
    return LEADING_AXES[len(LEADING_AXES) - leading:] + ("C" if channels else "") + "YX"


def predict_files(model, image_paths, out_dir, tile=None, overlap=None, threshold=None,
                  instances=False, device="cpu", force=False, channel_axis=None):
    """Write <stem>_prob.tif, <stem>_mask.tif (and <stem>_labels.tif + counts.csv) per image.
    Returns a list of (stem, object count or None).

    channel_axis: the axis of the image files that holds the channels (default: the one the
    model was trained with, stored in model.npz; None for single-channel images and stacks).
    Nothing is predicted until every input and output has been checked; an existing output is
    only replaced with force=True (--force). Ctrl-C raises Interrupted, saying what was written."""
    if isinstance(model, str):
        model = load_model(model)
    if device != "cpu":
        model.to(device)
    metadata = getattr(model, "metadata", {}) or {}
    normalization = metadata.get("normalization", DEFAULT_NORMALIZATION)
    classes = model.config.get("out_channels", 1)
    if threshold is not None and classes > 1:
        raise DataError(f"--threshold (threshold=) applies to a foreground/background model, "
                        f"but this one has {classes} classes: each pixel gets its most likely "
                        f"class; drop --threshold")
    threshold = metadata.get("threshold", 0.5) if threshold is None else threshold
    channel_axis = metadata.get("channel_axis") if channel_axis is None else channel_axis
    in_channels = model.config.get("in_channels", 1)
    with output_folder(out_dir, must_be_empty=False):
        stems = check_prediction_inputs(image_paths, out_dir, instances, force, channel_axis,
                                        in_channels)
        counts = []
        try:
            for stem, path in zip(stems, image_paths):
                count = predict_file(model, path, os.path.join(out_dir, stem), tile, overlap,
                                     threshold, instances, device, normalization, channel_axis,
                                     in_channels)
                counts.append((stem, count))
        except KeyboardInterrupt:
            done = ", ".join(stem for stem, _ in counts) or "none"
            raise Interrupted(f"interrupted; the outputs of {len(counts)} of {len(stems)} images "
                              f"are complete in {out_dir} ({done}), no partial file is left; "
                              f"run again with --force to redo all") from None
        if instances:
            write_csv(os.path.join(out_dir, "counts.csv"), [("image", "objects"), *counts],
                      overwrite=force)
    return counts


def predict_file(model, path, prefix, tile, overlap, threshold, instances, device,
                 normalization, channel_axis, in_channels):
    """Predict one image file; writes prefix_prob.tif, prefix_mask.tif (+ prefix_labels.tif);
    returns the object count (or None without instances)."""
    image = model_input_planes(read_image(path), channel_axis, in_channels, path)
    probs = predict_stack(model, normalize_named(image, normalization, path), tile=tile,
                          overlap=overlap, device=device,
                          channels=channel_axis is not None)                 # (..., C, H, W)
    mask = probabilities_to_mask(probs, threshold)                          # (..., H, W)
    single = probs.shape[-3] == 1
    leading = mask.ndim - 2
    prob_out = probs[..., 0, :, :] if single else probs
    write_image(f"{prefix}_prob.tif", prob_out.astype(np.float32), overwrite=True,
                axes=planes_axes(leading, channels=not single))
    write_image(f"{prefix}_mask.tif", (mask * 255).astype(np.uint8) if single else mask,
                overwrite=True, axes=planes_axes(leading))
    if not instances:
        return None
    planes = mask.reshape(-1, *mask.shape[-2:])
    split = [metrics.split_instances(plane) for plane in planes]
    labels = np.stack([labels for labels, _ in split]).reshape(mask.shape)
    write_image(f"{prefix}_labels.tif", labels.astype(np.uint16), overwrite=True,
                axes=planes_axes(leading))
    return int(sum(n for _, n in split))


def _instances(mask):
    """Instance labels of a mask: kept if it already holds several ids, else split."""
    values = np.unique(mask)
    if len(values) > 2:
        return mask
    labels, _ = metrics.split_instances(mask > 0)
    return labels


def object_f1_by_plane(pred_labels, truth):
    """Object F1 of (..., H, W) label images, matched plane by plane and counted over all:
    predict labels each plane of a stack on its own (ids restart at 1 in every plane), so one
    id in two planes is two objects, not one."""
    tp = fp = fn = 0
    height, width = truth.shape[-2:]
    for pred_plane, true_plane in zip(pred_labels.reshape(-1, height, width),
                                      truth.reshape(-1, height, width)):
        counts = metrics.object_f1(_instances(pred_plane).astype(np.int64),
                                   _instances(true_plane).astype(np.int64))
        tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def evaluate_folders(pred_dir, masks_dir):
    """Pair <stem>_mask.tif in pred_dir with <stem>.tif in masks_dir; returns per-image rows
    (dicts with image, iou, dice, f1) and the mean row."""
    for folder, flag in ((pred_dir, "--pred"), (masks_dir, "--masks")):
        if not os.path.isdir(folder):
            raise DataError(f"{flag} folder {folder} does not exist or is not a folder; check "
                            f"the path")
    predictions = sorted(f for f in os.listdir(pred_dir) if f.endswith("_mask.tif"))
    if not predictions:
        raise FileNotFoundError(f"no *_mask.tif files in {pred_dir}; run `minicnn predict` "
                                f"into that folder first")
    truths = tiff_files(masks_dir, "--masks")        # {stem: path}; one file per name
    rows, missing = [], []
    for name in predictions:
        stem = name[:-len("_mask.tif")]
        truth_path = truths.get(stem)
        if truth_path is None:
            missing.append(stem)
            continue
        pred_path = os.path.join(pred_dir, name)
        pred, truth = read_image(pred_path), read_image(truth_path)
        if pred.shape != truth.shape:
            raise DataError(f"{pred_path} has shape {pred.shape} but its ground truth "
                            f"{truth_path} has shape {truth.shape}; a prediction and its ground "
                            f"truth must be masks of the same image (the same height, width and "
                            f"planes; one channel)")
        refuse_non_labels(pred, os.path.join(pred_dir, name), "is it a probability map? "
                                 "give masks (e.g. the <stem>_mask.tif of `minicnn predict`)")
        refuse_non_labels(truth, truth_path, "the ground truth (--masks) must be masks "
                                 "or object labels, not raw images or probabilities")
        iou, dice = mask_scores(pred > 0, truth > 0)
        labels_path = os.path.join(pred_dir, f"{stem}_labels.tif")
        pred_labels = read_image(labels_path) if os.path.exists(labels_path) else pred
        f1 = object_f1_by_plane(pred_labels, truth) if pred_labels.shape == truth.shape else \
            object_f1_by_plane(pred, truth)          # (a stale labels file of another size)
        rows.append({"image": stem, "iou": iou, "dice": dice, "f1": f1})
    if missing:
        raise FileNotFoundError(f"no ground truth in {masks_dir} for: {', '.join(missing)} "
                                f"(expected <stem>.tif next to each <stem>_mask.tif)")
    mean = {"image": "mean", **{k: float(np.mean([r[k] for r in rows]))
                                for k in ("iou", "dice", "f1")}}
    return rows, mean
