"""Public test of bce_backward: the gradient of binary cross-entropy with respect to the logits,
for every reduction and with pos_weight, against the numerical one."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_gradcheck(reduction, pos_weight):
    rng = np.random.default_rng(9)
    logits = mc.tensor(2 * rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    target = (rng.random((2, 1, 3, 3)) < 0.5).astype(np.float64)
    loss = lambda x: F.binary_cross_entropy_with_logits(x, target, pos_weight, reduction)
    assert mc.gradcheck(loss, logits)


def test_bce_gradient_at_logit_zero():
    x = mc.tensor(np.zeros((1, 4)), requires_grad=True)
    F.binary_cross_entropy_with_logits(x, np.array([[1.0, 0.0, 1.0, 0.0]])).backward()
    assert np.allclose(x.grad, [[-0.125, 0.125, -0.125, 0.125]])   # (sigmoid(0) - t) / 4
