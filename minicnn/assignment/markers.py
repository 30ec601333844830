"""Solution markers: the comment lines that cut an exercise out of the library's own source.

In minicnn's source, a body a student should write sits between two comment lines:

        def backward(self, g):
            # BEGIN SOLUTION relu_backward
            return g * self.positive
            # END SOLUTION

They are comments, so the library runs the same with them. `parse` finds the blocks, and
`render` writes the student's version of a file: a selected block becomes a stub at the marker's
indentation that raises NotImplementedError("exercise relu_backward: <the task>"); an unselected
block keeps its code; the marker lines themselves disappear. Blocks do not nest. One exercise
may have several blocks (a helper function and the backward pass that calls it).

A block may also sit inside a docstring, around a derivation that gives the answer away (the
slope of a loss, an update rule written as pseudocode): in a student copy it becomes one line
saying that this part is the student's to work out.
"""
import re
from dataclasses import dataclass

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?P<name>[^#]*)")  # a comment may follow
END = re.compile(r"^[ \t]*# END SOLUTION(\s|$)")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DEF = re.compile(r"^(?P<indent>[ \t]*)def (?P<name>\w+)\(")
WIDTH = 100  # the project's line length
RAISE = f"raise {NotImplementedError.__name__}("  # the stub's first words


@dataclass
class Block:
    name: str       # the exercise, e.g. "relu_backward"
    begin: int      # index of the BEGIN line (0-based)
    end: int        # index of the END line
    indent: str     # the BEGIN line's indentation, which the stub takes over
    function: str   # the function the block sits in ("" at module level)
    in_docstring: bool = False  # around lines of a docstring rather than code


def parse(text, where="<source>"):
    """The marked blocks of a source text, in order; ValueError for a malformed marker."""
    blocks, open_block = [], None
    lines = text.split("\n")
    for number, line in enumerate(lines):
        begin = BEGIN.match(line)
        if begin:
            name = begin["name"].strip()
            if open_block is not None:
                raise ValueError(f"{where}:{number + 1}: BEGIN SOLUTION {name} inside the block "
                                 f"{open_block.name} opened on line {open_block.begin + 1}; "
                                 f"close it with # END SOLUTION first (blocks do not nest)")
            if not NAME.match(name):
                raise ValueError(f"{where}:{number + 1}: a solution marker needs an exercise name "
                                 f"in lowercase_with_underscores, e.g. '# BEGIN SOLUTION "
                                 f"relu_backward', got {line.strip()!r}")
            open_block = Block(name, number, -1, begin["indent"],
                               enclosing_function(lines, number, begin["indent"]),
                               "\n".join(lines[:number]).count('"""') % 2 == 1)
        elif END.match(line):
            if open_block is None:
                raise ValueError(f"{where}:{number + 1}: # END SOLUTION without a BEGIN SOLUTION "
                                 f"before it")
            open_block.end = number
            blocks.append(open_block)
            open_block = None
    if open_block is not None:
        raise ValueError(f"{where}:{open_block.begin + 1}: BEGIN SOLUTION {open_block.name} is "
                         f"never closed; add # END SOLUTION after the block")
    return blocks


def enclosing_function(lines, number, indent):
    """The name of the innermost def around line `number` whose body is indented by `indent`."""
    for line in reversed(lines[:number]):
        found = DEF.match(line)
        if found and len(found["indent"]) < len(indent):
            return found["name"]
    return ""


def render(text, message, where="<source>"):
    """The student's version of `text`: a block for which message(block) gives a text becomes a
    stub raising NotImplementedError(that text); a block for which it gives None keeps its code;
    all marker lines are removed."""
    return "\n".join("\n".join(lines) for _, lines in render_parts(text, message, where)
                     if lines)


def render_parts(text, message, where="<source>"):
    """render's result as a list of (kind, lines), kind "kept" or "stub": the stubs are where a
    student writes; everything else must stay as it is (record.py checks that)."""
    lines = text.split("\n")
    parts, kept, position = [], [], 0
    for block in parse(text, where):
        kept += lines[position:block.begin]
        stub = message(block)
        if stub is not None:   # in a docstring, a line that says what was left out
            parts += [("kept", kept), ("stub", [f"{block.indent}(Left out: working this out is "
                                                f"part of exercise {block.name}.)"]
                                       if block.in_docstring else stub_lines(block.indent, stub))]
            kept = []
        else:
            kept += lines[block.begin + 1:block.end]
        position = block.end + 1
    return parts + [("kept", kept + lines[position:])]


def stub_lines(indent, message):
    """The stub's lines: raising NotImplementedError(message), wrapped to the line length."""
    first = f'{indent}{RAISE}"{_escape(message)}")'
    if len(first) <= WIDTH:
        return [first]
    inner = indent + " " * 4
    pieces, current = [], ""
    for word in message.split(" "):
        if current and len(inner) + len(_escape(current + word)) + 3 > WIDTH:
            pieces.append(current)
            current = ""
        current += word + " "
    pieces.append(current[:-1])
    body = [f'{inner}"{_escape(piece)}"' for piece in pieces]
    body[-1] += ")"
    return [f"{indent}{RAISE}"] + body


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')
