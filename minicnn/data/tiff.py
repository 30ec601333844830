"""Reading and writing TIFF images (tifffile does the work; this file adds the checks).

`read_image` returns the pixels exactly as stored (same dtype and shape) and turns every way a file
can be bad into one clear `DataError` naming the file. `write_image` writes ImageJ-compatible
TIFFs, never replaces an existing file unless asked, and writes through a temporary file so that
an interrupted write never leaves half a file behind.
"""
import os
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from minicnn.data.errors import DataError, OverwriteError

TIFF_SUFFIXES = (".tif", ".tiff")


def read_image(path):
    """The pixel array stored in the TIFF file `path` (dtype and shape as on disk).

    Raises DataError for a missing, empty, truncated or non-TIFF file, and for floating images
    holding NaN or infinite pixels (a network cannot learn from them).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"image file {path} does not exist; check the path and the file name")
    if not path.is_file():
        raise DataError(f"{path} is a folder or special file, expected a .tif/.tiff image file")
    try:
        array = tifffile.imread(path)
    except Exception as error:  # tifffile raises TiffFileError, ValueError, OSError, struct.error
        raise DataError(f"cannot read {path} as a TIFF image ({error}); the file is not a TIFF "
                        f"or is truncated/corrupted: export it again (e.g. from ImageJ/Fiji)"
                        ) from None
    if array.dtype.kind == "f":
        n_nan = int(np.isnan(array).sum())
        n_inf = int(np.isinf(array).sum())
        if n_nan or n_inf:
            raise DataError(f"{path} holds {n_nan} NaN and {n_inf} infinite pixels out of "
                            f"{array.size}; expected finite values: replace them (e.g. with 0) and "
                            f"save the image again")
    return array


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
    if path.exists() and not overwrite:
        raise OverwriteError(f"{path} already exists; choose another output path or pass "
                             f"overwrite=True to replace it")
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
    # Write next to the target, then rename: os.replace is atomic on one file system.
    handle, temp_name = tempfile.mkstemp(suffix=".tif", prefix=f".{path.stem}-", dir=path.parent)
    os.close(handle)
    try:
        tifffile.imwrite(temp_name, array, **kwargs)
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
    return path
