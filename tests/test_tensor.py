"""The Tensor itself: creation rules, backward over the graph, accumulation, no_grad, errors."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import backend


def test_dtype_rules():
    assert mc.tensor([1, 2, 3]).dtype == np.float32            # lists become float32
    assert mc.tensor(2.5).dtype == np.float32                  # numbers too
    assert mc.tensor(np.zeros(3)).dtype == np.float64          # float64 arrays stay float64
    assert mc.tensor(np.zeros(3, np.float16)).dtype == np.float16
    assert mc.tensor(np.arange(3)).dtype.kind == "i"           # integer arrays stay integer (labels)
    assert mc.zeros(2, 3).shape == (2, 3) and mc.ones((4,)).numpy().sum() == 4


def test_tensor_copies_its_data():
    a = np.ones(3)
    t = mc.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1


def test_scalar_operand_keeps_dtype():
    x = mc.tensor(np.ones(3, np.float32), requires_grad=True)
    assert (x * 2.0 + 1).dtype == np.float32
    assert (2.0 / x - 1).dtype == np.float32


def test_simple_expression_gradients():
    # f(a, b) = (a*b + a) ** 2 at a=2, b=3: f = 64, df/da = 2(ab+a)(b+1) = 64, df/db = 2(ab+a)a = 32
    a = mc.tensor(2.0, requires_grad=True)
    b = mc.tensor(3.0, requires_grad=True)
    f = (a * b + a) ** 2
    f.backward()
    assert f.item() == 64
    assert a.grad == pytest.approx(64) and b.grad == pytest.approx(32)


def test_shared_input_sums_paths():
    # y = x*x + x uses x three times: dy/dx = 2x + 1
    x = mc.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.array([1.0, -2.0, 3.0]) + 1)


def test_gradients_accumulate_until_zero_grad():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (3 * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])
    x.zero_grad()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_leaf_grad_is_not_aliased():
    # add's backward hands the same array to both inputs; accumulating into one must not touch the other
    a = mc.tensor(np.zeros(2), requires_grad=True)
    b = mc.tensor(np.zeros(2), requires_grad=True)
    (a + b).sum().backward()
    (a * 2).sum().backward()
    np.testing.assert_allclose(a.grad, [3, 3])
    np.testing.assert_allclose(b.grad, [1, 1])


def test_intermediate_grad_only_when_retained():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 3).retain_grad()
    k = x * 4
    (h * k).sum().backward()
    np.testing.assert_allclose(h.grad, [4.0, 8.0])   # d(hk)/dh = k
    assert k.grad is None


def test_no_grad_builds_no_graph():
    x = mc.tensor(np.ones(2), requires_grad=True)
    with mc.no_grad():
        y = x * 2
    assert not y.requires_grad and y.creator is None
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = mc.tensor(np.array([2.0]), requires_grad=True)
    y = x * x.detach()       # the detached factor is a constant: dy/dx = x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0])


def test_deep_chain_needs_no_recursion():
    x = mc.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-6)


def test_graph_freed_after_backward():
    x = mc.tensor(np.ones(2), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    z = (x * 2).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, [6, 6])


def test_backward_on_non_scalar_needs_grad():
    x = mc.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\)"):
        y.backward()
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        (x * 2).backward(np.ones(3))


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        mc.tensor(np.arange(3), requires_grad=True)


def test_backward_without_grad_input_explains():
    with pytest.raises(RuntimeError, match="requires_grad"):
        (mc.tensor([1.0]) * 2).sum().backward()


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        mc.tensor(np.ones((2, 3))) + mc.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        mc.tensor(np.ones((2, 3))) @ mc.tensor(np.ones((4, 5)))


def test_numpy_and_item_and_repr():
    t = mc.tensor([[1.0, 2.0]], requires_grad=True)
    assert isinstance(t.numpy(), np.ndarray)
    assert (t.sum()).item() == 3.0
    assert "requires_grad=True" in repr(t) and t.ndim == 2 and t.device == "cpu"


def test_comparisons_and_array_on_left():
    x = mc.tensor(np.array([1.0, -1.0]), requires_grad=True)
    assert (x > 0).numpy().tolist() == [True, False]
    y = np.array([2.0, 2.0]) * x          # ndarray * Tensor goes to Tensor.__rmul__
    assert isinstance(y, mc.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_device_moves(device):
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * y).sum().backward()
    assert x.grad is not None and x.device == "cpu"
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert isinstance(y.numpy(), np.ndarray)


def test_mixing_devices_says_which_is_where():
    if not backend.cuda_available():
        pytest.skip("needs a GPU")
    a = mc.tensor(np.ones(2), device="cpu")
    b = mc.tensor(np.ones(2), device="cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda"):
        a + b


def test_cuda_unavailable_is_explained():
    if backend.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CuPy"):
        mc.tensor([1.0]).to("cuda")


def test_randn_is_seeded():
    mc.manual_seed(7)
    a = mc.randn(3, 4).numpy()
    mc.manual_seed(7)
    b = mc.randn(3, 4).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
