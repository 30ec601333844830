"""Public test of sigmoid_backward: the sigmoid's gradient against the numerical one."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape, scale", [((5,), 1.0), ((3, 4), 3.0), ((2, 3, 4, 4), 1.0)])
def test_sigmoid_gradcheck(shape, scale):
    x = scale * np.random.default_rng(2).standard_normal(shape)
    assert mc.gradcheck(F.sigmoid, mc.tensor(x, requires_grad=True))


def test_sigmoid_slope_at_zero_is_one_quarter():
    x = mc.tensor(np.zeros(3), requires_grad=True)
    F.sigmoid(x).sum().backward()
    assert np.allclose(x.grad, 0.25)
