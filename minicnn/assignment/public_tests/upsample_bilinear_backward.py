"""Public test of upsample_bilinear_backward: gradients against the numerical ones."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape, scale, align_corners", [((1, 1, 2, 3), 2, False),
                                                         ((2, 2, 3, 3), 3, True),
                                                         ((1, 2, 3, 2), (2, 3), False)])
def test_upsample_bilinear_gradcheck(shape, scale, align_corners):
    x = mc.tensor(np.random.default_rng(8).standard_normal(shape), requires_grad=True)
    assert mc.gradcheck(lambda x: F.upsample(x, scale, "bilinear", align_corners), x)
