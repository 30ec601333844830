"""The tutorials run top to bottom (quick mode, headless), and each paired notebook matches its
source.

Each tutorial is a jupytext percent-format script, tutorials/NN_name.py, with assertions inside
on what matters (gradcheck passes, the loss falls, the held-out IoU clears a stated bar). Here it
runs as a plain script, as a reader would run it, with MINICNN_QUICK=1 (small sizes, few steps)
and matplotlib's Agg backend, from a temporary working directory. The .ipynb next to it is
committed executed (`python tools/build_notebooks.py`), so that its figures show in any viewer;
the sync test fails when someone edits one without regenerating the other, and the output tests
keep the notebooks small and free of errors and of exercise answers.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SOURCES = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def test_the_five_tutorials_are_there():
    assert [p.stem[:2] for p in SOURCES] == ["01", "02", "03", "04", "05"], SOURCES


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tutorial_runs_in_quick_mode(source, tmp_path):
    env = dict(os.environ, MINICNN_QUICK="1", MPLBACKEND="Agg",
               MINICNN_TUTORIAL_OUT=str(tmp_path / "figures"))
    result = subprocess.run([sys.executable, str(source)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (f"{source.name} failed (exit {result.returncode}):\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    assert any((tmp_path / "figures").rglob("*.png")), "the tutorial saved no figure"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source(source):
    jupytext = pytest.importorskip("jupytext")
    notebook_path = source.with_suffix(".ipynb")
    assert notebook_path.exists(), (f"{notebook_path.name} is missing; create it with "
                                    f"`jupytext --to ipynb {source.relative_to(TUTORIALS.parent)}`")
    from_source = jupytext.read(source)
    from_notebook = jupytext.read(notebook_path)

    def cells(nb):
        return [(cell.cell_type, cell.source.strip()) for cell in nb.cells]

    assert cells(from_notebook) == cells(from_source), (
        f"{notebook_path.name} is out of sync with {source.name}; regenerate it with "
        f"`jupytext --update --to ipynb {source.relative_to(TUTORIALS.parent)}`")


MAX_NOTEBOOK_BYTES = 2_000_000    # PNG figures at 90 dpi: a tutorial is well under 1 MB


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_outputs_are_small_and_clean(source):
    nbformat = pytest.importorskip("nbformat")
    path = source.with_suffix(".ipynb")
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, (f"{path.name} is {size / 1e6:.1f} MB; keep figures small "
                                       f"(minicnn.viz.show saves PNGs at 90 dpi)")
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            where = f"{path.name}, cell {number}"
            assert output.output_type != "error", (f"{where} holds an error; rebuild with "
                                                   f"python tools/build_notebooks.py")
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, (
                f"{where} prints an exercise's answer; print source with mc.viz.show_source")
            assert "Traceback" not in text, f"{where} printed a traceback"
    figures = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                  for output in cell.get("outputs", []))
    assert figures > 0, (f"{path.name} has no figures: it was committed without running; build "
                         f"it with python tools/build_notebooks.py {source.stem[:2]}")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tutorials_print_source_through_show_source(source):
    """inspect.getsource would print the answers inside solution markers; show_source hides them."""
    text = source.read_text(encoding="utf-8")
    assert "getsource" not in text, (f"{source.name} calls inspect.getsource; use "
                                     f"mc.viz.show_source(obj), which hides exercise answers")
