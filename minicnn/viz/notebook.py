"""Showing figures from the tutorials: saved to a folder always, and displayed inline when the
code runs inside Jupyter. No pyplot, so a plain `python tutorial.py` never blocks on a window."""
import os
import tempfile
from pathlib import Path


def tutorial_output_dir():
    """$MINICNN_TUTORIAL_OUT/minicnn_tutorials (default: the temp folder), created if needed."""
    out = Path(os.environ.get("MINICNN_TUTORIAL_OUT", tempfile.gettempdir())) / "minicnn_tutorials"
    out.mkdir(parents=True, exist_ok=True)
    return out


def show(fig, name):
    """Save a matplotlib Figure as `name` in tutorial_output_dir(); in Jupyter also display it."""
    path = tutorial_output_dir() / name
    fig.savefig(path, dpi=90)
    try:
        get_ipython  # noqa: F821  (defined only inside IPython/Jupyter)
    except NameError:
        print(f"figure saved: {path}")
        return path
    from IPython.display import Image, display
    display(Image(filename=str(path)))
    return path
