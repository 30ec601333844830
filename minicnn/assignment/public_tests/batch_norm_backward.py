"""Public test of batch_norm_backward: dx, dweight and dbias of batch normalization, in
training and in eval mode, against the numerical gradients."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 3, 2)])
def test_batch_norm_training_gradcheck(shape):
    rng = np.random.default_rng(21)
    x = mc.tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
    weight = mc.tensor(rng.random(shape[1]) + 0.5, requires_grad=True)
    bias = mc.tensor(rng.standard_normal(shape[1]), requires_grad=True)
    norm = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)
    assert mc.gradcheck(norm, x, weight, bias)


def test_batch_norm_eval_gradcheck():
    rng = np.random.default_rng(22)
    x = mc.tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    weight = mc.tensor(rng.random(3) + 0.5, requires_grad=True)
    bias = mc.tensor(rng.standard_normal(3), requires_grad=True)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    norm = lambda x, w, b: F.batch_norm(x, mean.copy(), var.copy(), w, b, training=False)
    assert mc.gradcheck(norm, x, weight, bias)
