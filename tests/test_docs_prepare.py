"""What docs/_ext/minicnn_docs.py makes for the site before Sphinx runs: the README's links
rewritten for the site, and the tutorial notebooks with their exercise answers shown without
marker lines, or hidden for a student edition. (Needs the docs extra's docutils; skips without.)
"""
import sys
from pathlib import Path

import pytest

pytest.importorskip("docutils", reason='the docs tools are not installed (pip install ".[docs]")')
nbformat = pytest.importorskip("nbformat")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
import minicnn_docs  # noqa: E402


def test_readme_links_point_to_the_sites_pages():
    text = ("![a figure](docs/images/overlay.png) [tutorial 1](tutorials/01_x.ipynb) "
            "[the tables](benchmarks/README.md) [a file](minicnn/cli.py) [web](https://a.b/c) "
            "[`tools/x.py`](tools/x.py) [course](docs/course.md#grading)")
    out = minicnn_docs.site_readme(text, pages={"tutorials/01_x.ipynb", "speed.md", "course.md"})
    assert "![a figure](images/overlay.png)" in out                 # docs/ prefix dropped
    assert "[tutorial 1](tutorials/01_x.ipynb)" in out
    assert "[the tables](speed.md)" in out                           # a repository file's page
    assert "a file (`minicnn/cli.py`)" in out and "](minicnn/cli.py)" not in out
    assert "[web](https://a.b/c)" in out
    assert "`tools/x.py`" in out and "](tools/x.py)" not in out
    assert "[course](course.md#grading)" in out


def notebook_with_answers(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION t09_square\n"
                                  "    return x * x\n    # END SOLUTION"),
        nbformat.v4.new_markdown_cell("**Question 1.** Why?\n\nBEGIN SOLUTION\nBecause.\n"
                                      "END SOLUTION"),
    ]
    path = tmp_path / "09_test.ipynb"
    nbformat.write(notebook, path)
    return path


def test_site_notebooks_show_answers_without_markers_or_hide_them(tmp_path):
    path = notebook_with_answers(tmp_path)
    shown = nbformat.reads(minicnn_docs.notebook_for_site(path, hide=False), as_version=4)
    code, question = (cell.source for cell in shown.cells)
    assert "return x * x" in code and "SOLUTION" not in code
    assert "Because." in question and "{admonition} Answer" in question
    assert "SOLUTION" not in question
    hidden = nbformat.reads(minicnn_docs.notebook_for_site(path, hide=True), as_version=4)
    code, question = (cell.source for cell in hidden.cells)
    assert "return x * x" not in code and "exercise t09_square" in code
    assert "Because." not in question and "SOLUTION" not in question
