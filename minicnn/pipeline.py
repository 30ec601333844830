"""The whole job, as functions the command line and the tutorials call: paired raw and annotated
images in, a trained fully convolutional network out, applied to images it never saw.

    train_pairs(...)     normalize, split, build a U-Net, fit, write model/curves/overlay
    demo(...)            train_pairs on the bundled DSB 2018 nuclei image (offline)
    predict_files(...)   a model applied to TIFF files: probabilities, masks, instances
    evaluate_folders()   predicted masks against ground truth: IoU, Dice, object F1
"""
import csv
import dataclasses
import os
import time
from importlib import resources

import numpy as np

from minicnn import io, metrics
from minicnn.data import (DEFAULT_NORMALIZATION, Pair, normalize, read_image,
                          sample_nuclei, split_train_val, write_image)
from minicnn.data.pairs import channels_before_plane
from minicnn.models import UNet
from minicnn.predict import predict_image, predict_stack, probabilities_to_mask
from minicnn.train import Trainer, TrainSettings, mask_scores

PRETRAINED = {"nuclei": "nuclei.npz"}       # names `minicnn predict` accepts instead of a file
DEMO_MARKER = ".minicnn-demo"               # lets `minicnn demo` replace its own earlier output


def prepare_output_folder(out_dir, force=False, resume=False, marker=None):
    """Create `out_dir`; refuse a non-empty one (nothing a user wrote is overwritten) unless
    force/resume, or unless it holds `marker` (an earlier run of the same command)."""
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not (force or resume):
        if marker is None or not os.path.exists(os.path.join(out_dir, marker)):
            raise FileExistsError(f"the output folder {out_dir} already exists and is not empty; "
                                  f"choose a new --out, or add --force to write into it")
    os.makedirs(out_dir, exist_ok=True)
    if marker:
        open(os.path.join(out_dir, marker), "w").close()


def normalize_pairs(pairs, settings=None):
    settings = settings or DEFAULT_NORMALIZATION
    return [Pair(name, normalize(image, settings), mask) for name, image, mask in pairs]


def train_pairs(pairs, out_dir, settings=None, model_options=None, val_fraction=0.25,
                resume=None, progress=True, normalization=None, channel_axis=None):
    """Train a U-Net on (name, image, mask) pairs; returns (model, history, summary dict).

    channel_axis: the axis of the image files that held the channels (what `read_pairs` was
    given); it is stored in model.npz so that `predict_files` reads new images the same way.

    Writes to out_dir: model.npz (best validation IoU), checkpoint.npz (to resume),
    history.csv, curves.png (loss and IoU) and overlay.png (validation image / truth / prediction).
    """
    from minicnn import viz

    settings = settings or TrainSettings()
    normalization = normalization or DEFAULT_NORMALIZATION
    train, val = split_train_val(normalize_pairs(pairs, normalization), val_fraction)
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
    history = trainer.fit(progress=progress)
    seconds = time.perf_counter() - start

    best = io.load(os.path.join(out_dir, "model.npz"))           # the best model, not the last
    if settings.device != "cpu":
        best.to(settings.device)
    viz.plot_curves(history, os.path.join(out_dir, "curves.png"))
    name, image, mask = val[0]
    probs = predict_image(best, image, device=settings.device)
    prediction = probabilities_to_mask(probs, settings.threshold)
    viz.plot_overlay(image if image.ndim == 2 else image[0], mask, prediction,
                     os.path.join(out_dir, "overlay.png"), title=f"validation: {name}")
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
    prepare_output_folder(out_dir, force=force, marker=DEMO_MARKER)
    image, labels = sample_nuclei()
    settings, model_options = demo_settings(quick, device)
    return train_pairs([Pair("dsb2018_nuclei", image, labels > 0)], out_dir, settings,
                       model_options, val_fraction=0.25, progress=progress)


def load_model(model):
    """A model from a .npz path, a bundled pretrained name ('nuclei'), or a model.onnx written
    by `minicnn export` (run by ONNX Runtime: minicnn.interop.OnnxModel)."""
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
    loaded = io.load(model)
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


def predict_files(model, image_paths, out_dir, tile=256, overlap=None, threshold=None,
                  instances=False, device="cpu", force=False, channel_axis=None):
    """Write <stem>_prob.tif, <stem>_mask.tif (and <stem>_labels.tif + counts.csv) per image.
    Returns a list of (stem, object count or None).

    channel_axis: the axis of the image files that holds the channels (default: the one the
    model was trained with, stored in model.npz; None for single-channel images and stacks)."""
    if isinstance(model, str):
        model = load_model(model)
    if device != "cpu":
        model.to(device)
    metadata = getattr(model, "metadata", {}) or {}
    normalization = metadata.get("normalization", DEFAULT_NORMALIZATION)
    threshold = metadata.get("threshold", 0.5) if threshold is None else threshold
    channel_axis = metadata.get("channel_axis") if channel_axis is None else channel_axis
    in_channels = model.config.get("in_channels", 1)
    os.makedirs(out_dir, exist_ok=True)
    counts = []
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        image = read_image(path)
        image = model_input_planes(image, channel_axis, in_channels, path)
        probs = predict_stack(model, normalize(image, normalization), tile=tile, overlap=overlap,
                              device=device, channels=channel_axis is not None)  # (..., C, H, W)
        mask = probabilities_to_mask(probs, threshold)                      # (..., H, W)
        single = probs.shape[-3] == 1
        prob_out = probs[..., 0, :, :] if single else probs
        write_image(os.path.join(out_dir, f"{stem}_prob.tif"), prob_out.astype(np.float32),
                    overwrite=force)
        write_image(os.path.join(out_dir, f"{stem}_mask.tif"),
                    (mask * 255).astype(np.uint8) if single else mask, overwrite=force)
        count = None
        if instances:
            planes = mask.reshape(-1, *mask.shape[-2:])
            split = [metrics.split_instances(plane) for plane in planes]
            labels = np.stack([labels for labels, _ in split]).reshape(mask.shape)
            count = int(sum(n for _, n in split))
            write_image(os.path.join(out_dir, f"{stem}_labels.tif"),
                        labels.astype(np.uint16), overwrite=force)
        counts.append((stem, count))
    if instances:
        with open(os.path.join(out_dir, "counts.csv"), "w", newline="") as f:
            csv.writer(f).writerows([("image", "objects"), *counts])
    return counts


def _instances(mask):
    """Instance labels of a mask: kept if it already holds several ids, else split."""
    values = np.unique(mask)
    if len(values) > 2:
        return mask
    labels, _ = metrics.split_instances(mask > 0)
    return labels


def evaluate_folders(pred_dir, masks_dir):
    """Pair <stem>_mask.tif in pred_dir with <stem>.tif in masks_dir; returns per-image rows
    (dicts with image, iou, dice, f1) and the mean row."""
    predictions = sorted(f for f in os.listdir(pred_dir) if f.endswith("_mask.tif"))
    if not predictions:
        raise FileNotFoundError(f"no *_mask.tif files in {pred_dir}; run `minicnn predict` "
                                f"into that folder first")
    rows, missing = [], []
    for name in predictions:
        stem = name[:-len("_mask.tif")]
        truth_path = next((os.path.join(masks_dir, stem + ext) for ext in (".tif", ".tiff")
                           if os.path.exists(os.path.join(masks_dir, stem + ext))), None)
        if truth_path is None:
            missing.append(stem)
            continue
        pred, truth = read_image(os.path.join(pred_dir, name)), read_image(truth_path)
        iou, dice = mask_scores(pred > 0, truth > 0)
        labels_path = os.path.join(pred_dir, f"{stem}_labels.tif")
        pred_labels = read_image(labels_path) if os.path.exists(labels_path) else _instances(pred)
        f1 = metrics.object_f1(pred_labels.astype(np.int64),
                               _instances(truth).astype(np.int64))["f1"]
        rows.append({"image": stem, "iou": iou, "dice": dice, "f1": f1})
    if missing:
        raise FileNotFoundError(f"no ground truth in {masks_dir} for: {', '.join(missing)} "
                                f"(expected <stem>.tif next to each <stem>_mask.tif)")
    mean = {"image": "mean", **{k: float(np.mean([r[k] for r in rows]))
                                for k in ("iou", "dice", "f1")}}
    return rows, mean
