"""Notebook assignments: the tutorials' solution blocks become stubs with check cells in the
student notebooks, the written answers disappear, and each check names the likely mistake."""
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.assignment import markers, nbcheck, notebooks
from minicnn.assignment.student import make

TUTORIALS = notebooks.TUTORIALS
SOURCES = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
pytestmark = pytest.mark.skipif(not SOURCES, reason="the tutorials are not next to the package")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("MINICNN_HOME", str(home))
    try:
        yield make(tmp_path_factory.mktemp("kit") / "student", only=["relu_backward"])
    finally:
        monkey.undo()


def cells_of(path):
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


def solution_lines(source):
    """The lines of a tutorial's solution blocks (code and written answers) that appear nowhere
    else in it: the ones a student notebook must not hold."""
    inside, outside = set(), set()
    for kind, lines in notebooks.read_percent(source):
        if kind == "code":
            blocks = markers.parse("\n".join(lines), str(source))
            hidden = {k for b in blocks for k in range(b.begin, b.end + 1)}
        else:
            hidden, open_at = set(), None
            for k, line in enumerate(lines):
                if line.strip() == "BEGIN SOLUTION":
                    open_at = k
                elif line.strip() == "END SOLUTION":
                    hidden |= set(range(open_at, k + 1))
        for k, line in enumerate(lines):
            (inside if k in hidden else outside).add(line.strip())
    return {line for line in inside - outside if line and "SOLUTION" not in line}


def test_every_tutorial_has_its_student_notebook(copy):
    assert [p.stem for p in sorted((copy / "notebooks").glob("*.ipynb"))] == \
        [p.stem for p in SOURCES]
    assert {"nbcheck.py", "diagnose.py", "nbcheck.npz"} <= {p.name for p in
                                                            (copy / "notebooks").iterdir()}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_a_student_notebook_holds_no_line_of_a_solution(copy, source):
    cells = cells_of(copy / "notebooks" / f"{source.stem}.ipynb")
    text = "\n".join(body for _, body in cells)
    assert "SOLUTION" not in text
    lines = {line.strip() for line in text.split("\n")}
    answers = solution_lines(source)
    assert answers, "no solution block found in the tutorial"
    assert not answers & lines, answers & lines
    # every stub is followed by its check cell; every written question asks for an answer
    for (kind, body), (_, after) in zip(cells, cells[1:] + [("code", "")]):
        if "raise NotImplementedError" in body:
            assert "# TODO: " in body and "from nbcheck import check" in after, body
    questions = [body for kind, body in cells if kind == "markdown" and "**Question" in body]
    assert 2 <= len(questions) <= 3 and all(notebooks.ANSWER_HERE in q for q in questions)
    notebook = json.loads((copy / "notebooks" / f"{source.stem}.ipynb").read_text())
    assert all(not c.get("outputs") for c in notebook["cells"])


def test_notebooks_are_valid_and_read_as_jupytext_reads_them(copy):
    nbformat = pytest.importorskip("nbformat")
    jupytext = pytest.importorskip("jupytext")
    for source in SOURCES:
        nbformat.validate(nbformat.read(copy / "notebooks" / f"{source.stem}.ipynb", 4))
        theirs = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
        ours = [(kind, "\n".join(lines).strip()) for kind, lines in
                notebooks.read_percent(source)]
        assert ours == theirs, source.name


def solution_cell(name):
    """The instructor's code cell that holds the block `name`."""
    for source in SOURCES:
        for kind, lines in notebooks.read_percent(source):
            text = "\n".join(lines)
            if kind == "code" and f"# BEGIN SOLUTION {name}" in text:
                return text
    raise LookupError(name)


def run_check(copy, name, code):
    namespace = {"mc": mc, "F": F, "np": np, "fraction": 0.05, "pos_weight": 19.0}
    printed = io.StringIO()
    with redirect_stdout(printed):
        try:
            exec(compile(code, name, "exec"), namespace)
        except NotImplementedError:    # a stub at the top level of a cell stops the cell
            pass
        right = nbcheck.check(name, namespace, copy / "notebooks" / "nbcheck.npz")
    return right, " ".join(printed.getvalue().split())


@pytest.mark.parametrize("name", list(notebooks.CHECKS))
def test_each_check_passes_the_answer_and_catches_the_stub(copy, name):
    code = solution_cell(name)
    assert run_check(copy, name, code) == (True, f"{name}: correct")
    stubbed = "\n".join("\n".join(lines) for _, lines in notebooks.student_cells(
        [("code", code.split("\n"))])[:1])
    right, said = run_check(copy, name, stubbed)
    assert not right and "not done yet" in said


@pytest.mark.parametrize("name, wrong, right, words", [
    ("t01_relu", "return g * self.mask", "return -g * self.mask", "dL/dx has the wrong sign"),
    ("t04_training_step", "optimizer.zero_grad()", "pass",
     "never clears the gradients (optimizer.zero_grad())"),
    ("t03_max_pool_backward", "dx[2 * i + a, 2 * j + b] += g[i, j]", "dx[2 * i, 2 * j] += g[i, j]",
     "sends each window's gradient to its top-left pixel"),
    ("t02_output_size", "dilation * (kernel - 1)", "(kernel - 1)", "leaves out the dilation"),
])
def test_a_check_names_the_mistake(copy, name, wrong, right, words):
    code = solution_cell(name)
    assert wrong in code
    ok, said = run_check(copy, name, code.replace(wrong, right, 1))
    assert not ok and words in said, said
