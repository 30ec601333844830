"""Upsampling by an integer factor: nearest neighbour and bilinear, like F.interpolate.

Notation:
    N batch, C channels, H x W input size, SH x SW scale factors (integers >= 1),
    OH = H*SH, OW = W*SW output size.
    g = dL/dout (N, C, OH, OW) the incoming gradient, dx (N, C, H, W) the one returned.

Nearest: output pixel (oh, ow) copies input pixel (oh // SH, ow // SW), so every input pixel is
repeated into an SH x SW block. Backward: that pixel's gradient is the sum of g over its block.

Bilinear is separable: interpolate along W (each row), then along H (each column). Along one
axis of n input and m = n*s output positions, output d reads the source position

    align_corners=False:  src = max((d + 0.5) / s - 0.5, 0)    (pixel centres line up)
    align_corners=True:   src = d * (n - 1) / (m - 1)          (the corner pixels line up)

and mixes its two neighbours i0 = floor(src), i1 = min(i0 + 1, n - 1) with weights
(1 - f, f), f = src - i0 (exactly PyTorch's formulas). Written as a matrix, interpolating along an
axis is  out = A @ x  with the (m, n) interpolation matrix A[d, i0] = 1 - f, A[d, i1] += f, so

    out = A_h x A_w^T      (OH, H) @ (N, C, H, W) @ (W, OW), per image and channel

Its backward is  dx = A_h^T g A_w : the transposes carry each output's gradient back to the
input pixels it was mixed from, with the same weights.

These are the ops as you derive them; minicnn/fast/resize.py computes the same numbers without
the reshape and without multiplying by the mostly-zero matrices, and `mc.set_fast(False)` runs
these instead.
"""
import numpy as np

from minicnn import fast
from minicnn.backend import get_array_module
from minicnn.ops.geometry import pair
from minicnn.tensor import Function, as_tensor


class UpsampleNearest(Function):
    def __init__(self, scale):
        self.scale = scale  # (SH, SW)

    def forward(self, x):
        SH, SW = self.scale
        # repeat along W (the smaller array) first, then along H: (N, C, H, W) -> (N, C, OH, OW)
        return x.repeat(SW, axis=3).repeat(SH, axis=2)

    def backward(self, g):
        # BEGIN SOLUTION upsample_nearest_backward
        N, C, OH, OW = g.shape
        SH, SW = self.scale
        # g[n, c, h*SH + r, w*SW + q] came from x[n, c, h, w]: split the axes, sum over r and q
        blocks = g.reshape(N, C, OH // SH, SH, OW // SW, SW)      # (N, C, H, SH, W, SW)
        return blocks.sum(axis=(3, 5))                            # (N, C, H, W)
        # END SOLUTION


def interpolation_matrix(xp, n, s, align_corners, dtype):
    """The (m, n) matrix A, m = n*s, with out = A @ x along one axis (PyTorch's weights)."""
    m = n * s
    d = xp.arange(m, dtype=np.float64)                            # (m,) output positions
    if align_corners:
        src = d * ((n - 1) / (m - 1)) if m > 1 else xp.zeros(m)
    else:
        src = xp.maximum((d + 0.5) / s - 0.5, 0.0)
    i0 = xp.floor(src).astype(np.int64)                           # (m,) left/top neighbour
    i1 = xp.minimum(i0 + 1, n - 1)                                # (m,) right/bottom neighbour
    f = src - i0                                                  # (m,) weight of i1
    rows = xp.arange(m)
    A = xp.zeros((m, n), dtype=np.float64)                        # (m, n)
    A[rows, i0] = 1 - f
    A[rows, i1] += f              # at the last pixel i1 == i0, and the two weights add up to 1
    return A.astype(dtype)


class UpsampleBilinear(Function):
    def __init__(self, scale, align_corners):
        self.scale, self.align_corners = scale, align_corners

    def forward(self, x):
        xp = get_array_module(x)
        N, C, H, W = x.shape
        SH, SW = self.scale
        self.A_h = interpolation_matrix(xp, H, SH, self.align_corners, x.dtype)  # (OH, H)
        self.A_w = interpolation_matrix(xp, W, SW, self.align_corners, x.dtype)  # (OW, W)
        return self.A_h @ (x @ self.A_w.T)                        # along W, then H: (N, C, OH, OW)

    def backward(self, g):
        # BEGIN SOLUTION upsample_bilinear_backward
        # out = A_h x A_w^T  =>  dx = A_h^T g A_w: the transposes, in the same places
        return self.A_h.T @ g @ self.A_w                          # (N, C, H, W)
        # END SOLUTION


def upsample(x, scale_factor=2, mode="nearest", align_corners=False):
    """Enlarge x (N, C, H, W) to (N, C, H*SH, W*SW) with mode "nearest" or "bilinear".

    scale_factor: an int >= 1 or a pair (SH, SW); align_corners only matters for bilinear and
    means what it means in torch.nn.functional.interpolate."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample expects x of shape (N, C, H, W), got shape {x.shape}; add the "
                         f"missing axes, e.g. x.reshape(1, 1, H, W) for a single image")
    if isinstance(scale_factor, float) and scale_factor.is_integer():
        scale_factor = int(scale_factor)
    scale = pair(scale_factor, "scale_factor (integers only)")
    if min(scale) < 1:
        raise ValueError(f"upsample: scale_factor must be >= 1, got {scale_factor}")
    if mode == "nearest":
        return fast.choose(UpsampleNearest)(scale)(x)
    if mode == "bilinear":
        if x.dtype.kind != "f":
            raise TypeError(f"bilinear upsampling needs floating-point input, got {x.dtype}; "
                            f"convert it first, e.g. x.astype('float32')")
        return fast.choose(UpsampleBilinear)(scale, bool(align_corners))(x)
    raise ValueError(f"upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
