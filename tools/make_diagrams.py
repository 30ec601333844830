"""Draw the diagrams of minicnn.viz.diagrams into docs/images/ (the site and README use them).

    python tools/make_diagrams.py                 # all of them
    python tools/make_diagrams.py unet im2col     # some of them

Each diagram is drawn by one function of minicnn/viz/diagrams.py from real numbers; the
tutorials call the same functions, so the pictures in the notebooks and on the site agree.
"""
import argparse
from pathlib import Path

from minicnn.viz import diagrams
from minicnn.viz.notebook import DPI, save_png

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[]] + sorted(diagrams.ALL), metavar="NAME",
                        help=f"diagrams to draw (default: all of {', '.join(diagrams.ALL)})")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or diagrams.ALL:
        path = args.out / f"diagram_{name}.png"
        save_png(diagrams.ALL[name](), path, dpi=DPI)
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
