"""Runs in the student's own process (started by grader.py, never imported by it):

    PYTHONPATH=STUDENT_DIR python runner.py EXERCISES_PY WORKDIR TIMEOUT NAME [NAME ...]

imports the student's minicnn, and for each exercise reads the hidden cases' inputs that the
grader wrote to WORKDIR/NAME.cases.pickle, and writes to WORKDIR
    NAME.npz        the arrays each case returned, as "<case index>.<output name>"
    NAME.json       per case "ok" or the exception
This process only produces arrays: it decides nothing. The grader compares them with the
reference's in its own process. The exercises run in the order given, so if the process dies,
the grader charges the first one without a NAME.json.
"""
import contextlib
import importlib
import importlib.util
import json
import pickle
import signal
import sys
import traceback
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this script's folder is not a place to import minicnn from

import numpy as np  # noqa: E402


def load_catalogue(path):
    spec = importlib.util.spec_from_file_location("minicnn_exercises", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def describe(error, root):
    """The exception as {type, message, where}: where = the last line of the student's package
    in the traceback (e.g. 'minicnn/ops/activation.py:15')."""
    where = ""
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename).resolve()
        if root / "minicnn" in path.parents and "assignment" not in path.parts:
            where = f"{path.relative_to(root).as_posix()}:{frame.lineno}"
    return {"type": type(error).__name__, "message": " ".join(str(error).split())[:300],
            "where": where}


def on_alarm(signum, frame):
    raise TimeoutError("took longer than the time limit")


def main(exercises_path, workdir, timeout, names):
    workdir = Path(workdir)
    catalogue = load_catalogue(exercises_path)
    import minicnn as mc
    root = Path(mc.__file__).resolve().parent.parent
    # backward() stops at a gradient of the wrong shape; the grader diagnoses it instead
    unchecked = getattr(importlib.import_module("minicnn.tensor"), "gradient_checks",
                        lambda enabled: contextlib.nullcontext())
    (workdir / "student.json").write_text(json.dumps({"minicnn": str(Path(mc.__file__).resolve())}))
    signal.signal(signal.SIGALRM, on_alarm)
    for name in names:
        exercise = catalogue.BY_NAME[name]
        with open(workdir / f"{name}.cases.pickle", "rb") as file:
            cases = pickle.load(file)        # written by the grader, for this process only
        arrays, report = {}, {"cases": []}
        signal.alarm(timeout)
        try:
            for i, case in enumerate(cases):
                try:
                    with unchecked(False):
                        outputs = exercise.compute(mc, case)
                    for key, value in outputs.items():
                        if value is not None:
                            arrays[f"{i}.{key}"] = np.asarray(value, dtype=np.float64)
                    report["cases"].append({"ok": True})
                except TimeoutError:
                    raise
                except Exception as error:  # the student's code: record it, go on
                    report["cases"].append({"ok": False, "error": describe(error, root)})
        except TimeoutError:
            report["timeout"] = True
        finally:
            signal.alarm(0)
        np.savez(workdir / f"{name}.npz", **arrays)
        (workdir / f"{name}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:])
