"""`minicnn assignment make OUTDIR`: write a student copy of minicnn with exercises to fill in.

OUTDIR/
    minicnn/          the installed package's source; each selected exercise's marked block is
                      a stub raising NotImplementedError with the task, the other blocks keep
                      their code, and no marker comment is left. Loop twins of a selected
                      exercise (same marker name in minicnn/reference) become stubs too, so
                      the copy holds no answer. This kit (minicnn/assignment) is left out.
    tests/            the public tests of each selected exercise (gradient checks)
    README.md         what to do, exercise by exercise
    pyproject.toml    so that `pip install -e OUTDIR` works (or use PYTHONPATH=OUTDIR)
    assignment.json   the exercises, read by `minicnn assignment grade`
"""
import json
import shutil
from pathlib import Path

from minicnn.assignment import markers
from minicnn.assignment.exercises import CATALOGUE, select

PACKAGE = Path(__file__).resolve().parent.parent      # the installed minicnn/
PUBLIC_TESTS = Path(__file__).with_name("public_tests")
SKIPPED = {"__pycache__", "assignment"}                # compiled answers; this kit


def make(outdir, only=None, force=False):
    """Write the student copy to outdir; return its path.

    only: exercise names to stub (default: all; [] stubs none). force: write into a
    non-empty outdir (the copy's own files are replaced, other files are left alone)."""
    chosen = select(only)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose a new OUTDIR")
    if (out.resolve() / "minicnn") == PACKAGE:
        raise ValueError(f"{out} holds the minicnn package that make copies from; the student "
                         f"copy must go to another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; choose a new OUTDIR or pass --force to "
                              f"write into it")
    if force:   # what an earlier make wrote here: the package and the public tests
        shutil.rmtree(out / "minicnn", ignore_errors=True)
        for e in CATALOGUE:
            (out / "tests" / f"test_{e.name}.py").unlink(missing_ok=True)
    found = copy_package(PACKAGE, out / "minicnn", {e.name: e for e in chosen})
    missing = [e.name for e in CATALOGUE if e.name not in found]
    if missing:
        raise RuntimeError(f"the library has no solution markers for {', '.join(missing)} (in "
                           f"{', '.join(files_of(missing))}); the exercise catalogue and the "
                           f"source disagree")
    tests = out / "tests"
    tests.mkdir(exist_ok=True)
    shutil.copyfile(PUBLIC_TESTS / "conftest.py", tests / "conftest.py")
    for e in chosen:
        shutil.copyfile(PUBLIC_TESTS / f"{e.name}.py", tests / f"test_{e.name}.py")
    (out / "README.md").write_text(readme(chosen))
    (out / "pyproject.toml").write_text(PYPROJECT)
    (out / "assignment.json").write_text(json.dumps(
        {"exercises": [e.name for e in chosen]}, indent=1) + "\n")
    return out


def copy_package(source, target, chosen):
    """Copy the package, stubbing the blocks of the chosen exercises (a dict name -> Exercise)
    in every .py file; return the marker names seen."""
    found = set()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if SKIPPED & set(relative.parts) or path.suffix == ".pyc" or path.is_dir():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".py":
            shutil.copyfile(path, destination)
            continue
        text = path.read_text()
        found |= {block.name for block in markers.parse(text, str(path))}
        message = lambda block: stub_message(chosen.get(block.name), block,  # noqa: E731
                                             relative.as_posix())
        destination.write_text(markers.render(text, message, str(path)))
    return found


def stub_message(exercise, block, file):
    """The text of a block's stub, or None to keep its code (an exercise not chosen)."""
    if exercise is None:
        return None
    if file != exercise.file:
        return (f"exercise {exercise.name}: this loop version of the exercise is left out of "
                f"the student copy; write minicnn/{exercise.file} first")
    return f"exercise {exercise.name}: {exercise.parts.get(block.function, exercise.task)}"


def files_of(names):
    return sorted({e.file for e in CATALOGUE if e.name in names})


def readme(chosen):
    lines = ["# minicnn: back-propagation, written by you", "",
             "This folder holds a copy of minicnn, a small deep-learning engine on NumPy, in which "
             "some backward passes (and the SGD step) are missing. Each one is a function body "
             "that now raises `NotImplementedError` with the task in its message. Write them, "
             "and the engine trains a U-Net again.", "",
             "## What to do", "",
             "1. Open the file, find the stub that raises `NotImplementedError(\"exercise "
             "...\")` and replace it with your code. Read the module's docstring and the "
             "forward pass next to it first: they give the notation, the shapes and what was "
             "saved for you on `self`.",
             "2. Check yourself with the public tests (numerical gradient checks):", "",
             "       python -m pytest tests -q", "",
             "   (from this folder; `tests/conftest.py` puts this copy first on the import path. "
             "Or `pip install -e .`, or `PYTHONPATH=. python ...`.)",
             "3. Your teacher grades with `minicnn assignment grade THIS_FOLDER`, on other inputs "
             "than the public tests, and names the likely mistake when a gradient is wrong "
             "(transposed, a missing sum over the batch, off by a constant factor, wrong sign, "
             "max-pool gradient on the wrong element ...).", "",
             "## The exercises", "",
             "| exercise | file | points | task |", "|---|---|---|---|"]
    for e in chosen:
        lines.append(f"| `{e.name}` | `minicnn/{e.file}` | {e.points} | {e.task} |")
    lines += ["", "A tip: `mc.gradcheck(fn, *inputs)` compares your gradients with numerical "
              "ones; its report names the first element that differs and the ratio of the two "
              "(a constant ratio such as 2, -1 or 1/N points at a missing factor).", ""]
    return "\n".join(lines)


PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "minicnn"
version = "0.1.0"
description = "minicnn, student copy: the backward passes are yours to write"
requires-python = ">=3.11"
dependencies = ["numpy>=1.26", "scipy>=1.11", "tifffile>=2023.7", "matplotlib>=3.7",
                "tqdm>=4.65", "threadpoolctl>=3.1"]

[tool.setuptools.packages.find]
include = ["minicnn*"]

[tool.setuptools.package-data]
"*" = ["*.tif", "*.md"]
"""
