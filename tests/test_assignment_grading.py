"""Trusted grading, hidden cases and the grader's outputs (results.json, the Gradescope
autograder, the gradebook of a whole class).

One student copy is made per module; each test works on its own duplicate of it (same id, so
the instructor's record applies to every duplicate, as it does to a class's submissions).
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import minicnn
from minicnn import cli
from minicnn.assignment import grader, markers, record
from minicnn.assignment.exercises import SEED
from minicnn.assignment.grader import grade, grade_batch
from minicnn.assignment.student import available, make

PACKAGE = Path(minicnn.__file__).parent
POINTS = sum(e.points for e in available())
TAMPERING = {
    "minicnn/gradcheck.py": "\n\ndef gradcheck(*a, **k):\n    return True\n",
    "minicnn/__init__.py": ("\nimport numpy as _np\n_np.allclose = lambda *a, **k: True\n"
                            "_np.array_equal = lambda *a, **k: True\n"
                            "_np.testing.assert_allclose = lambda *a, **k: None\n"),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructor")
    saved = os.environ.get("MINICNN_HOME")
    os.environ["MINICNN_HOME"] = str(folder)
    yield folder
    if saved is None:
        del os.environ["MINICNN_HOME"]
    else:
        os.environ["MINICNN_HOME"] = saved


@pytest.fixture(scope="module")
def base(home, tmp_path_factory):
    return make(tmp_path_factory.mktemp("made") / "copy", seed=1234)


def duplicate(base, folder):
    shutil.copytree(base, folder)
    return folder


def solve(copy, skip=()):
    """Write the reference's code into every stub of the copy (all but the files in skip):
    what a student who gets everything right hands in."""
    for path in sorted((copy / "minicnn").rglob("*.py")):
        name = path.relative_to(copy / "minicnn").as_posix()
        source = PACKAGE / name
        if name not in skip and "raise NotImplementedError(" in path.read_text():
            path.write_text(markers.render(source.read_text(), lambda block: None))
    return copy


def one_line(text):
    return " ".join(text.split())


# ---- trusted grading ----
def test_a_tampered_copy_earns_nothing_and_is_named(base, tmp_path, capsys):
    copy = duplicate(base, tmp_path / "tampered")
    for name, text in TAMPERING.items():
        with open(copy / name, "a") as file:
            file.write(text)
    # the tampering fools the copy's own checks ...
    fooled = subprocess.run([sys.executable, "-c", "import minicnn as mc, numpy as np; "
                             "print(mc.gradcheck(None), np.allclose(1, 2))"], cwd=copy,
                            env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True,
                            text=True)
    assert fooled.stdout.split() == ["True", "True"], fooled.stderr
    # ... but not the grader, which judges in its own process
    assert grade(copy, json_path=tmp_path / "results.json") == 1
    table = one_line(capsys.readouterr().out)
    assert f"total 0/{POINTS} 0 of" in table
    assert "modified outside the exercises: minicnn/__init__.py, minicnn/gradcheck.py" in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 0
    assert results["extra_data"]["modified_outside_exercises"] == ["minicnn/__init__.py",
                                                                   "minicnn/gradcheck.py"]
    assert "minicnn/gradcheck.py" in results["output"]


def test_the_reference_code_in_a_copy_earns_full_marks(base, tmp_path, capsys):
    copy = solve(duplicate(base, tmp_path / "solved"))
    assert grade(copy) == 0
    table = one_line(capsys.readouterr().out)
    assert f"total {POINTS}/{POINTS}" in table and "modified outside" not in table


def test_changes_outside_the_stubs_of_an_exercise_file_are_named(base, tmp_path, capsys):
    copy = solve(duplicate(base, tmp_path / "edited"))
    activation = copy / "minicnn" / "ops" / "activation.py"
    activation.write_text(activation.read_text().replace("class Sigmoid", "class  Sigmoid"))
    (copy / "minicnn" / "ops" / "extra.py").write_text("x = 1\n")
    (copy / "minicnn" / "reference" / "pool.py").unlink()
    (copy / "notebooks").mkdir(exist_ok=True)
    (copy / "notebooks" / "mine.txt").write_text("notes")     # the student's own work: fine
    grade(copy)
    found = one_line(capsys.readouterr().out)
    assert ("modified outside the exercises: minicnn/ops/activation.py, "
            "minicnn/reference/pool.py (deleted), minicnn/ops/extra.py (added)") in found


# ---- hidden cases ----
def test_the_seed_stays_with_the_instructor(base, home, tmp_path):
    kept = json.loads(record.path_of(record.copy_id(base)).read_text())
    assert kept["seed"] == 1234 and record.path_of(kept["id"]).parent == home / "assignments"
    assert set(kept["files"]) == set(record.files_of(base))
    assert "seed" not in (base / "assignment.json").read_text()
    everything = "\n".join(p.read_text(errors="replace") for p in base.rglob("*") if p.is_file())
    assert "1234" not in everything
    other = make(tmp_path / "other", only=["relu_backward"])
    assert record.load(other)["seed"] not in (1234, SEED)   # a new seed for each copy


def test_grading_draws_the_cases_from_the_record_or_from_seed(base, monkeypatch):
    drawn = []
    real = grader.cases_of
    monkeypatch.setattr(grader, "cases_of", lambda e, seed: drawn.append(seed) or real(e, seed))
    grader.grade_copy(base)
    grader.grade_copy(base, seed=99)
    assert set(drawn) == {1234, 99}


def test_the_copy_installs_on_its_own(base):
    project = tomllib.loads((base / "pyproject.toml").read_text())["project"]
    assert project["name"] != "minicnn"          # pip never removes the instructor's minicnn
    assert any(r.startswith("pytest") for r in project["optional-dependencies"]["test"])
    readme = (base / "README.md").read_text()
    assert "python -m venv .venv" in readme and 'pip install -e ".[test]"' in readme
    assert "python -m pytest" in readme


# ---- results.json, Gradescope, the gradebook ----
def test_results_json_follows_gradescope(base, tmp_path, capsys):
    copy = solve(duplicate(base, tmp_path / "partial"), skip={"ops/conv.py"})
    conv = copy / "minicnn" / "ops" / "conv.py"
    reference = markers.render((PACKAGE / "ops" / "conv.py").read_text(), lambda block: None)
    conv.write_text(reference.replace("return dx, dw, db", "return dx, dw, 3 * db", 1))
    assert cli.main(["assignment", "grade", str(copy), "--json", str(tmp_path / "r.json")]) == 1
    results = json.loads((tmp_path / "r.json").read_text())
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests) == {e.name for e in available()}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
    conv_test = tests["conv2d_backward"]
    assert (conv_test["score"], conv_test["max_score"]) == (13.33, 20)
    assert conv_test["output"].startswith("dL/db is off by a constant factor 3")
    assert "dL/dx: 3/3 cases, dL/dw: 3/3 cases, dL/db: 0/3 cases" in conv_test["output"]
    assert results["score"] == round(POINTS - 20 + 13.33, 2) and results["output"] == ""


def test_the_gradescope_autograder_grades_a_submission(home, tmp_path):
    out = make(tmp_path / "kit", only=["relu_backward", "sgd_step"], gradescope=True)
    archive = tmp_path / "kit-autograder.zip"
    root = tmp_path / "autograder"                       # a stand-in for Gradescope's /autograder
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        bundle.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "reference/pyproject.toml",
            f"home/assignments/{record.copy_id(out)}.json"} <= names
    assert "reference/minicnn/assignment/grader.py" in names
    shutil.copytree(solve(out), root / "submission" / "kit")        # uploaded as a folder
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable,
           "MINICNN_HOME": str(tmp_path / "elsewhere")}   # the record comes from source/home
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 20 and len(results["tests"]) == 2
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()                                 # an empty upload
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, timeout=300)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "holds no minicnn copy" in results["output"]
    (tmp_path / "next-autograder.zip").write_text("an earlier one")
    with pytest.raises(FileExistsError, match="next-autograder.zip exists; pass --force"):
        make(tmp_path / "next", gradescope=True)
    assert not (tmp_path / "next").exists()


def test_a_batch_of_three_gives_the_right_gradebook(base, tmp_path):
    submissions = tmp_path / "submissions"
    solve(duplicate(base, submissions / "alice"))
    bob = solve(duplicate(base, submissions / "bob" / "upload"), skip={"ops/activation.py"})
    activation = bob / "minicnn" / "ops" / "activation.py"           # relu wrong, sigmoid right
    text = markers.render((PACKAGE / "ops" / "activation.py").read_text(), lambda block: None)
    activation.write_text(text.replace("return g * self.positive", "return -g * self.positive", 1))
    carol = duplicate(base, submissions / "carol")
    with open(carol / "minicnn" / "__init__.py", "a") as file:
        file.write("\ndef broken(:\n")
    gradebook = tmp_path / "gradebook.csv"
    assert cli.main(["assignment", "grade", "--batch", str(submissions), "--csv",
                     str(gradebook)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(gradebook.open())}
    assert list(rows) == ["alice", "bob", "carol"]
    header = list(next(csv.reader(gradebook.open())))
    assert header == ["student", *[e.name for e in available()], "total", "notes"]
    assert rows["alice"]["total"] == str(POINTS) and rows["alice"]["notes"] == ""
    assert rows["bob"]["relu_backward"] == "0" and rows["bob"]["sigmoid_backward"] == "5"
    assert rows["bob"]["total"] == str(POINTS - 5)
    assert rows["carol"]["total"] == "0"
    assert "the package does not import: SyntaxError" in rows["carol"]["notes"]
    assert "modified outside the exercises: minicnn/__init__.py" in rows["carol"]["notes"]


def test_a_gradebook_leaves_blank_what_a_copy_does_not_have(base, tmp_path):
    """One student hands in another week's copy: its row is blank where its copy has no such
    exercise, not 0 as for an exercise left undone."""
    submissions = tmp_path / "submissions"
    solve(duplicate(base, submissions / "alice"))
    make(submissions / "bob", only=["relu_backward"])
    assert grade_batch(submissions, tmp_path / "book.csv") == 0
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "book.csv").open())}
    assert rows["alice"]["sgd_step"] == "15" and rows["alice"]["total"] == str(POINTS)
    assert rows["bob"]["relu_backward"] == "0" and rows["bob"]["sgd_step"] == ""
    assert rows["bob"]["total"] == "0"


def test_a_batch_survives_a_hang_and_a_folder_without_a_copy(base, tmp_path):
    submissions = tmp_path / "submissions"
    (submissions / "dora").mkdir(parents=True)
    (submissions / "dora" / "notes.txt").write_text("no copy here")
    eve = duplicate(base, submissions / "eve")
    with open(eve / "minicnn" / "__init__.py", "a") as file:
        file.write("\nwhile True:\n    pass\n")
    monkey = pytest.MonkeyPatch()
    monkey.setattr(grader, "STARTUP", 3)
    try:
        assert grade_batch(submissions, tmp_path / "book.csv", timeout=1) == 0
    finally:
        monkey.undo()
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "book.csv").open())}
    assert rows["dora"]["total"] == "0" and "holds no minicnn package" in rows["dora"]["notes"]
    assert rows["eve"]["total"] == "0" and "did not finish importing" in rows["eve"]["notes"]


def test_the_autograder_setup_installs_into_a_venv_on_python_3_11(home, tmp_path):
    """setup.sh on Gradescope's default image (Ubuntu 22.04, whose python3 is 3.10, and where
    python3.11 must first come from apt), in a stand-in layout: stand-ins for python3 (3.10),
    apt-get (records its calls, then 'installs' python3.11) and python3.11 (this Python).
    pip installs minicnn without its dependencies here (numpy and co. are not downloaded): what
    is checked is that minicnn lands in $ROOT/venv on Python >= 3.11 and that run_autograder
    uses that venv."""
    make(tmp_path / "kit", only=["relu_backward"], gradescope=True)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "kit-autograder.zip") as bundle:
        bundle.extractall(root / "source")
    shims, calls = tmp_path / "bin", tmp_path / "apt-calls.txt"
    shims.mkdir()
    base = getattr(sys, "_base_executable", sys.executable)
    scripts = {
        "python3": "exit 1\n",                                     # 3.10: fails the version test
        "python3.11": f'[ -f "{calls}" ] || exit 127\nexec "{base}" "$@"\n',  # after apt only
        "apt-get": f'echo "$@" >> "{calls}"\n'}
    for name, body in scripts.items():
        (shims / name).write_text("#!/bin/sh\n" + body)
        (shims / name).chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{shims}:{os.environ['PATH']}",
           "PIP_NO_DEPS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert calls.read_text().split("\n")[:2] == ["update", "install -y python3.11 python3.11-venv"]
    venv_python = root / "venv" / "bin" / "python"
    found = subprocess.run([str(venv_python), "-c", "import sys, importlib.metadata as m; "
                            "print(sys.version_info >= (3, 11), m.version('minicnn'))"],
                           capture_output=True, text=True)
    assert found.stdout.split() == ["True", "0.1.0"], found.stderr
    run = (root / "source" / "run_autograder").read_text()
    assert '"${PYTHON:-$ROOT/venv/bin/python}"' in run


def test_pip_build_records_in_a_copy_are_not_changes(base, tmp_path, capsys):
    """The copy's README says `pip install -e ".[test]"`, which writes minicnn_student.egg-info/
    into the copy; made over such a folder (--force) and installed again, it must not be named
    as modified outside the exercises."""
    copy = duplicate(base, tmp_path / "installed")
    (copy / "minicnn_student.egg-info").mkdir()
    (copy / "minicnn_student.egg-info" / "PKG-INFO").write_text("Name: minicnn-student\n")
    assert "minicnn_student.egg-info/PKG-INFO" not in record.hashes(copy)
    (copy / "minicnn_student.egg-info" / "PKG-INFO").write_text("Version: 0.2\n")
    assert record.changed_outside(copy, record.load(copy)) == []
