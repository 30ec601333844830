"""Printing minicnn's own source in a tutorial, with the exercises' answers left out.

Some of the library's code is an exercise: in the source it sits between two marker comments
that open and close a solution block (their form: minicnn/assignment/markers.py), and a
student's copy has a stub there instead. A tutorial that printed such code with `inspect.getsource` would hand
out the answer, so the tutorials print source with `show_source`, which replaces every marked
block by one comment line naming the exercise:

    mc.viz.show_source(minicnn.ops.activation.ReLU)
    class ReLU(Function):
        ...
        def backward(self, g):
            # (exercise relu_backward: its solution is not shown here)
"""
import inspect
import textwrap

PLACEHOLDER = "# (exercise {name}: its solution is not shown here)"


def source_text(obj, start=None, stop=None, hide_solutions=True):
    """The source of a function, class, method or module, dedented, with every solution block
    replaced by a one-line placeholder. start / stop: optional text; the listing then begins at
    the first line containing `start` and ends before the first later line containing `stop`.
    hide_solutions=False keeps the blocks' code and drops only the marker lines (the docs site's
    annotated engine, built for readers rather than for a graded course)."""
    try:
        from minicnn.assignment.markers import parse  # here: the kit imports minicnn
    except ImportError:            # a student's copy: it has no kit, and no solution blocks
        parse = lambda text, where: []  # noqa: E731
    try:
        text = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(f"show_source needs a function, class, method or module written in "
                        f"Python, got {type(obj).__name__} ({error})") from None
    lines = text.split("\n")
    for block in reversed(parse(text, where=getattr(obj, "__qualname__", repr(obj)))):
        if hide_solutions:
            lines[block.begin:block.end + 1] = [block.indent + PLACEHOLDER.format(name=block.name)]
        else:
            lines[block.begin:block.end + 1] = lines[block.begin + 1:block.end]
    first, last = 0, len(lines)
    if start is not None:
        first = _find(lines, start, 0, obj)
    if stop is not None:
        last = _find(lines, stop, first + 1, obj)
    return textwrap.dedent("\n".join(lines[first:last])).rstrip() + "\n"


def _find(lines, needle, begin, obj):
    for number in range(begin, len(lines)):
        if needle in lines[number]:
            return number
    raise ValueError(f"show_source: no line containing {needle!r} in the source of "
                     f"{getattr(obj, '__qualname__', obj)!r}")


def show_source(obj, start=None, stop=None):
    """Print source_text(obj, start, stop): the code without any exercise's answer."""
    print(source_text(obj, start, stop), end="")
