"""Pooling, upsampling, pad and concat against PyTorch in float64, values and gradients."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def run_both(ours, theirs, x_np, rng):
    """Forward and backward (with the same random output gradient) in minicnn and in torch."""
    x = make(x_np)
    out = ours(x)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    t = torch.tensor(x_np, requires_grad=True)
    t_out = theirs(t)
    t_out.backward(torch.tensor(g))
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


POOL_CONFIGS = [((2, 3, 8, 8), 2, None, 0), ((1, 2, 7, 9), 3, 2, 1),
                ((2, 1, 6, 5), (3, 2), (2, 1), (1, 1)), ((1, 1, 5, 5), 3, 1, 1),
                ((1, 2, 9, 6), 2, 3, 0), ((1, 1, 4, 6), (1, 3), 1, (0, 1))]


@pytest.mark.parametrize("shape,kernel,stride,padding", POOL_CONFIGS, ids=str)
def test_max_pool2d(shape, kernel, stride, padding, rng):
    run_both(lambda x: F.max_pool2d(x, kernel, stride, padding),
             lambda t: TF.max_pool2d(t, kernel, stride, padding), rng.standard_normal(shape), rng)


@pytest.mark.parametrize("shape,kernel,stride,padding", POOL_CONFIGS, ids=str)
def test_avg_pool2d(shape, kernel, stride, padding, rng):
    run_both(lambda x: F.avg_pool2d(x, kernel, stride, padding),
             lambda t: TF.avg_pool2d(t, kernel, stride, padding), rng.standard_normal(shape), rng)


def test_max_pool2d_ties_like_torch(rng):
    """ReLU output: many windows full of exact zeros; torch also picks the first maximum."""
    x_np = np.maximum(rng.standard_normal((2, 3, 10, 9)), 0)
    x_np[:, :, :4, :4] = 0.0
    run_both(lambda x: F.max_pool2d(x, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1), x_np, rng)
    run_both(lambda x: F.max_pool2d(x, 2), lambda t: TF.max_pool2d(t, 2), x_np, rng)


@pytest.mark.parametrize("mode,corners",
                         [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("shape,scale", [((2, 3, 5, 7), 2), ((1, 2, 4, 3), 3),
                                         ((1, 1, 3, 5), (2, 3)), ((2, 1, 1, 6), 2),
                                         ((1, 1, 16, 12), 2)], ids=str)
def test_upsample(mode, corners, shape, scale, rng):
    pair = (scale, scale) if isinstance(scale, int) else scale
    run_both(lambda x: F.upsample(x, scale, mode, bool(corners)),
             lambda t: TF.interpolate(t, scale_factor=pair, mode=mode, align_corners=corners),
             rng.standard_normal(shape), rng)


@pytest.mark.parametrize("pads,mode", [((1, 2, 0, 3), "constant"), ((-1, 2, 1, -2), "constant"),
                                       ((2, 1, 3, 2), "reflect"), ((4, 0, 0, 3), "reflect")],
                         ids=str)
def test_pad(pads, mode, rng):
    kwargs = {"value": 0.3} if mode == "constant" else {}
    run_both(lambda x: F.pad(x, pads, mode, **kwargs), lambda t: TF.pad(t, pads, mode, **kwargs),
             rng.standard_normal((2, 3, 5, 6)), rng)


@pytest.mark.parametrize("axis", [0, 1, 3, -1])
def test_concat(axis, rng):
    other = rng.standard_normal((2, 3, 4, 5))
    run_both(lambda x: mc.concat([x, make(other, requires_grad=False), x], axis=axis),
             lambda t: torch.cat([t, torch.tensor(other), t], dim=axis),
             rng.standard_normal((2, 3, 4, 5)), rng)


@pytest.mark.parametrize("kernel,padding", [(2, 2), (3, 2), ((3, 2), (1, 2))], ids=str)
def test_too_much_padding_is_refused_by_both(kernel, padding):
    with pytest.raises(RuntimeError):
        TF.max_pool2d(torch.zeros(1, 1, 8, 8), kernel, 1, padding)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(mc.zeros(1, 1, 8, 8), kernel, 1, padding)


def test_center_crop_like_torchvision(rng):
    transforms = pytest.importorskip("torchvision.transforms.functional")
    x_np = rng.standard_normal((1, 2, 11, 10))
    for size in [(4, 4), (6, 3), (10, 9), (5, 5)]:
        expected = transforms.center_crop(torch.tensor(x_np), list(size)).numpy()
        np.testing.assert_array_equal(F.center_crop(mc.tensor(x_np), size).numpy(), expected)
