"""Public test of conv2d_forward: the output of conv2d against the definition, written as loops
over the output pixels."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


def conv2d_loops(x, w, b, stride, padding, dilation):
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = (H + 2 * padding - dilation * (KH - 1) - 1) // stride + 1
    OW = (W + 2 * padding - dilation * (KW - 1) - 1) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((N, O, OH, OW))
    for n, o, i, j in np.ndindex(y.shape):
        rows = i * stride + dilation * np.arange(KH)
        cols = j * stride + dilation * np.arange(KW)
        y[n, o, i, j] = b[o] + (xpad[n][:, rows][:, :, cols] * w[o]).sum()
    return y


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", [
    ((1, 1, 4, 4), (1, 1, 3, 3), 1, 0, 1),
    ((2, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1),
    ((2, 3, 5, 6), (2, 3, 2, 2), 2, 0, 1),
    ((1, 2, 6, 5), (2, 2, 2, 3), 1, 1, 2),
])
def test_conv2d_matches_the_definition(x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(31)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), \
        rng.standard_normal(w_shape[0])
    y = F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), stride=stride, padding=padding,
                 dilation=dilation)
    assert np.allclose(y.numpy(), conv2d_loops(x, w, b, stride, padding, dilation))
