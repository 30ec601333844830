"""Execute the tutorials and write each tutorials/NN_name.ipynb with its outputs and figures.

    python tools/build_notebooks.py                    # all five, full mode
    python tools/build_notebooks.py 02 04              # some of them (by number or name)
    python tools/build_notebooks.py --quick            # MINICNN_QUICK=1: small and fast, to try
    python tools/build_notebooks.py --check            # only say which notebooks are stale

Needs `pip install ".[tutorials]"` (jupytext, nbclient, ipykernel). Each tutorial's .py source
(jupytext percent format) is read, run top to bottom in a fresh Python kernel (nbclient) in a
scratch folder, with matplotlib's Agg backend, and written next to its source as .ipynb, with
the cell ids of the notebook it replaces, so that the diff shows only what changed. Figures are
PNGs at 90 dpi (minicnn.viz.show); the tool prints each notebook's size and the total.

A tutorial that fails (a cell raises, or runs past --timeout seconds) leaves its old notebook as
it was; the tool goes on with the next one and exits with status 1, naming the failed cell.
MINICNN_NUM_THREADS=1 keeps a build on one core of a shared machine (slower, same outputs).
Full mode takes 3 to 5.5 minutes on 2 shared cores (measured with MINICNN_NUM_THREADS=1: 166 s
on a quiet machine, 252-320 s on a busy one); tutorial 4 is about 60 % of it.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"


def sources(selection):
    """The tutorial sources to build: all NN_*.py, or those whose number or name is selected."""
    found = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    if not selection:
        return found
    chosen = [p for p in found if any(p.stem == s or p.stem[:2] == s.zfill(2) or p.name == s
                                      for s in selection)]
    missing = [s for s in selection if not any(p.stem == s or p.stem[:2] == s.zfill(2) or
                                               p.name == s for p in found)]
    if missing:
        sys.exit(f"build_notebooks: no tutorial {', '.join(missing)}; there are "
                 f"{', '.join(p.stem for p in found)}")
    return chosen


def notebook_from_source(source):
    """The notebook of a .py source, without outputs, reusing the cell ids of the existing
    .ipynb where a cell has the same type at the same place (a small diff)."""
    import jupytext
    import nbformat

    notebook = jupytext.read(source)
    existing = source.with_suffix(".ipynb")
    if existing.exists():
        old = nbformat.read(existing, as_version=4)
        for cell, old_cell in zip(notebook.cells, old.cells):
            if cell.cell_type == old_cell.cell_type and "id" in old_cell:
                cell.id = old_cell.id
    return notebook


def execute(notebook, env, timeout):
    """Run every code cell in a fresh kernel, in a scratch folder; the notebook gets the
    outputs. Raises nbclient's CellExecutionError (with the cell and traceback) on failure."""
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="minicnn-notebook-") as scratch:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env, MINICNN_TUTORIAL_OUT=scratch)   # the kernel inherits these
        try:
            NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": scratch}},
                           record_timing=False).execute()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            os.environ.pop("MINICNN_TUTORIAL_OUT", None)


def write_atomically(notebook, path):
    import nbformat

    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(notebook, f)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def stale(source):
    """True when the .ipynb's cells differ from its source, or it has no outputs at all."""
    import jupytext

    path = source.with_suffix(".ipynb")
    if not path.exists():
        return True
    cells = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
    notebook = jupytext.read(path)
    executed = any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    return cells != [(c.cell_type, c.source.strip()) for c in notebook.cells] or not executed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tutorials", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--quick", action="store_true", help="MINICNN_QUICK=1 (small, fast)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (1800)")
    parser.add_argument("--check", action="store_true",
                        help="build nothing; exit 1 if a notebook is stale or unexecuted")
    args = parser.parse_args(argv)
    try:
        import jupytext, nbclient, nbformat  # noqa: F401,E401
    except ImportError as error:
        sys.exit(f"build_notebooks: {error.name} is missing; install the tutorial tools with "
                 f'pip install ".[tutorials]"')
    chosen = sources(args.tutorials)
    if args.check:
        old = [p.with_suffix(".ipynb").name for p in chosen if stale(p)]
        print("stale: " + ", ".join(old) if old else "every notebook matches its source")
        return 1 if old else 0

    env = {"MPLBACKEND": "Agg", "MINICNN_QUICK": "1" if args.quick else "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    failed, total_start = [], time.perf_counter()
    for source in chosen:
        start = time.perf_counter()
        notebook = notebook_from_source(source)
        try:
            execute(notebook, env, args.timeout)
        except Exception as error:  # CellExecutionError, a timeout, a dead kernel
            failed.append(source.name)
            print(f"FAILED {source.name} after {time.perf_counter() - start:.0f} s; its notebook "
                  f"is left as it was:\n{str(error)[-3000:]}", file=sys.stderr)
            continue
        path = source.with_suffix(".ipynb")
        write_atomically(notebook, path)
        print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.0f} s, "
              f"{path.stat().st_size / 1e3:.0f} kB", flush=True)
    notebooks = [p.with_suffix(".ipynb") for p in sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))]
    size = sum(p.stat().st_size for p in notebooks if p.exists())
    print(f"built {len(chosen) - len(failed)} of {len(chosen)} in "
          f"{time.perf_counter() - total_start:.0f} s ({'quick' if args.quick else 'full'} mode); "
          f"all notebooks together: {size / 1e6:.2f} MB")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
