"""Arithmetic, reductions and shape changes, each a Function with its backward beside it.

Notation: x, a, b are input arrays; g = dL/dout is the incoming gradient (shaped like the
output); backward returns dx (or da, db) = dL/dx for each input, shaped like that input; a slope
is a local derivative, d out / d x.

Broadcasting: NumPy lets (4,1,5) + (3,1) give (4,3,5). In the forward pass a broadcast input is
silently repeated along the new or size-1 axes; so in the backward pass its gradient is the SUM
of the gradients of all its copies: `unbroadcast` sums g back down to the input's shape.
"""
import builtins

from minicnn import backend
from minicnn.backend import get_array_module
from minicnn.tensor import Function, Tensor


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, so that g.shape == shape."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))                     # axes broadcasting prepended
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)                # size-1 axes it repeated
    return g


def broadcast_shapes(*shapes):
    """The shape NumPy's broadcasting gives, or a ValueError that names every shape."""
    ndim = builtins.max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    result = []
    for sizes in zip(*padded):
        big = builtins.max(sizes)
        if any(n not in (1, big) for n in sizes):
            raise ValueError("shapes " + " and ".join(str(tuple(s)) for s in shapes) +
                             " cannot be broadcast together: along each axis (aligned from the "
                             "right) sizes must be equal or 1")
        result.append(big)
    return tuple(result)


class Add(Function):
    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        # d(a+b)/da = 1, d(a+b)/db = 1: g passes through unchanged (then summed to each shape)
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        # d(ab)/da = b, d(ab)/db = a
        return unbroadcast(g * self.b, self.a.shape), unbroadcast(g * self.a, self.b.shape)


class Div(Function):
    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = g / self.b
        gb = -g * self.a / (self.b * self.b)
        return unbroadcast(ga, self.a.shape), unbroadcast(gb, self.b.shape)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Power(Function):
    """x ** c for a constant number c."""

    def __init__(self, exponent):
        self.c = exponent

    def forward(self, x):
        self.x = x
        return x ** self.c

    def backward(self, g):
        return g * self.c * self.x ** (self.c - 1)          # d(x^c)/dx = c x^(c-1)


class Exp(Function):
    def forward(self, x):
        self.out = get_array_module(x).exp(x)
        return self.out

    def backward(self, g):
        return g * self.out                                 # d(e^x)/dx = e^x


class Log(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, g):
        return g / self.x                                   # d(ln x)/dx = 1/x


class Sqrt(Function):
    def forward(self, x):
        self.out = get_array_module(x).sqrt(x)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)                           # d(sqrt x)/dx = 1/(2 sqrt x)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x)

    def backward(self, g):
        return g * get_array_module(g).sign(self.x)         # sign(0) = 0, as in PyTorch


class Maximum(Function):
    """Elementwise max(a, b); where a == b the gradient is split in half (as in PyTorch)."""

    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return get_array_module(a).maximum(a, b)

    def backward(self, g):
        slope_a = (self.a > self.b) + 0.5 * (self.a == self.b)   # 1 where a wins, 1/2 on a tie
        return unbroadcast(g * slope_a, self.a.shape), unbroadcast(g * (1 - slope_a), self.b.shape)


class Minimum(Function):
    def forward(self, a, b):
        broadcast_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return get_array_module(a).minimum(a, b)

    def backward(self, g):
        slope_a = (self.a < self.b) + 0.5 * (self.a == self.b)   # 1 where a wins, 1/2 on a tie
        return unbroadcast(g * slope_a, self.a.shape), unbroadcast(g * (1 - slope_a), self.b.shape)


class Clip(Function):
    """Clamp x to [low, high]; the gradient is 1 inside the range and 0 where x was clamped."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        self.x = x
        return get_array_module(x).clip(x, self.low, self.high)

    def backward(self, g):
        slope = 1                                               # 1 inside [low, high], else 0
        if self.low is not None:
            slope = slope * (self.x >= self.low)
        if self.high is not None:
            slope = slope * (self.x <= self.high)
        return g * slope


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        # every input element contributes with weight 1: copy g back over the summed axes
        g = _restore_reduced_axes(g, self.shape, self.axis, self.keepdims)
        return get_array_module(g).broadcast_to(g, self.shape)


class Mean(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        out = x.mean(axis=self.axis, keepdims=self.keepdims)
        self.count = x.size // builtins.max(out.size, 1)    # how many elements each mean averaged
        return out

    def backward(self, g):
        g = _restore_reduced_axes(g, self.shape, self.axis, self.keepdims) / self.count
        return get_array_module(g).broadcast_to(g, self.shape)


class Max(Function):
    """Maximum over axes. Where several elements tie for the max, they share the gradient equally
    (like torch.amax); max-pooling instead sends it to the first maximum (see ops/pool.py)."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.out = x.max(axis=self.axis, keepdims=True)
        return self.out if self.keepdims else _drop_axes(self.out, self.axis)

    def backward(self, g):
        g = _restore_reduced_axes(g, self.x.shape, self.axis, self.keepdims)
        is_max = self.x == self.out                                   # shaped like x
        return g * is_max / is_max.sum(axis=self.axis, keepdims=True)


def _restore_reduced_axes(g, shape, axis, keepdims):
    """Put back the size-1 axes that a reduction with keepdims=False removed."""
    if keepdims or axis is None:
        return g.reshape([1] * len(shape)) if axis is None and not keepdims else g
    axes = (axis,) if isinstance(axis, int) else axis
    return g.reshape([1 if i in [a % len(shape) for a in axes] else n for i, n in enumerate(shape)])


def _drop_axes(x, axis):
    return x.reshape(()) if axis is None else x.squeeze(axis)


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} "
                             f"elements) to {self.shape}: the element counts must match") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        self.axes = self.axes or tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return g.transpose(inverse)


class GetItem(Function):
    """x[index]: the gradient goes back to the picked elements (added up where picked twice)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, g):
        xp = get_array_module(g)
        dx = xp.zeros(self.shape, dtype=g.dtype)
        backend.scatter_add(dx, self.index, g)
        return dx


class MatMul(Function):
    """a @ b with NumPy's rules: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes broadcast;
    a 1-D a is a row (1, k), a 1-D b a column (k, 1), and that axis is dropped from the result."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit: "
                             f"the last axis of the first must equal the "
                             f"{'second-to-last' if b.ndim > 1 else 'only'} axis of the second")
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        xp = get_array_module(g)
        # BEGIN SOLUTION matmul_backward
        a = self.a[None, :] if self.a.ndim == 1 else self.a           # (..., n, k)
        b = self.b[:, None] if self.b.ndim == 1 else self.b           # (..., k, m)
        out_shape = broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        g = g.reshape(out_shape)                                      # (..., n, m)
        # C = A B  =>  dL/dA = dL/dC B^T  and  dL/dB = A^T dL/dC
        da = g @ xp.swapaxes(b, -1, -2)                               # (..., n, k)
        db = xp.swapaxes(a, -1, -2) @ g                               # (..., k, m)
        return (unbroadcast(da, a.shape).reshape(self.a.shape),
                unbroadcast(db, b.shape).reshape(self.b.shape))
        # END SOLUTION


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.from_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, g):
        return backend.to_device(g, self.from_device)


# ---- lowercase wrappers: the functions users call ----
def add(a, b): return Add()(a, b)
def sub(a, b): return Sub()(a, b)
def mul(a, b): return Mul()(a, b)
def div(a, b): return Div()(a, b)
def neg(x): return Neg()(x)
def exp(x): return Exp()(x)
def log(x): return Log()(x)
def sqrt(x): return Sqrt()(x)
def abs(x): return Abs()(x)
def maximum(a, b): return Maximum()(a, b)
def minimum(a, b): return Minimum()(a, b)
def clip(x, low=None, high=None): return Clip(low, high)(x)
def sum(x, axis=None, keepdims=False): return Sum(_axis(axis), keepdims)(x)
def mean(x, axis=None, keepdims=False): return Mean(_axis(axis), keepdims)(x)
def max(x, axis=None, keepdims=False): return Max(_axis(axis), keepdims)(x)
def matmul(a, b): return MatMul()(a, b)
def astype(x, dtype): return AsType(dtype)(x)
def to_device(x, device): return ToDevice(device)(x)


def power(x, exponent):
    """x ** exponent; a tensor exponent is written as exp(exponent * log(x)) (x > 0)."""
    if isinstance(exponent, Tensor):
        return exp(mul(exponent, log(x)))
    return Power(exponent)(x)


def reshape(x, *shape):
    """Like NumPy: reshape(x, 2, 3) or reshape(x, (2, 3)); one size may be -1."""
    return Reshape(tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape)(x)


def transpose(x, *axes):
    """transpose(x) reverses the axes; transpose(x, 0, 2, 1) or transpose(x, (0, 2, 1)) permutes."""
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = tuple(axes[0])
    return Transpose(axes or None)(x)


def getitem(x, index):
    index = tuple(i.data if isinstance(i, Tensor) else i for i in index) \
        if isinstance(index, tuple) else (index.data if isinstance(index, Tensor) else index)
    return GetItem(index)(x)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis
