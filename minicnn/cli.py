"""The `minicnn` command: demo, train, predict, evaluate, export, assignment.

Bad input never shows a traceback: every error becomes one line on stderr and exit status 2
(set MINICNN_DEBUG=1 to see the traceback when reporting a bug).
"""
import argparse
import os
import sys

import minicnn

EPILOG = "Run `minicnn COMMAND --help` for the options of a command."


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what was wrong and where to read more)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def add_device(parser):
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where to compute (cuda needs CuPy and an NVIDIA GPU)")


def add_channel_axis(parser, default_help):
    parser.add_argument("--channel-axis", type=int, default=None, metavar="N",
                        help="the axis of the image files that holds channels, e.g. 0 for "
                        f"(C, H, W) or -1 for (H, W, C) (default: {default_help})")


def build_parser():
    parser = OneLineParser(
        prog="minicnn", epilog=EPILOG,
        description="A readable deep-learning engine that learns to segment microscopy images.")
    parser.add_argument("--version", action="version", version=f"minicnn {minicnn.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="train a U-Net on the bundled nuclei image (offline)",
                               description="Train a U-Net on the bundled DSB 2018 nuclei image: "
                               "the left three quarters train, the right quarter validates.")
    demo.add_argument("--quick", action="store_true", help="a small run (under a minute on 2 cores)")
    demo.add_argument("--out", default="minicnn-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty --out")
    add_device(demo)

    train = commands.add_parser("train", help="train on a folder of TIFF image/mask pairs",
                                description="Train a U-Net on images/X.tif paired with masks/X.tif.")
    train.add_argument("--images", required=True, help="folder of raw images (TIFF)")
    train.add_argument("--masks", required=True, help="folder of masks with the same file names")
    train.add_argument("--out", required=True, help="output folder for model, curves, checkpoint")
    from minicnn.train import TrainSettings

    defaults = TrainSettings()
    train.add_argument("--steps", type=positive_int, default=defaults.steps)
    train.add_argument("--batch", type=positive_int, default=defaults.batch)
    train.add_argument("--patch", type=positive_int, default=defaults.patch)
    train.add_argument("--lr", type=float, default=0.0, help="learning rate (default: adam 3e-3, "
                       "sgd 0.05)")
    train.add_argument("--optimizer", choices=["adam", "sgd"], default=defaults.optimizer)
    train.add_argument("--val-fraction", type=fraction, default=0.25,
                       help="held-out share: of the images, or of the width of a single image")
    train.add_argument("--classes", type=int, default=0,
                       help="N >= 2: masks hold class indices 0..N-1 (default: foreground/background)")
    train.add_argument("--loss", choices=["bce+dice", "bce"], default="bce+dice",
                       help="binary loss: BCE-with-logits plus soft Dice (default), or BCE alone "
                       "(with --classes N: cross-entropy)")
    add_channel_axis(train, "none: single-channel images")
    train.add_argument("--base-channels", type=positive_int, default=16)
    train.add_argument("--depth", type=positive_int, default=3)
    train.add_argument("--val-every", type=positive_int, default=defaults.val_every)
    train.add_argument("--seed", type=int, default=0)
    add_device(train)
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint.npz")
    train.add_argument("--force", action="store_true", help="write into a non-empty --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = commands.add_parser("predict", help="segment new images with a trained model",
                                  description="Write <stem>_prob.tif and <stem>_mask.tif for each "
                                  "image (and <stem>_labels.tif + counts.csv with --instances).")
    predict.add_argument("model", help="model.npz from `minicnn train`, 'nuclei' (bundled), or a "
                         "model.onnx from `minicnn export` (run by ONNX Runtime)")
    predict.add_argument("images", nargs="+", help="TIFF images: 2-D, stacks (Z,Y,X) or (T,Z,Y,X)")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--tile", type=positive_int, default=256)
    predict.add_argument("--overlap", type=int, default=None,
                         help="tile overlap in pixels (default: the network's receptive field)")
    predict.add_argument("--threshold", type=fraction, default=None,
                         help="foreground probability threshold (default: the model's, 0.5)")
    predict.add_argument("--instances", action="store_true",
                         help="split touching objects and count them")
    predict.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_channel_axis(predict, "the one the model was trained with")
    add_device(predict)

    evaluate = commands.add_parser("evaluate", help="score predicted masks against ground truth")
    evaluate.add_argument("--pred", required=True, help="folder with <stem>_mask.tif files")
    evaluate.add_argument("--masks", required=True, help="folder with ground truth <stem>.tif")

    add_export_parser(commands)

    assignment = commands.add_parser("assignment", help="course assignments: make and grade")
    kit = assignment.add_subparsers(dest="action", metavar="ACTION")
    make = kit.add_parser("make", help="write a student copy with exercises to fill in")
    make.add_argument("outdir")
    make.add_argument("--only", help="comma-separated exercise names (default: all)")
    make.add_argument("--seed", type=int, default=None,
                      help="seed of the hidden graded cases (default: a new random one, kept in "
                           "the instructor's record, $MINICNN_HOME or ~/.minicnn)")
    make.add_argument("--gradescope", action="store_true",
                      help="also write a Gradescope autograder: OUTDIR-autograder.zip")
    make.add_argument("--force", action="store_true")
    grade = kit.add_parser("grade", help="grade a student copy, or a folder of them (--batch)")
    grade.add_argument("student_dir", nargs="?")
    grade.add_argument("--seed", type=int, default=None,
                       help="seed of the hidden cases (default: the one in the instructor's "
                            "record of the copy)")
    grade.add_argument("--json", metavar="RESULTS_JSON",
                       help="also write the results in Gradescope's results.json format")
    grade.add_argument("--batch", metavar="SUBMISSIONS",
                       help="grade every subfolder of SUBMISSIONS (one student copy each)")
    grade.add_argument("--csv", metavar="GRADEBOOK_CSV",
                       help="with --batch: the gradebook to write (student, exercises, total)")
    grade.add_argument("--timeout", type=int, default=60,
                       help="seconds each exercise may run (default 60)")
    return parser


def run_demo(args):
    from minicnn import pipeline

    _, history, summary = pipeline.demo(args.out, quick=args.quick, device=args.device,
                                        force=args.force)
    print(f"validation IoU {summary['val_iou']:.3f} (best at step {summary['best_step']} of "
          f"{summary['steps']}, {summary['seconds']:.0f} s); wrote model.npz, curves.png, "
          f"overlay.png and history.csv to {args.out}")


def run_train(args):
    from minicnn import pipeline
    from minicnn.data import read_pairs
    from minicnn.train import TrainSettings

    if args.classes == 1 or args.classes < 0:
        raise ValueError(f"--classes must be 0 (foreground/background) or at least 2, got "
                         f"{args.classes}")
    pipeline.prepare_output_folder(args.out, force=args.force, resume=bool(args.resume))
    pairs = read_pairs(args.images, args.masks, classes=args.classes or None,
                       channel_axis=args.channel_axis)
    settings = TrainSettings(steps=args.steps, batch=args.batch, patch=args.patch, lr=args.lr,
                             optimizer=args.optimizer, classes=args.classes,
                             dice=args.loss == "bce+dice",
                             val_every=args.val_every, seed=args.seed, device=args.device)
    _, _, summary = pipeline.train_pairs(
        pairs, args.out, settings, {"base_channels": args.base_channels, "depth": args.depth},
        val_fraction=args.val_fraction, resume=args.resume, progress=not args.quiet,
        channel_axis=args.channel_axis)
    print(f"validation IoU {summary['val_iou']:.3f} (best at step {summary['best_step']} of "
          f"{summary['steps']}, {summary['seconds']:.0f} s); model: "
          f"{os.path.join(args.out, 'model.npz')}")


def run_predict(args):
    from minicnn import pipeline

    counts = pipeline.predict_files(args.model, args.images, args.out, tile=args.tile,
                                    overlap=args.overlap, threshold=args.threshold,
                                    instances=args.instances, device=args.device,
                                    force=args.force, channel_axis=args.channel_axis)
    for stem, count in counts:
        print(f"{stem}: {args.out}/{stem}_prob.tif, {stem}_mask.tif"
              + (f", {count} objects" if count is not None else ""))


def run_evaluate(args):
    from minicnn import pipeline

    rows, mean = pipeline.evaluate_folders(args.pred, args.masks)
    width = max(len(r["image"]) for r in rows + [mean])
    print(f"{'image':<{width}}  {'IoU':>6}  {'Dice':>6}  {'F1@0.5':>6}")
    for row in rows + [mean]:
        print(f"{row['image']:<{width}}  {row['iou']:6.3f}  {row['dice']:6.3f}  {row['f1']:6.3f}")


# ---- export (issue 16): ONNX, bioimage.io package, PyTorch ----
def add_export_parser(commands):
    export = commands.add_parser(
        "export", help="write a model as ONNX, a bioimage.io package, or a PyTorch file",
        description="Write a trained model for other tools: --format onnx (ONNX Runtime, "
        "deepImageJ), bioimageio (a bioimage.io model package .zip for Fiji, ilastik, QuPath, "
        "napari), torch (model.pt for PyTorch). onnx and bioimageio need "
        "`pip install \"minicnn[export]\"`, torch needs PyTorch.")
    export.add_argument("model", help="model.npz from `minicnn train`, or 'nuclei' (bundled)")
    export.add_argument("--format", required=True, choices=["onnx", "bioimageio", "torch"])
    export.add_argument("--out", required=True, help="the file to write (.onnx, .zip or .pt)")
    export.add_argument("--force", action="store_true", help="replace an existing --out")


def run_export(args):
    from minicnn import interop

    interop.export(args.model, args.format, args.out, force=args.force)
    print(f"wrote {args.out} ({args.format}, {os.path.getsize(args.out) / 1e6:.2f} MB)")


def run_assignment(args):
    from minicnn import assignment

    if args.action == "make":
        only = [name.strip() for name in args.only.split(",")] if args.only else None
        out = assignment.make(args.outdir, only=only, force=args.force, seed=args.seed,
                              gradescope=args.gradescope)
        kept = assignment.record.path_of(assignment.record.copy_id(out))
        print(f"wrote a student copy to {out} (see {out}/README.md) and its record (the hidden "
              f"cases' seed, the files' SHA-256) to {kept}; grade it with `minicnn assignment "
              f"grade {args.outdir}`"
              + (f"; the Gradescope autograder is {out}-autograder.zip" if args.gradescope
                 else ""))
    elif args.action == "grade":
        if args.batch and args.student_dir:
            raise ValueError("give either STUDENT_DIR or --batch SUBMISSIONS, not both")
        if args.batch:
            if args.json:
                raise ValueError("--json goes with one STUDENT_DIR; --batch writes --csv")
            if not args.csv:
                raise ValueError("--batch needs --csv GRADEBOOK_CSV: the file to write")
            return assignment.grade_batch(args.batch, args.csv, seed=args.seed,
                                          timeout=args.timeout)
        if args.csv:
            raise ValueError("--csv goes with --batch SUBMISSIONS; for one copy use --json")
        if not args.student_dir:
            raise ValueError("say what to grade: `minicnn assignment grade STUDENT_DIR` or "
                             "`minicnn assignment grade --batch SUBMISSIONS --csv gradebook.csv`")
        return assignment.grade(args.student_dir, seed=args.seed, json_path=args.json,
                                timeout=args.timeout)
    else:
        raise ValueError("say what to do: `minicnn assignment make OUTDIR` or "
                         "`minicnn assignment grade STUDENT_DIR`")
    return 0


COMMANDS = {"demo": run_demo, "train": run_train, "predict": run_predict,
            "evaluate": run_evaluate, "export": run_export, "assignment": run_assignment}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if getattr(args, "device", "cpu") != "cpu":
            minicnn.backend.check_device_name(args.device)     # before anything is written
        return COMMANDS[args.command](args) or 0
    except KeyboardInterrupt:
        print("minicnn: interrupted (a checkpoint was saved where training was running)",
              file=sys.stderr)
        return 130
    except Exception as error:  # one clear line, never a traceback (MINICNN_DEBUG=1 shows it)
        if os.environ.get("MINICNN_DEBUG"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"minicnn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
