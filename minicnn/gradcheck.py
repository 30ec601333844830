"""Numerical gradient check: is an op's backward pass the true derivative of its forward pass?

For each input element x_i we nudge it both ways and watch the output move:

    dF/dx_i  ~=  (F(x + eps e_i) - F(x - eps e_i)) / (2 eps)       (central difference)

and compare with the gradient back-propagation computed. A non-scalar output F is first turned
into the scalar L = sum(F * R) with a fixed random R, which checks every output's gradient at
once: both numbers compared are dL/dx_i, not dF/dx_i (for a ReLU, dL/dx_i is R_i where x_i > 0,
so "numeric -0.535" is simply that element of R). Each element is nudged where it lives, in the
input's own array, so any memory layout works (Fortran order, a strided view).

Why float64: the central difference has a truncation error ~eps^2 and a rounding error ~u/eps,
where u is the machine precision. In float32 (u ~ 6e-8) the best eps (~1e-3) still leaves errors
around 1e-4 relative to the values, as large as the mistakes we want to catch; in float64
(u ~ 1e-16, eps = 1e-6) the difference is accurate to ~1e-10, so any real bug stands out.
"""
import inspect

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check `fn(*inputs)`'s gradients with respect to every input that requires grad.

    inputs: Tensors (float64 ones with requires_grad=True are checked; others are passed as is).
    Passes when |analytic - numeric| <= atol + rtol * |numeric| for every element.
    Returns True, or raises GradcheckError with a report naming input, element and both values."""
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs (got {t.dtype}): float32 rounding "
                            f"errors are as large as the bugs it looks for. Use "
                            f"mc.tensor(a, dtype='float64', requires_grad=True)")
        if not getattr(getattr(t.data, "flags", None), "writeable", True):
            raise TypeError(f"gradcheck nudges each element of an input in place, but the input "
                            f"of shape {t.shape} is a read-only array (a broadcast or strided "
                            f"view); pass a copy: mc.tensor(a, dtype='float64', "
                            f"requires_grad=True)")

    out = fn(*inputs)
    xp = backend.get_array_module(out.data)
    projection = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))  # R

    def scalar(values):                       # F(x) -> L = sum(F(x) * R), a plain float
        return float((values * projection).sum())

    for t in checked:
        t.grad = None
    (out * Tensor(projection)).sum().backward()
    analytic = [backend.to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape)
                for t in checked]

    for t, grad in zip(checked, analytic):
        numeric = np.zeros(t.shape)           # dL/dt by central differences, shaped like t
        with no_grad():
            for index in np.ndindex(*t.shape):
                original = float(t.data[index])
                t.data[index] = original + eps    # the input itself, whatever its memory layout
                plus = scalar(fn(*inputs).data)
                t.data[index] = original - eps
                minus = scalar(fn(*inputs).data)
                t.data[index] = original
                numeric[index] = (plus - minus) / (2 * eps)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            raise GradcheckError(_report(fn, inputs, t, grad, numeric, error, bad, out.shape,
                                         eps, atol, rtol, seed))
    return True


def _report(fn, inputs, t, analytic, numeric, error, bad, out_shape, eps, atol, rtol, seed):
    """The failure, for a learner: where (the input and element, in its own coordinates), the two
    numbers, then what exactly was compared."""
    position = next(k for k, x in enumerate(inputs) if x is t)
    name = _input_name(fn, position)
    element = np.unravel_index(int(np.argmax(np.where(bad, error, -1))), t.shape)  # worst element
    where = f"{name}[{', '.join(str(int(e)) for e in element)}]" if t.ndim else name
    relative = error[element] / max(abs(numeric[element]), 1e-12)
    return (f"gradient mismatch for input {position} ({name}, shape {t.shape}) at element "
            f"{where}: analytic {analytic[element]:.8g}, numeric {numeric[element]:.8g}, "
            f"relative error {relative:.3g}; {int(bad.sum())} of {t.size} elements fail "
            f"|analytic - numeric| <= atol + rtol * |numeric| (atol={atol}, rtol={rtol}).\n"
            f"What was compared: the output F has shape {tuple(out_shape)}, so gradcheck checks "
            f"the scalar L = sum(F * R) with a fixed random R of that shape (seed {seed}): "
            f"analytic = dL/d{where} from backward(), numeric = (L(+eps) - L(-eps)) / (2 eps) "
            f"with {where} nudged by eps={eps}. Both are derivatives of L, not of F.\n"
            f"Median analytic/numeric ratio over the elements where numeric is not 0: "
            f"{_ratio_hint(analytic, numeric)}")


def _input_name(fn, position):
    """The name fn gives its input number `position` (t in `lambda t: ...`), else inputs[k]."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[position].name if position < len(positional) else f"inputs[{position}]"


def _ratio_hint(analytic, numeric):
    """A constant ratio (2, -1, 1/N...) points at a missing factor in backward."""
    mask = np.abs(numeric) > 1e-8
    if not mask.any():
        return "n/a (the numeric gradient is 0 everywhere)"
    ratios = analytic[mask] / numeric[mask]
    return (f"{np.median(ratios):.4g} (a constant ratio like 2, -1 or 1/N points at a missing "
            f"factor)")
