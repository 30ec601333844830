"""Public test of matmul_backward: gradients of a @ b for matrices, batches, broadcast batches
and vectors, against the numerical ones."""
import numpy as np
import pytest

import minicnn as mc


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)),
                                              ((2, 3, 4), (4, 5)), ((4, 5), (3, 5, 2)),
                                              ((4,), (4, 3)), ((3, 4), (4,))])
def test_matmul_gradcheck(shape_a, shape_b):
    rng = np.random.default_rng(3)
    a = mc.tensor(rng.standard_normal(shape_a), requires_grad=True)
    b = mc.tensor(rng.standard_normal(shape_b), requires_grad=True)
    assert mc.gradcheck(lambda a, b: a @ b, a, b)
