"""Module and Parameter: how a network keeps track of its weights.

A network is a tree of modules. Each module owns

- parameters: the weights and biases that gradient descent changes (`Parameter`, a Tensor
  with requires_grad=True),
- buffers: numbers that belong to the model but are not learned by gradients (BatchNorm's
  running mean and variance), plain Tensors registered with `register_buffer`,
- submodules: the layers it is made of.

Registration is plain attribute assignment: `self.weight = Parameter(...)` or
`self.conv = Conv2d(...)` go through `Module.__setattr__`, which files the value under
`_parameters` or `_modules` (in assignment order); `Module.__getattr__` finds them again.
From that bookkeeping come `parameters()` (for the optimizer), `state_dict()` (for saving:
dotted names such as `encoder.0.conv1.weight`, as in PyTorch) and `load_state_dict()`.
"""
from collections import OrderedDict

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: it always requires gradients.

    `Parameter(array)` wraps the array itself (no copy); `Parameter(tensor)` wraps its data."""

    def __init__(self, data):
        if isinstance(data, Tensor):
            data = data.data
        if not (backend.is_cupy_array(data) or isinstance(data, np.ndarray)):
            data = np.asarray(data, dtype=np.float32)
        super().__init__(data, requires_grad=True)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of every layer and model. Subclasses call `super().__init__()`, set attributes
    in `__init__` and write `forward(...)`; calling the module (`model(x)`) runs `forward`."""

    def __init__(self):
        # object.__setattr__: these dicts are the bookkeeping itself, not registered things
        object.__setattr__(self, "_parameters", OrderedDict())  # name -> Parameter (or None)
        object.__setattr__(self, "_buffers", OrderedDict())     # name -> Tensor (not learned)
        object.__setattr__(self, "_modules", OrderedDict())     # name -> Module
        object.__setattr__(self, "training", True)

    # ---- registration ----
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() at the start of "
                               f"__init__, before assigning self.{name}")
        if name in self._buffers and (value is None or isinstance(value, Tensor)) \
                and not isinstance(value, Parameter):
            self._buffers[name] = value                         # replacing a buffer's tensor
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)                               # a name lives in one place only
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Python calls this only when normal lookup fails: i.e. for registered things
        for table in ("_parameters", "_buffers", "_modules"):
            values = self.__dict__.get(table)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register `param` (a Parameter, or None for an absent one, e.g. bias=False)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}', ...) needs a Parameter or None, got "
                            f"{type(param).__name__}; wrap it first: Parameter(array)")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, value):
        """Register a Tensor that is saved with the model but not learned (running statistics)."""
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(np.asarray(value))
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no forward(); a Module subclass must define "
                        f"forward(self, x) to say what it computes")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ----
    def named_children(self):
        """(name, module) of the direct submodules, in registration order."""
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module (name '') and every module below it."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def _named_tensors(self, table):
        """(dotted name, tensor) from each module's `table`, the module's own first; a tensor
        shared by two modules is listed once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, t in getattr(module, table).items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self):
        """(dotted name, Parameter): each module's own parameters in registration order (weight
        before bias), then its submodules' in turn: 'encoder.0.conv1.weight', ..."""
        return self._named_tensors("_parameters")

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        return self._named_tensors("_buffers")

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def num_parameters(self):
        """How many numbers the optimizer learns (the sizes of all parameters added up)."""
        return sum(p.size for p in self.parameters())

    # ---- modes and housekeeping ----
    def train(self, mode=True):
        """Training mode (the default): Dropout drops, BatchNorm uses batch statistics."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: Dropout passes everything, BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self):
        """Forget the gradients (they accumulate over backward() calls until this is called)."""
        for p in self.parameters():
            p.grad = None

    def _all_tensors(self):
        return [t for _, t in self.named_parameters()] + [t for _, t in self.named_buffers()]

    def to(self, device):
        """Move every parameter, gradient and buffer to 'cpu' or 'cuda', in place: the Parameter
        objects stay the same, so an optimizer created earlier still holds them. (Move the model
        before the optimizer's first step: its momentum/Adam state is made on the device the
        parameters are on at that step.)"""
        backend.check_device_name(device)
        for t in self._all_tensors():
            t.data = backend.to_device(t.data, device)
            if t.grad is not None:
                t.grad = backend.to_device(t.grad, device)
        return self

    def astype(self, dtype):
        """Convert every floating-point parameter and buffer to `dtype`, in place.
        `model.astype('float64')` (or `model.double()`) gives a model gradcheck can check."""
        for t in self._all_tensors():
            if t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = t.grad.astype(dtype)
        return self

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # ---- saving and loading ----
    def _state_tensors(self):
        """dotted name -> Tensor, for every parameter and buffer, as state_dict orders them:
        each module's parameters, then its buffers, then its submodules'."""
        tensors = OrderedDict()
        for prefix, module in self.named_modules():
            for name, t in list(module._parameters.items()) + list(module._buffers.items()):
                if t is not None:
                    tensors[f"{prefix}.{name}" if prefix else name] = t
        return tensors

    def state_dict(self):
        """An ordered dict: dotted name -> a NumPy copy (on the host) of each parameter and
        buffer, e.g. 'encoder.0.conv1.weight' or 'encoder.0.bn1.running_mean'."""
        return OrderedDict((name, backend.to_numpy(t.data).copy())
                           for name, t in self._state_tensors().items())

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of `state` into this model's parameters and buffers, in place (each
        keeps its device and dtype). Returns (missing_keys, unexpected_keys).

        strict=True: the keys must match exactly; otherwise ONE error lists every missing key,
        unexpected key and shape mismatch. strict=False allows missing/unexpected keys, but a
        shape mismatch is always an error."""
        own = self._state_tensors()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = [f"{k}: expected shape {own[k].shape}, got {tuple(np.shape(state[k]))}"
                      for k in own if k in state and tuple(np.shape(state[k])) != own[k].shape]
        problems = []
        if strict and missing:
            problems.append(f"missing keys (in the model, not in the state): {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys (in the state, not in the model): "
                            f"{', '.join(unexpected)}")
        if mismatched:
            problems.append("shape mismatches:\n    " + "\n    ".join(mismatched))
        if problems:
            raise ValueError(f"cannot load this state into {type(self).__name__}: it was probably "
                             f"saved from a different architecture (other depth, channels or "
                             f"layers).\n  " + "\n  ".join(problems))
        for key, t in own.items():
            if key in state:
                value = state[key].data if isinstance(state[key], Tensor) else state[key]
                value = backend.to_device(np.asarray(backend.to_numpy(value)), t.device)
                t.data[...] = value.astype(t.dtype, copy=False)
        return missing, unexpected

    # ---- printing ----
    def extra_repr(self):
        """The layer's settings, shown in its repr (layers override this)."""
        return ""

    def __repr__(self):
        """The layer tree, each line with its parameter count, then the total."""
        text = self._repr_tree()
        return text + (f"\nTotal parameters: {self.num_parameters():,}" if self._modules else "")

    def _repr_tree(self):
        n = self.num_parameters()
        count = f"  # {n:,} parameters" if n else ""
        if not self._modules:                                   # a leaf layer: one line
            return f"{type(self).__name__}({self.extra_repr()}){count}"
        lines = [f"{type(self).__name__}({count}"]
        if self.extra_repr():
            lines.append("  " + self.extra_repr())
        for name, child in self.named_children():
            lines.append(f"  ({name}): " + child._repr_tree().replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)
