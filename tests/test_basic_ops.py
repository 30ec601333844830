"""gradcheck (float64, central differences) of every core op on several shapes, including
broadcasting, size-1 and odd axes; forward values against NumPy."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make

BINARY_SHAPES = [((3,), (3,)), ((4, 1, 5), (3, 1)), ((2, 3), (1,)), ((1, 4), (5, 1)),
                 ((), (2, 3)), ((3, 1, 2), (3, 7, 1))]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (mc.maximum, np.maximum),
    "minimum": (mc.minimum, np.minimum),
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
def test_binary_ops(name, shapes, device, rng):
    op, reference = BINARY[name]
    a_np = rng.standard_normal(shapes[0])
    b_np = rng.standard_normal(shapes[1])
    if name == "div":
        b_np = np.sign(b_np) * (np.abs(b_np) + 0.5)          # keep away from 0
    a, b = make(a_np, device), make(b_np, device)
    np.testing.assert_allclose(op(a, b).numpy(), reference(a_np, b_np), rtol=1e-12)
    assert mc.gradcheck(op, a, b)


def test_maximum_tie_splits_gradient():
    a, b = make([1.0, 2.0]), make([1.0, 0.0])
    mc.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 1.0])
    np.testing.assert_allclose(b.grad, [0.5, 0.0])


UNARY = {
    "neg": (lambda x: -x, lambda x: -x, "any"),
    "exp": (mc.exp, np.exp, "any"),
    "log": (mc.log, np.log, "positive"),
    "sqrt": (mc.sqrt, np.sqrt, "positive"),
    "abs": (mc.abs, np.abs, "nonzero"),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, "any"),
    "pow-1.5": (lambda x: x ** -1.5, lambda x: x ** -1.5, "positive"),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, "any"),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), "nonzero"),
    "relu": (F.relu, lambda x: np.maximum(x, 0), "nonzero"),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "any"),
    "tanh": (F.tanh, np.tanh, "any"),
    "method_exp": (lambda x: x.exp(), np.exp, "any"),
    "method_log": (lambda x: x.log(), np.log, "positive"),
    "tensor_pow": (lambda x: x ** mc.tensor(np.full(x.shape, 1.7), device=x.device),
                   lambda x: x ** 1.7, "positive"),
}


def _values(rng, shape, domain):
    x = rng.standard_normal(shape)
    if domain == "positive":
        return np.abs(x) + 0.3
    if domain == "nonzero":            # away from kinks at 0 (and the clip edges)
        x = np.where(np.abs(x) < 0.05, 0.3, x)
        return np.where(np.abs(np.abs(x) - 0.6) < 0.05, 1.2, x)
    return x


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(5,), (3, 1, 4), (2, 3, 5), ()], ids=str)
def test_unary_ops(name, shape, device, rng):
    op, reference, domain = UNARY[name]
    x_np = _values(rng, shape, domain)
    x = make(x_np, device)
    np.testing.assert_allclose(op(x).numpy(), reference(x_np), rtol=1e-12, atol=1e-300)
    assert mc.gradcheck(op, x)


def test_sigmoid_is_stable_for_large_inputs():
    x = mc.tensor(np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0]), requires_grad=True)
    y = F.sigmoid(x)
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_allclose(y.numpy(), [0.0, np.exp(-100.0), 0.5, 1.0, 1.0], rtol=1e-12)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


REDUCTIONS = [None, 0, 1, -1, (0, 2)]


@pytest.mark.parametrize("axis", REDUCTIONS, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reductions(name, axis, keepdims, device, rng):
    x_np = rng.standard_normal((3, 4, 5))
    x = make(x_np, device)
    op = lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)   # noqa: E731
    np.testing.assert_allclose(op(x).numpy(), getattr(x_np, name)(axis=axis, keepdims=keepdims))
    assert mc.gradcheck(op, x)


def test_max_ties_share_gradient():
    x = make([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)),
                                             ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)),
                                             ((2, 1, 3, 4), (5, 4, 2)), ((1, 1), (1, 7))], ids=str)
def test_matmul(a_shape, b_shape, device, rng):
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = make(a_np, device), make(b_np, device)
    np.testing.assert_allclose((a @ b).numpy(), a_np @ b_np, rtol=1e-12)
    assert mc.gradcheck(lambda a, b: a @ b, a, b)


@pytest.mark.parametrize("case", [
    ("reshape", lambda x: x.reshape(6, 4)), ("reshape_tuple", lambda x: x.reshape((4, -1))),
    ("transpose", lambda x: x.transpose()), ("transpose_axes", lambda x: x.transpose(1, 2, 0)),
    ("T", lambda x: x.T), ("slice", lambda x: x[1:, ::2]), ("int_index", lambda x: x[0, 1]),
    ("fancy_repeat", lambda x: x[[0, 0, 1]]), ("bool_mask", lambda x: x[x.numpy() > 0]),
    ("ellipsis", lambda x: x[..., 1]), ("negative_step", lambda x: x[:, ::-1]),
], ids=lambda c: c[0])
def test_shape_ops(case, device, rng):
    _, op = case
    x = make(rng.standard_normal((2, 3, 4)), device)
    if case[0] == "bool_mask" and device == "cuda":
        pytest.skip("boolean mask built from a host array")
    assert mc.gradcheck(op, x)


def test_astype_gradient_returns_to_input_dtype():
    x = mc.tensor(np.ones(3), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2, 2, 2])


def test_repeated_index_adds_up():
    x = make(np.arange(4.0))
    x[[1, 1, 3]].sum().backward()
    np.testing.assert_allclose(x.grad, [0, 2, 0, 1])


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, axis, device, rng):
    x_np = rng.standard_normal((3, 4, 2)) * 3
    x = make(x_np, device)
    op = lambda t: getattr(F, name)(t, axis=axis)   # noqa: E731
    e = np.exp(x_np - x_np.max(axis=axis, keepdims=True))
    soft = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(op(x).numpy(), soft if name == "softmax" else np.log(soft),
                               rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(op, x)


def test_log_softmax_is_stable():
    x = mc.tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    y = F.log_softmax(x, axis=1)
    np.testing.assert_allclose(y.numpy(), [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(F.softmax(x, axis=1).numpy(), [[1.0, 0.0, 0.0]])


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(mc.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return g * self.x               # forgot the factor 2

    x = make(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(mc.GradcheckError, match=r"input 0.*analytic.*numeric.*0.5"):
        mc.gradcheck(lambda t: WrongSquare()(t), x)


def test_gradcheck_refuses_float32():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        mc.gradcheck(lambda t: t * 2, x)
