"""Regenerate the README's two pictures with minicnn's own code:

    docs/images/training_curve.png   loss and held-out IoU of a U-Net trained on the bundled
                                     DSB 2018 nuclei image (left three quarters train, the right
                                     quarter is the held-out strip)
    docs/images/overlay.png          that image, its ground truth and the prediction, with outlines

Run from anywhere:  python tools/make_readme_figures.py  [--quick] [--steps N] [--out DIR]

The curve always comes from a fresh training run with the recipe of `minicnn demo`
(minicnn.pipeline.demo_settings and train_pairs, the code behind `minicnn demo` and `minicnn
train`), validated more often for a smoother curve: about 3.5 minutes on 2 CPU cores (207 s measured), under a
minute with --quick. The overlay uses the bundled pretrained model
(minicnn/data/pretrained/nuclei.npz) when this copy of minicnn has one, else the model just
trained; the held-out strip is marked with a dashed line.
"""
import dataclasses
import argparse
import tempfile
from importlib import resources
from pathlib import Path

from minicnn import metrics, viz
from minicnn.data import Pair, normalize, sample_nuclei
from minicnn.pipeline import demo_settings, load_model, train_pairs
from minicnn.predict import predict_image, probabilities_to_mask

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"),
                        help="folder for training_curve.png and overlay.png")
    parser.add_argument("--quick", action="store_true", help="the demo's quick recipe")
    parser.add_argument("--steps", type=int, default=0, help="training steps (default: the "
                        "demo's)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    image, labels = sample_nuclei()
    settings, model_options = demo_settings(quick=args.quick)
    steps = args.steps or settings.steps
    settings = dataclasses.replace(settings, steps=steps, val_every=max(1, steps // 16))
    with tempfile.TemporaryDirectory() as run_dir:
        model, history, summary = train_pairs(
            [Pair("dsb2018_nuclei", image, labels > 0)], run_dir, settings,
            model_options=model_options, val_fraction=0.25)
    print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s, best held-out IoU "
          f"{summary['val_iou']:.3f}")
    fig = viz.plot_curves(history)
    loss_name = "BCE + Dice" if settings.dice else "BCE"
    fig.suptitle(f"minicnn demo recipe on the DSB 2018 nuclei image: training loss ({loss_name}),"
                 f" IoU on the held-out quarter")
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


if __name__ == "__main__":
    main()
