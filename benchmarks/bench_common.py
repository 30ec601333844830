"""What both runner scripts share: the timing loop, peak memory, and the command line.

A runner (`minicnn_runner.py`, `torch_runner.py`) is a separate process that imports ONE
library, times the cases it is asked for and writes JSON. It never imports the other library:
two thread pools (OpenBLAS and PyTorch's OpenMP) in one process slow each other down.

Timing of one case: `warmup` untimed calls (first calls allocate and fill caches), then timed
calls until `min_time` seconds have passed and at least `min_iters` calls are done (or
`max_iters`); the case's time is the MEDIAN of those calls. compare.py repeats whole runs in
alternation and reports the median and the range over the runs.
"""
import argparse
import json
import platform
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

import bench_cases
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


class Missing(Exception):
    """The library does not have what the case needs (yet): the case is skipped, with why."""


def normal_array(shape, seed=0):
    """float32 standard-normal values: both runners feed their library the very same inputs."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def mask_array(shape, seed=1):
    """A float32 0/1 mask, the same in both runners."""
    return (np.random.default_rng(seed).random(shape) > 0.5).astype(np.float32)


def ensure_repo_importable():
    """Let `python benchmarks/x.py` import minicnn from this checkout when it is not installed."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.append(str(REPO_ROOT))


def peak_rss_mb():
    """Largest resident memory of THIS process so far, in MB (Linux reports ru_maxrss in KiB,
    macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def time_calls(run, warmup=1, min_time=0.3, min_iters=3, max_iters=50, sync=None):
    """Median and min of the seconds one call of `run()` takes (see module docstring)."""
    for _ in range(warmup):
        run()
    if sync:
        sync()
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters
                                      or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        run()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return dict(median=statistics.median(times), min=min(times), iters=len(times))


def run_cases(build, keys, full, meta, sync=None, log=None, gpu_peak_mb=None):
    """Build and time each case; a case that is missing or fails is recorded, never fatal.

    `build(case)` returns a function doing one call of the case, or raises Missing.
    Memory cases (`separate_process`) return the peak memory instead of a time: run them alone.
    `gpu_peak_mb()`, given when the cases run on the GPU, reports the GPU memory peak as well.
    """
    results = {}
    for key in keys:
        case = bench_cases.get_case(key, full)
        try:
            run = build(case)
            if case.op == "unet_memory":
                base = peak_rss_mb()       # imports, model and data: before any training step
                losses = [float(run().item()) for _ in range(case.params["steps"])]
                results[key] = dict(peak_mb=peak_rss_mb(), base_mb=base, losses=losses)
                if gpu_peak_mb:            # on the GPU: the allocator's pool at its largest
                    results[key]["gpu_peak_mb"] = gpu_peak_mb()
            elif case.op == "predict_tiled":   # one long call (~100 tiles): no warmup needed
                results[key] = time_calls(run, warmup=0, min_time=0, min_iters=1, max_iters=1,
                                          sync=sync)
            else:
                results[key] = time_calls(run, sync=sync)
        except Missing as why:
            results[key] = dict(skip=str(why))
        except Exception as error:  # a half-written op must not stop the other cases
            results[key] = dict(error=f"{type(error).__name__}: {error}"[:300],
                                traceback=traceback.format_exc()[-2000:])
        if log:
            print(f"  {key}: {results[key]}", file=sys.stderr, flush=True)
    return dict(meta=dict(meta, python=platform.python_version(), full=full), results=results)


def main(library, build, describe, sync=None, gpu_peak_mb=None):
    """The command line of a runner script: which cases, which size, where the JSON goes."""
    parser = argparse.ArgumentParser(description=f"Time the benchmark cases in {library}.")
    parser.add_argument("--cases", default="",
                        help="comma-separated case keys (default: every case that runs in a "
                             "shared process); see bench_cases.py")
    parser.add_argument("--full", action="store_true", help="the real sizes (default: tiny)")
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--verbose", action="store_true", help="print each result to stderr")
    args = parser.parse_args()
    keys = ([k for k in args.cases.split(",") if k] if args.cases else
            [c.key for c in bench_cases.all_cases(args.full) if not c.separate_process])
    report = run_cases(lambda case: build(case, args.device), keys, args.full, describe(),
                       sync=sync, log=args.verbose,
                       gpu_peak_mb=gpu_peak_mb if args.device == "cuda" else None)
    report["meta"].update(library=library, device=args.device)
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
