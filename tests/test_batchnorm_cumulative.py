"""BatchNorm2d(momentum=None): the running statistics are the plain average of every training
batch's statistics (PyTorch's cumulative moving average, factor 1 / num_batches_tracked), checked
against averages computed by hand; the count survives save/load; momentum is validated."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from tests.conftest import make

BATCH_SHAPES = [(2, 3, 4, 5), (5, 3, 2, 2), (3, 3, 3, 1), (4, 3, 2, 6)]   # unequal sizes


def batches(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(k - 1.0, 1.0 + k, shape) for k, shape in enumerate(BATCH_SHAPES)]


def by_hand(xs):
    """Running mean/var after each batch: averages of the batch means / unbiased variances."""
    means = [x.mean(axis=(0, 2, 3)) for x in xs]                               # (C,) each
    variances = [x.var(axis=(0, 2, 3), ddof=1) for x in xs]                    # unbiased
    return [(np.mean(means[:k], axis=0), np.mean(variances[:k], axis=0))
            for k in range(1, len(xs) + 1)]


def test_running_stats_are_the_average_of_all_batches(device):
    bn = nn.BatchNorm2d(3, momentum=None).double().to(device)
    xs = batches(0)
    for k, (x, (mean, var)) in enumerate(zip(xs, by_hand(xs)), start=1):
        bn(make(x, device, requires_grad=False))
        assert int(bn.num_batches_tracked.numpy()) == k
        np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    # not what momentum=0.1 would give (the first batch alone already differs)
    other = nn.BatchNorm2d(3).double().to(device)
    other(make(xs[0], device, requires_grad=False))
    assert not np.allclose(other.running_mean.numpy(), by_hand(xs)[0][0])


def test_eval_uses_the_average_and_leaves_it_alone(device):
    bn = nn.BatchNorm2d(3, momentum=None).double().to(device)
    xs = batches(1)
    for x in xs:
        bn(make(x, device, requires_grad=False))
    mean, var = by_hand(xs)[-1]
    bn.eval()
    x = np.random.default_rng(9).standard_normal((2, 3, 3, 3))
    out = bn(make(x, device, requires_grad=False)).numpy()
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert int(bn.num_batches_tracked.numpy()) == len(xs)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12, atol=1e-14)


def test_saved_count_continues_the_average(tmp_path):
    """Two batches, save, load into a fresh layer, two more == four batches in one go."""
    xs = batches(2)
    first = nn.BatchNorm2d(3, momentum=None).double()
    for x in xs[:2]:
        first(make(x, requires_grad=False))
    mc.save(first.state_dict(), tmp_path / "bn.npz")
    second = nn.BatchNorm2d(3, momentum=None).double()
    second.load_state_dict(mc.load(tmp_path / "bn.npz"))
    assert int(second.num_batches_tracked.numpy()) == 2
    for x in xs[2:]:
        second(make(x, requires_grad=False))
    mean, var = by_hand(xs)[-1]
    np.testing.assert_allclose(second.running_mean.numpy(), mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second.running_var.numpy(), var, rtol=1e-12)


def test_state_without_the_count():
    """A state dict without num_batches_tracked: strict loading names the key; strict=False
    keeps the count at 0, so the next batch starts a new average (the stats are replaced)."""
    state = nn.BatchNorm2d(3).state_dict()
    del state["num_batches_tracked"]
    state["running_mean"] = np.full(3, 7.0, np.float32)
    with pytest.raises(ValueError, match="missing keys.*num_batches_tracked"):
        nn.BatchNorm2d(3, momentum=None).load_state_dict(state)
    bn = nn.BatchNorm2d(3, momentum=None).double()
    assert bn.load_state_dict(state, strict=False)[0] == ["num_batches_tracked"]
    x = batches(3)[0]
    bn(make(x, requires_grad=False))
    np.testing.assert_allclose(bn.running_mean.numpy(), x.mean(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0, 0.25, 1, None, np.float32(0.5)])
def test_valid_momentum(momentum):
    assert nn.BatchNorm2d(2, momentum=momentum).momentum is momentum


@pytest.mark.parametrize("momentum", [-0.1, 1.5, "0.1", True, [0.1], float("nan")])
def test_bad_momentum_is_explained(momentum):
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\].*or None"):
        nn.BatchNorm2d(2, momentum=momentum)


def test_functional_batch_norm_needs_a_number():
    with pytest.raises(ValueError, match=r"got None.*BatchNorm2d\(momentum=None\)"):
        F.batch_norm(make(np.zeros((2, 3))), np.zeros(3), np.ones(3), training=True,
                     momentum=None)
