"""The fast path: the same ops as minicnn/ops, computed in another order for speed.

minicnn/ops holds every op as you derive it: conv2d is `W @ im2col(x) + b`, max-pool's backward a
loop over the kernel offsets. Those are the ops; read them. This package holds twins of the ops
whose straightforward version is too slow for real training on a CPU:

    fast/conv.py    Conv2d, ConvTranspose2d: im2col + GEMM in cache-sized bands on every core
    fast/pool.py    MaxPool2d: winners recorded as one small code per window, images on all cores
    fast/resize.py  UpsampleNearest, UpsampleBilinear: strided sums, sparse interpolation rows

Each twin is a subclass of its readable op and returns the same numbers (bit for bit where the
arithmetic order is the same, to float32 rounding where sums run in another order; see
tests/test_fast.py), on NumPy and CuPy alike. Every other op has no twin: it runs readable.

The switch. `mc.set_fast(False)` runs every op on its readable path from then on; the
environment variable MINICNN_FAST=0 does the same from the start. The fast path is on by
default. The lowercase functions (F.conv2d, F.conv_transpose2d, F.max_pool2d, F.upsample) ask
`choose` which class to run; nothing else changes, and a graph may mix both kinds of nodes.

Start-up. The first time the fast path runs, `start()` imports the twins and makes one change to
the process: `keep_freed_memory()`, explained there.
"""
import ctypes
import os
import sys

FAST_VARIABLE = "MINICNN_FAST"


def _from_environment():
    """MINICNN_FAST: '1' (or unset) for the fast path, '0' for the readable one."""
    setting = os.environ.get(FAST_VARIABLE, "1").strip().lower()
    if setting in ("1", "true", "yes", "on", ""):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"the environment variable {FAST_VARIABLE} must be 1 (fast ops, the "
                     f"default) or 0 (every op on its readable path), got {setting!r}")


_enabled = _from_environment()
_twins = None          # readable class -> fast class, filled by start()


def set_fast(enabled):
    """True: the ops that have a fast twin (conv2d, conv_transpose2d, max_pool2d, upsample) run it.
    False: every op runs its readable version in minicnn/ops. Affects ops called afterwards."""
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"set_fast expects True or False, got {enabled!r}")
    _enabled = enabled


def get_fast():
    """True when the fast path is on (see set_fast)."""
    return _enabled


def choose(readable):
    """The Function class to run for the readable op class `readable`: its fast twin when the fast
    path is on and it has one, else `readable` itself."""
    if not _enabled:
        return readable
    if _twins is None:
        start()
    return _twins.get(readable, readable)


def start():
    """The fast path's start-up, run once on its first use: import the fast twins, and keep freed
    memory for reuse (keep_freed_memory)."""
    global _twins
    from minicnn.fast import conv as fast_conv, pool as fast_pool, resize as fast_resize
    from minicnn.ops import conv, pool, resize
    keep_freed_memory()
    _twins = {conv.Conv2d: fast_conv.Conv2d, conv.ConvTranspose2d: fast_conv.ConvTranspose2d,
              pool.MaxPool2d: fast_pool.MaxPool2d,
              resize.UpsampleNearest: fast_resize.UpsampleNearest,
              resize.UpsampleBilinear: fast_resize.UpsampleBilinear}


def keep_freed_memory():
    """Tell the C allocator to keep freed memory for reuse (glibc, Linux only).

    A training step allocates and frees the same few hundred MB of arrays every time. By default
    glibc hands big freed blocks back to the operating system and asks for them again at the
    next step, and every fresh page then costs a page fault and zeroing: measured 24,000 faults
    and 0.15 s of system time per U-Net step. This sets mallopt M_MMAP_THRESHOLD = 32 MB (below
    it, blocks come from the heap) and M_TRIM_THRESHOLD = never (the heap is not handed back):
    peak memory stays the same, but the process does not shrink after training until it exits.
    Anywhere else (not Linux, not glibc, e.g. musl), nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):                  # not glibc
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3        # from glibc's malloc.h
    mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
