"""The tutorials run top to bottom (quick mode, headless), and each paired notebook matches its
source.

Each tutorial is a jupytext percent-format script, tutorials/NN_name.py, with assertions inside
on what matters (gradcheck passes, the loss falls, the held-out IoU clears a stated bar). Here it
runs as a plain script, as a reader would run it, with MINICNN_QUICK=1 (small sizes, few steps)
and matplotlib's Agg backend, from a temporary working directory. The .ipynb next to it is
generated with `jupytext --update --to ipynb tutorials/NN_name.py` and committed without
outputs; the sync test fails when someone edits one without regenerating the other.
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
    outputs = sum(len(cell.get("outputs", [])) for cell in from_notebook.cells)
    assert outputs == 0, f"{notebook_path.name} was committed with outputs; clear them"
