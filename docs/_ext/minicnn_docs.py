"""What the site needs beyond Sphinx and myst-nb, in one place:

- `prepare(docs)`: the pages made from files outside docs/ before Sphinx reads its sources:
  docs/index.md, the landing page, is README.md (its links rewritten to the site's pages)
  followed by the site's tables of contents (docs/_toc.md); docs/tutorials/ holds the executed
  notebooks (exercise answers shown without their marker lines, or hidden: see below);
  docs/_generated/cli.md is the command-line reference from minicnn's parser.
- the `minicnn-source` directive: the current source of a minicnn function or class, so that the
  annotated pages cannot drift from the code:

      ```{minicnn-source} minicnn.ops.conv.Conv2d.backward
      :start: g_rows =
      ```

  Solution blocks (the course kit's exercises) are shown, without their marker lines; building
  with MINICNN_DOCS_HIDE_SOLUTIONS=1 replaces each by a one-line placeholder instead, here and in
  the tutorials (code and written answers), for a course's student edition of the site.
- docstrings shown verbatim (they are plain text with shape formulas, not reStructuredText).
- MathJax from a local copy: the django-static-mathjax wheel ships MathJax 3's files; the one
  file used, tex-svg-full.js (TeX in, SVG out, fonts built in), is copied into _static/mathjax/.
"""
import importlib
import os
import re
import shutil
from importlib import resources
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives

ROOT = Path(__file__).resolve().parents[2]
MATHJAX_FILE = "tex-svg-full.js"


def prepare(docs):
    """Write docs/index.md, docs/_generated/cli.md and docs/tutorials/ (see the module doc)."""
    generated = docs / "_generated"
    generated.mkdir(exist_ok=True)
    notebooks = docs / "tutorials"
    notebooks.mkdir(exist_ok=True)
    hide = os.environ.get("MINICNN_DOCS_HIDE_SOLUTIONS", "0") == "1"
    sources = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb"))
    for notebook in sources:
        _write_if_changed(notebooks / notebook.name, notebook_for_site(notebook, hide))
    for stale in set(notebooks.iterdir()) - {notebooks / n.name for n in sources}:
        stale.unlink()
    pages = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")} | {
        p.relative_to(docs).as_posix() for p in notebooks.glob("*.ipynb")}
    readme = site_readme((ROOT / "README.md").read_text(encoding="utf-8"), pages)
    _write_if_changed(docs / "index.md", readme.rstrip() + "\n\n" + (docs / "_toc.md").read_text(
        encoding="utf-8"))
    _write_if_changed(generated / "cli.md", cli_reference())
    for stale in set(generated.iterdir()) - {generated / "cli.md"}:   # from an older layout
        stale.unlink()


def notebook_for_site(path, hide):
    """The tutorial notebook as the site shows it. Its exercises' answers (code between
    `# BEGIN SOLUTION name` / `# END SOLUTION`, written answers between markdown lines
    BEGIN SOLUTION / END SOLUTION) are shown without the marker lines, a written answer in an
    "Answer" box; with hide=True (a course's student edition) each becomes a placeholder."""
    import nbformat

    from minicnn.assignment.markers import parse
    from minicnn.viz.source import PLACEHOLDER

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        lines = cell.source.split("\n")
        if cell.cell_type == "code":
            for block in reversed(parse(cell.source, where=path.name)):
                lines[block.begin:block.end + 1] = (
                    [block.indent + PLACEHOLDER.format(name=block.name)] if hide
                    else lines[block.begin + 1:block.end])
        elif cell.cell_type == "markdown":
            begins = [k for k, line in enumerate(lines) if line.strip() == "BEGIN SOLUTION"]
            ends = [k for k, line in enumerate(lines) if line.strip() == "END SOLUTION"]
            for begin, end in reversed(list(zip(begins, ends))):
                lines[begin:end + 1] = (["*(The answer is not shown in this edition.)*"] if hide
                                        else ["```{admonition} Answer"] + lines[begin + 1:end]
                                        + ["```"])
        cell.source = "\n".join(lines)
    return nbformat.writes(notebook)


def _write_if_changed(path, text):
    """Rewriting an unchanged page would make Sphinx rebuild it every time."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


PAGES_OF_FILES = {"benchmarks/README.md": "speed.md"}   # repository files with a page here
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def site_readme(text, pages):
    """README.md as a page of the site (included by docs/index.md): links and images that point
    into docs/ lose that prefix, tutorial notebooks point to their pages, and a link to any other
    file of the repository (not part of the site) becomes the file's name in code font."""
    def rewrite(match):
        bang, label, target = match.groups()
        if "://" in target or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        if path.startswith("docs/"):
            path = path[len("docs/"):]
        path = PAGES_OF_FILES.get(path, path)
        if path in pages or (bang and (ROOT / "docs" / path).exists()):
            return f"{bang}[{label}]({path}{'#' + anchor if anchor else ''})"
        if bang or not label or label.strip("`") == target:
            return f"`{target}`"
        return f"{label} (`{target}`)"
    return LINK.sub(rewrite, text)


def cli_reference():
    """The `minicnn` command's help, and each subcommand's, from minicnn.cli.build_parser()."""
    import argparse

    from minicnn.cli import build_parser

    os.environ["COLUMNS"] = "100"                  # argparse wraps to the terminal's width
    lines = ["# The `minicnn` command", "",
             "Every command, with its flags, as `minicnn COMMAND --help` prints them (generated "
             "from the parser in `minicnn/cli.py`).", ""]

    def walk(parser, name):
        lines.extend([f"## `{name}`", "", "```text", parser.format_help().rstrip(), "```", ""])
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")

    walk(build_parser(), "minicnn")
    return "\n".join(lines) + "\n"


def resolve(dotted):
    """The object named by 'package.module.Class.method'."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"minicnn-source: cannot import {dotted}")


class MinicnnSource(Directive):
    """```{minicnn-source} dotted.name``` with optional :start: and :stop: text."""
    required_arguments = 1
    option_spec = {"start": directives.unchanged, "stop": directives.unchanged}

    def run(self):
        from minicnn.viz.source import source_text

        config = self.state.document.settings.env.config
        try:
            text = source_text(resolve(self.arguments[0]), self.options.get("start"),
                               self.options.get("stop"),
                               hide_solutions=config.minicnn_hide_solutions)
        except (ImportError, AttributeError, TypeError, ValueError) as error:
            raise self.error(f"minicnn-source {self.arguments[0]}: {error}")
        block = nodes.literal_block(text, text)
        block["language"] = "python"
        return [block]


def verbatim_docstrings(app, what, name, obj, options, lines):
    """Show each docstring as written (a literal block): they are plain text, not RST. A
    docstring may hold an exercise's answer too (a solution block): shown without its marker
    lines, or hidden in a student edition, as everywhere on the site."""
    from minicnn.assignment.markers import parse
    from minicnn.viz.source import PLACEHOLDER

    for block in reversed(parse("\n".join(lines), where=name)):
        lines[block.begin:block.end + 1] = (
            [block.indent + PLACEHOLDER.format(name=block.name)]
            if app.config.minicnn_hide_solutions else lines[block.begin + 1:block.end])
    if lines:
        body = [("    " + line) if line.strip() else "" for line in lines]
        lines[:] = [".. code-block:: text", ""] + body + [""]


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = resources.files("mathjax") / "static" / "mathjax" / "es5" / MATHJAX_FILE
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(source) as path:
        shutil.copyfile(path, target / MATHJAX_FILE)


def setup(app):
    app.add_config_value("minicnn_hide_solutions",
                         os.environ.get("MINICNN_DOCS_HIDE_SOLUTIONS", "0") == "1", "env")
    app.add_directive("minicnn-source", MinicnnSource)
    app.connect("autodoc-process-docstring", verbatim_docstrings)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
