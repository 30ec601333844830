"""max_pool2d and avg_pool2d: gradcheck on many window configurations, the fast strided-view
versions against the loop references (forward and backward), first-maximum routing of ties,
float32 against float64, and the error messages."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.reference import pool as ref
from tests.cases import make

# (input shape, kernel_size, stride, padding): odd and non-square sizes, overlapping windows
# (stride < kernel), gaps between windows (stride > kernel), batch/channel 1, pairs.
CONFIGS = [
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 1, 7, 5), 3, 2, 1),
    ((2, 1, 5, 8), (3, 2), (1, 2), (1, 0)),
    ((1, 2, 4, 7), 2, 1, 1),
    ((1, 1, 5, 5), 3, 1, 0),
    ((2, 2, 6, 9), 1, 2, 0),
    ((1, 3, 9, 7), 3, 3, 1),
    ((1, 1, 3, 3), 3, None, 1),
    ((1, 2, 8, 5), (2, 3), 3, (1, 1)),
    ((3, 1, 4, 4), (1, 3), (2, 1), (0, 1)),
]
OPS = {
    "max": (F.max_pool2d, ref.max_pool2d_forward, ref.max_pool2d_backward),
    "avg": (F.avg_pool2d, ref.avg_pool2d_forward, ref.avg_pool2d_backward),
}


def tie_free(rng, shape):
    """Distinct values at least 0.1 apart: a gradcheck nudge (1e-6) never changes a winner."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,kernel,stride,padding", CONFIGS, ids=str)
def test_gradcheck(op, shape, kernel, stride, padding, device, rng):
    fn = OPS[op][0]
    x = make(tie_free(rng, shape), device)
    assert mc.gradcheck(lambda t: fn(t, kernel, stride, padding), x)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,kernel,stride,padding", CONFIGS, ids=str)
def test_matches_loop_reference(op, shape, kernel, stride, padding, device, rng):
    fn, forward, backward = OPS[op]
    x_np = rng.standard_normal(shape)
    x = make(x_np, device)
    out = fn(x, kernel, stride, padding)
    np.testing.assert_allclose(out.numpy(), forward(x_np, kernel, stride, padding), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(mc.tensor(g, device=device))
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(),
                               backward(x_np, g, kernel, stride, padding), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 1), (3, 2), ((2, 3), (1, 2))], ids=str)
def test_max_pool_ties_go_to_first_element(kernel, stride, device):
    """All-equal windows: each window's whole gradient goes to its top-left cell (the first in
    row-major order), nowhere else; overlapping windows add up at shared top-left cells."""
    (KH, KW), (SH, SW) = [(v, v) if isinstance(v, int) else v for v in (kernel, stride)]
    x = make(np.full((1, 2, 7, 8), 0.5), device)
    out = F.max_pool2d(x, kernel, stride)
    g = np.arange(1.0, out.size + 1).reshape(out.shape)
    out.backward(mc.tensor(g, device=device))
    expected = np.zeros(x.shape)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            expected[:, :, i * SH, j * SW] += g[:, :, i, j]
    np.testing.assert_array_equal(mc.tensor(x.grad).numpy(), expected)


def test_max_pool_relu_ties_match_reference(device, rng):
    """After ReLU many windows hold several exact zeros: the winner is still the first maximum."""
    x_np = np.maximum(rng.standard_normal((2, 3, 9, 8)), 0)
    x_np[0, 0, :4, :4] = 0.0                                    # whole windows of zeros
    x = make(x_np, device)
    out = F.max_pool2d(x, 3, 2, 1)
    g = rng.standard_normal(out.shape)
    out.backward(mc.tensor(g, device=device))
    np.testing.assert_array_equal(mc.tensor(x.grad).numpy(),
                                  ref.max_pool2d_backward(x_np, g, 3, 2, 1))


def test_max_pool_tie_inside_window_picks_earlier_offset():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 3.0                  # two maxima: (0, 1) comes first
    t = make(x)
    F.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(t.grad[0, 0], [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("op", OPS)
def test_float32_agrees_with_float64(op, device, rng):
    fn = OPS[op][0]
    x_np = tie_free(rng, (2, 3, 9, 10)) - 5
    results = []
    for dtype in ("float32", "float64"):
        x = make(x_np, device, dtype=dtype)
        out = fn(x, 3, 2, 1)
        (out * out).sum().backward()
        assert out.dtype == dtype and x.grad.dtype == dtype
        results.append((out.numpy(), mc.tensor(x.grad).numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-5)


def test_no_grad_forward_is_the_same(rng):
    x = make(rng.standard_normal((2, 2, 6, 7)))
    with mc.no_grad():
        quiet = F.max_pool2d(x, 2, 1)
    np.testing.assert_array_equal(quiet.numpy(), F.max_pool2d(x, 2, 1).numpy())
    assert not quiet.requires_grad


def test_output_size_formula():
    # OH = floor((H + 2p - k) / s) + 1 (ceil_mode=False):
    # (11 + 2 - 3) // 2 + 1 = 6 and (8 + 0 - 3) // 2 + 1 = 3
    out = F.avg_pool2d(mc.zeros(1, 1, 11, 8), 3, 2, (1, 0))
    assert out.shape == (1, 1, 6, 3)


def test_avg_pool_counts_padding(device):
    x = make(np.ones((1, 1, 2, 2)), device)
    out = F.avg_pool2d(x, 3, 1, 1).numpy()              # every 3x3 window holds all 4 ones
    np.testing.assert_allclose(out, np.full((1, 1, 2, 2), 4 / 9))


@pytest.mark.parametrize("call,pattern", [
    (lambda x: F.max_pool2d(x, 2, padding=2), r"at most half.*padding=2.*kernel size 2"),
    (lambda x: F.avg_pool2d(x, (3, 2), padding=(1, 2)), r"padding=2.*kernel size 2.*width"),
    (lambda x: F.max_pool2d(x, 7), r"floor\(\(5 \+ 2\*0 - 7\) / 7\) \+ 1 = 0"),
    (lambda x: F.max_pool2d(x, 0), r"kernel_size.*>= 1.*\(0, 0\)"),
    (lambda x: F.max_pool2d(x, 2, stride=0), r"stride=\(0, 0\)"),
    (lambda x: F.max_pool2d(x.reshape(5, 6), 2), r"\(N, C, H, W\).*\(5, 6\)"),
])
def test_bad_configurations(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(mc.zeros(1, 1, 5, 6))


def test_bad_types():
    with pytest.raises(TypeError, match="pair of ints"):
        F.max_pool2d(mc.zeros(1, 1, 4, 4), 2.5)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        F.avg_pool2d(mc.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)
