"""The exercise catalogue: what each exercise asks, where it lives, how it is graded, and the
mistakes students typically make in it. The kit is data: diagnose.py and grader.py hold no rule
about any single exercise; everything particular to one sits in its entry here.

Grading runs `compute(mc, case)` on the hidden cases twice: with the student's package in its
own process (runner.py; it only produces arrays) and with the installed reference in the
grader, which compares them. Because the same `compute` runs on both sides, this file imports no
minicnn: it gets the package as the argument `mc`. The runner loads it by file path.

A case is a dict: "label" (what the score table shows), input arrays, settings, and "constants"
(numbers a wrong answer is often off by, e.g. the batch size) for the diagnosis. The cases are
drawn from a seeded generator: `cases_of(exercise, seed)`. Each term's seed is drawn by `make`
and kept in the instructor's record (record.py), so the student copy holds neither the seed nor
any expected value of a graded case; the public tests use inputs of their own.

An entry's `mistakes(case, expected)` gives, per graded output, arrays computed from the case's
inputs with one typical mistake each ({output: {phrase: wrong array}}); a student's array equal
to one of them is diagnosed by its phrase. `routes` says that the op sends each window's
gradient to chosen elements (max-pool): then a wrong gradient with the right total is named so.
"""
from dataclasses import dataclass

import numpy as np

SEED = 20240601     # the cases' seed when the instructor's record has none (a copy made by hand)


@dataclass
class Exercise:
    name: str           # the marker name, e.g. "relu_backward"
    file: str           # the graded file, relative to the package, e.g. "ops/activation.py"
    points: int
    task: str           # what to compute (not which calls compute it): the stub's message
    cases: object       # rng -> list of case dicts
    compute: object     # (mc, case) -> {output name: array or None}
    graded: dict        # output name -> words for the report; each earns its share of points
    mistakes: object = None     # (case, expected) -> {output: {phrase: wrong array}}
    routes: bool = False        # the op routes each window's gradient to chosen elements


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _ties(rng, *shape):
    """Whole numbers 0..2: many windows hold several equal maxima."""
    return rng.integers(0, 3, size=shape).astype(np.float64)


def _grad(t):
    return None if t.grad is None else np.asarray(t.grad)


def _float64(mc, a):
    return mc.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def unary_compute(op):
    """compute(mc, case) for an op of one tensor: out = mc.functional.<op>(x, **settings), and
    dx from backward(g)."""
    def compute(mc, case):
        x = _float64(mc, case["x"])
        y = getattr(mc.functional, op)(x, **case.get("settings", {}))
        y.backward(case["g"])
        return {"out": y.numpy(), "dx": _grad(x)}
    return compute


def forward_compute(op):
    """compute(mc, case) for a forward-pass exercise: the output only, no backward pass."""
    def compute(mc, case):
        inputs = [mc.tensor(np.array(case[k], dtype=np.float64)) for k in case["inputs"]]
        return {"out": getattr(mc.functional, op)(*inputs, **case["settings"]).numpy()}
    return compute


# ---- elementwise ----
def elementwise_cases(rng):
    return [{"label": f"x {shape}", "x": _normal(rng, *shape), "g": _normal(rng, *shape),
             "constants": {}} for shape in [(4, 5), (2, 3, 4, 4)]]


def relu_mistakes(case, expected):
    x, g = case["x"], case["g"]
    return {"dx": {"is the slope alone: multiply it by the incoming gradient g":
                   (x > 0).astype(np.float64),
                   "is g unchanged: the slope of ReLU (1 where x > 0, 0 elsewhere) is missing": g,
                   "uses the slope where x < 0 (the mask is inverted)": g * (x < 0)}}


def sigmoid_mistakes(case, expected):
    x, g, s = case["x"], case["g"], expected["out"]
    return {"dx": {"is the slope alone: multiply it by the incoming gradient g": s * (1 - s),
                   "applies the formula to x instead of to s = sigmoid(x) (self.out)":
                   g * x * (1 - x),
                   "uses s instead of s (1 - s)": g * s,
                   "is g unchanged: the slope of the sigmoid is missing": g}}


# ---- matmul ----
def matmul_cases(rng):
    shapes = [("matrices", (3, 4), (4, 5)), ("batched", (2, 3, 4), (2, 4, 5)),
              ("broadcast batch", (2, 3, 4), (4, 5)), ("matrix @ vector", (3, 4), (4,))]
    cases = []
    for label, sa, sb in shapes:
        out_shape = (np.zeros(sa) @ np.zeros(sb)).shape
        cases.append({"label": f"{label} {sa} @ {sb}", "a": _normal(rng, *sa),
                      "b": _normal(rng, *sb), "g": _normal(rng, *out_shape),
                      "constants": {"the batch size": sa[0] if len(sa) == 3 else None}})
    return cases


def matmul_compute(mc, case):
    a, b = _float64(mc, case["a"]), _float64(mc, case["b"])
    y = a @ b
    y.backward(case["g"])
    return {"out": y.numpy(), "da": _grad(a), "db": _grad(b)}


# ---- conv2d ----
def conv2d_cases(rng):
    configs = [((2, 3, 6, 6), (4, 3, 3, 3), dict(stride=1, padding=1, dilation=1)),
               ((3, 2, 7, 7), (3, 2, 3, 3), dict(stride=2, padding=0, dilation=1)),
               ((2, 2, 7, 6), (2, 2, 2, 3), dict(stride=1, padding=1, dilation=2))]
    cases = []
    for xs, ws, settings in configs:
        N, _, H, W = xs
        O, _, KH, KW = ws
        s, p, d = settings["stride"], settings["padding"], settings["dilation"]
        OH, OW = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k in ((H, KH), (W, KW)))
        cases.append({"label": f"x {xs}, w {ws}, stride {s}, padding {p}, dilation {d}",
                      "x": _normal(rng, *xs), "w": _normal(rng, *ws), "b": _normal(rng, O),
                      "g": _normal(rng, N, O, OH, OW), "settings": settings,
                      "inputs": ("x", "w", "b"),
                      "constants": {"the batch size N": N, "the output size OH*OW": OH * OW,
                                    "N*OH*OW": N * OH * OW}})
    return cases


def conv2d_compute(mc, case):
    x, w, b = _float64(mc, case["x"]), _float64(mc, case["w"]), _float64(mc, case["b"])
    y = mc.functional.conv2d(x, w, b, **case["settings"])
    y.backward(case["g"])
    return {"out": y.numpy(), "dx": _grad(x), "dw": _grad(w), "db": _grad(b)}


def conv2d_backward_mistakes(case, expected):
    g = case["g"]
    return {"dw": {"is the right kernel gradient flipped in both spatial axes (a true "
                   "convolution instead of the cross-correlation the forward pass computes)":
                   expected["dw"][:, :, ::-1, ::-1]},
            "db": {"is g summed over the pixels of each image only: the sum over the batch "
                   "axis 0 is missing": g.sum(axis=(2, 3))}}


def conv2d_numpy(x, w, b, stride, padding, dilation):
    """The definition, one kernel offset at a time: y[n,o] = b[o] + sum over c, kh, kw of
    xpad[n, c, i*s + kh*d, j*s + kw*d] w[o, c, kh, kw]."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (s, _), (p, _), (d, _) = _pair(stride), _pair(padding), _pair(dilation)
    OH, OW = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k in ((H, KH), (W, KW)))
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((N, O, OH, OW)) + b[None, :, None, None]
    for kh in range(KH):
        for kw in range(KW):
            view = xpad[:, :, kh * d: kh * d + s * (OH - 1) + 1: s,
                        kw * d: kw * d + s * (OW - 1) + 1: s]              # (N, C, OH, OW)
            y += np.einsum("nchw,oc->nohw", view, w[:, :, kh, kw])
    return y


def conv2d_forward_mistakes(case, expected):
    settings = case["settings"]
    return {"out": {"flips the kernel (a true convolution; the forward pass is a "
                    "cross-correlation)": conv2d_numpy(case["x"], case["w"][:, :, ::-1, ::-1],
                                                       case["b"], **settings),
                    "leaves out the bias": expected["out"] - case["b"][None, :, None, None]}}


# ---- pooling ----
def max_pool2d_cases(rng):
    configs = [("distinct values", _normal, (2, 2, 6, 6), dict(kernel_size=2, stride=2, padding=0)),
               ("ties", _ties, (2, 2, 6, 6), dict(kernel_size=2, stride=2, padding=0)),
               ("ties, overlapping windows", _ties, (1, 2, 7, 7),
                dict(kernel_size=3, stride=2, padding=1)),
               ("ties, stride 1", _ties, (1, 2, 5, 5), dict(kernel_size=2, stride=1, padding=0))]
    cases = []
    for label, values, shape, settings in configs:
        k, s, p = settings["kernel_size"], settings["stride"], settings["padding"]
        OH, OW = ((n + 2 * p - k) // s + 1 for n in shape[2:])
        cases.append({"label": f"{label}: x {shape}, kernel {k}, stride {s}, padding {p}",
                      "x": values(rng, *shape), "g": _normal(rng, *shape[:2], OH, OW),
                      "settings": settings, "inputs": ("x",), "ties": values is _ties,
                      "constants": {"the window size KH*KW": k * k}})
    return cases


def max_pool2d_forward_cases(rng):
    configs = [((2, 3, 6, 6), dict(kernel_size=2, stride=2, padding=0)),
               ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1)),
               ((2, 2, 5, 6), dict(kernel_size=2, stride=1, padding=1))]
    return [{"label": f"x {shape}, kernel {s['kernel_size']}, stride {s['stride']}, padding "
                      f"{s['padding']}", "x": _normal(rng, *shape), "settings": s,
             "inputs": ("x",), "constants": {"the window size KH*KW": s["kernel_size"] ** 2}}
            for shape, s in configs]


def windows(x, kernel_size, stride, padding, fill):
    """Every window's values, one kernel offset per row: (KH*KW, N, C, OH, OW); padded cells
    hold `fill`."""
    k, s, p = kernel_size, stride, padding
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    OH, OW = ((n + 2 * p - k) // s + 1 for n in x.shape[2:])
    return np.stack([xpad[:, :, i: i + s * (OH - 1) + 1: s, j: j + s * (OW - 1) + 1: s]
                     for i in range(k) for j in range(k)])


def max_pool2d_forward_mistakes(case, expected):
    x, settings = case["x"], case["settings"]
    found = {"averages each window (that is average pooling)":
             windows(x, **settings, fill=0.0).mean(axis=0),
             "takes each window's minimum": windows(x, **settings, fill=np.inf).min(axis=0)}
    if settings["padding"]:
        found["pads with zeros (a padded cell must never win: pad with -inf)"] = \
            windows(x, **settings, fill=0.0).max(axis=0)
    return {"out": found}


def max_pool2d_backward_mistakes(case, expected):
    x, g = case["x"], case["g"]
    k, s, p = (case["settings"][key] for key in ("kernel_size", "stride", "padding"))
    rules = {
        "sends each window's gradient to the LAST maximum, not the first (row-major order, "
        "as PyTorch; a strict > keeps the first)": _last_max,
        "gives the full gradient to EVERY tied maximum (it must go to one of them: the "
        "first)": _all_max,
        "shares each window's gradient among its tied maxima (it goes to the first one "
        "only)": _shared_max,
        "spreads each window's gradient evenly over the window (that is average pooling)":
        _even}
    if not case["ties"]:      # without ties, the rules about tied maxima give the right answer
        rules = dict(list(rules.items())[-1:])
    return {"dx": {phrase: _route(x, g, k, s, p, rule) for phrase, rule in rules.items()}}


def _route(x, g, k, s, p, rule):
    """Max-pool backward with the window weights rule(window) (KH, KW), padded cells -inf."""
    N, C, H, W = x.shape
    xpad = np.full((N, C, H + 2 * p, W + 2 * p), -np.inf)
    xpad[:, :, p:p + H, p:p + W] = x
    gpad = np.zeros_like(xpad)
    for n, c, i, j in np.ndindex(g.shape):
        window = xpad[n, c, i * s:i * s + k, j * s:j * s + k]
        gpad[n, c, i * s:i * s + k, j * s:j * s + k] += g[n, c, i, j] * rule(window)
    return gpad[:, :, p:p + H, p:p + W]


def _last_max(window):
    flat = window.reshape(-1)
    weights = np.zeros(flat.size)
    weights[flat.size - 1 - int(np.argmax(flat[::-1]))] = 1
    return weights.reshape(window.shape)


def _all_max(window):
    return (window == window.max()).astype(np.float64)


def _shared_max(window):
    ties = _all_max(window)
    return ties / ties.sum()


def _even(window):
    return np.isfinite(window) / window.size


# ---- upsample ----
def upsample_cases(mode):
    def cases(rng):
        configs = [((2, 3, 3, 4), 2, False), ((1, 2, 3, 3), (3, 2), True)]
        result = []
        for shape, scale, align in configs:
            SH, SW = _pair(scale)
            settings = {"scale_factor": scale, "mode": mode}
            if mode == "bilinear":
                settings["align_corners"] = align
            result.append({"label": f"x {shape}, scale {scale}" +
                           (f", align_corners={align}" if mode == "bilinear" else ""),
                           "x": _normal(rng, *shape),
                           "g": _normal(rng, *shape[:2], shape[2] * SH, shape[3] * SW),
                           "settings": settings, "constants": {"the block size SH*SW": SH * SW}})
        return result
    return cases


def upsample_nearest_mistakes(case, expected):
    SH, SW = _pair(case["settings"]["scale_factor"])
    return {"dx": {"takes one pixel of each SH x SW block instead of the sum of the block":
                   case["g"][:, :, ::SH, ::SW]}}


# ---- binary cross-entropy ----
def bce_cases(rng):
    cases = []
    for reduction, shape, pos_weight in [("mean", (2, 1, 4, 4), None), ("sum", (2, 1, 4, 4), None),
                                         ("none", (2, 1, 3, 3), None),
                                         ("mean", (2, 2, 3, 3), (2, 1, 1))]:
        case = {"label": f"logits {shape}, reduction={reduction!r}" +
                (f", pos_weight {pos_weight}" if pos_weight else ""),
                "x": 2 * _normal(rng, *shape), "t": (rng.random(shape) < 0.4).astype(np.float64),
                "g": _normal(rng, *shape) if reduction == "none" else np.array(1.7),
                "reduction": reduction,
                "constants": {"the number of elements": int(np.prod(shape)),
                              "the batch size N": shape[0]}}
        if pos_weight:
            case["pos_weight"] = 0.5 + rng.random(pos_weight) * 3
        cases.append(case)
    return cases


def bce_compute(mc, case):
    x = _float64(mc, case["x"])
    loss = mc.functional.binary_cross_entropy_with_logits(
        x, case["t"], pos_weight=case.get("pos_weight"), reduction=case["reduction"])
    loss.backward(case["g"])
    return {"out": loss.numpy(), "dx": _grad(x)}


def bce_mistakes(case, expected):
    x, g, t = case["x"], case["g"], case["t"]
    spread = {"mean": g / x.size, "sum": g, "none": g}[case["reduction"]]   # dL/dloss_i
    s = 1 / (1 + np.exp(-x))
    if "pos_weight" in case:
        return {"dx": {"ignores pos_weight (the positive term's weight p)": spread * (s - t)}}
    return {"dx": {"is the sigmoid alone: the target is not subtracted": spread * s}}


# ---- softmax cross-entropy ----
def cross_entropy_cases(rng):
    configs = [("scores (N, C)", (6, 4), None, None, "mean"),
               ("pixels (N, C, H, W)", (2, 3, 3, 4), None, None, "sum"),
               ("pixels, class weights", (2, 3, 3, 3), True, None, "mean"),
               ("pixels, ignore_index", (2, 4, 3, 3), None, 1, "mean"),
               ("scores, no reduction", (5, 3), None, None, "none")]
    cases = []
    for label, shape, weighted, ignore, reduction in configs:
        N, C = shape[:2]
        labels = rng.integers(0, C, size=(N,) + shape[2:])
        case = {"label": f"{label}: logits {shape}, reduction={reduction!r}", "x":
                2 * _normal(rng, *shape), "labels": labels, "reduction": reduction,
                "weight": 0.5 + 2 * rng.random(C) if weighted else None, "ignore_index": ignore,
                "g": _normal(rng, *labels.shape) if reduction == "none" else np.array(1.3),
                "constants": {"the number of elements": int(labels.size),
                              "the batch size N": N}}
        cases.append(case)
    return cases


def cross_entropy_compute(mc, case):
    x = _float64(mc, case["x"])
    loss = mc.functional.cross_entropy(x, case["labels"], weight=case["weight"],
                                       ignore_index=case["ignore_index"],
                                       reduction=case["reduction"])
    loss.backward(case["g"])
    return {"out": loss.numpy(), "dx": _grad(x)}


def cross_entropy_mistakes(case, expected):
    x, labels, g = case["x"], case["labels"], case["g"]
    C = x.shape[1]
    e = np.exp(x - x.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)                        # (N, C, ...)
    valid = np.ones(labels.shape) if case["ignore_index"] is None \
        else (labels != case["ignore_index"]).astype(np.float64)
    safe = np.where(valid > 0, labels, 0)
    onehot = (np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2)) == safe[:, None])
    w = valid * (1 if case["weight"] is None else case["weight"][safe])

    def dx(slope, weights, divisor):
        scale = g / divisor if case["reduction"] == "mean" else g
        return slope * np.expand_dims(scale * weights, 1)

    total = w.sum()
    found = {"is the softmax alone: subtract the one-hot label": dx(softmax, w, total)}
    if case["weight"] is not None:
        found["ignores the class weights"] = dx(softmax - onehot, valid, valid.sum())
    if case["reduction"] == "mean" and (case["weight"] is not None or
                                        case["ignore_index"] is not None):
        found["divides by the number of elements instead of the sum of their weights (the "
              "mean is weighted)"] = dx(softmax - onehot, w, labels.size)
    return {"dx": found}


# ---- batch norm ----
def batch_norm_cases(rng):
    configs = [("training, features (N, C)", (8, 3), True),
               ("training, images (N, C, H, W)", (3, 2, 4, 4), True),
               ("eval, running statistics", (2, 3, 3, 3), False)]
    cases = []
    for label, shape, training in configs:
        C = shape[1]
        case = {"label": f"{label}: x {shape}", "x": 1.5 * _normal(rng, *shape) + 0.3,
                "weight": 0.5 + rng.random(C), "bias": _normal(rng, C), "training": training,
                "g": _normal(rng, *shape), "constants": {"the number of values per channel M":
                                                         int(np.prod(shape)) // C}}
        if not training:
            case["running_mean"], case["running_var"] = _normal(rng, C), 0.5 + rng.random(C)
        cases.append(case)
    return cases


def batch_norm_compute(mc, case):
    x, weight, bias = (_float64(mc, case[k]) for k in ("x", "weight", "bias"))
    running = [case.get("running_mean"), case.get("running_var")]
    y = mc.functional.batch_norm(x, *[None if r is None else r.copy() for r in running],
                                 weight, bias, training=case["training"])
    y.backward(case["g"])
    return {"out": y.numpy(), "dx": _grad(x), "dweight": _grad(weight), "dbias": _grad(bias)}


def batch_norm_mistakes(case, expected, eps=1e-5):
    x, g = case["x"], case["g"]
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if case["training"]:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = case["running_mean"].reshape(shape), case["running_var"].reshape(shape)
    r = 1 / np.sqrt(var + eps)
    x_hat, g_hat = (x - mean) * r, g * case["weight"].reshape(shape)

    def through_stats(gh):                     # dL/dx when the statistics depend on x
        return r * (gh - gh.mean(axis=axes, keepdims=True)
                    - x_hat * (gh * x_hat).mean(axis=axes, keepdims=True))
    dx = {"forgets the weight (dL/dx_hat is g * weight, not g)":
          through_stats(g) if case["training"] else g * r}
    if case["training"]:
        dx["treats the batch mean and variance as constants (that is the eval-mode formula)"] \
            = g_hat * r
        dx["leaves out the path through the variance (only the mean's)"] = \
            r * (g_hat - g_hat.mean(axis=axes, keepdims=True))
    else:
        dx["uses the batch statistics' formula in eval mode (the running statistics are "
           "constants)"] = through_stats(g_hat)
    return {"dx": dx,
            "dweight": {"sums g * x instead of g * x_hat (the normalized input)":
                        (g * x).sum(axis=axes)},
            "dbias": {"is g summed over the batch axis only (sum over every axis but the "
                      "channels)": g.sum(axis=0) if x.ndim > 2 else None}}


# ---- optimizers ----
def sgd_cases(rng):
    settings = [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                dict(lr=0.05, momentum=0.9, nesterov=True),
                dict(lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01)]
    return [{"label": "SGD(" + ", ".join(f"{k}={v}" for k, v in s.items()) + ")",
             "p": _normal(rng, 3, 4), "grads": _normal(rng, 3, 3, 4), "settings": s,
             "optimizer": "SGD", "constants": {"the learning rate": s["lr"]}} for s in settings]


def adam_cases(rng):
    settings = [dict(lr=0.01), dict(lr=0.05, betas=(0.8, 0.99)),
                dict(lr=0.01, eps=1e-3, weight_decay=0.1)]
    return [{"label": "Adam(" + ", ".join(f"{k}={v}" for k, v in s.items()) + ")",
             "p": _normal(rng, 3, 4), "grads": _normal(rng, 4, 3, 4), "settings": s,
             "optimizer": "Adam", "constants": {"the learning rate": s["lr"]}} for s in settings]


def optimizer_compute(mc, case):
    """A few steps with fixed gradients; the output is each step's change of the parameter."""
    p = _float64(mc, case["p"])
    optimizer = getattr(mc.optim, case["optimizer"])([p], **case["settings"])
    before, updates = p.numpy().copy(), []
    for grad in case["grads"]:
        p.grad = grad.copy()
        optimizer.step()
        updates.append(p.numpy() - before)
        before = p.numpy().copy()
    return {"update": np.stack(updates)}


NOT_IN_PLACE = ("is zero: the parameter never changed. Change the array in place; assigning "
                "a new array to the name param leaves the parameter as it was")


def sgd_mistakes(case, expected):
    return {"update": {NOT_IN_PLACE: np.zeros_like(expected["update"])}}


def adam_numpy(case, bias_correction=True, eps_inside=False):
    s = case["settings"]
    (b1, b2), eps, decay = s.get("betas", (0.9, 0.999)), s.get("eps", 1e-8), \
        s.get("weight_decay", 0.0)
    p, m, v, updates = case["p"].copy(), 0.0, 0.0, []
    for t, grad in enumerate(case["grads"], start=1):
        grad = grad + decay * p
        m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad ** 2
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        step = -s["lr"] * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
        updates.append(step)
        p = p + step
    return np.stack(updates)


def adam_mistakes(case, expected):
    found = {NOT_IN_PLACE: np.zeros_like(expected["update"]),
             "leaves out the bias correction (m and v start at 0, so early steps are too "
             "small: divide by 1 - beta^t)": adam_numpy(case, False)}
    if case["settings"].get("eps", 1e-8) >= 1e-4:   # a tiny eps hides where it was added
        found["adds eps inside the square root (it goes after it: sqrt(v_hat) + eps)"] = \
            adam_numpy(case, eps_inside=True)
    return {"update": found}


CATALOGUE = [
    Exercise("relu_backward", "ops/activation.py", 5,
             "return dL/dx, shaped like x, given g = dL/dout and what the forward pass saved",
             elementwise_cases, unary_compute("relu"), {"dx": "dL/dx"}, relu_mistakes),
    Exercise("sigmoid_backward", "ops/activation.py", 5,
             "return dL/dx given g = dL/dout; the forward pass saved its output s = sigmoid(x), "
             "and the derivative of the sigmoid can be written with s alone",
             elementwise_cases, unary_compute("sigmoid"), {"dx": "dL/dx"}, sigmoid_mistakes),
    Exercise("matmul_backward", "ops/basic.py", 10,
             "return (dL/da, dL/db) for out = a @ b given g = dL/dout (..., n, m): the matrix "
             "calculus of C = AB on the last two axes; where broadcasting added batch axes, "
             "a gradient must come back to its input's shape; a 1-D a acts as a row, a 1-D b "
             "as a column",
             matmul_cases, matmul_compute, {"da": "dL/da", "db": "dL/db"}),
    Exercise("conv2d_backward", "ops/conv.py", 20,
             "return (dx, dw, db) given g = dL/dy (N, O, OH, OW) and what the forward pass "
             "saved: the forward pass is one matrix product of the weights (O, C*KH*KW) with "
             "the columns of x's windows, plus the bias (db is None without one); dx must "
             "collect the gradient of every copy of a pixel in those columns",
             conv2d_cases, conv2d_compute, {"dx": "dL/dx", "dw": "dL/dw", "db": "dL/db"},
             conv2d_backward_mistakes),
    Exercise("max_pool2d_backward", "ops/pool.py", 15,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, OH, OW): each window's "
             "gradient goes to its maximum only, the FIRST one in row-major order on ties, "
             "and overlapping windows add up",
             max_pool2d_cases, unary_compute("max_pool2d"), {"dx": "dL/dx"},
             max_pool2d_backward_mistakes, routes=True),
    Exercise("upsample_nearest_backward", "ops/resize.py", 10,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, H*SH, W*SW): each input pixel "
             "was copied into an SH x SW block of the output",
             upsample_cases("nearest"), unary_compute("upsample"), {"dx": "dL/dx"},
             upsample_nearest_mistakes),
    Exercise("upsample_bilinear_backward", "ops/resize.py", 5,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, OH, OW): the forward pass is "
             "a linear map along each of the two axes, saved as matrices on self",
             upsample_cases("bilinear"), unary_compute("upsample"), {"dx": "dL/dx"}),
    Exercise("bce_backward", "ops/loss.py", 10,
             "return (dL/dx, None, None) given g = dL/dloss: derive the derivative of the "
             "per-element loss (written in the class docstring) with respect to the logit, "
             "pos_weight included, and combine it with g as the reduction asks",
             bce_cases, bce_compute, {"dx": "dL/dlogits"}, bce_mistakes),
    Exercise("sgd_step", "optim/sgd.py", 15,
             "change the array param IN PLACE by one step of torch.optim.SGD with this "
             "optimizer's lr, momentum, dampening, weight_decay and nesterov (as PyTorch's "
             "documentation defines them), keeping the momentum buffer in "
             "state['momentum_buffer']",
             sgd_cases, optimizer_compute, {"update": "the parameter update"}, sgd_mistakes),
    Exercise("cross_entropy_backward", "ops/loss.py", 10,
             "return (dL/dx, None, None) given g = dL/dloss: derive the derivative of the "
             "softmax cross-entropy with respect to the logits, with class weights, ignored "
             "elements and every reduction, from what the forward pass saved",
             cross_entropy_cases, cross_entropy_compute, {"dx": "dL/dlogits"},
             cross_entropy_mistakes),
    Exercise("batch_norm_backward", "ops/norm.py", 15,
             "return (dL/dx, dL/dweight, dL/dbias) given g = dL/dy: in training the batch "
             "mean and variance depend on every x of the channel, in eval mode they are "
             "constants; use what the forward pass saved",
             batch_norm_cases, batch_norm_compute,
             {"dx": "dL/dx", "dweight": "dL/dweight", "dbias": "dL/dbias"},
             batch_norm_mistakes),
    Exercise("adam_step", "optim/adam.py", 10,
             "change the array param IN PLACE by one step of torch.optim.Adam (amsgrad off) "
             "with this optimizer's lr, betas, eps and weight_decay, as PyTorch's documentation "
             "defines it, keeping the step count and both running averages in state",
             adam_cases, optimizer_compute, {"update": "the parameter update"}, adam_mistakes),
    Exercise("conv2d_forward", "ops/conv.py", 10,
             "return y (N, O, OH, OW): cut every window the kernel visits out of the padded x "
             "into the columns of one matrix, save it as self.cols (the backward pass uses "
             "it), multiply the weights as a matrix by it in ONE matrix product, add the bias",
             conv2d_cases, forward_compute("conv2d"), {"out": "the output y"},
             conv2d_forward_mistakes),
    Exercise("max_pool2d_forward", "ops/pool.py", 10,
             "return the maximum of every KH x KW window (N, C, OH, OW) of the padded input "
             "(padded cells never win), and save it as self.out: the backward pass finds each "
             "window's winner by comparing its pixels with it",
             max_pool2d_forward_cases, forward_compute("max_pool2d"), {"out": "the output"},
             max_pool2d_forward_mistakes),
]

BY_NAME = {exercise.name: exercise for exercise in CATALOGUE}


def select(names, catalogue=None):
    """The exercises named (all of `catalogue` for None), in catalogue order; ValueError for a
    typo."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if names is None:
        return list(catalogue)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown exercise {', '.join(unknown)}; the exercises are: "
                         f"{', '.join(BY_NAME)}")
    return [e for e in CATALOGUE if e.name in set(names)]


def cases_of(exercise, seed=SEED):
    """The graded inputs of an exercise for this seed (the same in every process)."""
    return exercise.cases(np.random.default_rng([seed, CATALOGUE.index(exercise)]))


def mistakes_of(exercise, case, expected):
    """{output: {phrase: wrong array}} for this case, without entries that do not apply (None)."""
    if exercise.mistakes is None:
        return {}
    found = exercise.mistakes(case, expected)
    return {key: {phrase: a for phrase, a in variants.items() if a is not None}
            for key, variants in found.items()}
