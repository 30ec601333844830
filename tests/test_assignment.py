"""The course-assignment kit: solution markers, the student copy, the grader and its diagnoses.

Mistakes are planted the way a student would make them: write a student copy, replace the stub
of one exercise with wrong code, grade it, and check that the score table names the mistake.
"""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import cli
from minicnn.assignment import diagnose, markers
from minicnn.assignment.exercises import CATALOGUE, cases_of, mistakes_of, select
from minicnn.assignment.grader import grade
from minicnn.assignment.student import available, make

PACKAGE = Path(minicnn.__file__).parent
# the forward exercises' markers come with the readable conv/pool ops (issue 13); until that
# branch is merged their entries exist but make cannot stub them, and their tests skip
AWAITING_MARKERS = {"conv2d_forward", "max_pool2d_forward"}
AVAILABLE = available()
POINTS = sum(e.points for e in AVAILABLE)


@pytest.fixture(autouse=True)
def instructor_home(tmp_path_factory, monkeypatch):
    """The instructor's records go to a temporary folder, never to ~/.minicnn."""
    monkeypatch.setenv("MINICNN_HOME", str(tmp_path_factory.getbasetemp() / "minicnn-home"))
STUB = re.compile(r"(?P<indent> *)raise NotImplementedError\(\n?(\s*\"[^\n]*\"\)?\n?)+")


def plant(out, *answers):
    """A student copy whose exercises are the (exercise, code) answers, each stub replaced by
    its code (at the stub's indentation)."""
    make(out, only=[exercise for exercise, _ in answers])
    for exercise, code in answers:
        path = out / "minicnn" / select([exercise])[0].file
        text = path.read_text()
        [stub] = [m for m in STUB.finditer(text) if f"exercise {exercise}:" in m.group(0)]
        body = "".join(stub["indent"] + line + "\n" for line in code.strip("\n").split("\n"))
        path.write_text(text[:stub.start()] + body + text[stub.end():])
    return out


def graded(out, capsys, **kwargs):
    status = grade(out, **kwargs)
    return status, " ".join(capsys.readouterr().out.split())   # one line: wrapping undone


def rows(table):
    """{exercise: its row of a one-line table}."""
    names = "|".join(e.name for e in CATALOGUE)
    return {m[1]: m[0] for m in re.finditer(rf"({names}) .*?(?= (?:{names}) |-----)", table)}


def marked_blocks():
    """(file relative to the package, Block, the block's code lines) for the whole source."""
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().split("\n")
        for block in markers.parse("\n".join(lines), str(path)):
            yield path.relative_to(PACKAGE), block, lines[block.begin + 1:block.end]


# ---- markers ----
def test_every_exercise_has_its_block_and_every_block_its_exercise():
    graded_files = {(b.name, f.as_posix()) for f, b, _ in marked_blocks()}
    names = {e.name for e in CATALOGUE}
    assert {name for name, _ in graded_files} <= names
    for exercise in CATALOGUE:
        if exercise.name in AWAITING_MARKERS and exercise not in AVAILABLE:
            continue
        assert (exercise.name, exercise.file) in graded_files, exercise.name
    required = {"matmul_backward", "relu_backward", "sigmoid_backward", "conv2d_backward",
                "max_pool2d_backward", "upsample_nearest_backward", "bce_backward", "sgd_step",
                "cross_entropy_backward", "batch_norm_backward", "adam_step"}
    assert required <= {e.name for e in AVAILABLE}


@pytest.mark.parametrize("name", sorted(AWAITING_MARKERS))
def test_forward_exercises_are_marked(name):
    if name not in {e.name for e in AVAILABLE}:
        pytest.skip(f"{name}: its solution markers come with the readable ops of issue 13")
    assert name in {b.name for _, b, _ in marked_blocks()}


@pytest.mark.parametrize("exercise", CATALOGUE, ids=lambda e: e.name)
def test_every_listed_mistake_differs_from_the_reference(exercise):
    """The kit as data: each mistake an entry names must really be a wrong answer on every case
    it is listed for (else the diagnosis could name a mistake for a right answer)."""
    listed = 0
    for case in cases_of(exercise, seed=3):
        expected = {k: np.asarray(v) for k, v in exercise.compute(minicnn, case).items()
                    if v is not None}
        for key, variants in mistakes_of(exercise, case, expected).items():
            assert key in exercise.graded, (exercise.name, key)
            for phrase, wrong in variants.items():
                listed += 1
                assert not diagnose.close(wrong, expected[key]), (exercise.name, phrase,
                                                                  case["label"])
    no_mistakes = {"matmul_backward", "upsample_bilinear_backward"}
    assert listed > 0 or exercise.name in no_mistakes, exercise.name


def test_render_stubs_selected_blocks_and_removes_every_marker():
    text = ("def f(x):\n    # BEGIN SOLUTION twice\n    return 2 * x\n    # END SOLUTION\n\n"
            "def g(x):\n    # BEGIN SOLUTION square\n    y = x * x\n    return y\n"
            "    # END SOLUTION\n")
    message = "exercise twice: " + "return two times x, " * 8 + "as \"twice\" says"
    rendered = markers.render(text, lambda b: message if b.name == "twice" else None)
    assert "SOLUTION" not in rendered and "2 * x" not in rendered and "y = x * x" in rendered
    assert max(len(line) for line in rendered.split("\n")) <= 100
    namespace = {}
    exec(compile(rendered, "rendered", "exec"), namespace)
    assert namespace["g"](3) == 9
    with pytest.raises(NotImplementedError) as error:
        namespace["f"](1)
    assert str(error.value) == message
    assert [b.function for b in markers.parse(text)] == ["f", "g"]
    unmarked = [line for line in text.split("\n") if "SOLUTION" not in line]
    assert markers.render(text, lambda block: None) == "\n".join(unmarked)


def test_a_comment_may_follow_a_marker():
    text = "def f(g):\n    # BEGIN SOLUTION f_part  # why\n    return g  # slope 1\n" \
           "    # END SOLUTION        # trailing words\n"
    [block] = markers.parse(text)
    assert (block.name, block.begin, block.end, block.function) == ("f_part", 1, 3, "f")
    assert markers.render(text, lambda b: None) == "def f(g):\n    return g  # slope 1\n"


@pytest.mark.parametrize("text, words", [
    ("# BEGIN SOLUTION a\n# BEGIN SOLUTION b\n# END SOLUTION\n", "do not nest"),
    ("x = 1\n# END SOLUTION\n", "without a BEGIN"),
    ("# BEGIN SOLUTION a\nx = 1\n", "never closed"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "needs an exercise name"),
])
def test_malformed_markers_are_refused(text, words):
    with pytest.raises(ValueError, match=words):
        markers.parse(text, "f.py")


# ---- the student copy ----
@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    return make(tmp_path_factory.mktemp("kit") / "student")


def test_student_copy_holds_no_answers(student_copy):
    copy = "\n".join(p.read_text() for p in (student_copy / "minicnn").rglob("*.py"))
    assert "BEGIN SOLUTION" not in copy and "END SOLUTION" not in copy
    assert not list(student_copy.rglob("__pycache__")) and not list(student_copy.rglob("*.pyc"))
    assert not (student_copy / "minicnn" / "assignment").exists()
    # a line of a solution is an answer unless the library also has it outside every block
    outside = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        lines = text.split("\n")
        inside = {k for b in markers.parse(text) for k in range(b.begin, b.end + 1)}
        outside |= {line.strip() for k, line in enumerate(lines) if k not in inside}
    answers = {e.name: set() for e in AVAILABLE}
    for _, block, body in marked_blocks():
        answers[block.name] |= {line.strip() for line in body if line.strip() and
                                not line.strip().startswith(("#", '"""'))} - outside
    copy_lines = {line.strip() for line in copy.split("\n")}
    for name, lines in answers.items():
        assert lines, f"{name}: no line of its solution is distinctive enough to look for"
        assert not lines & copy_lines, (name, lines & copy_lines)


def test_student_copy_imports_and_its_exercises_raise(student_copy, capsys):
    # grading runs the copy in its own process: every exercise stops at its stub
    status, table = graded(student_copy, capsys)
    assert status == 1
    assert table.count("not implemented") == len(AVAILABLE)
    assert f"0/{POINTS} 0 of {len(AVAILABLE)} exercises pass" in table
    assert "still the stub (NotImplementedError at minicnn/ops/activation.py:" in table
    assert ("conv2d_backward 0/20 not implemented cannot run before exercise conv2d_forward is "
            "done: its stub raises NotImplementedError at minicnn/ops/conv.py:") in table
    message = subprocess.run(
        [sys.executable, "-c", "import minicnn as mc, minicnn.functional as F;"
         "x = mc.tensor([1.0, -1.0], requires_grad=True); F.relu(x).sum().backward()"],
        cwd=student_copy, env={**os.environ, "PYTHONPATH": str(student_copy)},
        capture_output=True, text=True)
    assert "NotImplementedError: exercise relu_backward: return dL/dx" in message.stderr


READABLE_OR_FAST = """
import warnings
import numpy as np
import minicnn as mc, minicnn.functional as F
x = mc.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
ops = {"conv2d": lambda: F.conv2d(x, mc.tensor(np.ones((1, 1, 3, 3)))),
       "max_pool2d": lambda: F.max_pool2d(x, 2),
       "upsample": lambda: F.upsample(x, scale_factor=2).sum().backward()}
for name, op in ops.items():
    try:
        op()
        print(name, "ran")
    except NotImplementedError as stub:
        print(name, str(stub).split(":")[0])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    mc.set_fast(True)
print("get_fast", mc.get_fast(), "warned:", [str(w.message) for w in caught])
"""


def test_the_copy_runs_the_ops_the_student_writes(student_copy):
    """By default, with no MINICNN_FAST set, a copy runs its readable ops (the stubs), not the
    fast twins of conv2d, max-pool and upsample: those are left out of the copy (they compute the
    exercises' answers). The instructor's minicnn keeps its fast path on."""
    assert sorted(p.name for p in (student_copy / "minicnn" / "fast").iterdir()) == \
        ["__init__.py"]
    env = {k: v for k, v in os.environ.items() if k not in ("MINICNN_FAST", "PYTHONPATH")}
    run = lambda folder: subprocess.run(  # noqa: E731
        [sys.executable, "-c", READABLE_OR_FAST], cwd=folder, capture_output=True, text=True,
        env={**env, "PYTHONPATH": str(folder)})
    student = run(student_copy)
    assert student.returncode == 0, student.stderr
    assert student.stdout.split("\n")[:3] == ["conv2d exercise conv2d_forward",
                                              "max_pool2d exercise max_pool2d_forward",
                                              "upsample exercise upsample_nearest_backward"]
    assert "get_fast False warned: ['this student copy of minicnn has no fast ops" in \
        student.stdout
    library = run(PACKAGE.parent)
    assert library.stdout.split("\n")[:3] == ["conv2d ran", "max_pool2d ran", "upsample ran"]
    assert "get_fast True warned: []" in library.stdout
    conftest = (student_copy / "tests" / "conftest.py").read_text()
    assert "MINICNN_FAST" not in conftest      # the copy needs no switch to test its own ops
    readme = " ".join((student_copy / "README.md").read_text().split())
    assert "runs the ops in `minicnn/ops`, the code you write" in readme
    assert "this copy leaves them out, so `mc.set_fast(True)` only warns" in readme


def test_the_copy_holds_no_derivation_of_an_exercise(student_copy):
    loss = (student_copy / "minicnn" / "ops" / "loss.py").read_text()
    assert "w s - p t" not in loss and "softmax_ic - [c == y]" not in loss
    assert "(Left out: working this out is part of exercise bce_backward.)" in loss
    sgd = (student_copy / "minicnn" / "optim" / "sgd.py").read_text()
    assert "(1 - dampening) * g" not in sgd


def test_public_tests_fail_on_stubs_and_pass_on_the_reference(student_copy, tmp_path):
    """The public tests of the copy fail on its stubs; moved next to a complete copy, they pass."""
    run = lambda folder: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"],
        cwd=folder, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    failing = run(student_copy)
    assert failing.returncode == 1 and "NotImplementedError" in failing.stdout
    complete = make(tmp_path / "complete", only=[])
    for test in (student_copy / "tests").iterdir():
        (complete / "tests" / test.name).write_text(test.read_text())
    passing = run(complete)
    assert passing.returncode == 0 and " passed" in passing.stdout, passing.stdout[-2000:]


def test_readme_lists_the_exercises(student_copy):
    readme = (student_copy / "README.md").read_text()
    for exercise in AVAILABLE:
        assert f"`{exercise.name}`" in readme and exercise.file in readme
    # the table lists conv2d_backward before conv2d_forward (the catalogue's order)
    assert "where the table lists both passes of an op, write the forward one first" in \
        " ".join(readme.split())


def test_a_loop_twin_stub_does_not_promise_to_come_back(student_copy):
    """The loop twins of the exercises stay stubs in a copy (they hold the answers), even once the
    student has written minicnn/ops: their message must not say 'write ... first'."""
    text = (student_copy / "minicnn" / "reference" / "conv.py").read_text()
    unwrapped = " ".join(re.sub(r'"\s*\n\s*"', "", text).split())
    assert "write minicnn/ops/conv.py first" not in unwrapped
    assert ("this loop version of the exercise is left out of the student copy (it holds the "
            "answer); the version you write, and the one minicnn runs, is in "
            "minicnn/ops/conv.py") in unwrapped


def test_make_refuses_a_non_empty_folder_and_unknown_names(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        make(tmp_path)
    make(tmp_path, only=["relu_backward"], force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="holds the minicnn package that make copies from"):
        make(PACKAGE.parent, force=True)
    with pytest.raises(ValueError, match="unknown exercise relu_backwards"):
        make(tmp_path / "new", only=["relu_backwards"])


# ---- grading ----
def test_grading_the_repository_scores_full_marks(capsys):
    status, table = graded(PACKAGE.parent, capsys)
    assert status == 0, table
    total = sum(e.points for e in CATALOGUE)
    assert f"{total}/{total} {len(CATALOGUE)} of {len(CATALOGUE)} exercises pass" in table
    assert "FAIL" not in table


# Each planted mistake: (exercise, wrong code in place of the stub, words the diagnosis must say)
CONV_DX_DW = """
O = g.shape[1]
g_rows = channel_rows(g)
dw = (g_rows @ self.cols.T).reshape(self.w.shape)
dx = col2im(self.w.reshape(O, -1).T @ g_rows, self.x_shape, self.kernel, self.stride,
            self.padding, self.dilation, self.out_size)"""
MISTAKES = {
    "relu wrong sign": ("relu_backward", "return -g * self.positive",
                        "dL/dx has the wrong sign"),
    "matmul transposed": ("matmul_backward",
                          "return self.b @ xp.swapaxes(g, -1, -2), xp.swapaxes(self.a, -1, -2) @ g",
                          "dL/da is transposed"),
    "conv bias without batch sum": (
        "conv2d_backward", CONV_DX_DW + "\nreturn dx, dw, g.sum(axis=(2, 3))",
        "dL/db is g summed over the pixels of each image only: the sum over the batch axis 0 is "
        "missing"),
    "conv weight divided by N": (
        "conv2d_backward", CONV_DX_DW + "\nreturn dx, dw / g.shape[0], g.sum(axis=(0, 2, 3))",
        "dL/dw is 2 times too small: it divides by the batch size N (2) once too often"),
    "bce mean without 1/N": ("bce_backward", """
s = activation.stable_sigmoid(self.x)
return g * (self.w * s - self.p * self.t), None, None""",
                             "dL/dlogits is 32 times too large: a division by the number of "
                             "elements (32) is missing"),
    "max-pool to the last max": ("max_pool2d_backward", """
xp = get_array_module(g)
g_padded = xp.zeros(self.padded_shape, dtype=g.dtype)
taken = xp.zeros(g.shape, dtype=bool)
for i, j in reversed(list(self.offsets())):
    wins = (window_view(self.padded, i, j, self.out_size, self.stride) == self.out) & ~taken
    taken |= wins
    window_view(g_padded, i, j, self.out_size, self.stride)[...] += g * wins
return self.unpad(g_padded)""", "dL/dx sends each window's gradient to the LAST maximum"),
    "max-pool spread evenly": ("max_pool2d_backward", """
g_padded = get_array_module(g).zeros(self.padded_shape, dtype=g.dtype)
for i, j in self.offsets():
    window_view(g_padded, i, j, self.out_size, self.stride)[...] += g / len(list(self.offsets()))
return self.unpad(g_padded)""", "spreads each window's gradient evenly"),
    "conv forward without bias": ("conv2d_forward", """
self.cols = im2col(x, self.kernel, self.stride, self.padding, self.dilation, self.out_size)
return to_images(w.reshape(O, C * KH * KW) @ self.cols, N, OH, OW)""",
                                  "the output y leaves out the bias"),
    "max-pool forward averages": ("max_pool2d_forward", """
views = [window_view(self.padded, i, j, out_size, self.stride) for i, j in self.offsets()]
self.out = sum(views) / len(views)
return self.out""", "the output averages each window"),
    "sigmoid of x": ("sigmoid_backward", "x = self.inputs[0].data\nreturn g * x * (1 - x)",
                     "applies the formula to x instead of to s = sigmoid(x)"),
    "sgd rebinds param": ("sgd_step", "param = param - self.lr * grad",
                          "the parameter never changed. Change the array in place"),
    "upsample averages": ("upsample_nearest_backward", """
SH, SW = self.scale
N, C, OH, OW = g.shape
return g.reshape(N, C, OH // SH, SH, OW // SW, SW).mean(axis=(3, 5))""",
                          "dL/dx is 4 times too small: it divides by the block size SH*SW (4)"),
    "crash": ("relu_backward", "return g * self.positiv",
              "crashes with AttributeError: 'ReLU' object has no attribute 'positiv' at "
              "minicnn/ops/activation.py:"),
}


# two students, each making one mistake per exercise (a student copy has an exercise only once)
SECOND_STUDENT = ["crash", "conv weight divided by N", "max-pool spread evenly",
                  "max-pool forward averages"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """{mistake: (exit status, the row of its exercise)} from grading the two students."""
    result = {}
    for student in (set(MISTAKES) - set(SECOND_STUDENT), SECOND_STUDENT):
        out = plant(tmp_path_factory.mktemp("planted") / "student",
                    *[MISTAKES[m][:2] for m in student])
        buffer = io.StringIO()
        assert grade(out, out=buffer) == 1
        table = rows(" ".join(buffer.getvalue().split()))
        result.update({m: table[MISTAKES[m][0]] for m in student})
    return result


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_planted_mistakes_are_diagnosed(mistake, planted):
    exercise, _, words = MISTAKES[mistake]
    row = planted[mistake]
    assert words in row, row
    assert row.split()[2] == ("crash" if mistake == "crash" else "FAIL")


def test_partial_credit_counts_the_cases_that_pass(planted):
    # the last-maximum mistake is right where no window has a tie (1 case of 4)
    row = planted["max-pool to the last max"]
    assert row.startswith("max_pool2d_backward 3.75/15 FAIL") and "wrong in 3 of 4 cases" in row


def test_partial_credit_scores_each_gradient_on_its_own(planted):
    # dx and dw right, db wrong in all 3 cases: 6 of 9 units of 20 points
    row = planted["conv bias without batch sum"]
    assert row.startswith("conv2d_backward 13.33/20 FAIL"), row
    assert "dL/db is g summed" in row and "dL/dx" not in row and "dL/dw" not in row


def test_a_dying_or_hanging_student_process_is_charged_to_its_exercise(tmp_path, capsys):
    out = make(tmp_path / "student", only=["relu_backward", "sigmoid_backward"])
    activation = out / "minicnn" / "ops" / "activation.py"
    text = activation.read_text()
    stubs = [m for m in STUB.finditer(text)]
    dying = text[:stubs[0].start()] + "        import os\n        os._exit(3)\n" + \
        text[stubs[0].end():stubs[1].start()] + "        return g * self.out * (1 - self.out)\n" \
        + text[stubs[1].end():]
    activation.write_text(dying)
    status, table = graded(out, capsys)
    assert status == 1
    assert "relu_backward 0/5 crash the student's process died in this exercise" in table
    assert "sigmoid_backward 5/5 pass" in table
    activation.write_text(dying.replace("import os\n        os._exit(3)", "while True:\n"
                                        "            pass"))
    status, table = graded(out, capsys, timeout=1)
    assert "relu_backward 0/5 timeout did not finish within 1 s" in table
    assert "sigmoid_backward 5/5 pass" in table


def test_a_copy_that_does_not_import_fails_every_exercise(tmp_path, capsys):
    out = plant(tmp_path / "student", ("relu_backward", "return g *"))
    status, table = graded(out, capsys)
    assert status == 1
    assert "relu_backward 0/5 crash the package does not import: SyntaxError" in table
    assert "modified outside the exercises" not in table


def test_grade_needs_a_minicnn_package(tmp_path, capsys):
    assert grade(tmp_path) == 2
    assert "holds no minicnn package" in capsys.readouterr().err


# ---- the diagnosis on its own ----
@pytest.mark.parametrize("got, words", [
    (lambda r: -r, "has the wrong sign"),
    (lambda r: 2 * r, "is off by a constant factor 2"),
    (lambda r: 6 * r, "is 6 times too large: a division by the batch size N (6) is missing"),
    (lambda r: r.T, "is transposed"),
    (lambda r: np.stack([r / 3] * 3), "is missing the sum over axis 0 (the batch axis)"),
    (lambda r: r[:, :2], "has the wrong shape (4, 2), expected (4, 5)"),
    (lambda r: None, "is missing (the backward pass returned None for it)"),
    (lambda r: r + np.eye(4, 5), "differs in 4 of 20 values"),
])
def test_diagnose_names_the_mistake(got, words):
    reference = np.random.default_rng(0).standard_normal((4, 5))
    phrase = diagnose.diagnose(got(reference), reference, "dL/dx", {"the batch size N": 6})
    assert phrase.startswith("dL/dx ") and words in phrase


# ---- the command line ----
def test_cli_make_and_grade(tmp_path, capsys):
    out = tmp_path / "kit"
    assert cli.main(["assignment", "make", str(out), "--only", "relu_backward,sgd_step"]) == 0
    assert sorted(p.name for p in (out / "tests").glob("test_*.py")) == [
        "test_relu_backward.py", "test_sgd_step.py"]
    assert cli.main(["assignment", "make", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert cli.main(["assignment", "make", str(out), "--only", "relu_backward", "--force"]) == 0
    assert cli.main(["assignment", "grade", str(out)]) == 1
    table = " ".join(capsys.readouterr().out.split())
    assert "relu_backward 0/5 not implemented" in table and "sgd_step" not in table
    assert cli.main(["assignment", "grade", str(tmp_path / "nowhere")]) == 2


def test_cli_only_none_makes_a_complete_copy_and_an_empty_only_is_refused(tmp_path, capsys):
    """--only none: the complete copy course.md hands out for the notebooks of weeks 8-10 (a U-Net
    needs every backward pass); an --only that names nothing is a mistake, not 'all'."""
    out = tmp_path / "complete"
    assert cli.main(["assignment", "make", str(out), "--only", "none"]) == 0
    capsys.readouterr()
    assert "raise NotImplementedError(" not in "".join(
        p.read_text() for p in (out / "minicnn").rglob("*.py"))
    readme = " ".join((out / "README.md").read_text().split())
    assert "a complete copy of minicnn" in readme and "## The exercises" not in readme
    assert "python -m minicnn.cli train --help" in readme
    for empty in ("", ","):
        assert cli.main(["assignment", "make", str(tmp_path / "empty"), "--only", empty]) == 2
        assert "names no exercise" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()
    # the kit is not in a copy: its own cli says where to make and grade
    done = subprocess.run([sys.executable, "-m", "minicnn.cli", "assignment", "grade", "."],
                          cwd=out, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(out)})
    assert done.returncode == 2 and "has no assignment kit (a student copy?)" in done.stderr


def course_commands():
    """Every `minicnn ...` command docs/course.md names: the lines of its bash blocks and its
    inline code spans (comments and bare `minicnn assignment make` mentions left out)."""
    text = (PACKAGE.parent / "docs" / "course.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    spans = re.findall(r"`(minicnn [^`]+)`", text) + re.findall(r"^(minicnn .+)$", blocks, re.M)
    commands = {span.split("#")[0].strip() for span in spans}
    return sorted(commands - {"minicnn assignment make", "minicnn assignment grade"})


def test_every_command_in_course_md_exists_and_makes_what_it_says(tmp_path, monkeypatch,
                                                                     capsys):
    commands = course_commands()
    assert any("--only none" in c for c in commands) and any("--batch" in c for c in commands)
    for k, command in enumerate(commands):
        argv = command.split()[1:]
        try:
            args = cli.build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"docs/course.md: `{command}` is not a valid command line: "
                        f"{capsys.readouterr().err}")
        if args.command == "assignment" and args.action == "make":   # run it, in its own folder
            (tmp_path / str(k)).mkdir()
            monkeypatch.chdir(tmp_path / str(k))
            assert cli.main(argv) == 0, (command, capsys.readouterr().err)


@pytest.mark.parametrize("argv, words", [
    (["make", "{tmp}/neg", "--seed", "-1"], "--seed must be a whole number >= 0"),
    (["grade", "{tmp}", "--seed", "x"], "--seed must be a whole number >= 0"),
    (["grade", "{tmp}", "--timeout", "0"], "--timeout must be a whole number >= 1"),
    (["grade", "{tmp}", "--timeout", "-5"], "--timeout must be a whole number >= 1"),
])
def test_cli_refuses_a_seed_or_timeout_out_of_range(argv, words, tmp_path, capsys):
    """A negative seed was kept in the record and broke every later grade of that copy
    ("expected non-negative integer"); a timeout of 0 or below silently meant no limit."""
    argv = ["assignment", *[a.format(tmp=tmp_path) for a in argv]]
    with pytest.raises(SystemExit) as stopped:          # argparse's usage error
        cli.main(argv)
    assert stopped.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "neg").exists()
    with pytest.raises(ValueError, match="must be a whole number >= 0, got -1"):
        make(tmp_path / "api", seed=-1)
