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


DPI = 90   # sharp on a screen, and small: the notebooks are committed with their figures


def save_png(fig, path, dpi=DPI):
    """A Figure as a PNG with a palette of 256 colours (about half the bytes of full colour; the
    figures are plots and colour-mapped images, which 256 colours show without visible loss)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    picture = Image.open(buffer).convert("RGB")
    picture.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, format="PNG", optimize=True)


def show(fig, name):
    """Save a matplotlib Figure as `name` in tutorial_output_dir() and return its path; in
    Jupyter display it instead and return None (a cell then shows the picture, not the path)."""
    path = tutorial_output_dir() / name
    save_png(fig, path)
    try:
        get_ipython  # noqa: F821  (defined only inside IPython/Jupyter)
    except NameError:
        print(f"figure saved: {path}")
        return path
    from IPython.display import Image, display
    display(Image(filename=str(path)))
    return None
