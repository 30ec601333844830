"""Public test of cross_entropy_backward: the gradient of softmax cross-entropy with respect to
the logits, for every reduction, with class weights and ignored labels, against the numerical
one."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_cross_entropy_gradcheck(reduction, shape):
    rng = np.random.default_rng(11)
    logits = mc.tensor(rng.standard_normal(shape), requires_grad=True)
    labels = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    loss = lambda x: F.cross_entropy(x, labels, reduction=reduction)
    assert mc.gradcheck(loss, logits)


def test_cross_entropy_gradcheck_weights_and_ignored_labels():
    rng = np.random.default_rng(12)
    logits = mc.tensor(rng.standard_normal((3, 4, 2, 2)), requires_grad=True)
    labels = rng.integers(0, 4, size=(3, 2, 2))
    weight = np.array([0.5, 2.0, 1.0, 3.0])
    loss = lambda x: F.cross_entropy(x, labels, weight=weight, ignore_index=2)
    assert mc.gradcheck(loss, logits)


def test_equal_logits_pull_towards_the_label():
    # softmax of equal logits is 1/C everywhere; the label's class gets 1/C - 1
    x = mc.tensor(np.zeros((1, 4)), requires_grad=True)
    F.cross_entropy(x, np.array([2])).backward()
    assert np.allclose(x.grad, [[0.25, 0.25, -0.75, 0.25]])
