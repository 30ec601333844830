"""Optimizer: the base class of SGD and Adam.

An optimizer holds the list of parameters and, per parameter, a little state (a momentum buffer,
Adam's moment estimates). `step()` reads each parameter's `.grad` and changes the parameter's
array IN PLACE, with the parameter's own array module (NumPy or CuPy), inside no_grad(): the
update is not part of the graph. `zero_grad()` clears the gradients, which otherwise accumulate.

`optimizer.lr` is the learning rate; schedulers change it between steps.

state_dict() is flat and pickle-free, so it fits in an .npz: hyperparameters as floats/ints,
and per-parameter state under 'state.<index>.<name>' (index = position in the params list).
"""
from minicnn import backend
from minicnn.tensor import Tensor, no_grad


class Optimizer:
    hyperparameters = ("lr",)  # the float settings saved in state_dict (subclasses extend)

    def __init__(self, params, lr):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; pass "
                             f"model.parameters() of a model that has parameters")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a "
                                f"{type(p).__name__}, not a Tensor; pass model.parameters()")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in the list; "
                             f"each must be updated once per step")
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got lr={lr}")
        self.params = params
        self.lr = float(lr)
        self.state = [dict() for _ in params]  # per parameter: name -> array (or int)

    def zero_grad(self):
        """Forget every parameter's gradient (set it to None, as PyTorch does by default)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        with no_grad():
            for p, state in zip(self.params, self.state):
                if p.grad is not None:
                    self.update(p.data, p.grad, state)

    def update(self, param, grad, state):
        """Change the array `param` in place using `grad` and this parameter's `state`."""
        raise TypeError(f"{type(self).__name__} must define update(param, grad, state)")

    # ---- checkpoints ----
    def state_dict(self):
        """A flat dict of plain values: hyperparameters (floats) and per-parameter state
        ('state.3.momentum_buffer' -> NumPy array, 'state.3.step' -> int)."""
        result = {name: getattr(self, name) for name in self.hyperparameters}
        result["num_params"] = len(self.params)
        for i, state in enumerate(self.state):
            for name, value in state.items():
                is_array = not isinstance(value, (int, float))
                result[f"state.{i}.{name}"] = backend.to_numpy(value).copy() if is_array else value
        return result

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned (arrays go to each parameter's device)."""
        count = int(state_dict.get("num_params", -1))
        if count != len(self.params):
            raise ValueError(f"this optimizer state was saved for {count} parameters, but the "
                             f"optimizer has {len(self.params)}: it belongs to another model")
        for name in self.hyperparameters:
            setattr(self, name, type(getattr(self, name))(state_dict[name]))
        self.state = [dict() for _ in self.params]
        for key, value in state_dict.items():
            if not key.startswith("state."):
                continue
            _, index, name = key.split(".", 2)
            p = self.params[int(index)]
            if hasattr(value, "shape") and value.shape != ():
                if tuple(value.shape) != p.shape:
                    raise ValueError(f"optimizer state {key} has shape {tuple(value.shape)}, but "
                                     f"parameter {index} has shape {p.shape}")
                value = backend.to_device(backend.to_numpy(value), p.device).astype(p.dtype)
            else:
                value = int(value)                              # a step count
            self.state[int(index)][name] = value
