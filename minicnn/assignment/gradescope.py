"""`minicnn assignment make OUTDIR --gradescope`: a ready-to-upload Gradescope autograder.

OUTDIR-autograder/ (and the same files in OUTDIR-autograder.zip, the file to upload):
    setup.sh           installs the instructor's minicnn (the reference, solutions included)
                       in a virtual environment, /autograder/venv, on Python 3.11 or newer
    run_autograder     grades /autograder/submission into /autograder/results/results.json
    reference/         the installed minicnn's source with a pyproject, for setup.sh
    home/assignments/  the instructor's record of the copy (hidden cases' seed, file hashes)

Gradescope copies the zip's files to /autograder/source and runs setup.sh once when it builds
the image, then run_autograder for each submission. The submission is the student's folder
(the copy with their answers), zipped; grade finds the copy inside it. AUTOGRADER_ROOT
(default /autograder) and, for run_autograder, PYTHON (default /autograder/venv/bin/python)
can be set to run the scripts elsewhere, e.g. in a test with a stand-in folder layout.
"""
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent      # the installed minicnn/

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: a virtual environment in
# $ROOT/venv with the instructor's minicnn, on Python 3.11 or newer. Ubuntu 22.04 (Gradescope's
# default image) has Python 3.10 as python3: then python3.11 comes from its packages. Ubuntu
# 24.04 refuses pip installs outside a virtual environment.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PYTHON=python3.11
fi
if ! "$PYTHON" -m venv "$ROOT/venv" 2>/dev/null; then    # that Python, or its venv, is missing
    rm -rf "$ROOT/venv"
    apt-get update
    apt-get install -y "$PYTHON" "$PYTHON-venv"
    "$PYTHON" -m venv "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$ROOT/source/reference"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade it, write results/results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
mkdir -p "$ROOT/results"
PYTHON="${PYTHON:-$ROOT/venv/bin/python}"            # the one setup.sh installed minicnn in
MINICNN_HOME="$ROOT/source/home" "$PYTHON" -m minicnn.cli assignment grade \\
    "$ROOT/submission" --json "$ROOT/results/results.json"
status=$?
if [ "$status" -ge 2 ] || [ ! -f "$ROOT/results/results.json" ]; then
    # the upload holds no copy to grade: say so to the student, with a score of 0
    printf '{"score": 0, "output": "%s", "tests": []}\\n' \\
        "Your upload holds no minicnn copy: zip the folder you were given (with minicnn/ in it)." \\
        > "$ROOT/results/results.json"
fi
exit 0
"""

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "minicnn"
version = "0.1.0"
description = "minicnn, the instructor's reference for the autograder"
requires-python = ">=3.11"
dependencies = ["numpy>=1.26", "scipy>=1.11", "tifffile>=2023.7", "matplotlib>=3.7",
                "tqdm>=4.65", "threadpoolctl>=3.1"]

[tool.setuptools.packages.find]
include = ["minicnn*"]

[tool.setuptools.package-data]
"*" = ["*.tif", "*.md", "*.npz"]
"""


def folder_of(outdir):
    out = Path(outdir)
    return out.parent / f"{out.name}-autograder"


def check_free(outdir, force):
    """Refuse to overwrite an earlier autograder without force (before make writes anything)."""
    folder = folder_of(outdir)
    for path in (folder, folder.with_suffix(".zip")):
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass --force to replace it, or choose "
                                  f"another OUTDIR")


def write(outdir, instructor):
    """Write OUTDIR-autograder/ and OUTDIR-autograder.zip for the copy in outdir; return the
    zip's path."""
    folder = folder_of(outdir)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PACKAGE, folder / "reference" / "minicnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (folder / "reference" / "pyproject.toml").write_text(PYPROJECT)
    records = folder / "home" / "assignments"
    records.mkdir(parents=True)
    (records / f"{instructor['id']}.json").write_text(json.dumps(instructor, indent=1) + "\n")
    for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    archive = folder.with_suffix(".zip")
    handle, temporary = tempfile.mkstemp(prefix=f".{archive.name}-", dir=archive.parent)
    try:
        with os.fdopen(handle, "wb") as file, zipfile.ZipFile(file, "w") as bundle:
            for path in sorted(folder.rglob("*")):
                if path.is_file():    # keeps the scripts' executable bits
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(folder).as_posix())
                    bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        os.replace(temporary, archive)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return archive
