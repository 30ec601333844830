"""Regenerate the README's two pictures with minicnn's own code:

    docs/images/training_curve.png   loss and held-out IoU of a U-Net trained on the bundled
                                     DSB 2018 nuclei image (left three quarters train, the right
                                     quarter is the held-out strip)
    docs/images/overlay.png          that image, its ground truth and the prediction, with outlines

Run from anywhere:  python tools/make_readme_figures.py  [--steps 300] [--out docs/images]

The curve always comes from a fresh training run (minicnn.pipeline.train_pairs, the code behind
`minicnn train`), a few minutes on 2 CPU cores. The overlay uses the bundled pretrained model
(minicnn/data/pretrained/nuclei.npz) when this copy of minicnn has one, else the model just
trained; the held-out strip is marked with a dashed line.
"""
import argparse
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from minicnn import metrics, viz
from minicnn.data import Pair, normalize, sample_nuclei
from minicnn.pipeline import load_model, train_pairs
from minicnn.predict import predict_image, probabilities_to_mask
from minicnn.train import TrainSettings

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"),
                        help="folder for training_curve.png and overlay.png")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    image, labels = sample_nuclei()
    settings = TrainSettings(steps=args.steps, batch=4, patch=96, warmup_steps=10,
                             val_every=max(1, args.steps // 15), seed=args.seed)
    with tempfile.TemporaryDirectory() as run_dir:
        model, history, summary = train_pairs(
            [Pair("dsb2018_nuclei", image, labels > 0)], run_dir, settings,
            model_options={"base_channels": args.base_channels, "depth": 3}, val_fraction=0.25)
    print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s, best held-out IoU "
          f"{summary['val_iou']:.3f}")
    fig = viz.plot_curves(history)
    fig.suptitle("U-Net on the DSB 2018 nuclei image: training loss, IoU on the held-out strip")
    fig.savefig(out / "training_curve.png", dpi=80)

    pretrained = resources.files("minicnn.data") / "pretrained" / "nuclei.npz"
    if pretrained.is_file():
        model = load_model("nuclei")
        source = "bundled pretrained model"
    else:
        source = f"model trained above ({summary['steps']} steps)"
    normalization = (getattr(model, "metadata", None) or {}).get("normalization")
    probs = predict_image(model, normalize(image, normalization))
    prediction = probabilities_to_mask(probs, 0.5)
    cut = image.shape[1] - round(0.25 * image.shape[1])
    strip_iou = metrics.iou(prediction[:, cut:], labels[:, cut:] > 0)
    fig = viz.plot_overlay(normalize(image), labels > 0, prediction,
                           title=f"DSB 2018 nuclei (Caicedo et al. 2019), {source}; right of the "
                                 f"dashed line: held out, IoU {strip_iou:.2f}")
    for ax in fig.axes:
        ax.axvline(cut - 0.5, color="orange", ls="--", lw=1)
    fig.savefig(out / "overlay.png", dpi=80)
    for name in ("training_curve.png", "overlay.png"):
        print(f"wrote {out / name} ({(out / name).stat().st_size / 1e3:.0f} kB)")
    return np.isfinite(strip_iou)


if __name__ == "__main__":
    main()
