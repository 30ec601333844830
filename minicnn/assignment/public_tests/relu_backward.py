"""Public test of relu_backward: ReLU's gradient against the numerical one (gradcheck)."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4, 4)])
def test_relu_gradcheck(shape):
    x = np.random.default_rng(1).standard_normal(shape)      # no exact zeros: the kink is at 0
    assert mc.gradcheck(F.relu, mc.tensor(x, requires_grad=True))


def test_relu_gradient_is_zero_for_negative_inputs():
    x = mc.tensor(np.array([-2.0, -0.5, 0.5, 2.0]), requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 1.0]
