"""The one place that knows CuPy exists.

Every other module asks `xp = get_array_module(x)` and then writes `xp.exp(x)`, `xp.zeros(...)`:
the same line runs on NumPy arrays (CPU) and CuPy arrays (GPU). Importing minicnn never fails when
CuPy is missing or no GPU is present; `cuda_available()` says whether the GPU path can be used.
"""
import numpy as np
import numpy.lib.stride_tricks as np_stride_tricks

try:  # CuPy is optional: `pip install ".[cuda]"` in the minicnn checkout
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy build that fails to load its CUDA libraries
    _cupy = None


def cuda_available():
    """True when CuPy imports and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def is_cupy_array(x):
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def get_array_module(*arrays):
    """numpy, or cupy if any argument is a CuPy array (like cupy.get_array_module)."""
    return _cupy if any(is_cupy_array(a) for a in arrays) else np


def device_of(x):
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if is_cupy_array(x) else "cpu"


def check_device_name(device):
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not cuda_available():
        raise RuntimeError("device='cuda' was asked for, but CuPy with a GPU is not available; "
                           "install it with `pip install \".[cuda]\"` (in the minicnn checkout) "
                           "on a machine with an NVIDIA GPU, or use device='cpu'")


def to_device(x, device):
    """Move an array to 'cpu' (NumPy) or 'cuda' (CuPy); returns x itself if already there."""
    check_device_name(device)
    if device == "cuda":
        return x if is_cupy_array(x) else _cupy.asarray(x)
    return to_numpy(x)


def to_numpy(x):
    """A NumPy array on the host, whatever x is."""
    return _cupy.asnumpy(x) if is_cupy_array(x) else np.asarray(x)


def as_strided(x, shape, strides):
    """A strided view of x (no copy): the trick behind im2col and pooling windows."""
    if is_cupy_array(x):
        return _cupy.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    return np_stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)


def scatter_add(target, index, values):
    """target[index] += values, adding repeated indices up (np.add.at on the CPU)."""
    if is_cupy_array(target):
        _cupy.add.at(target, index, values)
    else:
        np.add.at(target, index, values)


def synchronize():
    """Wait for queued GPU work to finish (for honest timings); a no-op on the CPU."""
    if _cupy is not None and cuda_available():
        _cupy.cuda.get_current_stream().synchronize()
