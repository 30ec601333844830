"""Name the likely mistake behind a wrong gradient, from the student's array and the reference's.

The checks, in order (the first that fits gives the phrase):
  missing or NaN          the backward pass returned None for an input, or produced NaN/inf
  a known wrong variant   arrays computed from the same inputs with one typical mistake each (the
                          exercise's own list, exercises.py: max-pool gradient sent to the LAST
                          maximum, sigmoid's formula applied to x instead of s ...): equal -> named
  wrong shape             a permutation of the right axes (transposed), an axis that should have
                          been summed away (batch/broadcast sum missing), or summed one too many
  constant ratio          got = c * expected everywhere: c = -1 wrong sign; c = N, 1/N, the number
                          of elements, the learning rate ... (named from the case's constants)
  same total              an op that routes gradients (max-pool): right total, wrong pixels
  otherwise               how many values differ and the largest error.
"""
import itertools

import numpy as np

RTOL, ATOL = 1e-6, 1e-9


def close(a, b):
    return a is not None and b is not None and np.shape(a) == np.shape(b) and \
        bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def diagnose(got, expected, what, constants=None, candidates=None, routes=False):
    """One phrase that says what is wrong with `got` (the array `what`, e.g. "dL/dx").
    candidates: {phrase: wrong array}, the exercise's typical mistakes for this case.
    routes: the op routes each gradient to chosen elements (max-pool): check the total."""
    if got is None:
        return f"{what} is missing (the backward pass returned None for it)"
    got = np.asarray(got, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return f"{what} has NaN or inf values"
    for phrase, variant in (candidates or {}).items():
        if close(got, variant):
            return f"{what} {phrase}"
    if got.shape != expected.shape:
        return f"{what} {shape_mistake(got, expected)}"
    swapped = axes_mistake(got, expected)
    if swapped:
        return f"{what} {swapped}"
    ratio = constant_ratio(got, expected)
    if ratio is not None:
        return f"{what} {factor_phrase(ratio, constants or {})}"
    if routes and np.isclose(got.sum(), expected.sum(), rtol=1e-6):
        return (f"{what} adds up to the right total but lands on the wrong pixels of the windows "
                f"(each window's gradient goes to its first maximum)")
    bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    worst = np.unravel_index(int(np.argmax(np.abs(got - expected) * bad)), got.shape)
    return (f"{what} differs in {int(bad.sum())} of {got.size} values (e.g. at "
            f"{tuple(int(i) for i in worst)}: {got[worst]:.6g}, expected {expected[worst]:.6g})")


def shape_mistake(got, expected):
    gs, es = got.shape, expected.shape
    if sorted(gs) == sorted(es):
        for perm in itertools.permutations(range(expected.ndim)):
            if expected.transpose(perm).shape == gs and close(got, expected.transpose(perm)):
                return transposed_phrase(perm, gs, es)
    for axes in _axis_subsets(got.ndim):
        summed = got.sum(axis=axes)
        if summed.size == expected.size and close(summed.reshape(es), expected):
            return f"is missing the sum over {_axes_words(axes)}: shape {gs}, expected {es}"
    for axes in _axis_subsets(expected.ndim):
        summed = expected.sum(axis=axes)
        if summed.size == got.size and close(got.reshape(summed.shape), summed):
            return (f"was summed over {_axes_words(axes)} as well: shape {gs}, expected {es} "
                    f"(keep that axis: the input has it)")
    if got.size == expected.size and close(got.reshape(es), expected):
        return f"has the right values in the wrong shape {gs}, expected {es}"
    return f"has the wrong shape {gs}, expected {es} (the shape of the input it belongs to)"


def axes_mistake(got, expected):
    """Same shape, but equal to the reference with two equal-sized axes swapped."""
    for perm in itertools.permutations(range(expected.ndim)):
        if list(perm) != sorted(perm) and expected.transpose(perm).shape == got.shape \
                and close(got, expected.transpose(perm)):
            return transposed_phrase(perm, got.shape, expected.shape)
    return None


def transposed_phrase(perm, got_shape, expected_shape):
    n = len(perm)
    if n >= 2 and list(perm) == list(range(n - 2)) + [n - 1, n - 2]:
        return (f"is transposed (rows and columns swapped: shape {got_shape}, expected "
                f"{expected_shape}); check the order in the products, e.g. g @ b^T vs b @ g^T")
    return f"has its axes in the wrong order (the reference's axes in the order {perm})"


def constant_ratio(got, expected):
    """c when got == c * expected everywhere (and c != 1), else None."""
    scale = np.abs(expected).max()
    if scale == 0:
        return None
    nonzero = np.abs(expected) > 1e-8 * scale
    ratios = got[nonzero] / expected[nonzero]
    c = float(np.median(ratios))
    if not np.allclose(ratios, c, rtol=1e-6, atol=1e-9) or abs(c - 1) < 1e-6:
        return None
    if not np.allclose(got[~nonzero], 0, atol=1e-9 * scale + ATOL):
        return None
    return c


def factor_phrase(c, constants):
    if abs(c) < 1e-9:
        return "is zero everywhere"
    sign = "has the wrong sign (it points uphill)" if c < 0 else ""
    size = abs(c)
    if abs(size - 1) < 1e-6:
        return sign + ": it is exactly -1 times the right gradient"
    words = f"is off by a constant factor {size:.6g}"
    for name, v in constants.items():
        if v in (None, 0, 1):
            continue
        if np.isclose(size, v, rtol=1e-6):        # an extra factor v
            words = (f"is {v:g} times too large: a division by {name} ({v:g}) is missing" if v > 1
                     else f"is {1 / v:g} times too small: it multiplies by {name} ({v:g}) twice")
            break
        if np.isclose(size * v, 1, rtol=1e-6):    # a missing factor v
            words = (f"is {v:g} times too small: it divides by {name} ({v:g}) once too often"
                     if v > 1 else f"is {1 / v:g} times too large: the factor {name} ({v:g}) "
                                   f"is missing")
            break
    return f"{sign} and {words}" if sign else words


def _axis_subsets(ndim):
    return [axes for k in range(1, ndim + 1) for axes in itertools.combinations(range(ndim), k)]


def _axes_words(axes):
    names = [f"axis {a}" + (" (the batch axis)" if a == 0 else "") for a in axes]
    return " and ".join(names)
