"""Public test of max_pool2d_forward: the output of max pooling against the definition (padded
cells never win)."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((1, 1, 4, 4), 2, 2, 0), ((2, 2, 5, 5), 3, 2, 1), ((1, 2, 4, 5), 2, 1, 0)])
def test_max_pool2d_matches_the_definition(shape, kernel, stride, padding):
    x = np.random.default_rng(41).standard_normal(shape)
    xpad = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=-np.inf)
    OH, OW = ((n + 2 * padding - kernel) // stride + 1 for n in shape[2:])
    expected = np.empty(shape[:2] + (OH, OW))
    for n, c, i, j in np.ndindex(expected.shape):
        expected[n, c, i, j] = xpad[n, c, i * stride:i * stride + kernel,
                                    j * stride:j * stride + kernel].max()
    y = F.max_pool2d(mc.tensor(x), kernel, stride, padding)
    assert np.allclose(y.numpy(), expected)

