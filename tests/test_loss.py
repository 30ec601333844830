"""Losses: gradcheck (float64) of every loss in every reduction and option, values against
plain NumPy formulas written out independently, stability at extreme logits, and clear errors."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make

REDUCTIONS = ["mean", "sum", "none"]


def reduce_np(per_element, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](per_element)


# ---- binary cross-entropy with logits ------------------------------------------------------
def bce_reference(x, t, p=1.0):
    """The textbook definition, -[p t log s + (1 - t) log(1 - s)], fine for moderate x."""
    s = 1 / (1 + np.exp(-x))
    return -(p * t * np.log(s) + (1 - t) * np.log(1 - s))


BCE_CASES = [  # (logits shape, pos_weight shape or None; () means a Python number)
    ((5,), None), ((5,), ()), ((2, 1, 3, 4), None), ((2, 1, 3, 4), (1, 1, 1)),
    ((2, 3, 3, 5), (3, 1, 1)), ((3, 2, 1, 7), ()), ((1, 3, 2, 2), (3, 1, 1)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, pw_shape", BCE_CASES, ids=str)
def test_bce_values_and_gradcheck(shape, pw_shape, reduction, device, rng):
    x_np = rng.standard_normal(shape) * 3
    t_np = rng.random(shape)                                 # soft targets in [0, 1]
    t_np[rng.random(shape) < 0.5] = 1.0
    pos_weight, p_np = None, 1.0
    if pw_shape == ():
        pos_weight = p_np = 2.5
    elif pw_shape is not None:
        p_np = rng.random(pw_shape) * 3 + 0.2
        pos_weight = mc.tensor(p_np, device=device)
    x = make(x_np, device)

    def loss(x):
        return F.binary_cross_entropy_with_logits(x, mc.tensor(t_np, device=device), pos_weight,
                                                  reduction)
    expected = reduce_np(bce_reference(x_np, t_np, p_np), reduction)
    np.testing.assert_allclose(loss(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(loss, x)


def test_bce_gradient_formula(device, rng):
    """dloss/dx = sigmoid(x) (1 + (p - 1) t) - p t per element (reduction 'sum')."""
    x_np, t_np, p = rng.standard_normal(20), (rng.random(20) > 0.5) * 1.0, 4.0
    x = make(x_np, device)
    F.binary_cross_entropy_with_logits(x, t_np, pos_weight=p, reduction="sum").backward()
    s = 1 / (1 + np.exp(-x_np))
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(), s * (1 + (p - 1) * t_np) - p * t_np,
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_extreme_logits_stay_finite_and_exact(dtype, device):
    x = make([100.0, -100.0, 100.0, -100.0, 80.0], device, dtype=dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=3.0, reduction="none")
    loss.sum().backward()
    values, grad = loss.numpy(), mc.tensor(x.grad).numpy()
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grad))
    # confident and wrong costs |x| (times p for a missed positive); right costs e^-100 ~ 0
    np.testing.assert_allclose(values, [100.0, 300.0, 0.0, 0.0, 80.0], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(grad, [1.0, -3.0, 0.0, 0.0, 1.0], atol=1e-6)


def test_bce_target_tensor_gets_no_gradient(rng):
    x = make(rng.standard_normal((2, 1, 3, 3)))
    t = make(rng.random((2, 1, 3, 3)))                      # requires_grad=True, still just data
    F.binary_cross_entropy_with_logits(x, t).backward()
    assert x.grad is not None and t.grad is None


def test_bce_integer_mask_target(rng):
    x_np = rng.standard_normal((2, 1, 4, 4))
    mask = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.uint8)
    value = F.binary_cross_entropy_with_logits(make(x_np), mask).item()
    assert value == pytest.approx(bce_reference(x_np, mask.astype(float)).mean(), rel=1e-12)


def test_bce_errors():
    x = make(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"\(2, 4, 4\).*\(2, 1, 4, 4\).*target\[:, None\]"):
        F.binary_cross_entropy_with_logits(x, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3, 1, 1\)"):
        F.binary_cross_entropy_with_logits(x, np.zeros((2, 1, 4, 4)), pos_weight=np.ones((3, 1, 1)))


# ---- cross-entropy ---------------------------------------------------------------------------
def ce_reference(x, labels, weight=None, ignore_index=None):
    """Per-element losses and weights with explicit loops over elements (class axis 1)."""
    x_last = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])             # (elements, C)
    flat_labels = labels.reshape(-1)
    losses, weights = np.zeros(len(flat_labels)), np.zeros(len(flat_labels))
    for i, (row, y) in enumerate(zip(x_last, flat_labels)):
        if y == ignore_index:
            continue
        weights[i] = 1.0 if weight is None else weight[y]
        log_sum = np.log(np.sum(np.exp(row - row.max()))) + row.max()
        losses[i] = -weights[i] * (row[y] - log_sum)
    return losses.reshape(labels.shape), weights


CE_SHAPES = [(4, 3), (5, 1), (2, 3, 3, 4), (1, 4, 5, 3), (3, 2, 1, 1)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "ignore", "weight+ignore"])
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
def test_cross_entropy_values_and_gradcheck(shape, options, reduction, device, rng):
    N, C = shape[:2]
    x_np = rng.standard_normal(shape) * 2
    labels = rng.integers(0, C, (N,) + shape[2:])
    weight = rng.random(C) + 0.3 if "weight" in options else None
    ignore_index = None
    if "ignore" in options:
        ignore_index = 255 if C > 1 else -100
        labels.reshape(-1)[::3] = ignore_index                       # every third one unlabeled
        labels.reshape(-1)[1] = labels.reshape(-1)[1] % C            # keep at least one labeled
    x = make(x_np, device)

    def loss(x):
        return F.cross_entropy(x, labels, weight=weight, ignore_index=ignore_index,
                               reduction=reduction)
    losses, weights = ce_reference(x_np, labels, weight, ignore_index)
    expected = {"none": losses, "sum": losses.sum(),
                "mean": losses.sum() / weights.sum()}[reduction]
    np.testing.assert_allclose(loss(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert mc.gradcheck(loss, x)


def test_cross_entropy_gradient_is_softmax_minus_onehot(device, rng):
    x_np, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    x = make(x_np, device)
    F.cross_entropy(x, mc.tensor(labels, device=device), reduction="sum").backward()
    softmax = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mc.tensor(x.grad).numpy(), softmax - np.eye(4)[labels],
                               rtol=1e-12, atol=1e-14)


def test_cross_entropy_large_logits_finite():
    x = make([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 0.0]])
    loss = F.cross_entropy(x, np.array([1, 1]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [2000.0, 0.0], atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cross_entropy_all_ignored_mean_is_nan_like_pytorch():
    loss = F.cross_entropy(make(np.zeros((2, 3))), np.array([-1, -1]), ignore_index=-1)
    assert np.isnan(loss.item())


def test_cross_entropy_label_dtypes_and_tensor_labels(rng):
    x_np, labels = rng.standard_normal((3, 4, 2, 2)), rng.integers(0, 4, (3, 2, 2))
    values = [F.cross_entropy(make(x_np), lab).item()
              for lab in (labels, labels.astype(np.uint8), mc.tensor(labels.astype(np.int32)))]
    assert values[0] == values[1] == values[2]


def test_cross_entropy_errors():
    x = make(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[-1, 3, 7\]"):
        F.cross_entropy(x, np.array([-1, 3, 7, 0] * 8).reshape(2, 4, 4))
    with pytest.raises(TypeError, match="integer class indices.*float64.*astype"):
        F.cross_entropy(x, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"\(2, 5, 4\).*\(2, 3, 4, 4\).*\(2, 4, 4\)"):
        F.cross_entropy(x, np.zeros((2, 5, 4), dtype=int))
    with pytest.raises(ValueError, match=r"labels\[:, 0\]"):
        F.cross_entropy(x, np.zeros((2, 1, 4, 4), dtype=int))
    with pytest.raises(ValueError, match=r"weight.*\(3,\).*\(4,\)"):
        F.cross_entropy(x, np.zeros((2, 4, 4), dtype=int), weight=np.ones(4))
    # the ignored value itself may lie outside [0, C)
    F.cross_entropy(x, np.full((2, 4, 4), 255), ignore_index=255, reduction="sum")


# ---- Dice ------------------------------------------------------------------------------------
def dice_reference(p, t, smooth):
    """p, t (N, C, ...) probabilities and one-hot target; loops over classes."""
    dices = []
    for c in range(p.shape[1]):
        pc, tc = p[:, c], t[:, c]
        dices.append((2 * np.sum(pc * tc) + smooth) / (np.sum(pc) + np.sum(tc) + smooth))
    return 1 - np.mean(dices)


@pytest.mark.parametrize("smooth", [1.0, 1e-3])
@pytest.mark.parametrize("shape", [(2, 1, 3, 4), (1, 1, 5, 5), (3, 1)], ids=str)
def test_dice_binary(shape, smooth, device, rng):
    x_np = rng.standard_normal(shape) * 2
    t_np = (rng.random(shape) > 0.6) * 1.0
    x = make(x_np, device)
    p = 1 / (1 + np.exp(-x_np))
    expected = dice_reference(p, t_np, smooth)
    assert F.dice_loss(x, t_np, smooth).item() == pytest.approx(expected, rel=1e-12)
    assert mc.gradcheck(lambda x: F.dice_loss(x, t_np, smooth), x)


@pytest.mark.parametrize("target_form", ["labels", "onehot"])
@pytest.mark.parametrize("shape", [(2, 3, 3, 4), (1, 2, 5, 3), (4, 3)], ids=str)
def test_dice_multiclass(shape, target_form, device, rng):
    N, C = shape[:2]
    x_np = rng.standard_normal(shape)
    labels = rng.integers(0, C, (N,) + shape[2:])
    onehot = np.moveaxis(np.eye(C)[labels], -1, 1)                  # (N, C, ...)
    target = labels if target_form == "labels" else onehot
    x = make(x_np, device)
    e = np.exp(x_np - x_np.max(axis=1, keepdims=True))
    expected = dice_reference(e / e.sum(axis=1, keepdims=True), onehot, 1.0)
    assert F.dice_loss(x, target).item() == pytest.approx(expected, rel=1e-12)
    assert mc.gradcheck(lambda x: F.dice_loss(x, target), x)


def test_dice_perfect_and_opposite_predictions():
    labels = np.array([[[0, 1], [2, 1]]])                          # (1, 2, 2), 3 classes
    onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
    perfect = make(onehot * 40.0)
    assert F.dice_loss(perfect, labels, smooth=1e-6).item() < 1e-6
    mask = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    wrong = make((0.5 - mask) * 80.0)                              # confident and wrong
    assert F.dice_loss(wrong, mask, smooth=1e-6).item() > 1 - 1e-6


def test_dice_errors():
    with pytest.raises(ValueError, match=r"target\[:, None\]"):
        F.dice_loss(make(np.zeros((2, 1, 3, 3))), np.zeros((2, 3, 3)))
    with pytest.raises(TypeError, match="integer"):
        F.dice_loss(make(np.zeros((2, 3, 3, 3))), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[5\]"):
        F.dice_loss(make(np.zeros((1, 3, 2, 2))), np.array([[[0, 1], [5, 2]]]))


# ---- MSE -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (2, 3, 3, 1), (1, 2, 5, 3)], ids=str)
def test_mse(shape, reduction, device, rng):
    a_np, b_np = rng.standard_normal(shape), rng.standard_normal(shape)
    a, b = make(a_np, device), make(b_np, device)
    expected = reduce_np((a_np - b_np) ** 2, reduction)
    np.testing.assert_allclose(F.mse_loss(a, b, reduction).numpy(), expected, rtol=1e-12)
    assert mc.gradcheck(lambda a, b: F.mse_loss(a, b, reduction), a, b)
    assert F.mse_loss(a, b_np, reduction).numpy() == pytest.approx(expected, rel=1e-12)


def test_mse_shape_error():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        F.mse_loss(make(np.zeros((2, 3))), np.zeros((3, 2)))


# ---- shared argument checks ------------------------------------------------------------------
@pytest.mark.parametrize("loss", [
    lambda r: F.binary_cross_entropy_with_logits(make(np.zeros(3)), np.zeros(3), reduction=r),
    lambda r: F.cross_entropy(make(np.zeros((2, 3))), np.array([0, 1]), reduction=r),
    lambda r: F.mse_loss(make(np.zeros(3)), np.zeros(3), reduction=r),
])
def test_unknown_reduction_lists_the_valid_ones(loss):
    with pytest.raises(ValueError, match="'mean', 'sum', 'none'.*'average'"):
        loss("average")
