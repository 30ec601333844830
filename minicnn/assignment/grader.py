"""`minicnn assignment grade`: run the student's package, compare, score, diagnose.

Trusted grading. The student's minicnn runs in its own process (runner.py, PYTHONPATH set to
the copy's folder), never in this one, and only produces arrays: the outputs and gradients of
each exercise on the hidden cases, whose inputs this process draws from the seed in the
instructor's record (record.py) and hands over. Everything that decides points happens here,
with the installed minicnn: the reference values, the comparisons (rtol 1e-6, float64
throughout) and the diagnosis. So nothing the copy does outside its exercises (a gradcheck
that always passes, a patched numpy) can raise its score; the report lists every file changed
outside the exercises all the same.

Partial credit: every graded output (dx, dw, db ...) of every case is one unit; an exercise's
points are shared out over its units. The diagnosis names the wrong output and its likely
mistake. If the student's process dies or hangs, the exercise it was running is charged (a
crash or a timeout) and the remaining ones run in a fresh process.

Outputs: a printed table; `json_path`: Gradescope's results.json; `grade_batch`: a gradebook
CSV with one row per student folder.
"""
import csv
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from minicnn.assignment import diagnose as dx
from minicnn.assignment import record
from minicnn.assignment.exercises import BY_NAME, CATALOGUE, SEED, cases_of, mistakes_of

TIMEOUT = 60         # seconds per exercise
STARTUP = 60         # seconds for the student's process to import minicnn
MAX_RESULT_BYTES = 64 * 2 ** 20   # the largest NAME.npz a student's process may hand back
RUNNER = Path(__file__).with_name("runner.py")
EXERCISES = Path(__file__).with_name("exercises.py")


class GradingError(ValueError):
    """The folder cannot be graded at all (no minicnn package in it ...)."""


def grade(student_dir, seed=None, json_path=None, timeout=TIMEOUT, out=None):
    """Grade the minicnn copy in student_dir; print the score table; write Gradescope's
    results.json to json_path if given; return the exit status: 0 when every exercise passes,
    1 otherwise, 2 when student_dir cannot be graded."""
    out = out or sys.stdout
    try:
        result = grade_copy(find_copy(student_dir), seed, timeout)
    except GradingError as error:
        print(f"minicnn assignment grade: error: {error}", file=sys.stderr)
        return 2
    print_table(result, out)
    if json_path:
        record.write_atomically(json_path, json.dumps(gradescope_results(result), indent=1) + "\n")
    return 0 if all(row["status"] == "pass" for row in result["rows"]) else 1


def find_copy(folder):
    """The student copy in folder: the folder itself, or the one subfolder (at most two levels
    down, as an unpacked upload often is) that holds minicnn/__init__.py."""
    folder = Path(folder).resolve()
    if (folder / "minicnn" / "__init__.py").is_file():
        return folder
    found = sorted({p.parent.parent for pattern in ("*/minicnn/__init__.py",
                                                    "*/*/minicnn/__init__.py")
                    for p in folder.glob(pattern) if ".venv" not in p.parts})
    if len(found) == 1:
        return found[0]
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder; pass the folder of a student copy")
    raise GradingError(f"{folder} holds no minicnn package (expected "
                       f"{folder / 'minicnn' / '__init__.py'}"
                       + (f", found {len(found)} copies inside" if found else "")
                       + "); pass the folder that `minicnn assignment make` wrote")


def grade_copy(root, seed=None, timeout=TIMEOUT):
    """Grade the copy in root -> {"root", "rows", "modified", "note"}; each row: name, points,
    earned, status, diagnosis, outputs ({output: [passed, total]})."""
    instructor = record.load(root)
    exercises = assigned(root, instructor)
    note = ""
    if seed is None and instructor is not None:
        seed = instructor["seed"]
    elif seed is None:
        seed = SEED
        note = ("no instructor's record of this copy here (record.py): graded with the "
                "default seed, and changes outside the exercises cannot be checked")
    modified = record.changed_outside(root, instructor) if instructor else []
    cases = {e.name: cases_of(e, seed) for e in exercises}
    with tempfile.TemporaryDirectory(prefix="minicnn-grade-") as work:
        work = Path(work)
        for name, inputs in cases.items():
            with open(work / f"{name}.cases.pickle", "wb") as file:
                pickle.dump(inputs, file)
        run_student(root, work, list(cases), timeout)
        rows = [score(e, cases[e.name], work, timeout) for e in exercises]
    return {"root": str(root), "rows": rows, "modified": modified, "note": note}


def assigned(root, instructor=None):
    """The exercises of the copy: the instructor's record's, else assignment.json's, else all."""
    names = instructor["exercises"] if instructor else None
    path = root / "assignment.json"
    if names is None and path.is_file():
        try:
            names = json.loads(path.read_text()).get("exercises")
        except (ValueError, AttributeError):
            raise GradingError(f"{path} is not the file `minicnn assignment make` wrote; "
                               f"restore it from the copy you handed out") from None
    names = names or [e.name for e in CATALOGUE]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise GradingError(f"{path} names unknown exercises {', '.join(map(str, unknown))}: it "
                           f"was made by another minicnn version")
    return [BY_NAME[n] for n in names]


def run_student(root, work, names, timeout):
    """Run runner.py in the student's process, from the copy's folder, until every exercise
    has a result."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(root), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               MINICNN_FAST="0")   # the readable ops even in a copy that has the fast twins
    pending = list(names)
    while pending:
        command = [sys.executable, str(RUNNER), str(EXERCISES), str(work), str(timeout), *pending]
        status, stderr = run_limited(command, root, env, work / "student.json",
                                     timeout * len(pending))
        identity = work / "student.json"
        if not identity.is_file():   # a syntax error, say, or a hang at import
            lines = stderr.strip().splitlines()
            reason = (f"it did not finish importing within {STARTUP} s" if status == "timeout"
                      else lines[-1] if lines else f"exit status {status}")
            for name in pending:
                (work / f"{name}.json").write_text(json.dumps({"import_error": reason}))
            return
        imported = Path(json.loads(identity.read_text())["minicnn"])
        if root not in imported.parents:
            raise GradingError(f"the grading process imported minicnn from {imported}, not from "
                               f"{root}; is {root / 'minicnn'} a complete package?")
        finished = [name for name in pending if (work / f"{name}.json").is_file()]
        pending = [name for name in pending if name not in finished]
        if pending:   # the process died or hung in pending[0]: charge it, run the rest again
            verdict = {"timeout": True} if status == "timeout" else {"died": status}
            (work / f"{pending[0]}.json").write_text(json.dumps(verdict))
            pending = pending[1:]


def run_limited(command, root, env, identity, seconds):
    """Run the student's process from the copy's folder: it has STARTUP seconds to import
    minicnn (it then writes `identity`) and `seconds` more to finish. Returns (exit status or
    "timeout", its stderr). A process past its time is killed with every child it started."""
    identity.unlink(missing_ok=True)
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                   stderr=errors, text=True, start_new_session=True)
        started = time.monotonic()
        while process.poll() is None:
            waited = time.monotonic() - started
            if waited > STARTUP + seconds or (waited > STARTUP and not identity.is_file()):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                errors.seek(0)
                return "timeout", errors.read()
            time.sleep(0.05)
        errors.seek(0)
        return process.returncode, errors.read()


def score(exercise, cases, work, timeout):
    """Compare one exercise's arrays with the reference's -> a row of the score table."""
    import minicnn as reference  # the installed package, in this process only

    units = len(cases) * len(exercise.graded)
    row = {"name": exercise.name, "points": exercise.points, "earned": 0,
           "outputs": {key: [0, len(cases)] for key in exercise.graded}}
    try:
        report = json.loads((work / f"{exercise.name}.json").read_text())
        path = work / f"{exercise.name}.npz"
        if path.is_file() and path.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes")
        arrays = dict(np.load(path, allow_pickle=False)) if path.is_file() else {}
    except (OSError, ValueError) as error:
        row["status"], row["diagnosis"] = "crash", f"its results cannot be read ({error})"
        return row
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
    crashes, wrong = [], {key: [] for key in exercise.graded}
    for i, (case, result) in enumerate(zip(cases, report["cases"])):
        if not result["ok"]:
            crashes.append((case["label"], result["error"]))
            continue
        expected = {k: np.asarray(v) for k, v in exercise.compute(reference, case).items()
                    if v is not None}
        mistakes = None
        for key, what in exercise.graded.items():
            got = arrays.get(f"{i}.{key}")
            if dx.close(got, expected.get(key)):
                row["outputs"][key][0] += 1
                continue
            if mistakes is None:        # the typical mistakes, worked out only when needed
                mistakes = mistakes_of(exercise, case, expected)
            wrong[key].append((case["label"], dx.diagnose(
                got, expected[key], what, case.get("constants"), mistakes.get(key),
                exercise.routes)))
    passed = sum(p for p, _ in row["outputs"].values())
    row["earned"] = round(exercise.points * passed / units, 2) if units else 0
    row["status"], row["diagnosis"] = verdict(crashes, wrong, len(cases), exercise.name)
    return row


def crash_phrase(error):
    where = f" at {error['where']}" if error["where"] else ""
    return f"crashes with {error['type']}: {error['message']}{where}"


def verdict(crashes, wrong, n_cases, name):
    """(status, diagnosis): what is wrong, output by output, with the first case that shows it."""
    if not crashes and not any(wrong.values()):
        return "pass", ""
    if len(crashes) == n_cases and all(e["type"] == "NotImplementedError" for _, e in crashes):
        error = crashes[0][1]
        where = f" at {error['where']}" if error["where"] else ""
        other = error["message"].split(":")[0].removeprefix("exercise ")
        if other != name and other in BY_NAME:   # a backward pass stopped in its forward's stub
            return "not implemented", (f"cannot run before exercise {other} is done: its stub "
                                       f"raises NotImplementedError{where}")
        return "not implemented", f"still the stub (NotImplementedError{where})"
    texts = []
    if crashes:
        label, error = crashes[0]
        texts.append(f"{crash_phrase(error)} (case: {label})"
                     + (f"; {len(crashes)} of {n_cases} cases crash" if len(crashes) > 1 else ""))
    for failures in wrong.values():
        if failures:
            label, phrase = failures[0]
            texts.append(f"{phrase} (case: {label})" + (
                f"; wrong in {len(failures)} of {n_cases} cases" if len(failures) > 1 else ""))
    return ("crash" if len(crashes) == n_cases else "FAIL"), "; ".join(texts)


def points(value):
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def print_table(result, out):
    rows = result["rows"]
    print(f"Grading the minicnn in {result['root']}", file=out)
    if result["note"]:
        print(f"note: {result['note']}", file=out)
    width = max(len(r["name"]) for r in rows) + 2
    head = f"{'exercise':<{width}}{'points':>9}  {'status':<17}"
    print(head + "diagnosis", file=out)
    print("-" * 100, file=out)
    for r in rows:
        text = r["diagnosis"] or "-"
        lines = textwrap.wrap(text, max(40, 100 - len(head))) or [""]
        print(f"{r['name']:<{width}}{points(r['earned']) + '/' + str(r['points']):>9}  "
              f"{r['status']:<17}{lines[0]}", file=out)
        for line in lines[1:]:
            print(" " * len(head) + line, file=out)
    print("-" * 100, file=out)
    earned, total = sum(r["earned"] for r in rows), sum(r["points"] for r in rows)
    passed = sum(r["status"] == "pass" for r in rows)
    print(f"{'total':<{width}}{points(earned) + '/' + str(total):>9}  {passed} of {len(rows)} "
          f"exercises pass", file=out)
    if result["modified"]:
        print(textwrap.fill("modified outside the exercises: " + ", ".join(result["modified"]),
                            100, subsequent_indent="    "), file=out)


def gradescope_results(result):
    """Gradescope's results.json: the total score and one test per exercise, its output the
    diagnosis (and how many cases each graded output passed)."""
    tests = []
    for r in result["rows"]:
        by_output = ", ".join(f"{BY_NAME[r['name']].graded[key]}: {p}/{n} cases"
                              for key, (p, n) in r["outputs"].items())
        tests.append({"name": r["name"], "score": r["earned"], "max_score": r["points"],
                      "status": "passed" if r["status"] == "pass" else "failed",
                      "output": (r["diagnosis"] or "correct") + f" [{by_output}]",
                      "visibility": "visible"})
    modified = result["modified"]
    return {"score": round(sum(r["earned"] for r in result["rows"]), 2),
            "output": ("modified outside the exercises: " + ", ".join(modified)) if modified
            else "", "visibility": "visible", "tests": tests,
            "extra_data": {"modified_outside_exercises": modified, "note": result["note"]}}


def grade_batch(submissions, csv_path, seed=None, timeout=TIMEOUT, out=None):
    """Grade every subfolder of submissions (one student copy each) into a gradebook CSV:
    student, one column per exercise (blank for an exercise that is not in the student's copy),
    total, notes. A submission that cannot be graded, crashes,
    hangs or does not import gets its row, with 0 and the reason; the batch never stops.
    Returns the exit status: 0, or 2 when submissions is not a folder."""
    out = out or sys.stdout
    folder = Path(submissions)
    if not folder.is_dir():
        print(f"minicnn assignment grade: error: --batch {submissions} is not a folder; pass "
              f"the folder that holds one folder per student", file=sys.stderr)
        return 2
    students = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    results = {}
    for number, student in enumerate(students, start=1):
        try:
            results[student.name] = grade_copy(find_copy(student), seed, timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as error:   # one student's problem never stops the batch
            results[student.name] = " ".join(str(error).split()) or type(error).__name__
        print(f"[{number}/{len(students)}] {student.name}: {batch_total(results[student.name])}",
              file=out)
    names = [e.name for e in CATALOGUE
             if any(isinstance(r, dict) and e.name in {row["name"] for row in r["rows"]}
                    for r in results.values())]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["student", *names, "total", "notes"])
    for student, result in results.items():
        if isinstance(result, str):
            writer.writerow([student, *[0] * len(names), 0, f"not graded: {result}"])
            continue
        earned = {r["name"]: r["earned"] for r in result["rows"]}   # blank: not in their copy
        writer.writerow([student, *[points(earned[n]) if n in earned else "" for n in names],
                         points(sum(earned.values())), batch_notes(result)])
    record.write_atomically(csv_path, text.getvalue())
    print(f"wrote {csv_path}: {len(results)} students", file=out)
    return 0


def batch_total(result):
    if isinstance(result, str):
        return f"0 ({result})"
    return points(sum(r["earned"] for r in result["rows"])) + "/" + \
        str(sum(r["points"] for r in result["rows"]))


def batch_notes(result):
    """The reasons behind a low score, in a few words: crashes, timeouts, changed files."""
    bad = [r for r in result["rows"] if r["status"] in ("crash", "timeout")]
    reasons = {r["diagnosis"] for r in bad}
    if bad and len(bad) == len(result["rows"]) and len(reasons) == 1:
        notes = [reasons.pop()]
    else:
        notes = [f"{r['name']}: {r['status']} ({r['diagnosis']})" for r in bad]
    if result["modified"]:
        notes.append("modified outside the exercises: " + ", ".join(result["modified"]))
    return "; ".join(notes)
