"""Pairing raw images with their annotations: `images/X.tif` goes with `masks/X.tif`.

`read_pairs` reads both folders, checks everything a user can get wrong (missing partners,
different sizes, empty or out-of-range masks, bad files) and returns a list of
`Pair(name, image, mask)`:

    image  float32, (H, W); or (C, H, W) when the files have a channel axis named by `channel_axis`
    mask   (H, W): foreground 0/1 as uint8 (any nonzero label is foreground: binary masks and
           instance labels both work), or class indices in [0, classes) when `classes` is given
"""
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from minicnn.data.errors import DataError
from minicnn.data.files import refuse_non_utf8_name
from minicnn.data.tiff import CHANNEL_AXES, TIFF_SUFFIXES, read_image, read_tiff


class Pair(NamedTuple):
    name: str          # the shared file stem, e.g. "cells_01"
    image: np.ndarray  # float32 (H, W) or (C, H, W)
    mask: np.ndarray   # (H, W) uint8: 0/1, or class indices


def _list_names(names):
    names = sorted(names)
    shown = ", ".join(names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def tiff_files(folder, role):
    """{stem: path} for the .tif/.tiff files in `folder`; `role` names the folder in messages."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{role} folder {folder} does not exist or is not a folder; "
                        f"check the path")
    files = {}
    for path in sorted(folder.iterdir()):
        is_tiff = path.suffix.lower() in TIFF_SUFFIXES and not path.name.startswith(".")
        if is_tiff and path.is_symlink() and not path.exists():
            raise DataError(f"{path} in the {role} folder is a link to {os.readlink(path)}, "
                            f"which does not exist; restore the file it points to, or remove "
                            f"the link")
        if path.is_file() and is_tiff:
            refuse_non_utf8_name(path)
            if path.stem in files:
                raise DataError(f"{role} folder {folder} holds both {files[path.stem].name} and "
                                f"{path.name}; keep one file per name")
            files[path.stem] = path
    if not files:
        raise DataError(f"{role} folder {folder} holds no .tif/.tiff files; put one TIFF per "
                        f"image there (images/X.tif pairs with masks/X.tif)")
    return files


def _drop_leading_ones(array, keep_ndim):
    """Squeeze leading axes of size 1 while the array has more than `keep_ndim` axes."""
    while array.ndim > keep_ndim and array.shape[0] == 1:
        array = array[0]
    return array


def channels_before_plane(array, channel_axis, path):
    """array with its axis `channel_axis` moved just before (H, W): (..., C, H, W)."""
    if array.ndim < 3 or not -array.ndim <= channel_axis < array.ndim:
        raise DataError(f"channel axis {channel_axis} is out of range for {path} with shape "
                        f"{array.shape}: channel_axis={channel_axis} must name one of its axes, "
                        f"from {-array.ndim} to {array.ndim - 1}, and an image with channels has "
                        f"at least 3 (--channel-axis N on the command line)")
    return np.moveaxis(array, channel_axis, -3)


def refuse_undeclared_channels(axes, shape, path, channel_axis):
    """The one rule, in training and prediction alike: an image whose file says it has channels
    (an RGB image, axes ...S; an ImageJ C axis) is read with its channels only when
    `channel_axis` names them; without it images are single-channel, and such a file is refused
    (never read as a stack of planes)."""
    if channel_axis is not None or axes is None:
        return
    for axis, (letter, size) in enumerate(zip(axes, shape)):
        if letter in CHANNEL_AXES and size > 1:
            kind = "an RGB image" if letter == "S" else "a multi-channel ImageJ image"
            axis -= len(shape)
            raise DataError(f"{path} is {kind}: {size} channels on axis {axis} (shape {shape}, "
                            f"axes {axes}), but without --channel-axis (channel_axis=) images are "
                            f"read as one channel: convert it to one channel (e.g. Fiji: Image > "
                            f"Type > 8-bit), or use its channels with --channel-axis {axis} and "
                            f"a model trained on {size}-channel images")


def refuse_pixel_type(dtype, path):
    """Images hold whole or real numbers; complex ones (an FFT) would lose their imaginary part."""
    if dtype.kind not in "biuf":
        raise DataError(f"{path} has pixel type {dtype}; expected whole or real numbers (uint8, "
                        f"uint16, float32, ...): save the image as one of them (for complex "
                        f"values, e.g. their magnitude)")


def as_image(array, path, channel_axis=None, axes=None):
    """float32 (H, W); or (C, H, W), the channel axis moved first, when `channel_axis` is given.
    axes: what the file says about its axes (see `read_tiff`), to refuse undeclared channels."""
    refuse_pixel_type(array.dtype, path)
    refuse_undeclared_channels(axes, array.shape, path, channel_axis)
    if channel_axis is None:
        array = _drop_leading_ones(array, 2)
        if array.ndim != 2:
            raise DataError(f"{path} has shape {array.shape}; expected a 2-D image (H, W) or one "
                            f"with leading axes of size 1; if an axis holds channels, name it "
                            f"with channel_axis (e.g. channel_axis={array.ndim - 1} for "
                            f"(H, W, C); `minicnn train --channel-axis {array.ndim - 1}`)")
    else:
        moved = channels_before_plane(array, channel_axis, path)   # (..., C, H, W)
        array = _drop_leading_ones(moved, 3)                       # (1, C, H, W) -> (C, H, W)
        if array.ndim != 3:
            raise DataError(f"{path} has shape {moved.shape} after moving channel_axis="
                            f"{channel_axis} before (H, W); expected (C, H, W)")
    return np.ascontiguousarray(array, dtype=np.float32)


def refuse_non_labels(mask, path, hint):
    """A mask holds whole numbers >= 0 (0/1, 0/255, object or class ids). Fractional values mean
    another kind of image, a probability map or the raw images (`hint` says what to do); negative
    ones a signed image that train (any nonzero is foreground) and evaluate (> 0 is) would read
    differently, so both refuse it."""
    if mask.dtype.kind == "f" and not np.all(mask == np.round(mask)):
        fractional = mask[mask != np.round(mask)]
        raise DataError(f"mask {path} holds fractional values ({float(fractional.min()):.3g} .. "
                        f"{float(fractional.max()):.3g}); a mask holds whole numbers (0/1, 0/255, "
                        f"object or class ids): {hint}")
    if mask.dtype.kind in "if" and mask.size and mask.min() < 0:
        raise DataError(f"mask {path} holds negative values ({float(mask.min()):g} .. "
                        f"{float(mask.max()):g}); a mask holds 0 for background and positive "
                        f"labels for objects (1, 255, object or class ids): save it with "
                        f"background 0 and objects above 0")


def as_mask(array, path, classes=None):
    """(H, W) mask: foreground 0/1 uint8, or class indices in [0, classes)."""
    mask = _drop_leading_ones(array, 2)
    if mask.ndim != 2:
        raise DataError(f"mask {path} has shape {array.shape}; expected a 2-D mask (H, W)")
    refuse_non_labels(mask, path, "is --masks (masks_dir) the folder of the annotations, "
                             "not of the raw images or of predicted probabilities?")
    if classes is None:
        return (mask != 0).astype(np.uint8)
    low, high = mask.min(), mask.max()
    if high >= classes:
        binary = len(np.unique(mask)) == 2 and low == 0          # e.g. 0/255: not class indices
        fix = (f"it is a foreground/background mask (0 and {high:g}): omit classes (--classes) "
               f"for masks like it" if binary else
               f"fix the mask, or raise classes to {int(high) + 1}, or omit classes to treat "
               f"any nonzero value as foreground")
        raise DataError(f"mask {path} holds values {low:g}..{high:g}; with classes={classes} "
                        f"expected class indices 0..{classes - 1}: {fix}")
    return mask.astype(np.uint8 if classes <= 256 else np.int64)


def read_pairs(images_dir, masks_dir, classes=None, channel_axis=None):
    """List of Pair(name, image, mask), sorted by name; see the module docstring for the layout.

    classes=None: masks are binary or instance labels, any nonzero value is foreground.
    classes=N: masks hold class indices 0..N-1 (0 is background).
    channel_axis: the axis of the image files that holds channels (e.g. -1 for (H, W, C) RGB).
    """
    if classes is not None and (not isinstance(classes, (int, np.integer)) or classes < 2):
        raise DataError(f"classes must be an integer >= 2 (background is class 0), got {classes!r}")
    if Path(images_dir).resolve() == Path(masks_dir).resolve():
        raise DataError(f"--images and --masks (images_dir, masks_dir) are the same folder "
                        f"{images_dir}; the masks (annotations) go in a folder of their own")
    images = tiff_files(images_dir, "images")
    masks = tiff_files(masks_dir, "masks")
    no_mask, no_image = images.keys() - masks.keys(), masks.keys() - images.keys()
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(f"images without a mask in {masks_dir}: {_list_names(no_mask)}")
        if no_image:
            parts.append(f"masks without an image in {images_dir}: {_list_names(no_image)}")
        raise DataError("every image needs a mask with the same file name; "
                        + "; ".join(parts) + "; add the missing files or remove the extra ones")

    pairs = []
    for name in sorted(images):
        raw, axes = read_tiff(images[name])
        image = as_image(raw, images[name], channel_axis, axes)
        raw_mask = read_image(masks[name])
        if raw_mask.any() and np.array_equal(raw, raw_mask):
            raise DataError(f"mask {masks[name]} is identical to its image {images[name]}; is "
                            f"--masks (masks_dir) the folder of the annotations?")
        mask = as_mask(raw_mask, masks[name], classes)
        if image.shape[-2:] != mask.shape:
            raise DataError(f"image {images[name]} is {image.shape[-2]}x{image.shape[-1]} (shape "
                            f"{image.shape}) but its mask {masks[name]} is {mask.shape[0]}x"
                            f"{mask.shape[1]}; image and mask must have the same height and width")
        if pairs and image.shape[:-2] != pairs[0].image.shape[:-2]:
            raise DataError(f"image {images[name]} has {image.shape[0]} channels but "
                            f"{pairs[0].name} has {pairs[0].image.shape[0]}; all images need the "
                            f"same number of channels")
        if not mask.any():
            warnings.warn(f"mask {masks[name]} has no foreground pixels (all 0)", stacklevel=2)
        pairs.append(Pair(name, image, mask))
    if not any(pair.mask.any() for pair in pairs):
        raise DataError(f"all {len(pairs)} masks in {masks_dir} are empty (every pixel is 0); "
                        f"expected foreground > 0 where the objects are: check that the right "
                        f"masks were exported")
    return pairs
