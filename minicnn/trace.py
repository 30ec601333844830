"""Watch back-propagation happen: `with mc.trace(): loss.backward()`.

backward() visits the graph's operations from the loss back to the leaves. At each one it holds
dLoss/dOutput (the gradient that arrived) and computes dLoss/dInput for every input (the
gradients it sends on). The tracer prints one line per operation, in that order:

    backward trace: op, output shape, |dL/dout| -> |dL/dinput| for each input
       0  Sum          ()         |g| 1.000e+00  ->  2.449e+00
       1  Mul          (2, 3)     |g| 2.449e+00  ->  4.123e+00, -

`|g|` is the Euclidean norm of the whole gradient array, `-` an input that gets no gradient
(data, or a constant). Norms that shrink towards 0 from line to line are vanishing gradients;
norms that blow up are exploding ones. The lines are also kept: `with mc.trace() as t: ...`,
then `t.records` (a list of TraceRecord) and `t.grad_norms` ({id(tensor): norm}, for every
tensor that received a gradient; `mc.viz.draw_graph(loss, grads=t)` writes them on the graph).

It works through `minicnn.tensor.add_backward_hook`: each hook is called after every backward
step as hook(function, output_tensor, grad_out, input_grads). The tracer adds its hook on
entering the with-block and removes it (through the handle) on leaving, even when the block
raises.
"""
import sys
from dataclasses import dataclass

from minicnn import backend
from minicnn.tensor import add_backward_hook


def grad_norm(array):
    """The Euclidean norm of a whole gradient array (NumPy or CuPy), as a Python float."""
    xp = backend.get_array_module(array)
    return float(xp.linalg.norm(array.ravel().astype("float64")))


@dataclass
class TraceRecord:
    """One backward step: operation `op` produced an output of `output_shape`; `grad_out_norm` is
    |dLoss/dOutput|; `input_grad_norms[i]` is |dLoss/dInput_i| (None: no gradient for input i)."""
    index: int
    op: str
    output_shape: tuple
    output_name: str
    grad_out_norm: float
    input_shapes: list
    input_grad_norms: list

    def line(self):
        sent = ", ".join("-" if n is None else f"{n:.3e}" for n in self.input_grad_norms)
        name = f" -> {self.output_name}" if self.output_name else ""
        return (f"{self.index:4d}  {self.op + name:<22} {str(self.output_shape):<18} "
                f"|g| {self.grad_out_norm:.3e}  ->  {sent}")


class trace:
    """Context manager that prints (and records) every step of backward() run inside it.

    file: where the lines go; None means sys.stdout; a string is a path (the file is
          overwritten); any object with .write() works (io.StringIO, an open file).
    quiet: True collects `records` and `grad_norms` without printing anything."""

    header = "backward trace: op, output shape, |dL/dout| -> |dL/dinput| for each input"

    def __init__(self, file=None, quiet=False):
        self.file = file
        self.quiet = quiet
        self.records = []
        self.grad_norms = {}        # id(tensor) -> |dLoss/dtensor|, filled on exit for leaves
        self._leaf_grads = {}       # id(leaf) -> dLoss/dleaf summed over paths (arrays)
        self._stream = None
        self._opened = False
        self._handle = None         # the BackwardHook while the block runs

    def __enter__(self):
        self.records, self.grad_norms, self._leaf_grads = [], {}, {}
        if not self.quiet:
            if isinstance(self.file, str):
                self._stream, self._opened = open(self.file, "w"), True
            else:
                self._stream = sys.stdout if self.file is None else self.file
            self._write(self.header)
        self._handle = add_backward_hook(self._hook)
        return self

    def __exit__(self, *exc_info):
        self._handle.remove()
        for key, g in self._leaf_grads.items():
            self.grad_norms[key] = grad_norm(g)
        self._leaf_grads = {}
        if self._opened:
            self._stream.close()
        self._stream, self._opened = None, False
        return False  # never swallow an exception

    def _hook(self, fn, output, grad_out, input_grads):
        inputs = fn.inputs
        sent = []
        for inp, g in zip(inputs, input_grads):
            if g is None or not inp.requires_grad:
                sent.append(None)
                continue
            sent.append(grad_norm(g))
            if inp.creator is None:  # a leaf: its gradient is the sum over every path into it
                previous = self._leaf_grads.get(id(inp))
                self._leaf_grads[id(inp)] = g if previous is None else previous + g
        sent += [None] * (len(inputs) - len(sent))
        record = TraceRecord(index=len(self.records), op=type(fn).__name__,
                             output_shape=output.shape, output_name=output.name,
                             grad_out_norm=grad_norm(grad_out),
                             input_shapes=[inp.shape for inp in inputs], input_grad_norms=sent)
        self.records.append(record)
        self.grad_norms[id(output)] = record.grad_out_norm
        self._write(record.line())

    def _write(self, text):
        if self._stream is not None:
            self._stream.write(text + "\n")

    def grad_norm_of(self, t):
        """|dLoss/dt| for tensor t as seen during the traced backward, or None."""
        return self.grad_norms.get(id(t))
