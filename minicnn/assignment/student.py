"""`minicnn assignment make OUTDIR`: write a student copy of minicnn with exercises to fill in.

OUTDIR/
    minicnn/          the installed package's source; each selected exercise's marked block is
                      a stub raising NotImplementedError with the task, the other blocks keep
                      their code, and no marker comment is left. Loop twins of a selected
                      exercise (same marker name in minicnn/reference) become stubs too, so
                      the copy holds no answer. This kit (minicnn/assignment) is left out.
                      minicnn/fast/ holds only a switch that always picks the readable op
                      (copy_fast.py): the fast twins of conv2d, max-pool and upsample would
                      run instead of the student's code, and they compute the answers.
    tests/            the public tests of each selected exercise (inputs of their own: the
                      graded cases are hidden)
    notebooks/        the tutorials as assignments (notebooks.py), when the tutorials are there
    README.md         what to do, exercise by exercise, and how to set up a fresh environment
    pyproject.toml    installs the copy as "minicnn-student", with a `test` extra (pytest)
    assignment.json   the copy's id and exercises, read by `minicnn assignment grade`

and, in the instructor's folder (record.py), the record of the copy: the seed of its hidden
cases and the SHA-256 of every file written here. `gradescope=True` also writes
OUTDIR-autograder/ and OUTDIR-autograder.zip next to OUTDIR (gradescope.py).
"""
import json
import shutil
from numbers import Integral
from pathlib import Path

from minicnn.assignment import markers, record
from minicnn.assignment.exercises import CATALOGUE, select

PACKAGE = Path(__file__).resolve().parent.parent      # the installed minicnn/
PUBLIC_TESTS = Path(__file__).with_name("public_tests")
SKIPPED = {"__pycache__", "assignment"}                # compiled answers; this kit
FAST = "fast"                                          # the fast twins: replaced by a switch
FAST_SWITCH = Path(__file__).with_name("copy_fast.py")  # ... that always picks the readable op


def available():
    """The exercises whose solution markers the installed source holds, in catalogue order."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        if not SKIPPED & set(path.relative_to(PACKAGE).parts):
            names |= {b.name for b in markers.parse(path.read_text(), str(path))}
    return [e for e in CATALOGUE if e.name in names]


def make(outdir, only=None, force=False, seed=None, gradescope=False):
    """Write the student copy to outdir and the instructor's record of it; return its path.

    only: exercise names to stub (default: all that the source marks; [] stubs none).
    force: write into a non-empty outdir (the copy's own files are replaced, other files are
    left alone). seed: the seed of the hidden graded cases (default: a new random one, kept
    in the record). gradescope: also write the Gradescope autograder next to outdir."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
        raise ValueError(f"the seed of the hidden cases must be a whole number >= 0, got {seed!r}")
    present = available()
    chosen = select(only, present)
    absent = [e.name for e in chosen if e not in present]
    if absent:
        raise ValueError(f"the installed minicnn has no solution markers for "
                         f"{', '.join(absent)}; the exercises it can make are: "
                         f"{', '.join(e.name for e in present)}")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose a new OUTDIR")
    if (out.resolve() / "minicnn") == PACKAGE:
        raise ValueError(f"{out} holds the minicnn package that make copies from; the student "
                         f"copy must go to another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; choose a new OUTDIR or pass --force to "
                              f"write into it")
    if gradescope:
        from minicnn.assignment import gradescope as autograder
        autograder.check_free(out, force)
    if force:   # what an earlier make wrote here: the package, the tests, the notebooks
        for folder in ("minicnn", "tests", "notebooks"):
            shutil.rmtree(out / folder, ignore_errors=True)
    kept = copy_package(PACKAGE, out / "minicnn", {e.name: e for e in chosen})
    tests = out / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PUBLIC_TESTS / "conftest.py", tests / "conftest.py")
    for e in chosen:
        shutil.copyfile(PUBLIC_TESTS / f"{e.name}.py", tests / f"test_{e.name}.py")
    from minicnn.assignment import notebooks
    notebooks.write(out / "notebooks")
    (out / "README.md").write_text(readme(chosen, (out / "notebooks").is_dir()))
    (out / "pyproject.toml").write_text(PYPROJECT)
    copy = {"id": record.new_id(), "exercises": [e.name for e in chosen]}
    (out / "assignment.json").write_text(json.dumps(copy, indent=1) + "\n")
    kept = {f"minicnn/{name}": pieces for name, pieces in kept.items()}
    instructor = {**copy, "seed": record.new_seed() if seed is None else int(seed),
                  "files": record.hashes(out), "kept": kept}
    record.save(instructor)
    if gradescope:
        autograder.write(out, instructor)
    return out


def copy_package(source, target, chosen):
    """Copy the package, stubbing the blocks of the chosen exercises (a dict name -> Exercise)
    in every .py file; return {file with stubs: the record's kept pieces}."""
    kept = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if SKIPPED & set(relative.parts) or path.suffix == ".pyc" or path.is_dir():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if relative.parts[0] == FAST:
            if relative.as_posix() == f"{FAST}/__init__.py":
                shutil.copyfile(FAST_SWITCH, destination)
            continue
        if path.suffix != ".py":
            shutil.copyfile(path, destination)
            continue
        message = lambda block: stub_message(chosen.get(block.name), block,  # noqa: E731
                                             relative.as_posix())
        parts = markers.render_parts(path.read_text(), message, str(path))
        destination.write_text("\n".join("\n".join(lines) for _, lines in parts if lines))
        if len(parts) > 1:
            kept[relative.as_posix()] = record.kept_pieces(parts)
    return kept


def stub_message(exercise, block, file):
    """The text of a block's stub, or None to keep its code (an exercise not chosen)."""
    if exercise is None:
        return None
    if file != exercise.file:
        return (f"exercise {exercise.name}: this loop version of the exercise is left out of "
                f"the student copy (it holds the answer); the version you write, and the one "
                f"minicnn runs, is in minicnn/{exercise.file}")
    return f"exercise {exercise.name}: {exercise.task}"


def readme(chosen, with_notebooks=False):
    intro = ("This folder holds a copy of minicnn, a small deep-learning engine on NumPy, in which "
             "some functions are missing: backward passes, optimizer steps, forward passes. "
             "Each one now raises `NotImplementedError` with its task in the message. Write "
             "them, and the engine trains a U-Net again.") if chosen else (
             "This folder holds a complete copy of minicnn, a small deep-learning engine on "
             "NumPy, with no library exercise in it: use it for the notebooks and your own "
             "experiments.")
    lines = ["# minicnn: back-propagation, written by you", "", intro, "",
             "## Set up (once)", "",
             "In a terminal, in this folder, make an environment of its own for this copy, so "
             "that it never mixes with another minicnn on your computer:", "",
             "```bash",
             "python -m venv .venv",
             ". .venv/bin/activate          # Windows: .venv\\Scripts\\activate",
             "pip install -e \".[test]\"",
             *(["python -m pytest"] if chosen else []),
             "```", "",
             ("The tests fail until you have written the exercises. " if chosen else "")
             + "Come back to this folder and run `. .venv/bin/activate` in each new terminal. "
             "The `minicnn` command is not installed here (so that it never replaces your "
             "teacher's); run it as `python -m minicnn.cli`, e.g. "
             "`python -m minicnn.cli train --help`.", "",
             "Everything in this copy (tests, notebooks, your own scripts) runs the ops in "
             "`minicnn/ops`" + (", the code you write" if chosen else "") + ". minicnn itself "
             "also has fast versions of conv2d, max-pool and upsample in `minicnn/fast/`, which "
             "docstrings and the tutorials mention; this copy leaves them out, so "
             "`mc.set_fast(True)` only warns and the readable ops run.", ""]
    if chosen:
        lines += ["## What to do", "",
                  "1. Open the exercise's file (the table below), find the stub that raises "
                  "`NotImplementedError(\"exercise ...\")` and replace it with your code. Write "
                  "only there: the rest of the copy must stay as it is (grading lists every "
                  "file changed outside the exercises). Read the module's docstring and the "
                  "forward pass next to it first: they give the notation, the shapes and what "
                  "was saved for you on `self`.",
                  "2. Check yourself with the public tests (`python -m pytest`, or one "
                  f"exercise: `python -m pytest tests/test_{chosen[0].name}.py`).",
                  "3. Your teacher grades on other inputs than the public tests, scores every "
                  "output of every case (dx, dw, db ...) on its own, and names the likely "
                  "mistake when one is wrong (transposed, a missing sum over the batch, off by "
                  "a constant factor, wrong sign, a max-pool gradient on the wrong element ...).",
                  ""]
        if any(e.name.endswith("_forward") for e in chosen):
            lines[-1:-1] = ["", "A backward pass runs its forward pass first: where the table "
                            "lists both passes of an op, write the forward one first."]
    if with_notebooks:
        lines += ["## The notebooks", "",
                  "The `notebooks/` folder holds the tutorials as exercises. Install what they "
                  "need once, in the environment above (`pip install -e \".[tutorials]\"`: "
                  "Jupyter and scikit-learn), start `jupyter notebook notebooks`, replace each "
                  "stub (a to-do comment and `raise NotImplementedError`) with your code and run "
                  "the check cell after it; answer the written questions at the end of each "
                  "notebook in their cells.", ""]
    if chosen:
        lines += ["## The exercises", "",
                  "| exercise | file | points | task |", "|---|---|---|---|"]
        lines += [f"| `{e.name}` | `minicnn/{e.file}` | {e.points} | {e.task} |" for e in chosen]
        lines += ["", "A tip: `mc.gradcheck(fn, *inputs)` compares your gradients with "
                  "numerical ones; its report names the first element that differs and the "
                  "ratio of the two (a constant ratio such as 2, -1 or 1/N points at a missing "
                  "factor).", ""]
    return "\n".join(lines)


PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "minicnn-student"     # not "minicnn": installing it never replaces your teacher's minicnn
version = "0.1.0"
description = "minicnn, student copy: the missing functions are yours to write"
requires-python = ">=3.11"
dependencies = ["numpy>=1.26", "scipy>=1.11", "tifffile>=2023.7", "matplotlib>=3.7",
                "tqdm>=4.65", "threadpoolctl>=3.1"]

[project.optional-dependencies]
test = ["pytest>=7"]
tutorials = ["notebook>=7", "scikit-learn>=1.3"]

[tool.setuptools.packages.find]
include = ["minicnn*"]

[tool.setuptools.package-data]
"*" = ["*.tif", "*.md"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
