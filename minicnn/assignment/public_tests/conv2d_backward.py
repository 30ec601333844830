"""Public test of conv2d_backward: dx, dw and db of conv2d against the numerical gradients."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", [
    ((1, 1, 4, 4), (1, 1, 3, 3), 1, 0, 1),
    ((2, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1),
    ((2, 3, 5, 6), (2, 3, 2, 2), 2, 0, 1),
    ((1, 2, 6, 5), (2, 2, 2, 3), 1, 1, 2),
])
def test_conv2d_gradcheck(x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(4)
    x = mc.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = mc.tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = mc.tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    conv = lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    assert mc.gradcheck(conv, x, w, b)


def test_conv2d_without_bias():
    rng = np.random.default_rng(5)
    x = mc.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    assert mc.gradcheck(F.conv2d, x, w)
