"""Public test of upsample_nearest_backward: gradients against the numerical ones."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape, scale", [((1, 1, 2, 3), 2), ((2, 2, 3, 3), 3),
                                          ((1, 2, 2, 2), (2, 3))])
def test_upsample_nearest_gradcheck(shape, scale):
    x = mc.tensor(np.random.default_rng(7).standard_normal(shape), requires_grad=True)
    assert mc.gradcheck(lambda x: F.upsample(x, scale, mode="nearest"), x)
