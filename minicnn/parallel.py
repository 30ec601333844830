"""Threads and scratch buffers for the CPU: the one place where minicnn runs work in parallel.

Why this exists. The heavy part of a CNN is im2col + matrix products (fast/conv.py). NumPy hands
matrix products to OpenBLAS, which runs its own threads. On a small CPU that works badly: the
copying around the products (cutting out windows, adding biases) stays on one core, and
OpenBLAS's threads spin while they wait for work, so when anything else runs on the machine
they fight for the cores (measured on a busy 2-core machine: one convolution went from 0.13 s
to 3.9 s; a U-Net training step from 2.5 s to 17 s).

What we do instead. A fast op (minicnn/fast) cuts its work into independent tasks (one image of
the batch, a band of output rows: see `tasks`) and `run` executes them on a small pool of Python
threads, one per core, with OpenBLAS held to ONE thread meanwhile (threadpoolctl). NumPy releases Python's lock
(the GIL) inside its copies and matrix products, so the threads really do run at the same time.
Each thread takes the next task as soon as it is free (so one that another process slows down
does not hold the rest up), and the results come back in task order: a sum over tasks (a
weight gradient) adds its terms in the same order on every run, so results are reproducible
and do not depend on timing or on the number of threads.

Scratch buffers. A task's big temporary (the im2col matrix of one band of rows) is needed only
while the task runs. `scratch(...)` gives each thread a buffer it keeps and reuses, instead of a
fresh array per task: no allocation, no page faults, and a band small enough to stay in the CPU
cache between the copy that fills it and the matrix product that reads it (BAND_BYTES).

Freed memory is kept: the fast path's start-up (minicnn.fast.start) tells glibc to keep freed
blocks for reuse; see minicnn.fast.keep_freed_memory.

On the GPU (CuPy arrays) everything runs as ONE task over the whole batch, in the calling
thread: the GPU is parallel already and wants the biggest matrix products it can get, and
CuPy's memory pool already reuses memory.

Settings: `set_num_threads(n)` (default: the cores this process may use, or the environment
variable MINICNN_NUM_THREADS); n = 1 runs every task in the calling thread.
"""
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# A task's scratch (its im2col band) aims at about this size: small enough to stay in the CPU's
# cache between the copy that fills it and the matrix product that reads it, large enough that
# the Python work per band does not count (U-Net step on one core, measured: 0.25 MB 1.39 s,
# 1 MB 0.90 s, 4 MB 0.85 s, 16 MB 0.88-0.97 s, whole images 1.02 s).
BAND_BYTES = 4 << 20

_num_threads = None
_pool = None
_blas = None                  # threadpoolctl's controller of the BLAS libraries, made once
_local = threading.local()    # per thread: .buffers (name -> flat array), .is_worker


def default_num_threads():
    """MINICNN_NUM_THREADS if set (a whole number >= 1), else the cores this process may use."""
    setting = os.environ.get("MINICNN_NUM_THREADS", "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise ValueError(f"the environment variable MINICNN_NUM_THREADS must be a whole number "
                             f">= 1 (the threads for the CPU's heavy ops), got {setting!r}; "
                             f"unset it to use every core")
        return int(setting)
    try:
        return len(os.sched_getaffinity(0))      # the cores this process may run on (Linux)
    except AttributeError:
        return os.cpu_count() or 1


def get_num_threads():
    global _num_threads
    if _num_threads is None:
        _num_threads = default_num_threads()
    return _num_threads


def set_num_threads(n):
    """Use n threads for the CPU's heavy ops (1: everything in the calling thread)."""
    global _num_threads, _pool
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    _num_threads, _pool = n, None


def _forget_pool():
    """After fork() the child has no worker threads: make it start its own pool when needed."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def tasks(xp, N, rows=1, bytes_per_row=0):
    """How to cut an op over N images of `rows` output rows each into tasks (n0, n1, r0, r1):
    images n0:n1, output rows r0:r1. On the CPU: one image at a time, in bands of rows whose
    scratch needs about BAND_BYTES (whole images by default); on the GPU: one task for all."""
    if xp is not np:
        return [(0, N, 0, rows)]
    band = max(1, min(rows, BAND_BYTES // max(1, bytes_per_row),
                      N * rows // (2 * get_num_threads())))   # >= 2 tasks per thread if possible
    return [(n, n + 1, r0, min(r0 + band, rows)) for n in range(N) for r0 in range(0, rows, band)]


def run(function, task_list):
    """[function(task) for task in task_list], with the tasks shared out over the threads.

    Each thread (the calling one included) takes the next task not yet taken, until none is
    left, with BLAS limited to one thread meanwhile (also with a single thread: OpenBLAS's own
    threads are what this module replaces). Tasks must be independent: each writes its
    own part of the output. The results come back in task order, whichever thread ran what."""
    threads = min(get_num_threads(), len(task_list))
    if getattr(_local, "is_worker", False):            # called from a task: run inline
        return [function(task) for task in task_list]
    results = [None] * len(task_list)
    next_index = itertools.count()   # next() on it is one C call: atomic under the GIL

    def work():
        _local.is_worker = True                        # a task that calls run() runs inline
        try:
            while (i := next(next_index)) < len(task_list):
                results[i] = function(task_list[i])
        finally:
            _local.is_worker = False

    global _pool, _blas
    if _pool is None and threads > 1:
        _pool = ThreadPoolExecutor(get_num_threads() - 1, thread_name_prefix="minicnn")
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController()
    with _blas.limit(limits=1, user_api="blas"):
        helpers = [_pool.submit(work) for _ in range(threads - 1)]
        try:
            work()                                     # the calling thread works too
        finally:
            for helper in helpers:                     # wait for all before leaving...
                helper.exception()
        for helper in helpers:                         # ... then pass on an error, if any
            helper.result()
    return results


def scratch(xp, shape, dtype, name):
    """An uninitialized array of this shape for the calling thread's own use, reused from call to
    call (one buffer per `name`, grown when too small). Valid until this thread asks for the
    same name again. On the GPU: a fresh xp.empty (CuPy's pool does the reusing)."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    size = 1
    for n in shape:
        size *= n
    flat = buffers.get((name, dtype))
    if flat is None or flat.size < size:
        flat = buffers[(name, dtype)] = xp.empty(size, dtype=dtype)
    return flat[:size].reshape(shape)
