"""conv2d and conv_transpose2d: gradcheck on many random configurations (stride 1-3, padding 0-2,
dilation 1-2, kernels 1/2/3/5, non-square and odd sizes, batch 1, channel 1, with and without
bias), the default (fast) path against the loop reference (minicnn/reference/conv.py), float32
against float64, and the errors for impossible configurations. tests/test_fast.py runs the
readable ops (minicnn/ops/conv.py) against the same references."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.reference import conv as reference
from tests.cases import (CONV_GRADCHECK, CONV_REFERENCE, TRANSPOSE_GRADCHECK,
                         TRANSPOSE_REFERENCE, arrays, check_against_reference, config_id, make,
                         run_conv)


def test_configurations_cover_the_cases_asked_for():
    configs = CONV_GRADCHECK + TRANSPOSE_GRADCHECK
    seen = lambda key: {v for c in configs for v in np.ravel(c[key])}  # noqa: E731
    assert seen("stride") == {1, 2, 3} and seen("padding") == {0, 1, 2}
    assert seen("dilation") == {1, 2} and seen("kernel") == {1, 2, 3, 5}
    assert any(c["N"] == 1 for c in configs) and any(c["C"] == 1 for c in configs)
    assert {c["bias"] for c in configs} == {True, False}
    assert any(c["size"][0] != c["size"][1] and c["size"][0] % 2 for c in configs)
    assert any(c["kernel"][0] != c["kernel"][1] for c in configs)
    assert any(max(c["output_padding"]) > 0 for c in TRANSPOSE_GRADCHECK)


def test_both_input_gradient_routes_are_tested():
    """The fast path's conv2d_input_grad (minicnn/fast/conv.py: conv2d backward,
    conv_transpose2d forward) computes stride-1 cases whose padding is at most DH(KH-1) (and
    without output_padding) as a convolution and the others by col2im: each configuration list
    holds both."""
    def convolution_route(c):
        fits = all(d * (k - 1) >= p for d, k, p in zip(c["dilation"], c["kernel"], c["padding"]))
        return c["stride"] == (1, 1) and fits and c.get("output_padding", (0, 0)) == (0, 0)
    for configs in (CONV_GRADCHECK, TRANSPOSE_GRADCHECK, CONV_REFERENCE, TRANSPOSE_REFERENCE):
        routes = [convolution_route(c) for c in configs]
        assert 2 <= sum(routes) <= len(routes) - 2


@pytest.mark.parametrize("config", CONV_GRADCHECK, ids=config_id)
def test_conv2d_gradcheck(config, device):
    x, w, b = arrays(config, False, np.random.default_rng(10))
    inputs = [make(a, device) for a in (x, w, b) if a is not None]
    assert mc.gradcheck(lambda *t: run_conv(config, False, *t, *([None] * (3 - len(t)))),
                        *inputs)


@pytest.mark.parametrize("config", TRANSPOSE_GRADCHECK, ids=config_id)
def test_conv_transpose2d_gradcheck(config, device):
    x, w, b = arrays(config, True, np.random.default_rng(11))
    inputs = [make(a, device) for a in (x, w, b) if a is not None]
    assert mc.gradcheck(lambda *t: run_conv(config, True, *t, *([None] * (3 - len(t)))),
                        *inputs)


@pytest.mark.parametrize("config", CONV_REFERENCE, ids=config_id)
def test_conv2d_matches_loop_reference(config, device):
    check_against_reference(config, False, device)


@pytest.mark.parametrize("config", TRANSPOSE_REFERENCE, ids=config_id)
def test_conv_transpose2d_matches_loop_reference(config, device):
    check_against_reference(config, True, device)


def test_reference_conv2d_by_the_definition():
    """The loop reference itself, against the formula written out element by element."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    s, p, d = (2, 1), (1, 2), (2, 1)
    y = reference.conv2d_forward(x, w, b, s, p, d)
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    assert y.shape == (2, 4, (7 + 2 - 2 * 2 - 1) // 2 + 1, (6 + 4 - 1 - 1) // 1 + 1)
    for n, o, i, j in np.ndindex(*y.shape):
        value = b[o] + sum(xpad[n, c, i * s[0] + kh * d[0], j * s[1] + kw * d[1]] * w[o, c, kh, kw]
                           for c in range(3) for kh in range(3) for kw in range(2))
        assert abs(y[n, o, i, j] - value) < 1e-12


def test_conv_transpose2d_is_the_adjoint_of_conv2d(device):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same w, stride, padding,
    dilation: the transposed convolution is the transpose of the convolution's linear map."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2))
    kwargs = dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2))
    cx = F.conv2d(make(x, device), make(w, device), **kwargs).numpy()
    y = rng.standard_normal(cx.shape)
    # output_padding picks the input size 9 x 8 among those that conv2d maps to cx's size
    ty = F.conv_transpose2d(make(y, device), make(w, device), output_padding=(0, 2),
                            **kwargs).numpy()
    assert ty.shape == x.shape
    assert abs((cx * y).sum() - (x * ty).sum()) < 1e-10


FLOAT32_CASES = [dict(N=2, C=8, O=6, size=(17, 16), kernel=(3, 3), stride=(1, 1), padding=(1, 1),
                      dilation=(1, 1), output_padding=(0, 0), bias=True),
                 dict(N=1, C=3, O=5, size=(12, 9), kernel=(5, 3), stride=(2, 1), padding=(2, 0),
                      dilation=(1, 2), output_padding=(1, 0), bias=True),
                 dict(N=3, C=1, O=4, size=(10, 11), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                      dilation=(1, 1), output_padding=(0, 0), bias=False)]


@pytest.mark.parametrize("transpose", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("config", FLOAT32_CASES, ids=config_id)
def test_float32_stays_float32_and_agrees_with_float64(config, transpose, device):
    """Outputs and gradients keep float32, and agree with float64 to rtol 1e-4 (relative to
    the largest value; sums of ~100 float32 products carry errors ~1e-6 of their size)."""
    if not transpose:
        config = {k: v for k, v in config.items() if k != "output_padding"}
    results = {}
    for dtype in (np.float32, np.float64):
        x, w, b = arrays(config, transpose, np.random.default_rng(8), dtype)
        tensors = [make(a, device, dtype=dtype) if a is not None else None for a in (x, w, b)]
        y = run_conv(config, transpose, *tensors)
        g = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
        y.backward(mc.tensor(g, device=device))
        got = [y.data] + [t.grad for t in tensors if t is not None]
        assert all(a.dtype == dtype for a in got)
        results[dtype] = [mc.backend.to_numpy(a) for a in got]
    for single, double in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(single, double, rtol=1e-4, atol=1e-4 * np.abs(double).max())


def test_input_that_needs_no_gradient_gets_none():
    x = mc.tensor(np.ones((1, 1, 5, 5)))
    w = make(np.ones((2, 1, 3, 3)))
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad[0, 0], [[16, 20, 16], [20, 25, 20], [16, 20, 16]])


def test_int_and_pair_settings_are_the_same():
    rng = np.random.default_rng(0)
    x, w = make(rng.standard_normal((1, 2, 9, 9))), make(rng.standard_normal((3, 2, 3, 3)))
    a = F.conv2d(x, w, stride=2, padding=1, dilation=2).numpy()
    b = F.conv2d(x, w, stride=(2, 2), padding=[1, 1], dilation=(2, 2)).numpy()
    np.testing.assert_array_equal(a, b)


# ---- impossible configurations: the errors say which numbers are wrong ----
def test_kernel_larger_than_padded_input():
    x, w = mc.zeros(1, 1, 4, 6), mc.zeros(1, 1, 5, 3)
    with pytest.raises(ValueError, match=r"\(4 \+ 2\*0 - 1\*\(5-1\) - 1\) // 1 \+ 1 = 0"):
        F.conv2d(x, w)
    F.conv2d(x, w, padding=1)                                   # fits once padded: 6 >= 5
    with pytest.raises(ValueError, match=r"width.*\(6 \+ 2\*1 - 4\*\(3-1\) - 1\) // 2 \+ 1 = 0"
                                         r".*spans 9 pixels"):
        F.conv2d(x, w, padding=1, stride=2, dilation=(1, 4))


def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"3 channels.*\(2, 3, 8, 8\).*expects 2.*\(4, 2, 3, 3\)"):
        F.conv2d(mc.zeros(2, 3, 8, 8), mc.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"3 channels.*\(2, 3, 8, 8\).*expects 4.*\(4, 3, 3, 3\)"):
        F.conv_transpose2d(mc.zeros(2, 3, 8, 8), mc.zeros(4, 3, 3, 3))


def test_x_must_be_4d():
    with pytest.raises(ValueError, match=r"4-D.*\(3, 8, 8\).*x\[None\]"):
        F.conv2d(mc.zeros(3, 8, 8), mc.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"w must be 4-D.*\(3, 3\)"):
        F.conv_transpose2d(mc.zeros(1, 3, 8, 8), mc.zeros(3, 3))


def test_output_padding_must_be_smaller_than_stride_or_dilation():
    x, w = mc.zeros(1, 2, 4, 4), mc.zeros(2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"output_padding 2.*stride \(2\).*dilation \(1\)"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"output_padding 1.*width.*stride \(1\)"):
        F.conv_transpose2d(x, w, stride=(2, 1), output_padding=1)
    assert F.conv_transpose2d(x, w, dilation=2, output_padding=1).shape == (1, 3, 9, 9)


def test_negative_and_zero_settings():
    x, w = mc.zeros(1, 1, 8, 8), mc.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"padding must be >= 0.*-1"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match=r"stride must be >= 1.*\(1, 0\)"):
        F.conv2d(x, w, stride=(1, 0))
    with pytest.raises(ValueError, match=r"dilation must be >= 1"):
        F.conv_transpose2d(x, w, dilation=0)
    with pytest.raises(ValueError, match=r"output_padding must be >= 0"):
        F.conv_transpose2d(x, w, stride=2, output_padding=-1)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair"):
        F.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match=r"at least 1 x 1.*\(1, 1, 0, 3\)"):
        F.conv2d(x, mc.zeros(1, 1, 0, 3))
    with pytest.raises(ValueError, match=r"\(1-1\)\*1 - 2\*2 \+ 1\*\(3-1\) \+ 0 \+ 1 = -1"):
        F.conv_transpose2d(mc.zeros(1, 1, 1, 1), w, padding=2)


def test_bias_shape_and_dtype_mismatch():
    x, w = mc.zeros(1, 2, 5, 5), mc.zeros(3, 2, 3, 3)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\).*got shape \(2,\)"):
        F.conv2d(x, w, mc.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\).*got shape \(1, 3\)"):
        F.conv_transpose2d(mc.zeros(1, 3, 5, 5), mc.zeros(3, 3, 2, 2), mc.zeros(1, 3))
    with pytest.raises(TypeError, match=r"same dtype.*float32.*float64"):
        F.conv2d(x, mc.zeros(3, 2, 3, 3, dtype=np.float64))
    with pytest.raises(TypeError, match=r"w must be a Tensor or an array, got list"):
        F.conv2d(x, [[1.0]])
