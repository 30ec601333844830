"""The tutorials as notebook assignments: OUTDIR/notebooks/NN_name.ipynb for the student copy.

The tutorials (tutorials/NN_name.py, jupytext percent format) are the instructor's version: every
exercise answer sits in a code cell between `# BEGIN SOLUTION tNN_name` and `# END SOLUTION`,
and the answers to the written questions in markdown cells between the lines `BEGIN SOLUTION`
and `END SOLUTION`. `write(folder)` makes the student's version of each: outputs cleared, every
code block replaced by a stub (a to-do comment saying what to compute, then raising
NotImplementedError), followed by a check cell that runs the exercise and names the likely
mistake (nbcheck.py), and every written answer replaced by "*Your answer here.*".

The check registry has two halves. nbcheck.py (copied next to the notebooks) calls the student's
code; CHECKS here holds, per block name, what the stub says, the check's inputs, the right
answer and typical wrong ones, as functions that nbcheck's runner calls in the instructor's
process when the copy is made. Their outputs go to nbcheck.npz; no answer code leaves this kit.
"""
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minicnn.assignment import markers, nbcheck

TUTORIALS = Path(__file__).resolve().parent.parent.parent / "tutorials"
STUB_NOTE = "# " + "TO" + "DO: "             # the stub's first words (a marker for students)
ANSWER_HERE = "*Your answer here.*"


@dataclass
class Check:
    tasks: list                          # what each of the block's stubs asks for, in order
    inputs: object = None                # rng -> {name: array}
    answer: object = None                # () -> the notebook names of a right answer
    mistakes: dict = field(default_factory=dict)   # phrase -> () -> names of a wrong answer


# ---- the instructor's answers, as the notebook names nbcheck's runners call ----
def relu_inputs(rng):
    x = rng.uniform(0.1, 1.0, (4, 5)) * rng.choice([-1, 1], (4, 5))  # away from the kink at 0
    return {"x": x, "g": rng.standard_normal((4, 5))}


def relu_function(slope_only=False):
    from minicnn.tensor import Function

    class Relu(Function):
        def forward(self, x):
            self.mask = x > 0
            return x * self.mask

        def backward(self, g):
            return self.mask * 1.0 if slope_only else g * self.mask
    return {"my_relu": lambda x: Relu()(x)}


def output_size_inputs(rng):
    configs = [(10, 3, 1, 1, 1), (10, 3, 2, 0, 1), (11, 5, 3, 2, 1), (12, 3, 1, 2, 2),
               (9, 4, 2, 1, 1), (int(rng.integers(20, 40)), 3, 2, 1, 2)]
    return {"configs": np.array(configs)}


def output_size(dilated=True, plus_one=True):
    def size(n, k, s=1, p=0, d=1):
        return (n + 2 * p - (d if dilated else 1) * (k - 1) - 1) // s + int(plus_one)
    return {"conv_output_size": size}


def weight_grads_inputs(rng):
    return {"x": rng.standard_normal((2, 3, 7, 6)), "g": rng.standard_normal((2, 4, 5, 5)),
            "kernel": np.array([3, 2])}


def weight_grads(flipped=False, batch_sum=True):
    def grads(x, g, KH, KW):
        N, O, OH, OW = g.shape
        dw = np.zeros((O, x.shape[1], KH, KW))
        for i in range(OH):
            for j in range(OW):
                dw += np.einsum("no,nchw->ochw", g[:, :, i, j], x[:, :, i:i + KH, j:j + KW])
        db = g.sum(axis=(0, 2, 3)) if batch_sum else g.sum(axis=(2, 3))
        return (dw[:, :, ::-1, ::-1] if flipped else dw), db
    return {"conv_weight_grads": grads}


def max_pool_inputs(rng):
    return {"x": rng.permutation(16).reshape(4, 4).astype(np.float64),
            "g": rng.standard_normal((2, 2))}


def max_pool_backward(rule="winner"):
    def backward(x, g):
        dx = np.zeros_like(x)
        for i in range(2):
            for j in range(2):
                window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2]
                if rule == "even":
                    dx[2 * i:2 * i + 2, 2 * j:2 * j + 2] += g[i, j] / 4
                    continue
                a, b = np.unravel_index(np.argmax(window), (2, 2)) if rule == "winner" \
                    else (0, 0)
                dx[2 * i + a, 2 * j + b] += g[i, j]
        return dx
    return {"max_pool_backward": backward}


def receptive_field_inputs(rng):
    conv, pool = 0, 1                    # rows of (kind, kernel); kernel 0 pads a short stack
    stacks = [[(conv, 3), (conv, 3)], [(conv, 3), (pool, 2), (conv, 3)],
              [(conv, 5), (pool, 2), (conv, 3), (pool, 2), (conv, 3), (conv, 1)],
              [(conv, 3), (pool, 3), (conv, 3), (pool, 2), (conv, int(rng.choice([3, 5])))]]
    width = max(map(len, stacks))
    return {"stacks": np.array([s + [(conv, 0)] * (width - len(s)) for s in stacks])}


def receptive_field(jumps=True):
    def field_of(layers):
        size, jump = 1, 1
        for kind, k in layers:
            size += (k - 1) * jump
            if kind == "pool" and jumps:
                jump *= k
        return size
    return {"stack_receptive_field": field_of}


def training_step_inputs(rng):
    return {"x": rng.standard_normal((2, 1, 4, 4)),
            "y": (rng.random((2, 1, 4, 4)) < 0.4).astype(np.float64),
            "weight": np.array([[[[0.3]]]]), "bias": np.array([-0.1]), "lr": np.array(0.5)}


def training_step(clear=True, loss_after=False):
    import minicnn.functional as F

    def step(model, optimizer, x, y):
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        if clear:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss_after:
            return F.binary_cross_entropy_with_logits(model(x), y).item()
        return loss.item()
    return {"training_step": step}


def iou_dice_inputs(rng):
    pred = rng.random((3, 8, 8)) < 0.4
    truth = rng.random((3, 8, 8)) < 0.4
    return {"pred": pred, "truth": truth}


def iou_dice(swapped=False):
    def scores(pred, truth):
        pred, truth = pred > 0, truth > 0
        intersection = np.logical_and(pred, truth).sum()
        iou = intersection / np.logical_or(pred, truth).sum()
        dice = 2 * intersection / (pred.sum() + truth.sum())
        return (float(dice), float(iou)) if swapped else (float(iou), float(dice))
    return {"my_iou_and_dice": scores}


CHECKS = {
    "t01_relu": Check(["save what backward needs, and return relu(x)",
                       "return dL/dx given g = dL/dy"], relu_inputs, relu_function,
                      {"is the slope alone: multiply it by g": lambda: relu_function(True)}),
    "t01_chain_rule": Check(["compute dL_du, the derivative of L with respect to u, by the chain "
                             "rule with NumPy (not with backward())"]),
    "t02_output_size": Check(["return the output size along one axis"], output_size_inputs,
                             output_size,
                             {"leaves out the dilation d": lambda: output_size(dilated=False),
                              "is one too small: the first window counts too":
                              lambda: output_size(plus_one=False)}),
    "t02_weight_grads": Check(["compute dw (O, C, KH, KW) and db (O,) from x and g"],
                              weight_grads_inputs, weight_grads,
                              {"is the kernel flipped (a convolution, not a cross-correlation)":
                               lambda: weight_grads(flipped=True)}),
    "t03_max_pool_backward": Check(["compute dx (4, 4): dL/dx of 2 x 2 max pooling with stride "
                                    "2, given x (4, 4) and g (2, 2)"], max_pool_inputs,
                                   max_pool_backward,
                                   {"spreads each window's gradient evenly (average pooling)":
                                    lambda: max_pool_backward("even"),
                                    "sends each window's gradient to its top-left pixel, not to "
                                    "its maximum": lambda: max_pool_backward("corner")}),
    "t03_receptive_field": Check(["return the receptive field, in input pixels, of the stack "
                                  "`layers`"], receptive_field_inputs, receptive_field,
                                 {"forgets that after a pooling layer one step spans several "
                                  "input pixels": lambda: receptive_field(jumps=False)}),
    "t04_training_step": Check(["forward, loss, clear old gradients, back-propagate, update; "
                                "return the loss before the update (a float)"],
                               training_step_inputs, training_step,
                               {"never clears the gradients (optimizer.zero_grad()): they add "
                                "up over the steps": lambda: training_step(clear=False),
                                "returns the loss after the update, not the one it "
                                "back-propagated": lambda: training_step(loss_after=True)}),
    "t04_iou_dice": Check(["compute iou and dice from the boolean masks pred and truth"],
                          iou_dice_inputs, iou_dice,
                          {"returns (Dice, IoU): swapped": lambda: iou_dice(swapped=True)}),
    "t05_pos_weight": Check(["compute foreground_weight and background_weight: the total weight "
                             "of all foreground and of all background pixels in the weighted "
                             "loss"]),
}


def check_data(seed=0):
    """{npz key: array} for nbcheck.npz: each check's inputs, expected outputs and mistakes,
    computed by running nbcheck's runners on the answers above."""
    data = {}
    for number, (name, check) in enumerate(CHECKS.items()):
        if check.inputs is None:          # the expected value comes from the notebook itself
            continue
        run = nbcheck.RUNS[name][0]
        inputs = check.inputs(np.random.default_rng([seed, number]))
        data.update({f"{name}/in/{k}": np.asarray(v) for k, v in inputs.items()})
        expected = run(check.answer(), inputs)
        data.update({f"{name}/out/{k}": np.asarray(v, dtype=np.float64)
                     for k, v in expected.items()})
        for phrase, wrong in check.mistakes.items():
            for key, value in run(wrong(), inputs).items():
                data[f"{name}/mistake/{key}/{phrase}"] = np.asarray(value, dtype=np.float64)
    return data


# ---- the jupytext percent format, read without jupytext ----
def read_percent(path):
    """The cells of a jupytext percent-format script: a list of (kind, lines), kind "code" or
    "markdown" (markdown lines without their leading "# ")."""
    lines = Path(path).read_text().split("\n")
    if lines and lines[0] == "# ---":                       # the YAML header
        lines = lines[lines.index("# ---", 1) + 1:]
    cells = []
    for line in lines:
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            kind, body = cells[-1]
            if kind == "markdown" and line.startswith("#"):
                line = line[2:] if line.startswith("# ") else line[1:]
            body.append(line)
    return [(kind, trim(body)) for kind, body in cells]


def trim(lines):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return lines


def student_cells(cells, where="<tutorial>"):
    """The student's cells: code blocks stubbed and followed by their check cells, written
    answers replaced."""
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            out.append((kind, hide_answers(lines)))
            continue
        text = "\n".join(lines)
        blocks = markers.parse(text, where)
        if not blocks:
            out.append((kind, lines))
            continue
        counts, given = {}, []

        def stub(block):
            counts[block.name] = counts.get(block.name, -1) + 1
            tasks = CHECKS[block.name].tasks
            given.append(tasks[min(counts[block.name], len(tasks) - 1)])
            return given[-1]
        code = []
        for part, part_lines in markers.render_parts(text, stub, where):
            if part == "stub":
                indent = part_lines[0][:len(part_lines[0]) - len(part_lines[0].lstrip())]
                part_lines = [f"{indent}{STUB_NOTE}{given.pop(0)}",
                              f"{indent}{markers.RAISE[:-1]}"]
            code += part_lines
        out.append(("code", code))
        for name in dict.fromkeys(block.name for block in blocks):
            out.append(("code", [f"# Check {name}: runs your code above on fixed inputs and "
                                 f"names the likely mistake",
                                 "from nbcheck import check", "", f'check("{name}", globals())']))
    return out


def hide_answers(lines):
    out, inside = [], False
    for line in lines:
        if line.strip() == "BEGIN SOLUTION":
            inside = True
            out.append(ANSWER_HERE)
        elif line.strip() == "END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    return out


def notebook(cells):
    """An nbformat 4 notebook (a dict) of the cells, without outputs."""
    return {"cells": [{"cell_type": kind, "id": f"cell-{k}", "metadata": {},
                       "source": [line + "\n" for line in lines[:-1]] + lines[-1:],
                       **({"execution_count": None, "outputs": []} if kind == "code" else {})}
                      for k, (kind, lines) in enumerate(cells)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write(folder, tutorials=TUTORIALS):
    """Write the student notebooks, nbcheck.py, diagnose.py and nbcheck.npz to folder; return
    the notebooks' paths ([] when the tutorials are not there, e.g. minicnn installed from a
    wheel)."""
    sources = sorted(Path(tutorials).glob("[0-9][0-9]_*.py"))
    if not sources:
        return []
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        cells = student_cells(read_percent(source), str(source))
        path = folder / f"{source.stem}.ipynb"
        path.write_text(json.dumps(notebook(cells), indent=1) + "\n")
        written.append(path)
    here = Path(__file__).parent
    shutil.copyfile(here / "nbcheck.py", folder / "nbcheck.py")
    shutil.copyfile(here / "diagnose.py", folder / "diagnose.py")
    np.savez(folder / "nbcheck.npz", **check_data())
    return written
