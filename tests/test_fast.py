"""The two paths: every fast op (minicnn/fast) equals its readable op (minicnn/ops), and the
switch (mc.set_fast, MINICNN_FAST) really decides which one runs: conv2d, conv_transpose2d,
max_pool2d and upsample (nearest, bilinear).

Compared: outputs and gradients of both paths on the same inputs, bit for bit where both do the
same arithmetic in the same order (max-pool: a maximum is exact), else to float32 rounding
(a convolution's fast path adds its sums band by band, in another order); float64 gradchecks on
both paths; the readable ops against the loop twins in minicnn/reference; and one U-Net
training step on both paths."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
import minicnn.fast
import minicnn.functional as F
from minicnn import parallel
from minicnn.fast import conv as fast_conv, pool as fast_pool, resize as fast_resize
from minicnn.ops import conv, pool, resize
from minicnn.reference import pool as reference_pool, resize as reference_resize
from tests.cases import (CONV_REFERENCE, TRANSPOSE_REFERENCE, arrays, check_against_reference,
                         config_id, make, random_configs, settings)

PATHS = {"fast": True, "readable": False}


@pytest.fixture(params=PATHS)
def path(request):
    """Run the test on the fast path and again on the readable one."""
    before = mc.get_fast()
    mc.set_fast(PATHS[request.param])
    yield request.param
    mc.set_fast(before)


def on_path(fast, compute):
    """compute() with the fast path on or off, the setting restored afterwards."""
    before = mc.get_fast()
    mc.set_fast(fast)
    try:
        return compute()
    finally:
        mc.set_fast(before)


def conv_results(config, transpose, device, dtype):
    """[y, dx, dw, (db)] of one conv2d / conv_transpose2d call and backward, as NumPy arrays,
    and the class of the Function that ran."""
    rng = np.random.default_rng(7)
    x, w, b = arrays(config, transpose, rng, dtype)
    tensors = [make(a, device, dtype=dtype) for a in (x, w, b) if a is not None]
    op = F.conv_transpose2d if transpose else F.conv2d
    y = op(*tensors, **settings(config, transpose))
    y.backward(mc.tensor(rng.standard_normal(y.shape).astype(dtype), device=device))
    return [y.numpy()] + [mc.backend.to_numpy(t.grad) for t in tensors], type(y.creator)


# ---- each fast op equals its readable op ----
@pytest.mark.parametrize("transpose", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("seed", range(12))
def test_fast_conv_equals_readable_conv(seed, transpose, device):
    """float32, random settings (stride, padding, dilation, output_padding, odd sizes): the same
    numbers to float32 rounding (the fast path splits the sums over pixels into bands)."""
    [config] = random_configs(seed=100 + seed, count=1, transpose=transpose, max_out=7)
    fast, fast_class = on_path(True, lambda: conv_results(config, transpose, device, np.float32))
    slow, slow_class = on_path(False, lambda: conv_results(config, transpose, device, np.float32))
    readable = conv.ConvTranspose2d if transpose else conv.Conv2d
    assert slow_class is readable
    assert issubclass(fast_class, readable) and fast_class is not readable
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(np.abs(b).max(), 1))


POOL_CASES = [((2, 3, 8, 8), 2, None, 0), ((1, 2, 7, 9), 3, 2, 1), ((2, 1, 9, 6), (3, 2), (2, 1),
              (1, 1)), ((1, 2, 5, 5), 2, 1, 0), ((1, 1, 6, 7), (1, 3), (1, 2), (0, 1))]


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CASES, ids=str)
def test_fast_max_pool_equals_readable_bit_for_bit(shape, kernel, stride, padding, ties, device):
    """A maximum is exact and both paths send g to the first maximum: identical bits, also with
    many ties (values 0, 1, 2, as after ReLU) and overlapping, padded windows."""
    rng = np.random.default_rng(3)
    x_np = rng.integers(0, 3, size=shape).astype(np.float32) if ties else \
        rng.standard_normal(shape).astype(np.float32)

    def run():
        x = make(x_np, device, dtype=np.float32)
        y = F.max_pool2d(x, kernel, stride, padding)
        y.backward(mc.tensor(np.random.default_rng(4).standard_normal(y.shape)
                             .astype(np.float32), device=device))
        return y.numpy(), mc.backend.to_numpy(x.grad), type(y.creator)

    fast, slow = on_path(True, run), on_path(False, run)
    assert fast[2] is fast_pool.MaxPool2d and slow[2] is pool.MaxPool2d
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    if ties:   # and both send g where the loop twin does (it adds overlaps in another order)
        g = np.random.default_rng(4).standard_normal(fast[0].shape).astype(np.float32)
        np.testing.assert_allclose(slow[1], reference_pool.max_pool2d_backward(
            x_np, g, kernel, stride, padding), rtol=1e-6, atol=1e-7)


def test_ties_go_to_the_first_maximum_as_in_torch(path):
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(5).integers(0, 2, size=(2, 3, 7, 7)).astype(np.float64)
    x = make(x_np)
    y = F.max_pool2d(x, 3, 2, 1)
    g = np.random.default_rng(6).standard_normal(y.shape)
    y.backward(g)
    tx = torch.tensor(x_np, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 3, 2, 1).backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


UPSAMPLE_CASES = [  # (x shape, scale_factor, mode, align_corners)
    ((2, 3, 5, 4), 2, "nearest", False), ((1, 2, 3, 5), (3, 2), "nearest", False),
    ((2, 3, 5, 4), 2, "bilinear", False), ((1, 2, 3, 5), (3, 2), "bilinear", True),
    ((1, 1, 1, 4), (2, 3), "bilinear", False)]


def upsample_results(case, device, dtype):
    shape, scale, mode, align = case
    rng = np.random.default_rng(13)
    x = make(rng.standard_normal(shape), device, dtype=dtype)
    y = F.upsample(x, scale, mode=mode, align_corners=align)
    y.backward(mc.tensor(rng.standard_normal(y.shape).astype(dtype), device=device))
    return y.numpy(), mc.backend.to_numpy(x.grad), type(y.creator)


@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=str)
def test_fast_upsample_equals_readable_upsample(case, device):
    """float32: the same numbers to rounding (dense matrices and reshape-sums against sparse rows
    and strided sums add the same terms in another order)."""
    fast = on_path(True, lambda: upsample_results(case, device, np.float32))
    slow = on_path(False, lambda: upsample_results(case, device, np.float32))
    readable = resize.UpsampleNearest if case[2] == "nearest" else resize.UpsampleBilinear
    assert slow[2] is readable and issubclass(fast[2], readable) and fast[2] is not readable
    for a, b in zip(fast[:2], slow[:2]):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=str)
def test_readable_upsample_matches_loop_reference(case, device):
    shape, scale, mode, align = case
    y, dx, _ = on_path(False, lambda: upsample_results(case, device, np.float64))
    rng = np.random.default_rng(13)
    x, g = rng.standard_normal(shape), rng.standard_normal(y.shape)
    if mode == "nearest":
        expected = (reference_resize.nearest_forward(x, scale),
                    reference_resize.nearest_backward(x, g, scale))
    else:
        expected = (reference_resize.bilinear_forward(x, scale, align),
                    reference_resize.bilinear_backward(x, g, scale, align))
    np.testing.assert_allclose(y, expected[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, expected[1], rtol=1e-12, atol=1e-14)


# ---- float64 gradients on both paths ----
GRADCHECK_CONV = [  # (x shape, w shape, stride, padding, dilation)
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1), ((1, 2, 9, 8), (3, 2, 3, 2), (2, 3), (1, 0), (1, 2)),
    ((2, 1, 5, 7), (2, 1, 2, 3), 2, 0, 1), ((1, 3, 6, 5), (2, 3, 1, 1), 1, 0, 1)]
GRADCHECK_TRANSPOSE = [  # (x shape, w shape, stride, padding, output_padding, dilation)
    ((2, 3, 3, 4), (3, 2, 2, 2), 2, 0, 0, 1), ((1, 2, 4, 3), (2, 3, 3, 3), 2, 1, 1, 1),
    ((1, 2, 3, 3), (2, 2, 3, 2), (1, 3), (0, 1), (0, 2), (2, 1))]


@pytest.mark.parametrize("case", GRADCHECK_CONV, ids=str)
def test_conv2d_gradcheck_on_both_paths(case, path, device):
    xs, ws, stride, padding, dilation = case
    rng = np.random.default_rng(8)
    x, w, b = (make(rng.standard_normal(s), device) for s in (xs, ws, ws[:1]))
    assert mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), x, w, b)


@pytest.mark.parametrize("case", GRADCHECK_TRANSPOSE, ids=str)
def test_conv_transpose2d_gradcheck_on_both_paths(case, path, device):
    xs, ws, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(9)
    x, w, b = (make(rng.standard_normal(s), device) for s in (xs, ws, ws[1:2]))
    assert mc.gradcheck(lambda x, w, b: F.conv_transpose2d(
        x, w, b, stride, padding, output_padding, dilation), x, w, b)


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CASES, ids=str)
def test_max_pool2d_gradcheck_on_both_paths(shape, kernel, stride, padding, path, device):
    rng = np.random.default_rng(10)   # distinct values 0.1 apart: a nudge never changes a winner
    x = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1
    assert mc.gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding), make(x, device))


@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=str)
def test_upsample_gradcheck_on_both_paths(case, path, device):
    shape, scale, mode, align = case
    x = make(np.random.default_rng(14).standard_normal(shape), device)
    assert mc.gradcheck(lambda t: F.upsample(t, scale, mode=mode, align_corners=align), x)


# ---- the readable ops against the loop twins ----
@pytest.mark.parametrize("config", CONV_REFERENCE, ids=config_id)
def test_readable_conv2d_matches_loop_reference(config, device):
    on_path(False, lambda: check_against_reference(config, False, device))


@pytest.mark.parametrize("config", TRANSPOSE_REFERENCE, ids=config_id)
def test_readable_conv_transpose2d_matches_loop_reference(config, device):
    on_path(False, lambda: check_against_reference(config, True, device))


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CASES, ids=str)
def test_readable_max_pool2d_matches_loop_reference(shape, kernel, stride, padding, device):
    x_np = np.random.default_rng(11).integers(0, 3, size=shape).astype(np.float64)  # ties
    x = make(x_np, device)
    y = on_path(False, lambda: F.max_pool2d(x, kernel, stride, padding))
    g = np.random.default_rng(12).standard_normal(y.shape)
    y.backward(mc.tensor(g, device=device))
    np.testing.assert_array_equal(
        y.numpy(), reference_pool.max_pool2d_forward(x_np, kernel, stride, padding))
    np.testing.assert_allclose(   # overlapping windows: sums in another order, ~1e-16 apart
        mc.backend.to_numpy(x.grad),
        reference_pool.max_pool2d_backward(x_np, g, kernel, stride, padding), rtol=1e-12,
        atol=1e-15)


# ---- the switch ----
def test_set_fast_chooses_the_function_class_in_the_graph():
    x, w = make(np.ones((1, 2, 6, 6))), make(np.ones((3, 2, 3, 3)))
    wt = make(np.ones((3, 2, 2, 2)))
    expected = {True: (fast_conv.Conv2d, fast_pool.MaxPool2d, fast_conv.ConvTranspose2d),
                False: (conv.Conv2d, pool.MaxPool2d, conv.ConvTranspose2d)}
    for fast, classes in expected.items():
        def graph():
            y = F.conv2d(x, w, padding=1)
            p = F.max_pool2d(y, 2)
            return y, p, F.conv_transpose2d(p, wt, stride=2), F.avg_pool2d(y, 2)
        *nodes, avg = on_path(fast, graph)
        assert tuple(type(t.creator) for t in nodes) == classes
        assert type(avg.creator) is pool.AvgPool2d         # no fast twin: readable on both paths
    for mode, readable, twin in [("nearest", resize.UpsampleNearest, fast_resize.UpsampleNearest),
                                 ("bilinear", resize.UpsampleBilinear,
                                  fast_resize.UpsampleBilinear)]:
        assert type(on_path(True, lambda: F.upsample(x, 2, mode)).creator) is twin
        assert type(on_path(False, lambda: F.upsample(x, 2, mode)).creator) is readable
    assert mc.get_fast() is True                           # on by default


def test_set_fast_checks_its_argument():
    with pytest.raises(TypeError, match="True or False, got 'no'"):
        mc.set_fast("no")


def test_fast_ops_carry_no_solution_markers():
    folder = os.path.dirname(minicnn.fast.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            text = open(os.path.join(folder, name)).read()
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name


def run_python(code, **environment):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **environment}, timeout=120)


def test_minicnn_fast_0_runs_the_readable_ops():
    code = ("import numpy as np, minicnn as mc, minicnn.functional as F\n"
            "x = mc.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)\n"
            "y = F.max_pool2d(F.conv2d(x, mc.tensor(np.ones((1, 1, 3, 3)))), 2)\n"
            "print(mc.get_fast(), type(y.creator).__module__, "
            "type(y.creator.inputs[0].creator).__module__)")
    assert run_python(code, MINICNN_FAST="0").stdout.split() == [
        "False", "minicnn.ops.pool", "minicnn.ops.conv"]
    assert run_python(code, MINICNN_FAST="1").stdout.split() == [
        "True", "minicnn.fast.pool", "minicnn.fast.conv"]
    wrong = run_python("import minicnn", MINICNN_FAST="maybe")
    assert "MINICNN_FAST must be 1 (fast ops, the default) or 0" in wrong.stderr
    assert "'maybe'" in wrong.stderr


def test_start_up_runs_once_on_first_use_and_not_inside_parallel_run(monkeypatch):
    """keep_freed_memory (glibc's mallopt) is the fast path's start-up step: run by
    minicnn.fast.start the first time a fast op is chosen, never by parallel.run."""
    calls = []
    monkeypatch.setattr(minicnn.fast, "_twins", None)
    monkeypatch.setattr(minicnn.fast, "keep_freed_memory", lambda: calls.append(1))
    parallel.run(lambda task: task, [1, 2, 3])
    assert calls == []
    x = make(np.ones((1, 1, 4, 4)))
    on_path(True, lambda: [F.max_pool2d(x, 2), F.max_pool2d(x, 2)])
    assert calls == [1]


# ---- a whole training step ----
def unet_step(fast, device):
    """Loss before and after one SGD step of a small U-Net, and the first conv's weight
    gradient, on the fast or the readable path (float32, seeded)."""
    def step():
        mc.manual_seed(0)
        net = mc.models.UNet(1, 1, base_channels=4, depth=2).to(device)
        optimizer = mc.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(0)
        x = mc.tensor(rng.standard_normal((2, 1, 24, 24)).astype(np.float32), device=device)
        t = mc.tensor((rng.random((2, 1, 24, 24)) < 0.3).astype(np.float32), device=device)
        loss = F.binary_cross_entropy_with_logits(net(x), t)
        optimizer.zero_grad()
        loss.backward()
        grad = mc.backend.to_numpy(next(net.parameters()).grad).copy()
        optimizer.step()
        return loss.item(), F.binary_cross_entropy_with_logits(net(x), t).item(), grad
    return on_path(fast, step)


def test_unet_training_step_is_the_same_on_both_paths(device):
    fast, readable = unet_step(True, device), unet_step(False, device)
    assert fast[1] < fast[0]                                   # the step lowered the loss
    np.testing.assert_allclose(fast[:2], readable[:2], rtol=1e-5)
    np.testing.assert_allclose(fast[2], readable[2], rtol=1e-4, atol=1e-5 * np.abs(fast[2]).max())
