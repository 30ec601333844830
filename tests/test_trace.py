"""mc.trace(): the backward tracer prints each op in backward order with true gradient norms."""
import io

import numpy as np
import pytest

import minicnn as mc
from minicnn.tensor import Function, add_backward_hook, backward_hooks
from tests.conftest import make


def norm(a):
    return float(np.linalg.norm(np.ravel(mc.backend.to_numpy(a))))


def neuron(device, rng):
    """loss = sum(relu(x @ w) * c): a chain of four ops, backward order Sum, Mul, ReLU, MatMul."""
    x = make(rng.standard_normal((4, 3)), device)
    w = make(rng.standard_normal((3, 2)), device)
    c = make(rng.standard_normal((4, 2)), device, requires_grad=False)
    z = x @ w
    y = z.relu()
    loss = (y * c).sum()
    return x, w, c, z, y, loss


def test_op_sequence_and_norms_match_real_gradients(device, rng):
    x, w, c, z, y, loss = neuron(device, rng)
    z.retain_grad()
    y.retain_grad()
    out = io.StringIO()
    with mc.trace(file=out) as t:
        loss.backward()
    assert [r.op for r in t.records] == ["Sum", "Mul", "ReLU", "MatMul"]
    assert [r.index for r in t.records] == [0, 1, 2, 3]
    assert [r.output_shape for r in t.records] == [(), (4, 2), (4, 2), (4, 2)]
    # the norms the tracer saw, against the gradients backward() stored
    sum_, mul, relu, matmul = t.records
    assert sum_.grad_out_norm == pytest.approx(1.0)
    assert mul.grad_out_norm == pytest.approx(norm(np.ones((4, 2))))
    assert mul.input_grad_norms[0] == pytest.approx(norm(y.grad))
    assert mul.input_grad_norms[1] is None  # c does not require grad
    assert relu.grad_out_norm == pytest.approx(norm(y.grad))
    assert matmul.grad_out_norm == pytest.approx(norm(z.grad))
    assert matmul.input_grad_norms == pytest.approx([norm(x.grad), norm(w.grad)])
    # ... and against the chain rule written out in NumPy
    xs, ws, cs = x.numpy(), w.numpy(), c.numpy()
    dz = cs * (xs @ ws > 0)                                # dL/dz = c * relu'(z)
    assert matmul.grad_out_norm == pytest.approx(norm(dz))
    assert matmul.input_grad_norms == pytest.approx([norm(dz @ ws.T), norm(xs.T @ dz)])
    # the printed lines: a header, then one line per op in the same order
    lines = out.getvalue().splitlines()
    assert lines[0] == mc.trace.header
    assert [line.split()[1] for line in lines[1:]] == ["Sum", "Mul", "ReLU", "MatMul"]
    assert f"{matmul.grad_out_norm:.3e}" in lines[4] and "(4, 2)" in lines[4]
    assert lines[2].rstrip().endswith("-")  # the constant gets no gradient


def test_leaf_used_on_two_paths_gets_the_summed_norm(rng):
    x = make(rng.standard_normal((3, 3)))
    x.name = "x"
    h = x * x
    h.name = "h"
    loss = (h + x).sum()
    with mc.trace(quiet=True) as t:
        loss.backward()
    assert t.grad_norm_of(x) == pytest.approx(norm(x.grad))          # 2x + 1, both paths
    assert t.grad_norm_of(x) == pytest.approx(norm(2 * x.numpy() + 1))
    assert t.grad_norm_of(h) == pytest.approx(3.0)                   # ones (3, 3)
    assert t.grad_norm_of(loss) == pytest.approx(1.0)
    assert any(r.output_name == "h" and "-> h" in r.line() for r in t.records)


def test_hooks_removed_after_block_and_after_exception(rng):
    before = backward_hooks()
    with mc.trace(quiet=True):
        assert len(backward_hooks()) == len(before) + 1
    assert backward_hooks() == before
    with pytest.raises(KeyError):
        with mc.trace(quiet=True):
            raise KeyError("boom")
    assert backward_hooks() == before

    class Broken(Function):
        def forward(self, a):
            return a * 1

        def backward(self, g):
            raise ArithmeticError("backward failed")

    x = make(rng.standard_normal(3))
    loss = Broken()(x * 2).sum()
    with pytest.raises(ArithmeticError):
        with mc.trace(quiet=True) as t:
            loss.backward()
    assert backward_hooks() == before
    assert [r.op for r in t.records] == ["Sum"]  # the step that raised was never recorded


def test_no_output_outside_the_block_and_quiet_mode(capsys, rng):
    x, w, c, z, y, loss = neuron("cpu", rng)
    with mc.trace(quiet=True) as t:
        loss.backward(retain_graph=True)
    assert len(t.records) == 4
    loss.backward()
    assert capsys.readouterr().out == ""
    x2, *_, loss2 = neuron("cpu", rng)
    with mc.trace():                                  # default: standard output
        loss2.backward()
    printed = capsys.readouterr().out
    assert printed.count("\n") == 5 and "MatMul" in printed


def test_file_path_output(tmp_path, rng):
    *_, loss = neuron("cpu", rng)
    path = tmp_path / "trace.txt"
    with mc.trace(file=str(path)) as t:
        loss.backward()
    text = path.read_text().splitlines()
    assert len(text) == 1 + len(t.records) == 5
    assert text[1:] == [r.line() for r in t.records]


def test_public_hook_api_as_handle_and_as_context_manager(rng):
    seen = []

    def hook(fn, output, grad_out, input_grads):
        seen.append((type(fn).__name__, output.shape, [None if g is None else g.shape
                                                       for g in input_grads]))

    x = make(rng.standard_normal((2, 3)))
    handle = add_backward_hook(hook)
    assert hook in backward_hooks()
    (x * 2).sum().backward()
    handle.remove()
    handle.remove()                                       # removing twice is harmless
    assert hook not in backward_hooks()
    assert [name for name, *_ in seen] == ["Sum", "Mul"]
    assert seen[1][:2] == ("Mul", (2, 3)) and seen[1][2][0] == (2, 3)
    seen.clear()
    with pytest.raises(KeyError):
        with add_backward_hook(hook):
            (x * 3).sum().backward()
            raise KeyError("boom")
    assert hook not in backward_hooks() and len(seen) == 2
    (x * 4).sum().backward()
    assert len(seen) == 2                                 # no longer called
