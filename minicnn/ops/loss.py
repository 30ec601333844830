"""Loss functions: one number that says how far the prediction is from the ground truth.

Notation:
  N        batch size
  C        number of classes (channels of the logits)
  H, W     image height and width (any number of spatial axes works: (N, C, *S))
  x        logits, the raw network output before sigmoid/softmax
  t        target (ground truth); for cross_entropy, integer class labels
  g        dL/dloss, the incoming gradient: a number for reduction "mean"/"sum", an array
           shaped like the per-element loss for reduction "none";  dx the returned gradient

Reductions (PyTorch's rule): "none" returns the per-element loss, "sum" its sum, "mean" its
average; for a weighted cross_entropy "mean" divides by the summed weights instead of the count.

The logits go straight into the loss (no separate sigmoid/softmax layer): the fused formulas
below stay finite for logits like +-100, where sigmoid(x) rounds to exactly 0 or 1 and
log(sigmoid(x)) would be -inf. Their backward passes come out simple: sigmoid - target and
softmax - onehot.
"""
import math

from minicnn import backend
from minicnn.backend import get_array_module
from minicnn.ops import activation
from minicnn.ops.basic import broadcast_shapes
from minicnn.tensor import Function, Tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(repr(r) for r in REDUCTIONS)}, "
                         f"got {reduction!r}")


def _check_logits(loss, logits, min_ndim=0, layouts="any shape"):
    """The checks every loss makes on its logits: a floating Tensor with the axes it needs."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"{loss}: logits must be a Tensor, got {type(logits).__name__}; wrap it "
                        f"with mc.tensor(...)")
    if logits.dtype.kind != "f":
        raise TypeError(f"{loss}: logits must be floating point, got {logits.dtype}")
    if logits.ndim < min_ndim:
        raise ValueError(f"{loss}: logits must be {layouts}, got shape {logits.shape}; a single "
                         f"sample needs a batch axis: logits[None]")


def _reduce(per_element, reduction):
    """The per-element loss reduced as asked (the count for "mean" is per_element.size)."""
    if reduction == "sum":
        return per_element.sum()
    if reduction == "mean":
        return per_element.mean()
    return per_element


def _expand(g, shape, reduction):
    """dL/d(per-element loss) from g = dL/dloss: the inverse bookkeeping of `_reduce`."""
    xp = get_array_module(g)
    if reduction == "none":
        return g
    if reduction == "mean":
        g = g / max(1, math.prod(shape))       # each element counted 1/size in the mean
    return xp.broadcast_to(g, shape)           # each element counted once in the sum


def _data_on(x, like, what):
    """A target/label/weight argument (Tensor or array) as an array on the device of `like`."""
    data = x.data if isinstance(x, Tensor) else x
    if not hasattr(data, "shape"):
        xp = get_array_module(like.data)
        data = xp.asarray(data)
    if isinstance(x, Tensor) and x.device != like.device:
        raise RuntimeError(f"{what} is on {x.device} but the logits are on {like.device}; move it "
                           f"with .to('{like.device}')")
    return backend.to_device(data, like.device)


# ---------------------------------------------------------------------------------------------
class BCEWithLogits(Function):
    """Binary cross-entropy on logits, with an optional weight p for the positive class.

    With s = sigmoid(x) and w = 1 + (p - 1) t (w = 1 where t = 0, w = p where t = 1):

        loss = -[p t log s + (1 - t) log(1 - s)]
             = (1 - t) x + w softplus(-x)        using log s = -softplus(-x),
                                                 log(1 - s) = -x - softplus(-x)
        softplus(-x) = log(1 + e^-x) = log(1 + e^-|x|) + max(-x, 0)     (never overflows)

    This is PyTorch's formula.
    # BEGIN SOLUTION bce_backward
    Backward, using d softplus(-x)/dx = -sigmoid(-x) = s - 1:

        dloss/dx = (1 - t) + w (s - 1) = w s - w + 1 - t = w s - p t
                 = s - t                 without pos_weight (p = 1)
    # END SOLUTION

    No gradient flows to the target or to pos_weight (they are data, not predictions).
    """

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t, p=None):
        xp = get_array_module(x)
        t = t.astype(x.dtype, copy=False)                               # shaped like x
        p = 1 if p is None else p.astype(x.dtype, copy=False)           # () or (C, 1, 1) ...
        w = 1 + (p - 1) * t                                             # 1 if t = 0, p if t = 1
        softplus_neg_x = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # log(1 + e^-x)
        per_element = (1 - t) * x + w * softplus_neg_x                  # shaped like x
        self.x, self.t, self.p, self.w = x, t, p, w
        return _reduce(per_element, self.reduction)

    def backward(self, g):
        # BEGIN SOLUTION bce_backward
        s = activation.stable_sigmoid(self.x)                           # shaped like x
        dx = self.w * s - self.p * self.t                               # w s - p t
        return _expand(g, self.x.shape, self.reduction) * dx, None, None
        # END SOLUTION


def binary_cross_entropy_with_logits(logits, target, pos_weight=None, reduction="mean"):
    """Binary cross-entropy between sigmoid(logits) and a target in [0, 1], computed from the
    logits directly (stable for any logit size). Same formula and defaults as PyTorch.

    logits: Tensor of any shape, e.g. (N, 1, H, W) for a foreground/background mask.
    target: Tensor or array of the same shape (0/1 masks, or soft values); gets no gradient.
    pos_weight: weight of the positive term, a number or an array broadcasting against the
        logits, e.g. shape (C, 1, 1) for one weight per channel of (N, C, H, W) logits.
        pos_weight = n_negative / n_positive balances a mask with little foreground.
    reduction: "mean" (default), "sum" or "none" (per-element loss, shaped like the logits)."""
    _check_reduction(reduction)
    _check_logits("binary_cross_entropy_with_logits", logits)
    target = _data_on(target, logits, "target")
    if tuple(target.shape) != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target shape {tuple(target.shape)} "
                         f"must equal the logits shape {logits.shape} (one target value per "
                         f"logit); a mask of shape (N, H, W) for logits (N, 1, H, W) needs its "
                         f"channel axis: target[:, None]")
    inputs = [logits, target]
    if pos_weight is not None:
        if isinstance(pos_weight, (int, float)):
            pos_weight = get_array_module(logits.data).asarray(pos_weight, dtype=logits.dtype)
        pos_weight = _data_on(pos_weight, logits, "pos_weight")
        if broadcast_shapes(logits.shape, pos_weight.shape) != logits.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: pos_weight of shape "
                             f"{tuple(pos_weight.shape)} must broadcast to the logits shape "
                             f"{logits.shape} without enlarging it; for one weight per channel "
                             f"of (N, C, H, W) logits use shape (C, 1, 1)")
        inputs.append(pos_weight)
    return BCEWithLogits(reduction)(*inputs)


# ---------------------------------------------------------------------------------------------
class CrossEntropy(Function):
    """Softmax cross-entropy with integer labels (log-softmax and negative log-likelihood fused).

    For one element i (a sample, or a pixel) with logits x_i (C values) and label y_i:

        log p_ic = x_ic - log sum_k e^{x_ik}          (log-softmax over the class axis 1)
        loss_i   = -w_{y_i} log p_{i y_i}             (w = class weights, 1 if none; 0 if ignored)
        "mean"   = sum_i loss_i / sum_i w_{y_i}        (PyTorch's weighted mean)

    # BEGIN SOLUTION cross_entropy_backward
    Backward: d(-log p_iy)/dx_ic = softmax_ic - [c == y], so

        dloss_i/dx_ic = w_{y_i} (softmax_ic - onehot_ic)

    times g (and divided by sum_i w_{y_i} for "mean").
    # END SOLUTION
    Labels and weights get no gradient.
    """

    def __init__(self, reduction, ignore_index):
        self.reduction, self.ignore_index = reduction, ignore_index

    def forward(self, x, labels, weight=None):
        xp = get_array_module(x)
        C = x.shape[1]
        classes = xp.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))     # (1, C, 1, 1)
        valid = xp.ones(labels.shape, dtype=bool) if self.ignore_index is None \
            else labels != self.ignore_index                            # (N, H, W)
        safe_labels = xp.where(valid, labels, 0)                        # ignored -> any class
        onehot = classes == safe_labels[:, None]                        # (N, C, H, W) bool
        w = valid.astype(x.dtype)                                       # (N, H, W)
        if weight is not None:
            w = w * weight.astype(x.dtype, copy=False)[safe_labels]     # weight of each label
        shifted = x - x.max(axis=1, keepdims=True)                      # (N, C, H, W)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        per_element = -w * xp.where(onehot, log_p, 0).sum(axis=1)      # (N, H, W)
        self.log_p, self.onehot, self.w = log_p, onehot, w
        if self.reduction == "none":
            return per_element
        if self.reduction == "sum":
            return per_element.sum()
        self.total_weight = w.sum()          # 0 when every element is ignored -> nan, as PyTorch
        return per_element.sum() / self.total_weight

    def backward(self, g):
        # BEGIN SOLUTION cross_entropy_backward
        xp = get_array_module(g)
        if self.reduction == "mean":
            g = g / self.total_weight
        g_i = g * self.w                                                # (N, H, W) or broadcast
        dx = xp.exp(self.log_p) - self.onehot                           # softmax - onehot
        return dx * xp.expand_dims(g_i, 1), None, None
        # END SOLUTION


def cross_entropy(logits, labels, weight=None, ignore_index=None, reduction="mean"):
    """Multi-class cross-entropy from logits and integer class labels, like PyTorch.

    logits: Tensor (N, C) with labels (N,), or (N, C, H, W) with labels (N, H, W) (one class
        index per pixel); more spatial axes work the same way.
    labels: integer array or Tensor, values in [0, C) (or equal to ignore_index).
    weight: optional per-class weights, shape (C,): a rare class can count more.
    ignore_index: a label value whose elements contribute nothing (e.g. unannotated pixels).
    reduction: "mean" (divides by the summed weights of the non-ignored elements), "sum", "none"
        (per-element loss, shaped like labels)."""
    _check_reduction(reduction)
    _check_logits("cross_entropy", logits, 2, "(N, C) or (N, C, H, W)")
    N, C = logits.shape[:2]
    labels = _data_on(labels, logits, "labels")
    expected = (N,) + logits.shape[2:]
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integer class indices, got dtype "
                        f"{labels.dtype}; convert with labels.astype('int64') (for float "
                        f"targets in [0, 1] use binary_cross_entropy_with_logits)")
    if tuple(labels.shape) != expected:
        hint = " (drop the channel axis: labels[:, 0])" \
            if tuple(labels.shape) == (N, 1) + logits.shape[2:] else ""
        raise ValueError(f"cross_entropy: labels shape {tuple(labels.shape)} does not match "
                         f"logits shape {logits.shape}: labels must have shape {expected}, the "
                         f"logits' shape without the class axis 1{hint}")
    xp = get_array_module(labels)
    checked = labels if ignore_index is None else labels[labels != ignore_index]
    bad = checked[(checked < 0) | (checked >= C)]
    if bad.size:
        values = [int(v) for v in backend.to_numpy(xp.unique(bad))[:10]]
        raise ValueError(f"cross_entropy: labels must lie in [0, {C}) for {C} classes, but "
                         f"these values occur: {values}; check the number of output channels, "
                         f"or pass ignore_index= for a 'no label' value")
    inputs = [logits, labels]
    if weight is not None:
        weight = _data_on(weight, logits, "weight")
        if tuple(weight.shape) != (C,):
            raise ValueError(f"cross_entropy: weight must have one value per class, shape "
                             f"({C},), got {tuple(weight.shape)}")
        inputs.append(weight)
    return CrossEntropy(reduction, ignore_index)(*inputs)


# ---------------------------------------------------------------------------------------------
def dice_loss(logits, target, smooth=1.0):
    """Soft Dice loss: 1 - overlap between predicted probabilities and the target, in [0, 1].

        dice_c = (2 sum(p_c t_c) + smooth) / (sum p_c + sum t_c + smooth)
        loss   = 1 - mean over classes c of dice_c

    The sums run over the WHOLE batch and all pixels of class c (one Dice per class, not one
    per image), so an image without foreground does not produce a 0/0. `smooth` keeps an
    empty class finite (dice = 1 when nothing is predicted and nothing is there).

    logits (N, 1, H, W): p = sigmoid(logits), target of the same shape (0/1 mask or soft).
    logits (N, C, H, W), C > 1: p = softmax over axis 1; target either integer labels
        (N, H, W) (turned into one-hot inside) or a one-hot/soft array (N, C, H, W).
    Any number of spatial axes works, including none ((N, C) logits).

    Dice is a ratio of sums of differentiable operations, so it is composed from existing ops
    (sigmoid/softmax, mul, sum, div) and autograd derives its backward pass: no fused Function.
    The target gets no gradient."""
    _check_logits("dice_loss", logits, 2, "(N, C, H, W) (or (N, C))")
    N, C = logits.shape[:2]
    target = _data_on(target, logits, "target")
    xp = get_array_module(target)
    if C > 1 and tuple(target.shape) == (N,) + logits.shape[2:]:        # labels -> one-hot
        if target.dtype.kind not in "iu":
            raise TypeError(f"dice_loss: a target of shape {tuple(target.shape)} holds class "
                            f"labels and must be integer, got {target.dtype}")
        bad = target[(target < 0) | (target >= C)]
        if bad.size:
            values = [int(v) for v in backend.to_numpy(xp.unique(bad))[:10]]
            raise ValueError(f"dice_loss: labels must lie in [0, {C}), but these occur: {values}")
        classes = xp.arange(C).reshape((1, C) + (1,) * (logits.ndim - 2))   # (1, C, 1, 1)
        target = classes == target[:, None]                                  # (N, C, H, W)
    if tuple(target.shape) != logits.shape:
        labels_ok = f" or integer labels of shape {(N,) + logits.shape[2:]}" if C > 1 else ""
        hint = " (add the channel axis: target[:, None])" \
            if C == 1 and tuple(target.shape) == (N,) + logits.shape[2:] else ""
        raise ValueError(f"dice_loss: target shape {tuple(target.shape)} does not fit logits "
                         f"shape {logits.shape}: expected {logits.shape}{labels_ok}{hint}")
    t = Tensor(target.astype(logits.dtype))                              # (N, C, H, W), data
    p = activation.sigmoid(logits) if C == 1 else activation.softmax(logits, axis=1)
    axes = (0,) + tuple(range(2, logits.ndim))                           # all but the class axis
    intersection = (p * t).sum(axis=axes)                                # (C,)
    total = p.sum(axis=axes) + t.sum(axis=axes)                          # (C,)
    dice = (2 * intersection + smooth) / (total + smooth)                # (C,)
    return 1 - dice.mean()


# ---------------------------------------------------------------------------------------------
class MSE(Function):
    """Mean squared error: per element (a - b)^2; d/da = 2 (a - b), d/db = -2 (a - b)."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, a, b):
        self.diff = a - b                                                # shaped like a
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self, g):
        ga = _expand(g, self.diff.shape, self.reduction) * 2 * self.diff
        return ga, -ga


def mse_loss(a, b, reduction="mean"):
    """Squared difference of two same-shaped tensors (b may be a plain array: a target),
    averaged ("mean", default), summed ("sum") or per element ("none")."""
    _check_reduction(reduction)
    if not isinstance(a, Tensor):
        raise TypeError(f"mse_loss: the prediction a must be a Tensor, got {type(a).__name__}")
    if not isinstance(b, Tensor):
        b = Tensor(_data_on(b, a, "b").astype(a.dtype, copy=False))
    if a.shape != b.shape:
        raise ValueError(f"mse_loss: shapes {a.shape} and {b.shape} differ; the prediction and "
                         f"the target must have the same shape")
    return MSE(reduction)(a, b)
