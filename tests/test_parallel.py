"""minicnn.parallel and the banded convolution built on it: the way the work is cut (bands of
one row, whole images, one task for the whole batch as on the GPU) and the number of threads
must not change results; run() keeps task order, passes errors on and runs nested calls inline;
scratch buffers are reused."""
import threading

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import parallel
from tests.cases import CONV_REFERENCE, TRANSPOSE_REFERENCE, check_against_reference, config_id

PLANS = ["one-row bands", "whole batch"]


@pytest.fixture
def plan(request, monkeypatch):
    """Cut every convolution into bands of a single output row, or into one task for the whole
    batch (the GPU's plan, here on NumPy)."""
    if request.param == "one-row bands":
        monkeypatch.setattr(parallel, "BAND_BYTES", 1)
    else:
        monkeypatch.setattr(parallel, "tasks", lambda xp, N, rows=1, bytes_per_row=0:
                            [(0, N, 0, rows)])
    return request.param


@pytest.mark.parametrize("plan", PLANS, indirect=True)
@pytest.mark.parametrize("config", CONV_REFERENCE[:10], ids=config_id)
def test_conv2d_any_plan_matches_loop_reference(config, plan):
    check_against_reference(config, False, "cpu")


@pytest.mark.parametrize("plan", PLANS, indirect=True)
@pytest.mark.parametrize("config", TRANSPOSE_REFERENCE[:10], ids=config_id)
def test_conv_transpose2d_any_plan_matches_loop_reference(config, plan):
    check_against_reference(config, True, "cpu")


def conv_step(threads, band_bytes, monkeypatch):
    """Output and gradients of a float32 conv2d + conv_transpose2d with these settings."""
    monkeypatch.setattr(parallel, "BAND_BYTES", band_bytes)
    parallel.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        x = mc.tensor(rng.standard_normal((3, 5, 20, 17), dtype=np.float32), requires_grad=True)
        w = mc.tensor(rng.standard_normal((6, 5, 3, 3), dtype=np.float32), requires_grad=True)
        wt = mc.tensor(rng.standard_normal((6, 4, 2, 2), dtype=np.float32), requires_grad=True)
        y = F.conv_transpose2d(F.relu(F.conv2d(x, w, padding=1)), wt, stride=2)
        y.backward(rng.standard_normal(y.shape, dtype=np.float32))
        return [y.data, x.grad, w.grad, wt.grad]
    finally:
        parallel.set_num_threads(parallel.default_num_threads())


def test_thread_count_does_not_change_a_single_bit(monkeypatch):
    """Each thread gets a fixed share of the bands and the weight gradient adds the bands' shares
    in band order, so 1, 2 or 3 threads give identical float32 results."""
    one = conv_step(1, 2000, monkeypatch)
    for threads in (2, 3):
        for a, b in zip(one, conv_step(threads, 2000, monkeypatch)):
            assert np.array_equal(a, b)


def test_band_size_changes_only_rounding(monkeypatch):
    small, whole = conv_step(2, 1, monkeypatch), conv_step(2, 1 << 30, monkeypatch)
    for a, b in zip(small, whole):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_band_plan_covers_every_row_once():
    for rows, bytes_per_row in [(1, 10), (7, 1), (256, 4096), (33, parallel.BAND_BYTES // 4)]:
        tasks = parallel.tasks(np, 3, rows, bytes_per_row)
        for n in range(3):
            covered = [r for n0, n1, r0, r1 in tasks if (n0, n1) == (n, n + 1)
                       for r in range(r0, r1)]
            assert covered == list(range(rows))
    assert parallel.tasks(np, 4) == [(n, n + 1, 0, 1) for n in range(4)]


def test_run_keeps_order_passes_errors_and_runs_nested_calls_inline():
    parallel.set_num_threads(3)
    try:
        assert parallel.run(lambda t: t * t, list(range(10))) == [t * t for t in range(10)]
        barrier = threading.Barrier(3, timeout=10)  # passes only if 3 tasks run at once

        def where(t):
            if t % 2 == 0:                          # 3 tasks that wait for each other
                barrier.wait()
            return threading.current_thread().name
        names = parallel.run(where, list(range(6)))
        assert len(set(names)) == 3 and len(set(names[0::2])) == 3   # on 3 threads at once
        nested = parallel.run(lambda t: parallel.run(lambda u: (t, u), [0, 1]), [0, 1, 2])
        assert nested == [[(t, 0), (t, 1)] for t in range(3)]

        def fail(t):
            if t == 4:
                raise ValueError("task 4 failed")
            return t
        with pytest.raises(ValueError, match="task 4 failed"):
            parallel.run(fail, list(range(6)))
        assert parallel.run(lambda t: t, [1, 2]) == [1, 2]   # still usable afterwards
    finally:
        parallel.set_num_threads(parallel.default_num_threads())


def test_scratch_is_reused_per_name_and_grows():
    a = parallel.scratch(np, (4, 5), np.float32, "test a")
    b = parallel.scratch(np, (2, 3), np.float32, "test a")
    assert b.base is a.base                         # the same memory, a smaller view
    c = parallel.scratch(np, (4, 5), np.float32, "test b")
    assert not np.shares_memory(a, c)               # another name, another buffer
    d = parallel.scratch(np, (10, 10), np.float32, "test a")
    assert d.shape == (10, 10) and d.dtype == np.float32


def test_set_num_threads_checks_its_argument():
    with pytest.raises(ValueError, match="int >= 1"):
        parallel.set_num_threads(0)


@pytest.mark.parametrize("setting", ["many", "0", "-2", "1.5"])
def test_minicnn_num_threads_must_be_a_whole_number(setting, monkeypatch):
    monkeypatch.setenv("MINICNN_NUM_THREADS", setting)
    with pytest.raises(ValueError, match=rf"MINICNN_NUM_THREADS must be a whole number >= 1.*"
                                         rf"got '{setting}'; unset it to use every core"):
        parallel.default_num_threads()
    monkeypatch.setenv("MINICNN_NUM_THREADS", " 3 ")
    assert parallel.default_num_threads() == 3


def test_set_num_threads_is_public_and_used():
    """mc.set_num_threads(n) (like torch.set_num_threads) decides how many threads share the
    bands: with 1, every task runs in the calling thread."""
    seen = set()
    try:
        mc.set_num_threads(1)
        assert mc.get_num_threads() == 1
        parallel.run(lambda task: seen.add(threading.get_ident()), list(range(8)))
        assert seen == {threading.get_ident()}
        mc.set_num_threads(2)
        assert mc.get_num_threads() == 2
    finally:
        mc.set_num_threads(parallel.default_num_threads())


@pytest.mark.parametrize("plan", PLANS, indirect=True)
def test_max_pool2d_any_plan_matches_loop_reference(plan):
    from minicnn.reference import pool as reference
    x = np.random.default_rng(3).integers(0, 3, size=(3, 2, 7, 6)).astype(np.float64)  # ties
    for kernel, stride, padding in [(2, 2, 0), (3, 2, 1)]:
        t = mc.tensor(x, requires_grad=True)
        y = F.max_pool2d(t, kernel, stride, padding)
        g = np.random.default_rng(4).standard_normal(y.shape)
        y.backward(g)
        np.testing.assert_array_equal(y.numpy(), reference.max_pool2d_forward(x, kernel, stride,
                                                                               padding))
        np.testing.assert_array_equal(t.grad, reference.max_pool2d_backward(x, g, kernel, stride,
                                                                            padding))


@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((3, 3), (1, 1), (1, 1), (1, 1)), ((3, 2), (2, 1), (0, 2), (1, 2)),
    ((1, 1), (1, 1), (0, 0), (1, 1)), ((5, 3), (3, 2), (2, 1), (2, 1))])
def test_band_columns_are_the_im2col_columns_of_their_rows(kernel, stride, padding, dilation):
    """What conv_gemm and conv_weight_grad multiply, band by band, is exactly the matching
    slice of the whole-batch im2col matrix, for every band (incl. those touching the padding)."""
    from minicnn.fast.conv import band_columns
    from minicnn.ops.conv import im2col
    from minicnn.ops.geometry import conv_output_size
    x = np.random.default_rng(4).standard_normal((2, 3, 11, 9))
    OH, OW = (conv_output_size(n, k, s, p, d) for n, k, s, p, d in
              zip(x.shape[2:], kernel, stride, padding, dilation))
    for n in range(2):
        whole = im2col(x[n:n + 1], kernel, stride, padding, dilation, (OH, OW))  # (K, OH*OW)
        for r0 in range(OH):
            for r1 in range(r0 + 1, OH + 1):
                cols = band_columns(x, (n, n + 1, r0, r1), kernel, stride, padding, dilation, OW)
                np.testing.assert_array_equal(cols[0], whole[:, r0 * OW:r1 * OW])
