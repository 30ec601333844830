"""conv2d and conv_transpose2d against PyTorch, number for number (float64): the output and the
gradients of x, w and b, on random configurations (strides, padding, dilation, output_padding,
non-square kernels and inputs, with and without bias)."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.cases import arrays, config_id, make, random_configs, settings

torch = pytest.importorskip("torch")

CONV = random_configs(seed=21, count=30, transpose=False, max_out=6)
TRANSPOSE = random_configs(seed=22, count=30, transpose=True, max_out=5)


def compare_with_torch(config, transpose, device):
    rng = np.random.default_rng(30)
    x, w, b = arrays(config, transpose, rng)
    kwargs = settings(config, transpose)

    tx, tw = make(x, device), make(w, device)
    tb = make(b, device) if b is not None else None
    op = F.conv_transpose2d if transpose else F.conv2d
    y = op(tx, tw, tb, **kwargs)

    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    pb = torch.tensor(b, requires_grad=True) if b is not None else None
    if transpose:   # torch's positional order: stride, padding, output_padding, groups, dilation
        py = torch.nn.functional.conv_transpose2d(
            px, pw, pb, kwargs["stride"], kwargs["padding"], kwargs["output_padding"], 1,
            kwargs["dilation"])
    else:
        py = torch.nn.functional.conv2d(px, pw, pb, kwargs["stride"], kwargs["padding"],
                                        kwargs["dilation"])
    assert y.shape == tuple(py.shape)
    np.testing.assert_allclose(y.numpy(), py.detach().numpy(), rtol=1e-10, atol=1e-10)

    g = rng.standard_normal(y.shape)
    y.backward(mc.tensor(g, device=device))
    py.backward(torch.tensor(g))
    pairs = [(tx, px), (tw, pw)] + ([(tb, pb)] if b is not None else [])
    for ours, theirs in pairs:
        np.testing.assert_allclose(mc.backend.to_numpy(ours.grad), theirs.grad.numpy(),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("config", CONV, ids=config_id)
def test_conv2d_matches_torch(config, device):
    compare_with_torch(config, False, device)


@pytest.mark.parametrize("config", TRANSPOSE, ids=config_id)
def test_conv_transpose2d_matches_torch(config, device):
    compare_with_torch(config, True, device)


def test_unet_shapes_match_torch():
    """The two layers a U-Net uses most: 3x3 'same' conv and the 2x2 stride-2 up-convolution."""
    rng = np.random.default_rng(31)
    x, w, wt = (rng.standard_normal(s) for s in ((2, 4, 16, 12), (8, 4, 3, 3), (8, 4, 2, 2)))
    y = F.conv2d(make(x), make(w), padding=1)
    up = F.conv_transpose2d(y, make(wt), stride=2)
    ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1)
    tup = torch.nn.functional.conv_transpose2d(ty, torch.tensor(wt), stride=2)
    assert up.shape == (2, 4, 32, 24) == tuple(tup.shape)
    np.testing.assert_allclose(up.numpy(), tup.numpy(), rtol=1e-10, atol=1e-10)
