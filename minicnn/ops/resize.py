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
axis is  out = A @ x  with the (m, n) interpolation matrix A[d, i0] = 1 - f, A[d, i1] += f. Its
backward is  dL/dx = A^T @ g : the transpose carries each output's gradient back to its two
neighbours with the same weights.

A has at most 2 nonzeros per row, A^T about 2s (an input pixel feeds the outputs that lie
within one input pixel of it), so neither is multiplied as a dense matrix: each is stored as,
per row, the columns of its nonzeros and their weights (`sparse_rows`, built once per size and
cached), and applied as a short sum of gathers (`apply_rows`). This runs in a few passes over
the data on NumPy and CuPy alike, with no scatter (np.add.at) in the backward pass.
"""
import functools

import numpy as np

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
        SH, SW = self.scale
        # input pixel (h, w) was copied to rows h*SH + r and columns w*SW + c: sum its block.
        # Adding SH (then SW) strided slices is several times faster than reshape().sum().
        rows = g[:, :, 0::SH]                                     # (N, C, H, OW)
        for r in range(1, SH):
            rows = rows + g[:, :, r::SH]
        dx = rows[:, :, :, 0::SW]                                 # (N, C, H, W)
        for c in range(1, SW):
            dx = dx + rows[:, :, :, c::SW]
        return dx
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


@functools.lru_cache(maxsize=64)
def axis_tables(xp, n, s, align_corners, dtype):
    """A's and A^T's sparse rows for one axis. Cached: a network upsamples the same few sizes at
    every step, and on the GPU building the small tables costs more than using them."""
    A = interpolation_matrix(xp, n, s, align_corners, dtype)     # (m, n)
    return {"rows": sparse_rows(A), "transposed_rows": sparse_rows(A.T)}


def sparse_rows(A):
    """A (m, n) -> (cols (m, L), weights (m, L)): row d of A as its L nonzero entries, A[d, cols[d]]
    = weights[d]. The nonzeros of each row are consecutive, so cols[d] = first, first+1, ...;
    where a row has fewer than L of them, the extra slots get weight 0."""
    xp = get_array_module(A)
    m, n = A.shape
    nonzero = A != 0                                              # (m, n)
    first = nonzero.argmax(axis=1)                                # (m,)
    last = n - 1 - nonzero[:, ::-1].argmax(axis=1)                # (m,)
    L = int((last - first).max()) + 1
    cols = first[:, None] + xp.arange(L)                          # (m, L)
    inside = cols < n
    cols = xp.minimum(cols, n - 1)
    weights = xp.where(inside, xp.take_along_axis(A, cols, axis=1), 0)  # (m, L)
    return cols, weights.astype(A.dtype)


def apply_rows(x, cols, weights, axis):
    """A @ x along `axis` (2 or 3 of an (N, C, H, W) array), A given by sparse_rows:
    out[..., d, ...] = sum_l weights[d, l] * x[..., cols[d, l], ...]."""
    xp = get_array_module(x)
    shape = (-1, 1) if axis == 2 else (-1,)                       # weights along the right axis
    out = xp.take(x, cols[:, 0], axis=axis)
    out *= weights[:, 0].reshape(shape)
    for slot in range(1, cols.shape[1]):
        term = xp.take(x, cols[:, slot], axis=axis)
        term *= weights[:, slot].reshape(shape)
        out += term
    return out


class UpsampleBilinear(Function):
    def __init__(self, scale, align_corners):
        self.scale, self.align_corners = scale, align_corners

    def forward(self, x):
        xp = get_array_module(x)
        N, C, H, W = x.shape
        SH, SW = self.scale
        self.A_h = axis_tables(xp, H, SH, self.align_corners, x.dtype)  # A_h (OH, H), A_h^T
        self.A_w = axis_tables(xp, W, SW, self.align_corners, x.dtype)  # A_w (OW, W), A_w^T
        # along W first (on the smaller array), then along H, in PyTorch's order of operations
        rows = apply_rows(x, *self.A_w["rows"], axis=3)           # (N, C, H, OW)
        return apply_rows(rows, *self.A_h["rows"], axis=2)        # (N, C, OH, OW)

    def backward(self, g):
        # BEGIN SOLUTION upsample_bilinear_backward
        # out = A_h x A_w^T  =>  dL/dx = A_h^T g A_w: multiply by the transposes in reverse order
        rows = apply_rows(g, *self.A_h["transposed_rows"], axis=2)     # (N, C, H, OW)
        return apply_rows(rows, *self.A_w["transposed_rows"], axis=3)  # (N, C, H, W)
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
        return UpsampleNearest(scale)(x)
    if mode == "bilinear":
        if x.dtype.kind != "f":
            raise TypeError(f"bilinear upsampling needs floating-point input, got {x.dtype}; "
                            f"convert it first, e.g. x.astype('float32')")
        return UpsampleBilinear(scale, bool(align_corners))(x)
    raise ValueError(f"upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
