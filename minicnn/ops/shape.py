"""Joining, padding and cropping images: the glue of a U-Net's skip connections.

Notation: x (..., H, W), any number of leading axes (usually N, C); pads on the last two axes
are given PyTorch's way, last axis first: (left, right, top, bottom). g = dL/dout is the incoming
gradient, dx the one returned (shaped like x).

All three ops only move values around, so their backward passes move the gradient back:
    concat       the output is the inputs side by side  -> split g back at the same sizes
    pad          the output holds x plus new border cells -> keep g at x's cells; in reflect
                 mode a border cell is a copy of an interior cell, so its gradient is added there
    center_crop  the output is a window of x             -> g goes back into that window, 0 outside
"""
import numbers

from minicnn.backend import get_array_module
from minicnn.ops.geometry import pair
from minicnn.tensor import Function, as_tensor


def along(axis, index):
    """An index that applies `index` to axis -1 or -2 of an array of any rank: x[along(-2, 3:5)]."""
    return (Ellipsis, index) if axis == -1 else (Ellipsis, index, slice(None))


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        self.sizes = [x.shape[self.axis] for x in xs]             # each input's length on axis
        self.dtypes = [x.dtype for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, g):
        # input k occupies positions start_k ... start_k + size_k - 1 along the axis
        grads, start = [], 0
        index = [slice(None)] * g.ndim
        for size, dtype in zip(self.sizes, self.dtypes):
            index[self.axis] = slice(start, start + size)
            grads.append(g[tuple(index)].astype(dtype, copy=False))
            start += size
        return tuple(grads)


def concat(xs, axis=1):
    """Join tensors along `axis` (default 1: channels of (N, C, H, W)); every other axis must
    have the same size. The gradient is split back to each input."""
    if isinstance(xs, (str, bytes)) or not hasattr(xs, "__len__") or len(xs) == 0:
        raise TypeError(f"concat expects a non-empty list of tensors, got {type(xs).__name__}")
    xs = [as_tensor(x) for x in xs]
    shapes = ", ".join(str(x.shape) for x in xs)
    ndim = xs[0].ndim
    if any(x.ndim != ndim for x in xs):
        raise ValueError(f"concat: all inputs must have the same number of axes, got shapes "
                         f"{shapes}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"concat: axis {axis} is out of range for {ndim}-D inputs (shapes "
                         f"{shapes})")
    axis = axis % ndim
    others = [x.shape[:axis] + x.shape[axis + 1:] for x in xs]
    if any(o != others[0] for o in others):
        differ = [i for i in range(ndim) if i != axis and len({x.shape[i] for x in xs}) > 1]
        raise ValueError(f"concat along axis {axis}: every other axis must have the same size, "
                         f"got shapes {shapes} (they differ on axis "
                         f"{', '.join(map(str, differ))}). "
                         f"For a U-Net skip connection, crop the larger map with center_crop or "
                         f"pad the smaller one, or use inputs whose size is a multiple of "
                         f"2**depth so that pooling and upsampling give matching sizes")
    return Concat(axis)(*xs)


class Pad(Function):
    """Constant mode: out = x surrounded by `value` (a negative pad removes cells instead, as in
    PyTorch). Backward: g at x's cells. Reflect mode: the border mirrors the interior without
    repeating the edge (x = a b c d, pads (2, 1) -> c b | a b c d | c); backward adds the
    gradient of each mirrored border cell to the interior cell it copies."""

    def __init__(self, pads, mode, value):
        self.pads = pads  # ((top, bottom), (left, right)): pads of axes -2 and -1
        self.mode, self.value = mode, value

    def forward(self, x):
        self.in_shape = x.shape
        if self.mode == "reflect":
            for axis, (before, after) in zip((-2, -1), self.pads):
                x = reflect_pad(x, axis, before, after)
            return x
        xp = get_array_module(x)
        (top, bottom), (left, right) = self.pads
        *lead, H, W = x.shape
        out = xp.full((*lead, H + top + bottom, W + left + right), self.value, dtype=x.dtype)
        self.in_window, self.out_window = overlap(H, W, self.pads)
        out[self.out_window] = x[self.in_window]        # (..., H+top+bottom, W+left+right)
        return out

    def backward(self, g):
        if self.mode == "reflect":
            for axis, (before, after) in zip((-2, -1), self.pads):
                g = reflect_pad_backward(g, axis, before, after)
            return g
        xp = get_array_module(g)
        dx = xp.zeros(self.in_shape, dtype=g.dtype)               # (..., H, W)
        dx[self.in_window] = g[self.out_window]   # cells cut away by a negative pad get 0
        return dx


def overlap(H, W, pads):
    """The cells of x that survive constant padding, and where they land in the output."""
    in_index, out_index = [Ellipsis], [Ellipsis]
    for n, (before, after) in zip((H, W), pads):
        start, stop = max(0, -before), n - max(0, -after)         # kept part of x on this axis
        in_index.append(slice(start, stop))
        out_index.append(slice(max(0, before), max(0, before) + stop - start))
    return tuple(in_index), tuple(out_index)


def reflect_pad(x, axis, before, after):
    """Mirror `before` cells in front and `after` cells behind along axis (-1 or -2)."""
    xp = get_array_module(x)
    n = x.shape[axis]
    front = xp.flip(x[along(axis, slice(1, before + 1))], axis=axis)      # x[before] ... x[1]
    back = xp.flip(x[along(axis, slice(n - 1 - after, n - 1))], axis=axis)  # x[n-2]...x[n-1-after]
    return xp.concatenate([front, x, back], axis=axis)


def reflect_pad_backward(g, axis, before, after):
    """The transpose of reflect_pad: g (.., before + n + after) -> (.., n), mirrored cells added."""
    xp = get_array_module(g)
    n = g.shape[axis] - before - after
    dx = g[along(axis, slice(before, before + n))].copy()
    dx[along(axis, slice(1, before + 1))] += xp.flip(g[along(axis, slice(0, before))], axis=axis)
    dx[along(axis, slice(n - 1 - after, n - 1))] += xp.flip(
        g[along(axis, slice(before + n, before + n + after))], axis=axis)
    return dx


def pad(x, pads, mode="constant", value=0.0):
    """Pad the last two axes like torch.nn.functional.pad.

    pads: (left, right, top, bottom), or (left, right) for the last axis only. Output size
    (..., H + top + bottom, W + left + right). mode "constant" fills with `value` (negative pads
    crop); mode "reflect" mirrors the image without repeating the edge and needs 0 <= pad < size
    on each side (PyTorch's rule)."""
    x = as_tensor(x)
    if len(pads) not in (2, 4) or not all(isinstance(p, numbers.Integral) for p in pads):
        raise ValueError(f"pad: pads must be 2 or 4 ints (left, right[, top, bottom]), got "
                         f"{pads!r}")
    left, right, top, bottom = (tuple(int(p) for p in pads) + (0, 0))[:4]
    if x.ndim < (2 if len(pads) == 4 else 1):
        raise ValueError(f"pad: {len(pads)} pad values need at least {len(pads) // 2} axes, "
                         f"x has shape {x.shape}")
    if x.ndim == 1:
        x = x.reshape(1, -1)
        return pad(x, (left, right), mode, value).reshape(-1)
    H, W = x.shape[-2:]
    if mode == "reflect":
        for name, p, n in (("left", left, W), ("right", right, W), ("top", top, H),
                           ("bottom", bottom, H)):
            if not 0 <= p < n:
                raise ValueError(f"pad: reflect padding must satisfy 0 <= pad < size of that axis "
                                 f"(a mirror cannot reach past the far edge), got {name}={p} for "
                                 f"size {n} (input shape {x.shape}); use pads <= {n - 1}, or "
                                 f"mode='constant'")
    elif mode == "constant":
        if H + top + bottom < 1 or W + left + right < 1:
            raise ValueError(f"pad: the padded size must be positive, got H + top + bottom = "
                             f"{H} + {top} + {bottom} and W + left + right = "
                             f"{W} + {left} + {right}")
    else:
        raise ValueError(f"pad: mode must be 'constant' or 'reflect', got {mode!r}")
    return Pad(((top, bottom), (left, right)), mode, value)(x)


class CenterCrop(Function):
    def __init__(self, size):
        self.size = size  # (h, w)

    def forward(self, x):
        *lead, H, W = x.shape
        h, w = self.size
        # torchvision's CenterCrop: top = round((H - h) / 2) with Python's round, which rounds
        # halves to even: an odd difference of 1 gives top 0, of 3 gives 2, of 5 gives 2.
        top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
        self.in_shape = x.shape
        self.window = (Ellipsis, slice(top, top + h), slice(left, left + w))
        return x[self.window]                                     # (..., h, w)

    def backward(self, g):
        xp = get_array_module(g)
        dx = xp.zeros(self.in_shape, dtype=g.dtype)               # (..., H, W): 0 outside
        dx[self.window] = g
        return dx


def center_crop(x, size):
    """The central h x w window of the last two axes of x (..., H, W) -> (..., h, w).
    size: (h, w) or an int for a square. Where H - h is odd the window sits as torchvision's
    CenterCrop puts it: top = round((H - h) / 2) (halves round to even), likewise left."""
    x = as_tensor(x)
    h, w = pair(size, "size")
    if x.ndim < 2:
        raise ValueError(f"center_crop works on the last two axes, x has shape {x.shape}")
    H, W = x.shape[-2:]
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"center_crop: crop size (h, w) = ({h}, {w}) does not fit in the input's "
                         f"last two axes (H, W) = ({H}, {W}) (shape {x.shape}); it needs "
                         f"1 <= h <= {H} and 1 <= w <= {W}")
    return CenterCrop((h, w))(x)

