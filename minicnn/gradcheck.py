"""Numerical gradient check: is an op's backward pass the true derivative of its forward pass?

For each input element x_i we nudge it both ways and watch the output move:

    dF/dx_i  ~=  (F(x + eps e_i) - F(x - eps e_i)) / (2 eps)       (central difference)

and compare with the gradient back-propagation computed. A non-scalar output F is first turned
into the scalar sum(F * R) with a fixed random R, which checks every output's gradient at once.

Why float64: the central difference has a truncation error ~eps^2 and a rounding error ~u/eps,
where u is the machine precision. In float32 (u ~ 6e-8) the best eps (~1e-3) still leaves errors
around 1e-4 relative to the values, as large as the mistakes we want to catch; in float64
(u ~ 1e-16, eps = 1e-6) the difference is accurate to ~1e-10, so any real bug stands out.
"""
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

    out = fn(*inputs)
    xp = backend.get_array_module(out.data)
    projection = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))

    def scalar(values):                       # F(x) -> sum(F(x) * R), a plain float
        return float((values * projection).sum())

    for t in checked:
        t.grad = None
    (out * Tensor(projection)).sum().backward()
    analytic = [backend.to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape)
                for t in checked]

    for which, (t, grad) in enumerate(zip(checked, analytic)):
        flat = t.data.reshape(-1)             # a view: writing to it nudges the input in place
        numeric = np.zeros(t.size)
        with no_grad():
            for i in range(t.size):
                original = float(flat[i])
                flat[i] = original + eps
                plus = scalar(fn(*inputs).data)
                flat[i] = original - eps
                minus = scalar(fn(*inputs).data)
                flat[i] = original
                numeric[i] = (plus - minus) / (2 * eps)
        grad = grad.reshape(-1)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            i = int(np.argmax(np.where(bad, error, -1)))
            element = np.unravel_index(i, t.shape)
            position = [k for k, x in enumerate(inputs) if x is t][0]
            relative = error[i] / max(abs(numeric[i]), 1e-12)
            raise GradcheckError(
                f"gradient mismatch for input {position} (shape {t.shape}) at element "
                f"{tuple(int(e) for e in element)}: analytic {grad[i]:.8g}, numeric "
                f"{numeric[i]:.8g}, relative error {relative:.3g} ({int(bad.sum())} of {t.size} "
                f"elements fail atol={atol}, rtol={rtol}); largest analytic/numeric ratio "
                f"{_ratio_hint(grad, numeric)}")
    return True


def _ratio_hint(analytic, numeric):
    """A hint for the report: a constant ratio (2, -1, 1/N...) points at a missing factor."""
    mask = np.abs(numeric) > 1e-8
    if not mask.any():
        return "n/a (numeric gradient is zero)"
    ratios = analytic[mask] / numeric[mask]
    return f"{np.median(ratios):.4g} (median over nonzero elements)"
