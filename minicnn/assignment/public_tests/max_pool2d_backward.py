"""Public test of max_pool2d_backward: gradients against the numerical ones (distinct values),
and the rule for ties: the whole gradient goes to the FIRST maximum, in row-major order."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((1, 1, 4, 4), 2, None, 0), ((2, 2, 6, 6), 3, 3, 0), ((1, 2, 5, 5), 3, 2, 1),
    ((1, 1, 5, 4), 2, 1, 0)])
def test_max_pool2d_gradcheck(shape, kernel, stride, padding):
    x = mc.tensor(np.random.default_rng(6).standard_normal(shape), requires_grad=True)
    assert mc.gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), x)


def test_ties_send_the_gradient_to_the_first_maximum():
    x = mc.tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]
