"""The exercise catalogue: what each exercise asks, where it lives, and how it is graded.

Each exercise is one or more marked blocks in the library (see markers.py). Grading runs
`compute(mc, case)` on fixed seeded inputs twice: with the student's package in its own process
and with the installed reference here, then compares every returned array. Because the same
`compute` runs on both sides, this file imports no minicnn: it gets the package as the argument
`mc`. The runner (runner.py) loads it by file path in the student's process.

A case is a dict: "label" (what the score table shows), input arrays, settings, and "constants"
(numbers a wrong answer is often off by, e.g. the batch size) for the diagnosis.
"""
from dataclasses import dataclass, field

import numpy as np

SEED = 20240601


@dataclass
class Exercise:
    name: str           # the marker name, e.g. "relu_backward"
    file: str           # the graded file, relative to the package, e.g. "ops/activation.py"
    points: int
    task: str           # one sentence: the stub's message and the README's line
    cases: object       # rng -> list of case dicts
    compute: object     # (mc, case) -> {output name: array or None}
    gradcheck: object = None  # (mc, rng) -> None; raises if the student's gradients fail
    what: dict = field(default_factory=dict)  # output name -> words for the table
    parts: dict = field(default_factory=dict)  # helper function -> its own task, when the
    #                                            exercise has blocks in several functions


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _ties(rng, *shape):
    """Whole numbers 0..2: many windows hold several equal maxima."""
    return rng.integers(0, 3, size=shape).astype(np.float64)


def _grad(t):
    return None if t.grad is None else np.asarray(t.grad)


def _float64(mc, a):
    return mc.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def unary_compute(op):
    """compute(mc, case) for an op of one tensor: out = mc.functional.<op>(x, **settings), and
    dx from backward(g)."""
    def compute(mc, case):
        x = _float64(mc, case["x"])
        y = getattr(mc.functional, op)(x, **case.get("settings", {}))
        y.backward(case["g"])
        return {"out": y.numpy(), "dx": _grad(x)}
    return compute


# ---- elementwise ----
def elementwise_cases(rng):
    return [{"label": f"x {shape}", "x": _normal(rng, *shape), "g": _normal(rng, *shape),
             "constants": {}} for shape in [(4, 5), (2, 3, 4, 4)]]


def relu_gradcheck(mc, rng):
    mc.gradcheck(mc.functional.relu, _float64(mc, _normal(rng, 3, 4)))


def sigmoid_gradcheck(mc, rng):
    mc.gradcheck(mc.functional.sigmoid, _float64(mc, _normal(rng, 3, 4)))


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


def matmul_gradcheck(mc, rng):
    mc.gradcheck(lambda a, b: a @ b, _float64(mc, _normal(rng, 2, 3, 4)),
                 _float64(mc, _normal(rng, 4, 2)))


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
                      "constants": {"the batch size N": N, "the output size OH*OW": OH * OW,
                                    "N*OH*OW": N * OH * OW}})
    return cases


def conv2d_compute(mc, case):
    x, w, b = _float64(mc, case["x"]), _float64(mc, case["w"]), _float64(mc, case["b"])
    y = mc.functional.conv2d(x, w, b, **case["settings"])
    y.backward(case["g"])
    return {"out": y.numpy(), "dx": _grad(x), "dw": _grad(w), "db": _grad(b)}


def conv2d_gradcheck(mc, rng):
    mc.gradcheck(lambda x, w, b: mc.functional.conv2d(x, w, b, stride=2, padding=1),
                 _float64(mc, _normal(rng, 2, 2, 5, 5)), _float64(mc, _normal(rng, 3, 2, 3, 3)),
                 _float64(mc, _normal(rng, 3)))


# ---- max_pool2d ----
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
                      "settings": settings, "constants": {"the window size KH*KW": k * k}})
    return cases


def max_pool2d_gradcheck(mc, rng):
    mc.gradcheck(lambda x: mc.functional.max_pool2d(x, 2), _float64(mc, _normal(rng, 1, 2, 4, 4)))


# ---- upsample ----
def upsample_cases(mode):
    def cases(rng):
        configs = [((2, 3, 3, 4), 2, False), ((1, 2, 3, 3), (3, 2), True)]
        result = []
        for shape, scale, align in configs:
            SH, SW = (scale, scale) if isinstance(scale, int) else scale
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


def upsample_gradcheck(mode):
    def check(mc, rng):
        mc.gradcheck(lambda x: mc.functional.upsample(x, 2, mode=mode),
                     _float64(mc, _normal(rng, 1, 2, 3, 3)))
    return check


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


def bce_gradcheck(mc, rng):
    t = (rng.random((2, 1, 3, 3)) < 0.5).astype(np.float64)
    mc.gradcheck(lambda x: mc.functional.binary_cross_entropy_with_logits(x, t),
                 _float64(mc, _normal(rng, 2, 1, 3, 3)))


# ---- SGD ----
def sgd_cases(rng):
    settings = [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                dict(lr=0.05, momentum=0.9, nesterov=True),
                dict(lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01)]
    return [{"label": "SGD(" + ", ".join(f"{k}={v}" for k, v in s.items()) + ")",
             "p": _normal(rng, 3, 4), "grads": _normal(rng, 3, 3, 4), "settings": s,
             "constants": {"the learning rate": s["lr"]}} for s in settings]


def sgd_compute(mc, case):
    """Three steps with fixed gradients; the output is each step's change of the parameter."""
    p = _float64(mc, case["p"])
    optimizer = mc.optim.SGD([p], **case["settings"])
    before, updates = p.numpy().copy(), []
    for grad in case["grads"]:
        p.grad = grad.copy()
        optimizer.step()
        updates.append(p.numpy() - before)
        before = p.numpy().copy()
    return {"update": np.stack(updates)}


CATALOGUE = [
    Exercise("relu_backward", "ops/activation.py", 5,
             "return dL/dx given g = dL/dout (shaped like x); the slope of ReLU is 1 where x > 0, "
             "else 0 (the forward pass saved self.positive = x > 0)",
             elementwise_cases, unary_compute("relu"), relu_gradcheck, {"dx": "dL/dx"}),
    Exercise("sigmoid_backward", "ops/activation.py", 5,
             "return dL/dx given g = dL/dout; the forward pass saved self.out = s = sigmoid(x), "
             "and ds/dx can be written with s alone",
             elementwise_cases, unary_compute("sigmoid"), sigmoid_gradcheck, {"dx": "dL/dx"}),
    Exercise("matmul_backward", "ops/basic.py", 10,
             "return (dL/da, dL/db) for out = a @ b given g = dL/dout (..., n, m): the matrix "
             "calculus of C = AB on the last two axes, summed back over batch axes that "
             "broadcasting added (see unbroadcast), with a 1-D a a row and a 1-D b a column",
             matmul_cases, matmul_compute, matmul_gradcheck, {"da": "dL/da", "db": "dL/db"}),
    Exercise("conv2d_backward", "ops/conv.py", 20,
             "return (dx, dw, db) given g = dL/dy (N, O, OH, OW) and the saved self.x, self.w: "
             "dw and db (g summed over all axes but the channel axis; None without a bias) from "
             "conv_weight_grad, dx from conv2d_input_grad; write those two helpers first (above; "
             "conv_transpose2d uses them too)",
             conv2d_cases, conv2d_compute, conv2d_gradcheck,
             {"dx": "dL/dx", "dw": "dL/dw", "db": "dL/db"},
             {"conv_weight_grad":
              "return (dw, db): dw = dL/dw as a matrix (O, C*KH*KW) = g cols^T, where cols = "
              "im2col(x, kernel, stride, padding, dilation, g.shape[2:]) (C*KH*KW, N*OH*OW) and "
              "g is laid out as channel rows (O, N*OH*OW) (see channel_rows); db = dL/db (O,) "
              "if bias, else None",
              "conv2d_input_grad":
              "return dL/dx (N, C, H, W) = col2im(W^T g), with W the weights as a matrix "
              "(O, C*KH*KW) and g as channel rows (O, N*OH*OW); col2im sends every column back "
              "to its window, for any stride, padding and dilation"}),
    Exercise("max_pool2d_backward", "ops/pool.py", 15,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, OH, OW): each window's gradient "
             "goes to its maximum only, the FIRST one in row-major order on ties (self.winner "
             "holds its kernel offset k = i*KW + j), and overlapping windows add up",
             max_pool2d_cases, unary_compute("max_pool2d"), max_pool2d_gradcheck,
             {"dx": "dL/dx"}),
    Exercise("upsample_nearest_backward", "ops/resize.py", 10,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, H*SH, W*SW): each input pixel "
             "was copied into an SH x SW block of the output (self.scale = (SH, SW)), so its "
             "gradient collects g from that whole block",
             upsample_cases("nearest"), unary_compute("upsample"), upsample_gradcheck("nearest"),
             {"dx": "dL/dx"}),
    Exercise("upsample_bilinear_backward", "ops/resize.py", 5,
             "return dL/dx (N, C, H, W) given g = dL/dout (N, C, OH, OW): the forward pass "
             "computed out = A_h x A_w^T along the two axes, so multiply g by the transposed "
             "matrices, whose sparse rows apply_rows takes from self.A_h and self.A_w",
             upsample_cases("bilinear"), unary_compute("upsample"), upsample_gradcheck("bilinear"),
             {"dx": "dL/dx"}),
    Exercise("bce_backward", "ops/loss.py", 10,
             "return (dL/dx, None, None) given g = dL/dloss: the per-element derivative of the "
             "loss with respect to the logit (derived in the class docstring, pos_weight "
             "included), times g spread back over the elements as the reduction asks (_expand)",
             bce_cases, bce_compute, bce_gradcheck, {"dx": "dL/dlogits"}),
    Exercise("sgd_step", "optim/sgd.py", 15,
             "change the array param IN PLACE by one SGD step with this optimizer's lr, "
             "momentum, dampening, weight_decay and nesterov, keeping the momentum buffer in "
             "state['momentum_buffer'] (the module docstring gives the update rules)",
             sgd_cases, sgd_compute, None, {"update": "the parameter update"}),
]

BY_NAME = {exercise.name: exercise for exercise in CATALOGUE}


def select(names):
    """The exercises named (all of them for None), in catalogue order; ValueError for a typo."""
    if names is None:
        return list(CATALOGUE)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown exercise {', '.join(unknown)}; the exercises are: "
                         f"{', '.join(BY_NAME)}")
    return [e for e in CATALOGUE if e.name in set(names)]


def cases_of(exercise):
    """The fixed inputs of an exercise (the same in every process: a seeded generator)."""
    return exercise.cases(np.random.default_rng([SEED, CATALOGUE.index(exercise)]))


def gradcheck_rng(exercise):
    return np.random.default_rng([SEED, CATALOGUE.index(exercise), 1])
