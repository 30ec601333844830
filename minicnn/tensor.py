"""Tensor and Function: reverse-mode automatic differentiation in one file.

A `Tensor` wraps an array (`.data`, NumPy on the CPU or CuPy on the GPU). Every operation on
tensors is a `Function`: its `forward` computes the output array from the input arrays, and it
remembers its inputs, so that the outputs form a graph that leads back to the leaves (the
weights and the data). `loss.backward()` walks that graph from the loss back to the leaves and
applies the chain rule at every node:

    dLoss/dInput = dLoss/dOutput * dOutput/dInput

Each Function's `backward(grad_out)` is exactly that product for its own inputs: it receives
dLoss/dOutput (an array shaped like its output) and returns dLoss/dInput for each input (arrays
shaped like the inputs). When an input feeds several operations, the gradients that come back
along each path are added up (the multivariable chain rule). At a leaf the sum lands in `.grad`.

backward() checks every gradient a Function returns against its input (count, shape, floating
dtype, device) and stops at the first wrong one with a BackwardError that names the Function, the
input, both shapes and a likely cause, so a mistake is found at the step that made it.
"""
import contextlib
import math

import numpy as np

from minicnn import backend

_grad_enabled = True
_check_gradients = True     # backward() checks what each Function.backward returns (see below)
_backward_hooks = []  # hook(function, output, grad_out, input_grads) after each step; mc.trace()


class BackwardHook:
    """The handle `add_backward_hook` returns: `.remove()` takes the hook out again; used as a
    context manager (`with add_backward_hook(fn): loss.backward()`) it is removed on leaving."""

    def __init__(self, hook):
        self.hook = hook

    def remove(self):
        if self.hook in _backward_hooks:
            _backward_hooks.remove(self.hook)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()
        return False


def add_backward_hook(hook):
    """Call hook(function, output_tensor, grad_out, input_grads) after every step of every
    backward() (the gradients it gets are already checked). Returns a BackwardHook handle."""
    _backward_hooks.append(hook)
    return BackwardHook(hook)


def backward_hooks():
    """The hooks installed now, in calling order (a copy)."""
    return tuple(_backward_hooks)


@contextlib.contextmanager
def no_grad():
    """Inside `with no_grad():` operations build no graph (prediction, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def gradient_checks(enabled):
    """`with gradient_checks(False):` backward() passes on whatever each Function.backward
    returns, unchecked (see check_input_grads). For tools that examine wrong gradients themselves,
    like the course grader, which compares a student's array with the reference's."""
    global _check_gradients
    previous, _check_gradients = _check_gradients, enabled
    try:
        yield
    finally:
        _check_gradients = previous


class Function:
    """One differentiable operation. Subclasses write `forward(*arrays) -> array` and
    `backward(grad_out) -> tuple of input gradients` side by side, and save on `self` what the
    backward pass needs. Non-array settings (axis, stride...) go to `__init__`."""

    def forward(self, *arrays):
        raise TypeError(f"{type(self).__name__} is a Function without a forward: define "
                        f"`def forward(self, *arrays)` returning the output array, computed from "
                        f"the input arrays (save on self what backward will need)")

    def backward(self, grad_out):
        raise TypeError(f"{type(self).__name__} has no backward, so no gradient can flow through "
                        f"it: define `def backward(self, g)` returning dLoss/dInput for each input "
                        f"of forward (a tuple, in forward's order, each shaped like its input; "
                        f"None for an input that needs no gradient), from g = dLoss/dOutput")

    def __call__(self, *inputs):
        tensors = [as_tensor(x) for x in inputs]
        check_same_device(tensors, type(self).__name__)
        out = Tensor(self.forward(*[t.data for t in tensors]))
        if _grad_enabled and any(t.requires_grad for t in tensors):
            out.requires_grad = True
            out.creator = self      # the graph edge: output -> the function that made it
            self.inputs = tensors   # ... -> the tensors it was made from
        return out

    def release(self):
        """Drop the saved arrays once backward has used them (frees memory, like PyTorch)."""
        self.__dict__.clear()
        self.released = True


class Tensor:
    """An array plus the bookkeeping for gradients. Create one with `mc.tensor(...)`."""

    __array_priority__ = 100  # makes `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data, requires_grad=False):
        self.data = data            # numpy.ndarray or cupy.ndarray
        self.grad = None            # dLoss/dself after backward(), same shape and device
        self.creator = None         # the Function that produced this tensor (None for leaves)
        self.requires_grad = False
        self.name = None            # optional label, shown in graph drawings
        self.retains_grad = False
        if requires_grad:
            self.requires_grad_()

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, this one is "
                            f"{self.data.dtype}: a gradient is a rate of change, and integer values "
                            f"cannot change by a small step. Convert first, e.g. "
                            f"mc.tensor(a.astype('float32'), requires_grad=True)")
        self.requires_grad = flag
        return self

    # ---- facts about the array ----
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self.creator is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        where = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20,
                               prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{where}{grad})"

    def numpy(self):
        """The values as a NumPy array on the host (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        return self.data.item()

    def detach(self):
        """The same values, cut from the graph: no gradient flows back through the result."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep `.grad` on this intermediate tensor too (by default only leaves keep it)."""
        self.retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def to(self, device):
        """This tensor on 'cpu' or 'cuda' (differentiable, like every other operation)."""
        return self if device == self.device else basic.to_device(self, device)

    # ---- back-propagation ----
    def backward(self, grad=None, retain_graph=False):
        """Fill `.grad` of every leaf that this tensor depends on with dself/dleaf.

        Gradients accumulate: a second backward() adds to `.grad` (that is how a gradient over
        several batches is summed); call `zero_grad()` (or optimizer.zero_grad()) to reset.
        The graph's saved arrays are freed afterwards unless `retain_graph=True`."""
        if not self.requires_grad:
            raise RuntimeError("backward() was called on a tensor that does not require grad: no "
                               "input of the computation had requires_grad=True (or it ran inside "
                               "no_grad())")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without an argument needs a single-number output "
                                   f"(a loss), but this tensor has shape {self.shape}; reduce it "
                                   f"first (e.g. out.sum()) or pass backward(grad) with an array "
                                   f"of shape {self.shape}")
            grad = xp.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
        if tuple(grad.shape) != self.shape:
            raise ValueError(f"backward(grad): grad has shape {tuple(grad.shape)}, but the tensor "
                             f"has shape {self.shape}; they must be equal")

        grads = {id(self): grad}  # id(tensor) -> dself/dtensor, summed over all paths so far
        for t in reversed(self._topological_order()):  # outputs before the inputs they came from
            g = grads.pop(id(t))
            if t.creator is None or t.retains_grad:
                g = g.astype(t.dtype, copy=False)
                t.grad = g.copy() if t.grad is None else t.grad + g
            if t.creator is None:
                continue
            fn = t.creator
            input_grads = fn.backward(g)  # the chain rule, one step: dL/dinput from dL/doutput
            if not isinstance(input_grads, (tuple, list)):
                input_grads = (input_grads,)
            if _check_gradients:                # catch a wrong gradient at the step that made it
                check_input_grads(fn, input_grads)
            for hook in _backward_hooks:
                hook(fn, t, g, input_grads)
            for inp, g_inp in zip(fn.inputs, input_grads):
                if g_inp is None or not inp.requires_grad:
                    continue
                previous = grads.get(id(inp))
                grads[id(inp)] = g_inp if previous is None else previous + g_inp  # sum over paths
            if not retain_graph:
                fn.release()

    def _topological_order(self):
        """Every tensor that self depends on, each after all of its inputs (an iterative
        depth-first search, so a chain of 10,000 operations needs no recursion)."""
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            t, inputs_done = stack.pop()
            if inputs_done:
                order.append(t)
                continue
            if id(t) in visited:
                continue
            visited.add(id(t))
            stack.append((t, True))
            if t.creator is not None:
                if getattr(t.creator, "released", False):
                    raise RuntimeError("this graph was already used by backward() and its saved "
                                       "arrays were freed; call backward(retain_graph=True) the "
                                       "first time to go through it twice")
                stack.extend((inp, False) for inp in t.creator.inputs if inp.requires_grad)
        return order

    # ---- operators, written out (each one calls a Function in minicnn/ops) ----
    def __add__(self, other): return basic.add(self, lift(other, self))
    def __radd__(self, other): return basic.add(lift(other, self), self)
    def __sub__(self, other): return basic.sub(self, lift(other, self))
    def __rsub__(self, other): return basic.sub(lift(other, self), self)
    def __mul__(self, other): return basic.mul(self, lift(other, self))
    def __rmul__(self, other): return basic.mul(lift(other, self), self)
    def __truediv__(self, other): return basic.div(self, lift(other, self))
    def __rtruediv__(self, other): return basic.div(lift(other, self), self)
    def __matmul__(self, other): return basic.matmul(self, lift(other, self))
    def __rmatmul__(self, other): return basic.matmul(lift(other, self), self)
    def __neg__(self): return basic.neg(self)
    def __pow__(self, exponent): return basic.power(self, exponent)
    def __rpow__(self, base): return basic.power(lift(base, self), self)
    def __getitem__(self, index): return basic.getitem(self, index)

    # comparisons give plain (non-differentiable) boolean tensors
    def __gt__(self, other): return Tensor(self.data > _data(other))
    def __ge__(self, other): return Tensor(self.data >= _data(other))
    def __lt__(self, other): return Tensor(self.data < _data(other))
    def __le__(self, other): return Tensor(self.data <= _data(other))

    def sum(self, axis=None, keepdims=False): return basic.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return basic.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return basic.max(self, axis, keepdims)
    def reshape(self, *shape): return basic.reshape(self, *shape)
    def transpose(self, *axes): return basic.transpose(self, *axes)
    T = property(lambda self: basic.transpose(self))
    def astype(self, dtype): return basic.astype(self, dtype)
    def exp(self): return basic.exp(self)
    def log(self): return basic.log(self)
    def sqrt(self): return basic.sqrt(self)
    def abs(self): return basic.abs(self)
    def clip(self, low=None, high=None): return basic.clip(self, low, high)
    def relu(self): return activation.relu(self)
    def sigmoid(self): return activation.sigmoid(self)
    def tanh(self): return activation.tanh(self)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x):
    """x itself if it is a Tensor, else a Tensor around it (data, never requiring grad)."""
    if isinstance(x, Tensor):
        return x
    if backend.is_cupy_array(x) or isinstance(x, np.ndarray):
        return Tensor(x)
    return Tensor(np.asarray(x, dtype=np.float32))


def lift(x, like):
    """A Python number or array next to tensor `like`: same dtype (if a number) and device."""
    if isinstance(x, Tensor):
        return x
    xp = backend.get_array_module(like.data)
    if isinstance(x, (int, float)) and like.dtype.kind == "f":
        return Tensor(xp.asarray(x, dtype=like.dtype))
    return Tensor(backend.to_device(x, like.device) if hasattr(x, "shape") else xp.asarray(x))


def check_same_device(tensors, what):
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        where = ", ".join(f"input {i} {t.shape} on {t.device}" for i, t in enumerate(tensors))
        raise RuntimeError(f"{what}: inputs are on different devices ({where}); move them to one "
                           f"device first with .to('cuda') or .to('cpu')")


class BackwardError(RuntimeError):
    """A Function's backward returned a gradient that cannot be its input's gradient."""


def check_input_grads(fn, input_grads):
    """What fn.backward returned must be one gradient per input of forward, each an array of its
    input's shape, floating-point, on its input's device (None: no gradient for that input;
    Nones past the last input are fine: optional inputs that were not passed).

    Checked right away, so that a wrong gradient is reported at the Function that made it, not
    steps later when NumPy silently broadcasts it or the optimizer trips over its shape. It costs a
    few tuple compares per node: measured 1.7-3.3 microseconds per node, 50-100 us for the 30
    nodes of a U-Net training step (batch 4 x 128 x 128, 2 threads) that takes 215-410 ms: 0.02%."""
    inputs = fn.inputs
    extra = input_grads[len(inputs):]        # None for an optional input that was not passed: ok
    if len(input_grads) < len(inputs) or any(g is not None for g in extra):
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise BackwardError(f"{type(fn).__name__}.backward returned {len(input_grads)} "
                            f"gradient(s) for its {len(inputs)} input(s) (shapes {shapes}); return "
                            f"a tuple with one gradient per input of forward, in forward's order, "
                            f"and None for an input that needs no gradient")
    for index, (inp, g) in enumerate(zip(inputs, input_grads)):
        if g is None or not inp.requires_grad:
            continue
        if not (isinstance(g, (np.ndarray, np.generic)) or backend.is_cupy_array(g)):
            raise BackwardError(f"{_which(fn, index, inp)}: got a {type(g).__name__}, expected an "
                                f"array of shape {inp.shape}; backward works on arrays (.data), "
                                f"not Tensors or Python numbers")
        if g.shape != inp.data.shape:
            raise BackwardError(f"{_which(fn, index, inp)}: a gradient has its input's shape; "
                                f"expected {inp.shape}, received {tuple(g.shape)}. "
                                f"{_likely_cause(tuple(g.shape), inp.shape, inputs)}")
        if g.dtype.kind != "f":
            raise BackwardError(f"{_which(fn, index, inp)}: got dtype {g.dtype}, expected a "
                                f"floating-point array like its input ({inp.dtype}); an integer or "
                                f"boolean array (a mask, an index) must be multiplied into g, not "
                                f"returned")
        if backend.device_of(g) != inp.device:
            raise BackwardError(f"{_which(fn, index, inp)}: got an array on "
                                f"{backend.device_of(g)}, but the input is on {inp.device}; build "
                                f"it with xp = get_array_module(g) instead of np")


def _which(fn, index, inp):
    return f"{type(fn).__name__}.backward, gradient for input {index} (shape {inp.shape})"


def _likely_cause(received, expected, inputs):
    """A guess, in words, at how a gradient of shape `received` came about for `expected`."""
    extra = len(received) - len(expected)
    if extra > 0 and received[extra:] == expected and set(received[:extra]) == {1}:
        return (f"Likely cause: an extra leading axis of size 1 (a [None] or keepdims=True too "
                f"many?); reshape the gradient to {expected}")
    if extra > 0 and received[extra:] == expected:       # broadcast: (N, O) for a bias (O,)
        axes = "axis 0" if extra == 1 else f"axes {tuple(range(extra))}"
        batch = "batch axis" if extra == 1 else "leading axes"
        return (f"Likely cause: a sum over the {batch} is missing? The input was broadcast over "
                f"{axes} in forward, so its gradient is g summed over {axes}: "
                f"g.sum(axis={0 if extra == 1 else tuple(range(extra))})")
    if extra == 0 and all(r == e or e == 1 for r, e in zip(received, expected)):
        axes = tuple(k for k, e in enumerate(expected) if e == 1 and received[k] != 1)
        return (f"Likely cause: a sum over the broadcast axes {axes} is missing? The input has "
                f"size 1 there and was stretched in forward: g.sum(axis={axes}, keepdims=True)")
    if extra == 0 and len(received) > 1 and sorted(received) == sorted(expected):
        return ("Likely cause: transposed? The sizes are right but in another order: check the "
                "order of the axes (e.g. g @ w.T versus w.T @ g, or a missing .transpose)")
    if extra == -1 and any(expected[:k] + expected[k + 1:] == received
                           for k in range(len(expected))):
        k = next(k for k in range(len(expected)) if expected[:k] + expected[k + 1:] == received)
        return (f"Likely cause: axis {k} (size {expected[k]}) was dropped: a sum or an index "
                f"without keepdims=True, or a missing reshape back to {expected}?")
    if extra < 0 and received in (expected[-extra:], expected[:extra]):
        return (f"Likely cause: axes were dropped: a missing reshape (or keepdims=True) to bring "
                f"the gradient back to {expected}?")
    if math.prod(received) == math.prod(expected):
        return (f"Likely cause: the right number of values in the wrong shape: a missing "
                f"reshape back to the input's shape, g.reshape({expected})?")
    others = [k for k, t in enumerate(inputs) if t.shape == received]
    if others:
        return (f"Likely cause: that is the shape of input {others[0]}: gradients returned in "
                f"another order than forward's inputs?")
    return "Check the derivation of this backward against forward's shapes."


# ---- creating tensors ----
def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new tensor holding a copy of `data`. Floating arrays keep their dtype (float64 stays
    float64), integer arrays stay integer (labels); Python numbers and lists become float32."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_cupy_array(data) or isinstance(data, np.ndarray):
        array = data.astype(dtype or data.dtype, copy=True)
    else:
        array = np.array(data, dtype=dtype or np.float32)
    if device is not None:
        array = backend.to_device(array, device)
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape, dtype=np.float32, requires_grad=False, device="cpu"):
    return tensor(np.zeros(_shape(shape), dtype), requires_grad=requires_grad, device=device)


def ones(*shape, dtype=np.float32, requires_grad=False, device="cpu"):
    return tensor(np.ones(_shape(shape), dtype), requires_grad=requires_grad, device=device)


def randn(*shape, dtype=np.float32, requires_grad=False, device="cpu", rng=None):
    """Standard normal numbers from the global generator (see mc.manual_seed) or `rng`."""
    values = rng_module.get_rng(rng).standard_normal(_shape(shape)).astype(dtype)
    return tensor(values, requires_grad=requires_grad, device=device)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


from minicnn import rng as rng_module  # noqa: E402  (kept last: these modules import Tensor)
from minicnn.ops import activation, basic  # noqa: E402
