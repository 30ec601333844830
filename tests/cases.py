"""Helpers that several test modules share: tensors for gradchecks, random convolution
configurations, and the comparison of conv2d / conv_transpose2d with their loop twins."""
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn.reference import conv as reference


def make(array, device="cpu", requires_grad=True, dtype="float64"):
    """A float64 tensor on `device` from a NumPy array (the usual gradcheck input)."""
    return mc.tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad, device=device)


def random_configs(seed, count, transpose, max_out=4):
    """`count` random but valid configurations (dicts), reproducible from `seed`.
    Every setting is drawn per axis, so many configurations are non-square."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        k = tuple(int(v) for v in rng.choice([1, 2, 3, 5], size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        if rng.random() < 0.35:
            s = (1, 1)      # common in practice, and the input gradient takes another route
        p = tuple(int(v) for v in rng.integers(0, 3, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        config = dict(N=int(rng.choice([1, 2])), C=int(rng.integers(1, 4)),
                      O=int(rng.integers(1, 4)), kernel=k, stride=s, padding=p, dilation=d,
                      bias=bool(rng.integers(0, 2)))
        if transpose:
            # input size: anything >= 1; output_padding < stride or < dilation (PyTorch's rule)
            config["size"] = tuple(int(v) for v in rng.integers(1, max_out + 1, size=2))
            config["output_padding"] = tuple(int(rng.integers(0, max(s_, d_)))
                                             for s_, d_ in zip(s, d))
            out = [(n - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + op + 1 for n, s_, p_, d_, k_, op in
                   zip(config["size"], s, p, d, k, config["output_padding"])]
        else:
            # the smallest input the dilated kernel fits in, plus a few windows and a remainder
            span = [d_ * (k_ - 1) + 1 - 2 * p_ for d_, k_, p_ in zip(d, k, p)]
            config["size"] = tuple(max(1, sp + s_ * int(rng.integers(0, max_out)) +
                                       int(rng.integers(0, s_)))
                                   for sp, s_ in zip(span, s))
            out = [(n + 2 * p_ - d_ * (k_ - 1) - 1) // s_ + 1 for n, p_, d_, k_, s_ in
                   zip(config["size"], p, d, k, s)]
        if min(out) >= 1:
            configs.append(config)
    return configs


def config_id(c):
    op = f"-op{c['output_padding']}" if "output_padding" in c else ""
    return (f"N{c['N']}C{c['C']}O{c['O']}-x{c['size']}-k{c['kernel']}-s{c['stride']}"
            f"-p{c['padding']}-d{c['dilation']}{op}{'-bias' if c['bias'] else ''}").replace(" ", "")


def arrays(config, transpose, rng, dtype=np.float64):
    """x, w, b (b is None without bias) as NumPy arrays for a configuration."""
    N, C, O = config["N"], config["C"], config["O"]
    w_shape = (C, O) + config["kernel"] if transpose else (O, C) + config["kernel"]
    x = rng.standard_normal((N, C) + config["size"]).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if config["bias"] else None
    return x, w, b


def settings(config, transpose):
    keys = ("stride", "padding", "dilation") + (("output_padding",) if transpose else ())
    return {k: config[k] for k in keys}


def run_conv(config, transpose, x, w, b):
    """conv2d or conv_transpose2d of x, w, b with the settings of a configuration."""
    op = F.conv_transpose2d if transpose else F.conv2d
    return op(x, w, b, **settings(config, transpose))


CONV_GRADCHECK = random_configs(seed=1, count=25, transpose=False, max_out=3)
TRANSPOSE_GRADCHECK = random_configs(seed=2, count=25, transpose=True, max_out=3)
CONV_REFERENCE = random_configs(seed=3, count=20, transpose=False, max_out=6)
TRANSPOSE_REFERENCE = random_configs(seed=4, count=20, transpose=True, max_out=5)


def check_against_reference(config, transpose, device):
    rng = np.random.default_rng(12)
    x, w, b = arrays(config, transpose, rng)
    tx, tw = make(x, device), make(w, device)
    tb = make(b, device) if b is not None else None
    y = run_conv(config, transpose, tx, tw, tb)
    g = rng.standard_normal(y.shape)
    y.backward(mc.tensor(g, device=device))

    if transpose:
        y_ref = reference.conv_transpose2d_forward(x, w, b, **settings(config, True))
        grads_ref = reference.conv_transpose2d_backward(x, w, g, **settings(config, True))
    else:
        y_ref = reference.conv2d_forward(x, w, b, **settings(config, False))
        grads_ref = reference.conv2d_backward(x, w, g, **settings(config, False))
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=0, atol=1e-10)
    dx, dw, db = grads_ref
    np.testing.assert_allclose(mc.backend.to_numpy(tx.grad), dx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(mc.backend.to_numpy(tw.grad), dw, rtol=0, atol=1e-10)
    if tb is not None:
        np.testing.assert_allclose(mc.backend.to_numpy(tb.grad), db, rtol=0, atol=1e-10)
