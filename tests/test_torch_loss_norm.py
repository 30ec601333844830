"""Losses and batch_norm against PyTorch, number for number in float64: values, gradients, and
BatchNorm's running statistics."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def run_both(ours, theirs, inputs, rng):
    """Forward both, back-propagate the same random output gradient, return both results."""
    ours_in = [make(a) for a in inputs]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, ref = ours(*ours_in), theirs(*theirs_in)
    g = rng.standard_normal(ref.shape)
    out.backward(mc.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, torchs in zip(ours_in, theirs_in):
        np.testing.assert_allclose(mine.grad, torchs.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pw_shape", [None, (), (3, 1, 1)], ids=str)
def test_bce_with_logits(pw_shape, reduction, rng):
    x = rng.standard_normal((2, 3, 4, 5)) * 4
    x.reshape(-1)[:4] = [100.0, -100.0, 60.0, -60.0]                  # extreme logits too
    t = (rng.random(x.shape) > 0.5) * 1.0
    t.reshape(-1)[-5:] = 0.3                                          # and soft targets
    pw = None if pw_shape is None else rng.random(pw_shape) * 3 + 0.2
    run_both(lambda x: F.binary_cross_entropy_with_logits(x, t, pw, reduction),
             lambda x: TF.binary_cross_entropy_with_logits(
                 x, torch.tensor(t), pos_weight=None if pw is None else torch.tensor(pw),
                 reduction=reduction), [x], rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 2, -100])
@pytest.mark.parametrize("shape", [(7, 4), (2, 4, 3, 5)], ids=str)
def test_cross_entropy(shape, ignore_index, weighted, reduction, rng):
    N, C = shape[:2]
    x = rng.standard_normal(shape) * 3
    labels = rng.integers(0, C, (N,) + shape[2:])
    if ignore_index is not None:
        labels.reshape(-1)[::4] = ignore_index
    weight = rng.random(C) + 0.2 if weighted else None
    run_both(lambda x: F.cross_entropy(x, labels, weight, ignore_index, reduction),
             lambda x: TF.cross_entropy(
                 x, torch.tensor(labels), weight=None if weight is None else torch.tensor(weight),
                 ignore_index=-100 if ignore_index is None else ignore_index,
                 reduction=reduction), [x], rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(reduction, rng):
    run_both(lambda a, b: F.mse_loss(a, b, reduction),
             lambda a, b: TF.mse_loss(a, b, reduction=reduction),
             [rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))], rng)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5, 4), (4, 2, 1, 3)], ids=str)
def test_batch_norm(shape, training, affine, rng):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    mean0, var0 = rng.standard_normal(C), rng.random(C) + 0.5
    ours_stats = [mean0.copy(), var0.copy()]
    theirs_stats = [torch.tensor(mean0), torch.tensor(var0)]
    inputs = [x] + ([rng.standard_normal(C), rng.standard_normal(C)] if affine else [])
    for _ in range(2):                                      # two steps: stats keep moving alike
        run_both(lambda x, *wb: F.batch_norm(x, *ours_stats, *wb, training=training,
                                             momentum=0.2, eps=1e-4),
                 lambda x, *wb: TF.batch_norm(x, *theirs_stats, *wb, training=training,
                                              momentum=0.2, eps=1e-4), inputs, rng)
        for mine, torchs in zip(ours_stats, theirs_stats):
            np.testing.assert_allclose(mine, torchs.numpy(), rtol=1e-12)
    assert training != np.array_equal(ours_stats[0], mean0)   # moved in training only


def test_dice_matches_torch_composition(rng):
    """Our dice_loss equals the same soft-Dice formula written with torch operations."""
    x, labels = rng.standard_normal((2, 3, 4, 4)), rng.integers(0, 3, (2, 4, 4))
    onehot = torch.nn.functional.one_hot(torch.tensor(labels), 3).permute(0, 3, 1, 2).double()

    def torch_dice(x):
        p = torch.softmax(x, dim=1)
        axes = (0, 2, 3)
        dice = (2 * (p * onehot).sum(axes) + 1) / (p.sum(axes) + onehot.sum(axes) + 1)
        return 1 - dice.mean()
    run_both(lambda x: F.dice_loss(x, labels), torch_dice, [x], rng)


@pytest.mark.parametrize("momentum", [None, 0.3])
def test_batchnorm2d_running_stats_match_torch(momentum, rng):
    """nn.BatchNorm2d over several training calls (None: PyTorch's cumulative average), then
    eval: outputs, running_mean, running_var and num_batches_tracked agree in float64."""
    ours = mc.nn.BatchNorm2d(3, momentum=momentum).double()
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    for shape in [(2, 3, 4, 5), (5, 3, 2, 2), (3, 3, 3, 1), (4, 3, 2, 6)]:
        x = rng.standard_normal(shape) * 3 + rng.standard_normal()
        out = ours(mc.tensor(x)).numpy()
        np.testing.assert_allclose(out, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(),
                                   rtol=1e-12)
        assert int(ours.num_batches_tracked.numpy()) == int(theirs.num_batches_tracked)
    x = rng.standard_normal((2, 3, 3, 3))
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
