"""minicnn against PyTorch on the same cases, each library in its own processes.

    python benchmarks/compare.py                 # real sizes, 3 alternating runs (minutes)
    python benchmarks/compare.py --quick         # tiny sizes, 1 run: checks that it all works
    python benchmarks/compare.py --reps 5 --cases conv2d,unet --out results.md --json raw.json

How it measures. One run = a child process of minicnn_runner.py that times every case, then a
child of torch_runner.py doing the same (the next run starts with PyTorch, and so on: the
alternation spreads slow phases of the machine over both libraries). No process ever imports
both libraries. A child reports each case's median time over several calls; over the runs the
table shows the median and the range (min-max). The ratio is minicnn / PyTorch of the medians,
with the range of the per-run ratios: below 1, minicnn is faster or leaner. "best" is the ratio
of the fastest calls seen, the least noisy figure on a busy machine.

Peak memory: each memory case runs in a fresh child of its own, which builds the model and data,
trains a few steps and reports its peak resident memory (getrusage ru_maxrss): everything that
process ever held, the library itself included. "base" is the peak before the first step.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_cases

HERE = Path(__file__).resolve().parent
RUNNERS = {"minicnn": HERE / "minicnn_runner.py", "PyTorch": HERE / "torch_runner.py"}


def usable_cores():
    """The cores this process may run on (Linux), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                      # macOS, Windows
        return os.cpu_count()


def run_child(library, keys, full, device, timeout):
    """One runner process for `keys`; returns {key: result}, with an error for each key if the
    process itself fails."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, str(RUNNERS[library]), "--cases", ",".join(keys),
                   "--out", str(out), "--device", device] + (["--full"] if full else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(HERE.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=env)
        except subprocess.TimeoutExpired:
            return {}, {key: dict(error=f"{library} runner timed out after {timeout} s")
                        for key in keys}
        if done.returncode != 0 or not out.exists():
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, {key: dict(error=f"{library} runner failed: {why}") for key in keys}
        report = json.loads(out.read_text())
        return report["meta"], report["results"]


def measure(cases, libraries, reps, full, device, timeout, log):
    """results[library][key] = list of per-run results; meta[library] = the runner's info."""
    shared = [c.key for c in cases if not c.separate_process]
    alone = [c.key for c in cases if c.separate_process]
    results = {lib: {c.key: [] for c in cases} for lib in libraries}
    meta = {}
    for rep in range(reps):
        order = libraries if rep % 2 == 0 else libraries[::-1]
        for library in order:
            for keys in ([shared] if shared else []) + [[key] for key in alone]:
                start = time.perf_counter()
                info, found = run_child(library, keys, full, device, timeout)
                meta[library] = meta.get(library) or info
                for key in keys:
                    results[library][key].append(found.get(key, dict(error="no result")))
                log(f"run {rep + 1}/{reps} {library:8s} {len(keys):2d} case(s) "
                    f"{time.perf_counter() - start:6.1f} s")
    return results, meta


def value_of(case, result):
    """The number a result stands for (seconds, or MB for memory cases), and the best one."""
    if "gpu_peak_mb" in result:                # on the GPU, the GPU memory is what counts
        return result["gpu_peak_mb"], result["gpu_peak_mb"]
    if "peak_mb" in result:
        return result["peak_mb"], result["peak_mb"]
    if "median" in result:
        return result["median"], result["min"]
    return None, None


def unit_of(case, seconds):
    """(name, function value -> figure): MB for memory, MP/s for prediction, else ms or s."""
    if case.op == "unet_memory":
        return "MB", lambda v: v
    if case.op == "predict_tiled":             # throughput: megapixels per second
        return "MP/s", lambda v: case.shape[0] * case.shape[1] / v / 1e6
    return ("ms", lambda v: v * 1e3) if seconds < 1 else ("s", lambda v: v)


def number(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def summarize(case, runs):
    """(text for the table cell, median value, per-run values, best value) of one library."""
    values = [value_of(case, r) for r in runs]
    good = [v for v, _ in values if v is not None]
    if not good:
        first = runs[0] if runs else dict(error="not run")
        why = first.get("skip") and f"skipped: {first['skip']}" or f"error: {first.get('error')}"
        return why.replace("|", "/"), None, [], None
    median = statistics.median(good)
    unit, convert = unit_of(case, median)
    ends = sorted(convert(v) for v in (min(good), max(good)))
    spread = f" ({number(ends[0])}-{number(ends[1])})" if len(good) > 1 else ""
    best = min(b for _, b in values if b is not None)
    return f"{number(convert(median))} {unit}{spread}", median, [v for v, _ in values], best


def ratio_cells(mine, theirs):
    """Ratio of medians, range of per-run ratios, ratio of best calls (all minicnn / PyTorch)."""
    _, m_median, m_runs, m_best = mine
    _, t_median, t_runs, t_best = theirs
    if m_median is None or t_median is None:
        return ["", "", ""]
    paired = [m / t for m, t in zip(m_runs, t_runs) if m is not None and t is not None]
    spread = f"{min(paired):.2f}-{max(paired):.2f}" if len(paired) > 1 else ""
    return [f"{m_median / t_median:.2f}", spread, f"{m_best / t_best:.2f}"]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def source_version():
    """The commit of minicnn measured, and its uncommitted changes (results depend on them)."""
    def git(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=HERE.parent)
        return done.stdout.rstrip() if done.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "minicnn").splitlines()]
    return f"commit {commit}" + (f" + uncommitted changes in {', '.join(changed)}"
                                 if changed else "")


def table(cases, results, meta, reps, full, device, torch_note, load=None):
    libs = list(results)
    mc_meta, t_meta = meta.get("minicnn", {}), meta.get("PyTorch", {})
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS") if k in os.environ}
    lines = [
        f"- date: {datetime.date.today().isoformat()}; CPU: {cpu_name()} ({os.cpu_count()} "
        f"logical cores, {usable_cores()} usable); device: {device}"
        + (f"; 1-min load average {load[0]:.1f} before the runs, {load[1]:.1f} after (the "
           f"runs themselves add up to the thread count)" if load else ""),
        f"- python {platform.python_version()}, numpy {mc_meta.get('numpy', '?')}, "
        f"minicnn {mc_meta.get('minicnn', '?')} ({source_version()}), "
        + (f"torch {t_meta.get('torch', '?')} ({t_meta.get('torch_threads', '?')} threads)"
           if "PyTorch" in libs else f"PyTorch not run ({torch_note})"),
        f"- BLAS (numpy): {', '.join(mc_meta.get('blas', [])) or '?'}; thread "
        f"variables: {threads or 'none set (library defaults)'}",
        f"- {'real' if full else 'TINY (--quick)'} sizes, {reps} alternating run(s) per "
        f"library; cells: median over runs (min-max)"
        + ("; memory: the GPU allocator's peak pool" if device == "cuda" else
           "; memory: peak resident set (ru_maxrss) of the whole process"),
    ]
    if mc_meta.get("unet_parameters") and t_meta.get("unet_parameters") and \
            mc_meta["unet_parameters"] != t_meta["unet_parameters"]:
        lines.append(f"- WARNING: the U-Nets differ: minicnn {mc_meta['unet_parameters']} "
                     f"parameters, PyTorch {t_meta['unet_parameters']}")
    lines += ["", "| case | minicnn | PyTorch | ratio minicnn/PyTorch | ratio range | "
              "best ratio |", "|---|---|---|---|---|---|"]
    for case in cases:
        mine = summarize(case, results["minicnn"][case.key])
        theirs = (summarize(case, results["PyTorch"][case.key]) if "PyTorch" in libs
                  else ("not run", None, [], None))
        lines.append("| " + " | ".join([case.label, mine[0], theirs[0]]
                                       + ratio_cells(mine, theirs)) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one run: a check that everything works")
    parser.add_argument("--reps", type=int, help="alternating runs per library "
                                                 "(default 3, 1 with --quick)")
    parser.add_argument("--cases", default="",
                        help="comma-separated parts of case keys to keep, e.g. conv2d,unet")
    parser.add_argument("--no-torch", action="store_true", help="time minicnn only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per child process")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--json", help="also write the raw per-run results to this file")
    args = parser.parse_args(argv)
    full = not args.quick
    reps = args.reps or (1 if args.quick else 3)
    wanted = [w for w in args.cases.split(",") if w]
    cases = [c for c in bench_cases.all_cases(full)
             if not wanted or any(w in c.key for w in wanted)]
    if not cases:
        parser.error(f"no case matches {args.cases!r}; keys: {', '.join(bench_cases.all_keys())}")
    libraries = ["minicnn"]
    torch_note = "--no-torch"
    if not args.no_torch:
        if importlib.util.find_spec("torch") is not None:   # looks, without importing it
            libraries.append("PyTorch")
        else:
            torch_note = "torch is not installed"

    def log(message):
        print(message, file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    results, meta = measure(cases, libraries, reps, full, args.device, args.timeout, log)
    text = table(cases, results, meta, reps, full, args.device, torch_note,
                 (load_before, os.getloadavg()[0]))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(meta=meta, results=results), indent=1))


if __name__ == "__main__":
    main()
