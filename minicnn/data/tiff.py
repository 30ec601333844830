"""Reading and writing TIFF images (tifffile does the work; this file adds the checks).

`read_image` returns the pixels exactly as stored (same dtype and shape) and turns every way a file
can be bad into one clear `DataError` naming the file. `write_image` writes ImageJ-compatible
TIFFs, never replaces an existing file unless asked, and writes through a temporary file so that
an interrupted write never leaves half a file behind.
"""
from pathlib import Path

import numpy as np
import tifffile

from minicnn.data.errors import DataError
from minicnn.data.files import atomic_path, refuse_overwrite

TIFF_SUFFIXES = (".tif", ".tiff")
FLOAT32_MAX = float(np.finfo(np.float32).max)       # the network computes in float32
CHANNEL_AXES = "CS"     # tifffile's axis letters for channels: C (ImageJ), S (RGB samples)


def read_tiff(path):
    """(pixels, axes): the array stored in the TIFF file `path` (dtype and shape as on disk) and
    what the file says about its axes, one letter per axis as tifffile names them: 'YX', 'ZYX',
    'YXS' (RGB: S holds the samples), 'CYX' (ImageJ channels), 'Q' for an axis of unknown kind.

    Raises DataError for a missing, empty, truncated or non-TIFF file, a compression without its
    codec, and floating images holding NaN, infinite or beyond-float32 pixels (a network cannot
    learn from them).
    """
    array, axes = _read_series(path, pixels=True)
    if array.dtype.kind == "f":
        check_finite_pixels(array, path)
    return array, axes


def tiff_header(path):
    """(shape, axes, dtype) of the image in `path`, from its header alone (no pixels are read):
    what can be checked before the work starts."""
    (shape, dtype), axes = _read_series(path, pixels=False)
    return shape, axes, dtype


def tiff_shape(path):
    """(shape, axes) of the image in `path`, from its header alone (see `tiff_header`)."""
    return tiff_header(path)[:2]


def _read_series(path, pixels):
    """(pixels or (shape, dtype), axes) of the first series of a TIFF file, or one clear
    DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"image file {path} does not exist; check the path and the file name")
    if not path.is_file():
        raise DataError(f"{path} is a folder or special file, expected a .tif/.tiff image file")
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            return (series.asarray() if pixels else (series.shape, series.dtype)), series.axes
    except MemoryError:
        raise
    except Exception as error:  # tifffile raises TiffFileError, ValueError, OSError, struct.error
        if "imagecodecs" in str(error):
            raise DataError(f"{path} is compressed ({error}): install the codecs tifffile uses "
                            f"with `pip install imagecodecs`, or save it uncompressed") from None
        if isinstance(error, PermissionError):
            raise DataError(f"cannot read {path}: permission denied; make the file readable "
                            f"(chmod +r) or copy it") from None
        raise DataError(f"cannot read {path} as a TIFF image ({error}); the file is not a TIFF "
                        f"or is truncated/corrupted: export it again (e.g. from ImageJ/Fiji)"
                        ) from None


def check_finite_pixels(array, path):
    n_nan = int(np.isnan(array).sum())
    n_inf = int(np.isinf(array).sum())
    if n_nan or n_inf:
        raise DataError(f"{path} holds {n_nan} NaN and {n_inf} infinite pixels out of "
                        f"{array.size}; expected finite values: replace them (e.g. with 0) and "
                        f"save the image again")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if max(-low, high) > FLOAT32_MAX:
        raise DataError(f"{path} holds values from {low:.3g} to {high:.3g}, beyond float32's "
                        f"range (+-{FLOAT32_MAX:.3g}) that the network computes in; rescale the "
                        f"image (e.g. divide by {max(-low, high):.0e}) and save it again")


def read_image(path):
    """The pixel array stored in the TIFF file `path` (dtype and shape as on disk); see
    `read_tiff` for the checks."""
    return read_tiff(path)[0]


def _imagej_dtype(array):
    """ImageJ stores 8-bit, 16-bit and 32-bit float images; convert other dtypes losslessly."""
    if array.dtype in (np.uint8, np.uint16, np.float32):
        return array
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if 0 <= low and high <= 65535:
            return array.astype(np.uint16)
        raise DataError(f"an ImageJ TIFF holds integers in 0..65535, got values {low}..{high} "
                        f"({array.dtype}); convert to float32 first or write with imagej=False")
    raise DataError(f"cannot write an image of dtype {array.dtype}; expected bool, integer or "
                    f"float pixels")


def write_image(path, array, imagej=True, overwrite=False, axes=None):
    """Write `array` to the TIFF file `path`, atomically; returns the path.

    imagej=True writes a file ImageJ/Fiji opens with the right axes: dtypes are converted to
    uint8/uint16/float32 when needed, and `axes` defaults to 'YX', 'ZYX' or 'TZYX' by ndim.
    An existing file is only replaced with overwrite=True (else OverwriteError).
    """
    path = Path(path)
    array = np.asarray(array)
    refuse_overwrite(path, overwrite)
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: folder {path.parent} does not exist; "
                        f"create it first")
    kwargs = {}
    if imagej:
        array = _imagej_dtype(array)
        default_axes = {2: "YX", 3: "ZYX", 4: "TZYX"}
        if axes is None and array.ndim not in default_axes:
            raise DataError(f"an ImageJ TIFF needs a 2-D to 4-D array, got shape {array.shape}; "
                            f"pass axes= (e.g. 'TZCYX') or imagej=False")
        kwargs = {"imagej": True, "metadata": {"axes": axes or default_axes[array.ndim]}}
    with atomic_path(path) as temp_name:     # next to the target, then renamed over it
        tifffile.imwrite(temp_name, array, **kwargs)
    return path
