"""upsample (nearest, bilinear with both align_corners): gradcheck, the fast versions against the
per-pixel loop references (forward and backward), values from the formulas on small cases,
float32 against float64, and the error messages."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.reference import resize as ref
from tests.conftest import make

# (input shape, scale_factor): scales 2 and 3, pairs, odd and non-square sizes, size-1 axes
CONFIGS = [
    ((1, 1, 3, 4), 2),
    ((2, 3, 4, 3), 3),
    ((1, 2, 3, 5), (2, 3)),
    ((2, 1, 1, 4), 2),
    ((1, 1, 2, 2), (3, 2)),
    ((1, 1, 1, 1), 3),
    ((1, 2, 5, 2), (1, 2)),
]
MODES = {"nearest": ("nearest", False), "bilinear": ("bilinear", False),
         "bilinear_corners": ("bilinear", True)}


def reference(x, g, scale, mode, align_corners):
    if mode == "nearest":
        return ref.nearest_forward(x, scale), ref.nearest_backward(x, g, scale)
    return (ref.bilinear_forward(x, scale, align_corners),
            ref.bilinear_backward(x, g, scale, align_corners))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,scale", CONFIGS, ids=str)
def test_gradcheck(mode, shape, scale, device, rng):
    how, corners = MODES[mode]
    x = make(rng.standard_normal(shape), device)
    assert mc.gradcheck(lambda t: F.upsample(t, scale, how, corners), x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,scale", CONFIGS, ids=str)
def test_matches_loop_reference(mode, shape, scale, device, rng):
    how, corners = MODES[mode]
    x_np = rng.standard_normal(shape)
    x = make(x_np, device)
    out = F.upsample(x, scale, how, corners)
    g = rng.standard_normal(out.shape)
    out.backward(mc.tensor(g, device=device))
    expected_out, expected_grad = reference(x_np, g, scale, how, corners)
    np.testing.assert_allclose(out.numpy(), expected_out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(), expected_grad, rtol=1e-12, atol=1e-14)


def test_bilinear_values_from_the_formulas():
    """One row [0, 1] upsampled x2. align_corners=False: src = max((d + 0.5)/2 - 0.5, 0) =
    0, 0.25, 0.75, 1.25 (the last clamps to the edge pixel). align_corners=True:
    src = d * (2 - 1) / (4 - 1) = 0, 1/3, 2/3, 1."""
    x = mc.tensor(np.array([[[[0.0, 1.0]]]]))
    out = F.upsample(x, (1, 2), "bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 0.25, 0.75, 1.0])
    out = F.upsample(x, (1, 2), "bilinear", align_corners=True).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 1 / 3, 2 / 3, 1.0])


def test_nearest_repeats_blocks_and_sums_gradient(device, rng):
    x_np = rng.standard_normal((2, 2, 3, 4))
    x = make(x_np, device)
    out = F.upsample(x, (2, 3))
    np.testing.assert_array_equal(out.numpy(), np.repeat(np.repeat(x_np, 2, axis=2), 3, axis=3))
    g = rng.standard_normal(out.shape)
    out.backward(mc.tensor(g, device=device))
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(),
                               g.reshape(2, 2, 3, 2, 4, 3).sum(axis=(3, 5)), rtol=1e-12)


@pytest.mark.parametrize("corners", [False, True])
def test_bilinear_keeps_constants_and_gradient_mass(corners, device):
    """Weights of every output pixel sum to 1: a constant image stays constant, and a gradient
    of ones sends back exactly one unit per output pixel."""
    x = make(np.full((1, 2, 3, 5), 2.5), device)
    out = F.upsample(x, 3, "bilinear", corners)
    np.testing.assert_allclose(out.numpy(), 2.5)
    out.sum().backward()
    assert abs(float(mc.tensor(x.grad).numpy().sum()) - out.size) < 1e-9


@pytest.mark.parametrize("mode", MODES)
def test_float32_agrees_with_float64(mode, device, rng):
    how, corners = MODES[mode]
    x_np = rng.standard_normal((2, 3, 6, 7))
    results = []
    for dtype in ("float32", "float64"):
        x = make(x_np, device, dtype=dtype)
        out = F.upsample(x, 2, how, corners)
        (out * out).sum().backward()
        assert out.dtype == dtype and x.grad.dtype == dtype
        results.append((out.numpy(), mc.tensor(x.grad).numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call,error,pattern", [
    (lambda x: F.upsample(x, 1.5), TypeError, r"scale_factor.*1\.5"),
    (lambda x: F.upsample(x, 0), ValueError, r">= 1, got 0"),
    (lambda x: F.upsample(x, (2, -1), "bilinear"), ValueError, r">= 1, got \(2, -1\)"),
    (lambda x: F.upsample(x, 2, "bicubic"), ValueError, r"'nearest' or 'bilinear'.*bicubic"),
    (lambda x: F.upsample(x.reshape(3, 4), 2), ValueError, r"\(N, C, H, W\).*\(3, 4\)"),
])
def test_bad_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(mc.zeros(1, 1, 3, 4))


def test_float_scale_that_is_an_integer_is_accepted():
    assert F.upsample(mc.zeros(1, 1, 3, 4), 2.0, "bilinear").shape == (1, 1, 6, 8)
