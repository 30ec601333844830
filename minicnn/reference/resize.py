"""Loop versions of upsample (nearest and bilinear), forward and backward: read them next to
minicnn/ops/resize.py. They work on plain arrays and return plain arrays.

Notation:
    N, C     batch size and channels;  H, W  input size;  SH, SW  integer scale factors
    OH = H*SH, OW = W*SW output size;  x (N,C,H,W)   g = dLoss/dout (N,C,OH,OW)

Each output pixel (i, j) is computed on its own, for all N and C at once, straight from the
formula (PyTorch's F.interpolate with scale_factor).
"""
import math

from minicnn.backend import get_array_module


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def nearest_forward(x, scale_factor=2):
    """out[:, :, i, j] = x[:, :, i // SH, j // SW]."""
    xp = get_array_module(x)
    SH, SW = _pair(scale_factor)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, H * SH, W * SW), dtype=x.dtype)
    for i in range(H * SH):
        for j in range(W * SW):
            out[:, :, i, j] = x[:, :, i // SH, j // SW]
    return out


def nearest_backward(x, g, scale_factor=2):
    # BEGIN SOLUTION upsample_nearest_backward
    """dx[:, :, i // SH, j // SW] += g[:, :, i, j]."""
    xp = get_array_module(x)
    SH, SW = _pair(scale_factor)
    dx = xp.zeros(x.shape, dtype=g.dtype)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            dx[:, :, i // SH, j // SW] += g[:, :, i, j]
    return dx
    # END SOLUTION


def source(d, n, s, align_corners):
    """Output position d along an axis of n inputs (n*s outputs) -> (i0, i1, weight of i1)."""
    m = n * s
    if align_corners:
        src = d * (n - 1) / (m - 1) if m > 1 else 0.0
    else:
        src = max((d + 0.5) / s - 0.5, 0.0)     # centre of pixel d, in input coordinates
    i0 = math.floor(src)
    return i0, min(i0 + 1, n - 1), src - i0


def bilinear_forward(x, scale_factor=2, align_corners=False):
    """out[:, :, i, j] = sum over the 4 neighbours x[:, :, h, w] of (height weight) * (width weight)
    * x[:, :, h, w]."""
    xp = get_array_module(x)
    SH, SW = _pair(scale_factor)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, H * SH, W * SW), dtype=x.dtype)
    for i in range(H * SH):
        h0, h1, fh = source(i, H, SH, align_corners)
        for j in range(W * SW):
            w0, w1, fw = source(j, W, SW, align_corners)
            out[:, :, i, j] = ((1 - fh) * ((1 - fw) * x[:, :, h0, w0] + fw * x[:, :, h0, w1])
                               + fh * ((1 - fw) * x[:, :, h1, w0] + fw * x[:, :, h1, w1]))
    return out


def bilinear_backward(x, g, scale_factor=2, align_corners=False):
    # BEGIN SOLUTION upsample_bilinear_backward
    """Each neighbour gets g[:, :, i, j] times its forward weight."""
    xp = get_array_module(x)
    SH, SW = _pair(scale_factor)
    N, C, H, W = x.shape
    dx = xp.zeros(x.shape, dtype=g.dtype)
    for i in range(H * SH):
        h0, h1, fh = source(i, H, SH, align_corners)
        for j in range(W * SW):
            w0, w1, fw = source(j, W, SW, align_corners)
            dx[:, :, h0, w0] += (1 - fh) * (1 - fw) * g[:, :, i, j]
            dx[:, :, h0, w1] += (1 - fh) * fw * g[:, :, i, j]
            dx[:, :, h1, w0] += fh * (1 - fw) * g[:, :, i, j]
            dx[:, :, h1, w1] += fh * fw * g[:, :, i, j]
    return dx
    # END SOLUTION
