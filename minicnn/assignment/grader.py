"""`minicnn assignment grade STUDENT_DIR`: run the student's package, compare, score, diagnose.

The student's minicnn runs in its own process (runner.py, PYTHONPATH=STUDENT_DIR), never in this
one: two packages named minicnn cannot share a process. It writes each exercise's outputs and
gradients on the fixed inputs of exercises.py to a temporary folder; this process computes the
same with the installed minicnn (the reference) and compares them array by array. A case passes
when every array matches to rtol 1e-6 (float64 throughout); the student's gradcheck must pass too.
Points are shared out over the cases (and the gradcheck) of an exercise.

If the student's process dies or hangs, the exercise it was running is charged (a crash or a
timeout) and the remaining ones run in a fresh process.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from minicnn.assignment import diagnose as dx
from minicnn.assignment.exercises import BY_NAME, CATALOGUE, cases_of

TIMEOUT = 60         # seconds per exercise
STARTUP = 60         # seconds for the student's process to import minicnn
RUNNER = Path(__file__).with_name("runner.py")
EXERCISES = Path(__file__).with_name("exercises.py")


def grade(student_dir, timeout=TIMEOUT, out=None):
    """Grade the minicnn copy in student_dir; print the score table; return the exit status:
    0 when every exercise passes, 1 otherwise, 2 when student_dir holds no minicnn package."""
    out = out or sys.stdout
    root = Path(student_dir).resolve()
    if not (root / "minicnn" / "__init__.py").is_file():
        print(f"minicnn assignment grade: error: {student_dir} holds no minicnn package (expected "
              f"{root / 'minicnn' / '__init__.py'}); pass the folder that `minicnn assignment "
              f"make` wrote", file=sys.stderr)
        return 2
    try:
        exercises = assigned(root)
    except ValueError as error:
        print(f"minicnn assignment grade: error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="minicnn-grade-") as work:
        work = Path(work)
        problem = run_student(root, work, [e.name for e in exercises], timeout)
        if problem:
            print(f"minicnn assignment grade: error: {problem}", file=sys.stderr)
            return 2
        rows = [score(exercise, work, timeout) for exercise in exercises]
    print_table(rows, root, out)
    return 0 if all(row["status"] == "pass" for row in rows) else 1


def assigned(root):
    """The exercises of the copy (assignment.json, written by make), or all of them."""
    path = root / "assignment.json"
    if not path.is_file():
        return list(CATALOGUE)
    names = json.loads(path.read_text()).get("exercises") or [e.name for e in CATALOGUE]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"{path} names unknown exercises {', '.join(unknown)}: it was made by "
                         f"another minicnn version")
    return [BY_NAME[n] for n in names]


def run_student(root, work, names, timeout):
    """Run runner.py in the student's process until every exercise has a result; return an
    error message if the process imported minicnn from somewhere else than root."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(root), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               MINICNN_FAST="0")   # the student's readable ops, not their fast twins (minicnn/fast)
    pending = list(names)
    while pending:
        command = [sys.executable, str(RUNNER), str(EXERCISES), str(work), str(timeout), *pending]
        try:
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                                  timeout=STARTUP + timeout * len(pending))
            status, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as expired:
            status, stderr = "timeout", expired.stderr or ""
        identity = work / "student.json"
        if not identity.is_file():   # a student's syntax error, say: every exercise fails
            lines = (stderr.decode() if isinstance(stderr, bytes) else stderr).strip()
            reason = lines.splitlines()[-1] if lines else f"exit status {status}"
            for name in pending:
                (work / f"{name}.json").write_text(json.dumps({"import_error": reason}))
            return None
        imported = Path(json.loads(identity.read_text())["minicnn"])
        if root not in imported.parents:
            return (f"the grading process imported minicnn from {imported}, not from {root}; "
                    f"is {root / 'minicnn'} a complete package?")
        finished = [name for name in pending if (work / f"{name}.json").is_file()]
        pending = [name for name in pending if name not in finished]
        if pending:   # the process died or hung in pending[0]: charge it, run the rest again
            verdict = {"timeout": True} if status == "timeout" else {"died": status}
            (work / f"{pending[0]}.json").write_text(json.dumps(verdict))
            pending = pending[1:]
    return None


def score(exercise, work, timeout):
    """Compare one exercise's arrays with the reference's -> a row of the score table."""
    import minicnn as reference  # the installed package, in this process only

    report = json.loads((work / f"{exercise.name}.json").read_text())
    row = {"name": exercise.name, "points": exercise.points, "earned": 0}
    if "import_error" in report:
        row["status"], row["diagnosis"] = "crash", (f"the package does not import: "
                                                    f"{report['import_error']}")
        return row
    if "died" in report:
        row["status"], row["diagnosis"] = "crash", (f"the student's process died in this "
                                                    f"exercise (exit status {report['died']})")
        return row
    if report.get("timeout"):   # the runner's alarm, or the process hung
        row["status"], row["diagnosis"] = "timeout", (f"did not finish within {timeout} s (an "
                                                      f"endless loop?)")
        return row
    with np.load(work / f"{exercise.name}.npz") as saved:
        arrays = dict(saved)
    cases = cases_of(exercise)
    failures, passed = [], 0          # (case label, [phrases], error or None), in case order
    for i, (case, result) in enumerate(zip(cases, report["cases"])):
        if not result["ok"]:
            failures.append((case["label"], [crash_phrase(result["error"])], result["error"]))
            continue
        expected = {k: np.asarray(v) for k, v in exercise.compute(reference, case).items()
                    if v is not None}
        wrong, variants = [], None
        for key, want in expected.items():
            got = arrays.get(f"{i}.{key}")
            if not dx.close(got, want):
                if variants is None:        # the typical mistakes, worked out only when needed
                    variants = dx.candidates(exercise.name, case, expected)
                what = exercise.what.get(key, "the forward output (not part of the exercise)")
                wrong.append(dx.diagnose(got, want, what, case.get("constants"),
                                         variants.get(key), exercise.name == "max_pool2d_backward"))
        if wrong:
            failures.append((case["label"], wrong, None))
        else:
            passed += 1
    units = len(cases) + (exercise.gradcheck is not None)
    gradcheck = report.get("gradcheck")
    if gradcheck == "passed":
        passed += 1
    elif gradcheck is not None and not failures:
        failures.append(("gradcheck", [f"the gradient check fails: {gradcheck['message']}"], None))
    row["earned"] = exercise.points * passed // units
    row["status"], row["diagnosis"] = verdict(failures, len(cases))
    return row


def crash_phrase(error):
    where = f" at {error['where']}" if error["where"] else ""
    return f"crashes with {error['type']}: {error['message']}{where}"


def verdict(failures, n_cases):
    """(status, diagnosis): the first failing case's mistakes, and how many cases fail."""
    if not failures:
        return "pass", ""
    errors = [error for _, _, error in failures if error is not None]
    if len(errors) == n_cases and all(e["type"] == "NotImplementedError" for e in errors):
        where = f" at {errors[0]['where']}" if errors[0]["where"] else ""
        return "not implemented", f"still the stub (NotImplementedError{where})"
    label, phrases, _ = failures[0]
    text = "; ".join(list(dict.fromkeys(phrases))[:2]) + f" (case: {label})"
    if len(failures) > 1:
        text += f"; {len(failures)} of {n_cases} cases fail"
    return ("crash" if len(errors) == len(failures) else "FAIL"), text


def print_table(rows, root, out):
    print(f"Grading the minicnn in {root}", file=out)
    width = max(len(r["name"]) for r in rows) + 2
    head = f"{'exercise':<{width}}{'points':>7}  {'status':<17}"
    print(head + "diagnosis", file=out)
    print("-" * 100, file=out)
    for r in rows:
        text = r["diagnosis"] or "-"
        lines = textwrap.wrap(text, max(40, 100 - len(head))) or [""]
        print(f"{r['name']:<{width}}{str(r['earned']) + '/' + str(r['points']):>7}  "
              f"{r['status']:<17}{lines[0]}", file=out)
        for line in lines[1:]:
            print(" " * len(head) + line, file=out)
    print("-" * 100, file=out)
    earned, total = sum(r["earned"] for r in rows), sum(r["points"] for r in rows)
    passed = sum(r["status"] == "pass" for r in rows)
    print(f"{'total':<{width}}{str(earned) + '/' + str(total):>7}  {passed} of {len(rows)} "
          f"exercises pass", file=out)
