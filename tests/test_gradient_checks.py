"""backward() checks every gradient a Function returns against its input, at the step that made
it: count, shape, dtype kind and device. Each test writes a deliberately wrong Function, the way a
learner might, and reads the error: it names the Function, the input, both shapes and a guess."""
import re

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend
from minicnn.tensor import BackwardError, Function
from tests.conftest import make


def backward_returning(*grads_of):
    """A Function y = sum of its inputs' sums (a scalar) whose backward returns
    grads_of(g, inputs): the wrong gradients under test."""
    class Wrong(Function):
        def forward(self, *arrays):
            self.arrays = arrays
            return sum(a.sum() for a in arrays)

        def backward(self, g):
            return grads_of[0](g, self.arrays)
    return Wrong


def run(function_class, *inputs):
    """Build y = F(inputs) * 1.0 (one more node after F) and back-propagate."""
    (function_class()(*inputs) * 1.0).backward()


def test_bias_gradient_not_summed_over_the_batch(rng):
    """The issue's case: a linear layer y = x @ w + b whose backward returns g itself, (N, O),
    for the bias (O,)."""
    class Linear(Function):
        def forward(self, x, w, b):
            self.x, self.w = x, w
            return x @ w + b                                     # (N, O)

        def backward(self, g):
            return g @ self.w.T, self.x.T @ g, g                 # db should be g.sum(axis=0)

    x, w, b = make(rng.standard_normal((4, 3))), make(rng.standard_normal((3, 2))), \
        make(np.zeros(2))
    with pytest.raises(BackwardError) as caught:
        Linear()(x, w, b).sum().backward()
    message = str(caught.value)
    assert message.startswith("Linear.backward, gradient for input 2 (shape (2,))")
    assert "expected (2,), received (4, 2)" in message
    assert "a sum over the batch axis is missing?" in message and "g.sum(axis=0)" in message
    assert b.grad is None and w.grad is None       # stopped at the step, nothing half-written


@pytest.mark.parametrize("wrong, shape, cause", [
    (lambda g, a: (np.ones((3, 2)) * g,), (2, 3), "transposed?"),
    (lambda g, a: (np.ones((1, 2, 3)) * g,), (2, 3), "an extra leading axis of size 1"),
    (lambda g, a: (np.ones((5, 2, 3)) * g,), (2, 3), "a sum over the batch axis is missing?"),
    (lambda g, a: (np.ones((7, 5, 2, 3)) * g,), (2, 3), "a sum over the leading axes"),
    (lambda g, a: (np.ones((4, 3)) * g,), (4, 1), "g.sum(axis=(1,), keepdims=True)"),
    (lambda g, a: (np.ones(4) * g,), (4, 3), "axis 1 (size 3) was dropped"),
    (lambda g, a: (np.ones(3) * g,), (2, 4, 3), "axes were dropped"),
    (lambda g, a: (np.ones(6) * g,), (2, 3), "g.reshape((2, 3))"),
    (lambda g, a: (np.ones(5) * g,), (2, 3), "Check the derivation"),
])
def test_wrong_shapes_are_named_with_a_likely_cause(wrong, shape, cause, rng):
    x = make(rng.standard_normal(shape))
    received = wrong(np.float64(1.0), None)[0].shape
    with pytest.raises(BackwardError) as caught:
        run(backward_returning(wrong), x)
    message = str(caught.value)
    assert f"Wrong.backward, gradient for input 0 (shape {shape})" in message
    assert f"expected {shape}, received {received}" in message
    assert cause in message


def test_gradients_in_the_wrong_order(rng):
    a, b = make(rng.standard_normal((2, 3))), make(rng.standard_normal((3, 4)))
    swapped = backward_returning(lambda g, arrays: (np.ones((3, 4)) * g, np.ones((2, 3)) * g))
    with pytest.raises(BackwardError, match=re.escape("that is the shape of input 1: gradients "
                                                      "returned in another order")):
        run(swapped, a, b)


def test_too_many_and_too_few_gradients(rng):
    a, b = make(rng.standard_normal(3)), make(rng.standard_normal(3))
    too_many = backward_returning(lambda g, arrays: (g * np.ones(3), g * np.ones(3),
                                                     g * np.ones(3)))
    with pytest.raises(BackwardError, match=re.escape(
            "Wrong.backward returned 3 gradient(s) for its 2 input(s) (shapes (3,), (3,))")):
        run(too_many, a, b)
    too_few = backward_returning(lambda g, arrays: g * np.ones(3))
    with pytest.raises(BackwardError, match=r"returned 1 gradient\(s\) for its 2 input\(s\).*"
                                            r"one gradient per input of forward"):
        run(too_few, a, b)
    # None past the last input: an optional input (pos_weight=None) that was not passed
    trailing_none = backward_returning(lambda g, arrays: (g * np.ones(3), g * np.ones(3), None))
    run(trailing_none, a, b)
    np.testing.assert_array_equal(a.grad, np.ones(3))


def test_a_tensor_or_an_integer_array_is_not_a_gradient(rng):
    x = make(rng.standard_normal(3))
    as_tensor = backward_returning(lambda g, arrays: (mc.tensor(np.ones(3)),))
    with pytest.raises(BackwardError, match="got a Tensor, expected an array of shape \\(3,\\)"):
        run(as_tensor, x)
    mask = backward_returning(lambda g, arrays: (arrays[0] > 0,))
    with pytest.raises(BackwardError, match="got dtype bool, expected a floating-point array"):
        run(mask, x)
    integers = backward_returning(lambda g, arrays: (np.ones(3, dtype=np.int64),))
    with pytest.raises(BackwardError, match="got dtype int64"):
        run(integers, x)


def test_gradient_on_the_wrong_device(rng, monkeypatch):
    """A NumPy gradient for a CuPy input (np.ones instead of xp.ones). Without a GPU, the check is
    exercised by telling backend that the input's array lives on the GPU."""
    x = make(rng.standard_normal(3))
    on_gpu = x.data
    real_device_of = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda a: "cuda" if a is on_gpu else real_device_of(a))
    numpy_grad = backward_returning(lambda g, arrays: (np.ones(3),))
    with pytest.raises(BackwardError, match="got an array on cpu, but the input is on cuda; build "
                                            "it with xp = get_array_module"):
        run(numpy_grad, x)


def test_gradient_on_the_wrong_device_on_a_gpu(rng):
    if not backend.cuda_available():
        pytest.skip("no GPU here (CuPy with a CUDA device is needed)")
    x = make(rng.standard_normal(3), device="cuda")
    numpy_grad = backward_returning(lambda g, arrays: (np.ones(3),))
    with pytest.raises(BackwardError, match="got an array on cpu, but the input is on cuda"):
        run(numpy_grad, x)


def test_inputs_that_need_no_gradient_are_not_checked(rng):
    """A constant input (data, labels) may get any placeholder: nothing uses it."""
    x, labels = make(rng.standard_normal(3)), make(np.arange(3), requires_grad=False)
    lazy = backward_returning(lambda g, arrays: (g * np.ones(3), 0))
    run(lazy, x, labels)
    np.testing.assert_array_equal(x.grad, np.ones(3))


def test_correct_backwards_pass_including_numpy_scalars(rng):
    """0-d inputs may get NumPy scalars back (0-d array * number is a np.float64)."""
    s = make(np.array(2.0))
    (s * s).backward()
    assert s.grad == 4.0
    x = make(rng.standard_normal((2, 3)))
    y = make(rng.standard_normal((3,)))
    ((x * y).sum(axis=0) @ y).backward()                 # broadcasting ops reduce correctly
    np.testing.assert_allclose(y.grad, (x.numpy() * y.numpy()).sum(axis=0)
                               + x.numpy().sum(axis=0) * y.numpy())


def test_a_function_without_forward_or_backward_says_what_to_write(rng):
    class NoBackward(Function):
        def forward(self, a):
            return a * 2

    class NoForward(Function):
        def backward(self, g):
            return g

    x = make(rng.standard_normal(3))
    with pytest.raises(TypeError, match=r"NoBackward has no backward.*def backward\(self, g\)"):
        NoBackward()(x).sum().backward()
    with pytest.raises(TypeError, match=r"NoForward is a Function without a forward.*"
                                        r"def forward\(self, \*arrays\)"):
        NoForward()(x)


# ---- mc.gradcheck: any memory layout, a report in the input's own coordinates ----

def cube(t):
    return t * t * t


class WrongCube(Function):
    """x**3 with the factor 3 forgotten in backward."""

    def forward(self, x):
        self.x = x
        return x * x * x

    def backward(self, g):
        return g * self.x * self.x


@pytest.mark.parametrize("layout", ["fortran", "strided view", "transposed view"])
def test_gradcheck_nudges_the_input_itself_whatever_its_layout(layout, rng):
    """It used to write the nudges into a reshaped copy of a non-C-contiguous input: numeric 0
    everywhere, and a correct function 'failed'."""
    a = rng.standard_normal((3, 4, 6))
    if layout == "fortran":
        x = mc.tensor(np.asfortranarray(a), requires_grad=True)
        assert x.data.flags.f_contiguous and not x.data.flags.c_contiguous
    elif layout == "strided view":
        x = mc.Tensor(a[:, ::2, :], requires_grad=True)             # reshape(-1) copies it
    else:
        x = mc.Tensor(a.transpose(2, 0, 1), requires_grad=True)
    assert not x.data.flags.c_contiguous
    before = x.numpy().copy()
    assert mc.gradcheck(cube, x)
    np.testing.assert_array_equal(x.numpy(), before)          # every nudge was undone
    with pytest.raises(mc.GradcheckError, match="relative error 0.667"):
        mc.gradcheck(lambda t: WrongCube()(t), x)


def test_gradcheck_report_names_the_input_and_element_and_what_was_compared(rng):
    w = make(rng.standard_normal((2, 3)))
    x = make(np.asfortranarray(rng.standard_normal((2, 3, 4))))

    def model(weights, image):
        return weights.sum() * WrongCube()(image)

    with pytest.raises(mc.GradcheckError) as caught:
        mc.gradcheck(model, w, x)
    message = str(caught.value)
    first_line = message.splitlines()[0]
    match = re.search(r"for input 1 \(image, shape \(2, 3, 4\)\) at element "
                      r"image\[(\d), (\d), (\d)\]: analytic (\S+), numeric (\S+),", first_line)
    assert match, message
    element = tuple(int(k) for k in match.groups()[:3])
    analytic, numeric = float(match.group(4)), float(match.group(5))
    # the numbers are those of L = sum(F * R), R from default_rng(seed=0), at that element
    r = np.random.default_rng(0).standard_normal((2, 3, 4))
    s, v = w.numpy().sum(), x.numpy()[element]
    assert numeric == pytest.approx(3 * s * v ** 2 * r[element], rel=1e-6)
    assert analytic == pytest.approx(s * v ** 2 * r[element], rel=1e-6)
    assert "L = sum(F * R) with a fixed random R of that shape (seed 0)" in message
    assert f"numeric = (L(+eps) - L(-eps)) / (2 eps) with image[{element[0]}, {element[1]}, " \
           f"{element[2]}] nudged by eps=1e-06" in message
    assert "Median analytic/numeric ratio over the elements where numeric is not 0: 0.3333" \
        in message
    assert "largest" not in message


def test_gradcheck_names_inputs_of_functions_without_names(rng):
    x = make(rng.standard_normal(3))
    with pytest.raises(mc.GradcheckError, match=r"input 0 \(inputs\[0\], shape \(3,\)\) at "
                                                r"element inputs\[0\]\[\d\]"):
        mc.gradcheck(lambda *ts: WrongCube()(ts[0]), x)
    scalar = make(np.array(1.5))
    with pytest.raises(mc.GradcheckError, match=r"input 0 \(s, shape \(\)\) at element s: "):
        mc.gradcheck(lambda s: WrongCube()(s), scalar)


def test_checks_can_be_switched_off_for_a_tool_that_diagnoses_gradients_itself(rng):
    """The course grader compares a student's wrong array with the reference's."""
    from minicnn.tensor import gradient_checks
    x = make(rng.standard_normal((2, 3)))
    transposed = backward_returning(lambda g, arrays: (np.ones((3, 2)) * g,))
    with gradient_checks(False):
        run(transposed, x)
    assert x.grad.shape == (3, 2)                       # passed on unchecked, as it came
    with pytest.raises(BackwardError, match="transposed?"):
        run(transposed, x)                              # on again after the block


def test_gradcheck_refuses_a_read_only_input_it_could_not_nudge():
    row = np.broadcast_to(np.arange(3.0), (2, 3))                       # a read-only view
    x = mc.Tensor(row, requires_grad=True)
    with pytest.raises(TypeError, match=r"read-only array.*pass a copy: mc.tensor\(a"):
        mc.gradcheck(cube, x)
    assert mc.gradcheck(cube, mc.tensor(row, requires_grad=True))       # a copy is fine
