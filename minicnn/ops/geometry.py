"""Window geometry shared by convolution and pooling: settings as (height, width) pairs, output
sizes, padding, and the strided views that cut windows out of an image without copying it.

Notation (the same in ops/conv.py, ops/pool.py and fast/):
    N, C     batch size, channels;  H, W  input size;  OH, OW  output size
    KH, KW   kernel (window) size
    SH, SW   stride;  PH, PW  padding (on each side);  DH, DW  dilation (gaps inside a window)

A window's kernel offset (i, j) sits at input pixel (oh*SH + i*DH, ow*SW + j*DW) of the padded
image for output pixel (oh, ow). Per axis, the number of windows that fit is

    convolution, pooling:     OH = (H + 2PH - DH(KH-1) - 1) // SH + 1   (pooling: DH = 1)
    transposed convolution:   OH = (H - 1)SH - 2PH + DH(KH-1) + output_padding + 1
"""
import numbers

from minicnn import backend
from minicnn.backend import get_array_module


def pair(value, name, smallest=None):
    """An int or a pair of ints -> (height value, width value); each >= smallest if given."""
    is_int = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)  # noqa: E731
    values = (value, value) if is_int(value) else tuple(value) if hasattr(value, "__len__") \
        else ()
    if len(values) != 2 or not all(is_int(v) for v in values):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    values = (int(values[0]), int(values[1]))
    if smallest is not None and min(values) < smallest:
        raise ValueError(f"{name} must be >= {smallest} (along both axes), got {value!r}")
    return values


def conv_output_size(size, kernel, stride, padding, dilation=1):
    """OH = (H + 2PH - DH(KH-1) - 1) // SH + 1, for one axis (pooling: dilation 1)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, dilation, output_padding):
    """OH = (H - 1)SH - 2PH + DH(KH-1) + output_padding + 1, for one axis."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def pad_spatial(x, padding, value):
    """x (N, C, H, W) with PH rows / PW columns of `value` added on each side (x itself if none)."""
    PH, PW = padding
    if PH == 0 and PW == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.full((N, C, H + 2 * PH, W + 2 * PW), value, dtype=x.dtype)  # (N, C, H+2PH, W+2PW)
    padded[:, :, PH: PH + H, PW: PW + W] = x
    return padded


def window_view(a, i, j, out_size, stride):
    """The pixels at offset (i, j) (in pixels: i*DH, j*DW with dilation) of every window of the
    padded image a: a strided slice (N, C, OH, OW) of a, no copy. Writing through it writes a."""
    (OH, OW), (SH, SW) = out_size, stride
    return a[:, :, i: i + SH * (OH - 1) + 1: SH, j: j + SW * (OW - 1) + 1: SW]


def sliding_windows(a, kernel, stride, dilation, out_size):
    """Every window of the padded image a at once, as a read-only strided view (no copy):
    windows[n, c, i, j, oh, ow] = a[n, c, oh*SH + i*DH, ow*SW + j*DW], shape (N, C, KH, KW, OH, OW).
    It is a's memory read with other steps (strides count bytes)."""
    (KH, KW), (SH, SW), (DH, DW), (OH, OW) = kernel, stride, dilation, out_size
    step_n, step_c, step_h, step_w = a.strides
    return backend.as_strided(
        a, shape=(a.shape[0], a.shape[1], KH, KW, OH, OW),
        strides=(step_n, step_c, DH * step_h, DW * step_w, SH * step_h, SW * step_w))
