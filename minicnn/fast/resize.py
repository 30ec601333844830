"""upsample, fast: the same numbers as minicnn/ops/resize.py, without the reshape and without
multiplying by mostly-zero matrices.

Read ops/resize.py first: there the nearest backward sums g over SH x SW blocks with a reshape,
and bilinear is out = A_h x A_w^T with dense interpolation matrices. What changes here:
- Nearest backward adds SH (then SW) strided slices of g: several times faster than
  reshape().sum(), which reduces over two short inner axes.
- Bilinear: A has at most 2 nonzeros per row, A^T about 2s (an input pixel feeds the outputs
  that lie within one input pixel of it), so neither is multiplied as a dense matrix: each is
  stored as, per row, the columns of its nonzeros and their weights (`sparse_rows`, built once
  per size and cached), and applied as a short sum of gathers (`apply_rows`). This runs in a few
  passes over the data on NumPy and CuPy alike, with no scatter (np.add.at) in the backward
  pass.
"""
import functools

from minicnn.backend import get_array_module
from minicnn.ops import resize
from minicnn.ops.resize import interpolation_matrix


class UpsampleNearest(resize.UpsampleNearest):
    """ops.resize.UpsampleNearest, fast: the block sums as strided slices."""

    def backward(self, g):
        SH, SW = self.scale
        # input pixel (h, w) was copied to rows h*SH + r and columns w*SW + q: sum its block
        rows = g[:, :, 0::SH]                                     # (N, C, H, OW)
        for r in range(1, SH):
            rows = rows + g[:, :, r::SH]
        dx = rows[:, :, :, 0::SW]                                 # (N, C, H, W)
        for q in range(1, SW):
            dx = dx + rows[:, :, :, q::SW]
        return dx


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


class UpsampleBilinear(resize.UpsampleBilinear):
    """ops.resize.UpsampleBilinear, fast: A and A^T applied as sparse rows (gathers)."""

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
        # out = A_h x A_w^T  =>  dx = A_h^T g A_w: multiply by the transposes in reverse order
        rows = apply_rows(g, *self.A_h["transposed_rows"], axis=2)     # (N, C, H, OW)
        return apply_rows(rows, *self.A_w["transposed_rows"], axis=3)  # (N, C, H, W)
