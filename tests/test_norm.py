"""batch_norm: gradcheck in training and eval, with and without affine parameters, (N, C) and
(N, C, H, W); values and running statistics against NumPy formulas. dropout: seeding, expected
value, identities, and its gradient."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make

BN_SHAPES = [(4, 3), (5, 1), (2, 3, 3, 5), (1, 2, 3, 3), (3, 4, 1, 1), (2, 1, 5, 3)]


def channel_axes(shape):
    return (0,) + tuple(range(2, len(shape)))


def bn_reference(x, mean, var, weight, bias, eps=1e-5):
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return out * weight.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_values_and_gradcheck(shape, training, affine, device, rng):
    C = shape[1]
    x_np = rng.standard_normal(shape) * 2 + 0.5
    running_mean_np, running_var_np = rng.standard_normal(C), rng.random(C) + 0.5
    weight_np = rng.standard_normal(C) if affine else np.ones(C)
    bias_np = rng.standard_normal(C) if affine else np.zeros(C)
    x = make(x_np, device)
    weight = make(weight_np, device) if affine else None
    bias = make(bias_np, device) if affine else None
    running_mean = mc.tensor(running_mean_np, device=device).data
    running_var = mc.tensor(running_var_np, device=device).data

    def bn(x, weight, bias):
        return F.batch_norm(x, running_mean, running_var, weight, bias, training)

    if training:
        axes = channel_axes(shape)
        expected = bn_reference(x_np, x_np.mean(axis=axes), x_np.var(axis=axes), weight_np, bias_np)
    else:
        expected = bn_reference(x_np, running_mean_np, running_var_np, weight_np, bias_np)
    np.testing.assert_allclose(bn(x, weight, bias).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(bn, x, weight, bias)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (3, 2, 1, 2)], ids=str)
def test_running_stats_update_in_place(shape, device, rng):
    C, axes = shape[1], channel_axes(shape)
    x_np = rng.standard_normal(shape) * 3 + 1
    mean0, var0 = rng.standard_normal(C), rng.random(C) + 0.5
    running_mean = mc.tensor(mean0, device=device)           # Tensor holding the array
    running_var = mc.tensor(var0, device=device).data        # plain array
    mean_array, var_array = running_mean.data, running_var
    F.batch_norm(make(x_np, device), running_mean, running_var, training=True, momentum=0.3)
    assert running_mean.data is mean_array and running_var is var_array   # updated in place
    M = x_np.size // C
    unbiased = ((x_np - x_np.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (M - 1)
    np.testing.assert_allclose(running_mean.numpy(), 0.7 * mean0 + 0.3 * x_np.mean(axis=axes),
                               rtol=1e-12)
    np.testing.assert_allclose(mc.tensor(running_var).numpy(), 0.7 * var0 + 0.3 * unbiased,
                               rtol=1e-12)


def test_eval_leaves_running_stats_alone_and_float32_stats_work(rng):
    running_mean = np.zeros(3, dtype=np.float32)
    running_var = np.ones(3, dtype=np.float32)
    x_np = rng.standard_normal((4, 3, 2, 2))
    out = F.batch_norm(make(x_np), running_mean, running_var, training=False)
    np.testing.assert_allclose(out.numpy(), x_np / np.sqrt(1 + 1e-5), rtol=1e-12)
    assert running_mean.tolist() == [0, 0, 0] and running_var.tolist() == [1, 1, 1]
    F.batch_norm(make(x_np), running_mean, running_var, training=True)
    assert running_mean.dtype == np.float32
    np.testing.assert_allclose(running_mean, 0.1 * x_np.mean(axis=(0, 2, 3)), rtol=1e-6)


def test_without_running_stats_uses_batch_statistics(rng):
    x_np = rng.standard_normal((5, 2))
    out = F.batch_norm(make(x_np), None, None, training=False).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1 / (1 + 1e-5 / x_np.var(axis=0)), rtol=1e-10)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(make(np.zeros((1, 3))), np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"running_mean must be an array of shape \(3,\).*\(4,\)"):
        F.batch_norm(make(np.zeros((2, 3))), np.zeros(4), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(make(np.zeros((2, 3))), None, None, make(np.ones(2)))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.batch_norm(make(np.zeros(3)), None, None)


# ---- dropout ---------------------------------------------------------------------------------
def test_dropout_seeded_reproducible_on_every_device(device):
    x = mc.tensor(np.arange(1.0, 201.0).reshape(10, 20), device=device)
    a = F.dropout(x, 0.3, rng=np.random.default_rng(5)).numpy()
    b = F.dropout(x, 0.3, rng=np.random.default_rng(5)).numpy()
    mc.manual_seed(11)
    c = F.dropout(x, 0.3).numpy()
    mc.manual_seed(11)
    d = F.dropout(x, 0.3).numpy()
    cpu = F.dropout(x.to("cpu"), 0.3, rng=np.random.default_rng(5)).numpy()
    assert np.array_equal(a, b) and np.array_equal(c, d) and np.array_equal(a, cpu)
    assert not np.array_equal(a, F.dropout(x, 0.3, rng=np.random.default_rng(6)).numpy())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_mean(p, device):
    x = mc.ones(400, 500, device=device)
    out = F.dropout(x, p, rng=np.random.default_rng(0)).numpy()
    kept = out != 0
    assert abs(kept.mean() - (1 - p)) < 0.005                # fraction kept
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(out.mean() - 1) < 0.02                         # expected value preserved
    assert out.dtype == np.float32


def test_dropout_identities(rng):
    x = make(rng.standard_normal((3, 4)))
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    out = F.dropout(x, 1.0)
    assert np.array_equal(out.numpy(), np.zeros((3, 4)))
    out.sum().backward()
    assert np.array_equal(x.grad, np.zeros((3, 4)))


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_gradient_is_mask_over_keep_probability(p, device, rng):
    x_np = rng.random((6, 7)) + 0.5                          # nonzero: out != 0 marks kept ones
    x = make(x_np, device)
    out = F.dropout(x, p, rng=np.random.default_rng(3))
    mask = out.numpy() != 0
    np.testing.assert_allclose(out.numpy(), x_np * mask / (1 - p), rtol=1e-12)
    g = rng.standard_normal((6, 7))
    out.backward(mc.tensor(g, device=device))
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(), g * mask / (1 - p), rtol=1e-12)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.dropout(make(np.zeros(3)), p)
