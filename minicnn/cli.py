"""The `minicnn` command: demo, train, predict, evaluate, export, assignment.

Bad input never shows a traceback: every error becomes one line on stderr and exit status 2
(set MINICNN_DEBUG=1 to see the traceback when reporting a bug). Ctrl-C is one line too, saying
what was saved. Warnings are one line each, printed when the command succeeds.
"""
import argparse
import errno
import logging
import math
import os
import re
import sys
import warnings

import minicnn
from minicnn import _interrupt

EPILOG = "Run `minicnn COMMAND --help` for the options of a command."


class HelpFormatter(argparse.HelpFormatter):
    """--help states what the checks enforce: a number flag's range (from its `number` type)
    and every flag's default."""

    def _get_help_string(self, action):
        text = action.help or ""
        notes = [getattr(action.type, "range_text", None)]
        shown = action.default is not None and action.default is not False \
            and action.default != argparse.SUPPRESS                # (0 is a default to show)
        if shown and "default" not in text:
            notes.append("default: %(default)s")
        notes = "; ".join(note for note in notes if note)
        return f"{text} ({notes})".strip() if notes else text


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what was wrong and where to read more), and a
    flag's bad value reads "--lr must be ..." rather than "argument --lr: ..."."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        message = re.sub(r"^argument ([-\w/]+): (must|is) ", r"\1 \2 ", message)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class UsageError(ValueError):
    """A flag's value, or a combination of flags, that cannot work."""


# ---- flag values: every number is checked, with the flag's name and the reason ----

def bounds_of(low, high, low_open, high_open, why_high=""):
    """['>= 1', '<= 1024 (why)']: the range of a number flag, in words for messages and --help."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high}"
                      + (f" ({why_high})" if why_high else ""))
    return bounds


def number(kind, low=None, high=None, low_open=False, high_open=False, why_high=""):
    """An argparse `type`: a finite int or float within [low, high] (an end excluded when
    low_open / high_open); the message says what was expected and why an upper bound exists."""
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        word = "a whole number" if kind is int else "a finite number"
        bounds = bounds_of(low, high, low_open, high_open, why_high)
        outside = value is not None and (
            (low is not None and (value <= low if low_open else value < low)) or
            (high is not None and (value >= high if high_open else value > high)))
        if value is None or (kind is float and not math.isfinite(value)) or outside:
            raise argparse.ArgumentTypeError(f"must be {word} {' and '.join(bounds)}, "
                                             f"got {text}")
        return value
    convert.__name__ = kind.__name__
    convert.range_text = " and ".join(part.split(" (")[0] for part in bounds_of(
        low, high, low_open, high_open)) or None
    return convert


def path_text(text):
    """An argparse `type` for a file or folder name: an empty one ('') names no file."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file or folder, got {text!r}")
    return text


positive_int = number(int, 1)
fraction = number(float, 0, 1, low_open=True, high_open=True)


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
    demo.add_argument("--out", type=path_text, default="minicnn-demo",
                      help="output folder (default: %(default)s)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty --out")
    add_device(demo)

    train = commands.add_parser("train", help="train on a folder of TIFF image/mask pairs",
                                description="Train a U-Net on images/X.tif paired with masks/X.tif.")
    train.add_argument("--images", required=True, type=path_text,
                       help="folder of raw images (TIFF)")
    train.add_argument("--masks", required=True, type=path_text,
                       help="folder of masks with the same file names")
    train.add_argument("--out", type=path_text,
                       help="output folder for model, curves, checkpoint (with --resume: "
                       "default the checkpoint's folder, where the run continues)")
    from minicnn.train import TrainSettings

    defaults = TrainSettings()
    train.add_argument("--steps", type=number(int, 1, 10_000_000), default=defaults.steps,
                       help="training steps, one batch each")
    train.add_argument("--batch", type=number(int, 1, 1024, why_high="larger batches do not fit "
                                              "in memory"), default=defaults.batch,
                       help="patches per step")
    train.add_argument("--patch", type=number(int, 8, 4096, why_high="a patch is a window of "
                                              "the image"), default=defaults.patch,
                       help="patch size in pixels, a multiple of 2**(depth-1)")
    train.add_argument("--lr", type=number(float, 0, 10, low_open=True,
                                           why_high="a larger step diverges at once"),
                       default=None, help="learning rate (default: adam 3e-3, sgd 0.05)")
    train.add_argument("--optimizer", choices=["adam", "sgd"], default=defaults.optimizer,
                       help="the update rule")
    train.add_argument("--val-fraction", type=fraction, default=0.25,
                       help="held-out share: of the images, or of the width of a single image")
    train.add_argument("--classes", type=number(int, 0, 256, why_high="masks hold 8-bit "
                                                "class indices"), default=0,
                       help="0 (default): foreground/background; N >= 2: masks hold class indices "
                       "0..N-1")
    train.add_argument("--loss", choices=["bce+dice", "bce"], default="bce+dice",
                       help="binary loss: BCE-with-logits plus soft Dice (default), or BCE alone "
                       "(with --classes N: cross-entropy)")
    add_channel_axis(train, "none: single-channel images")
    train.add_argument("--base-channels", type=number(int, 1, 256, why_high="wider networks do "
                                                      "not fit in memory"), default=16,
                       help="channels of the first level, doubled at each level below")
    train.add_argument("--depth", type=number(int, 1, 8, why_high="each level halves the "
                                              "image"), default=3,
                       help="levels of the U-Net; each sees twice as far")
    train.add_argument("--val-every", type=positive_int, default=defaults.val_every,
                       help="validate, and keep the best model, every N steps")
    train.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0,
                       help="the same seed gives the same run")
    add_device(train)
    train.add_argument("--resume", metavar="CHECKPOINT", type=path_text,
                       help="continue from a checkpoint.npz, in "
                       "its folder (or in a new, empty --out)")
    train.add_argument("--force", action="store_true", help="write into a non-empty --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = commands.add_parser("predict", help="segment new images with a trained model",
                                  description="Write <stem>_prob.tif and <stem>_mask.tif for each "
                                  "image (and <stem>_labels.tif + counts.csv with --instances).")
    predict.add_argument("model", type=path_text,
                         help="model.npz from `minicnn train`, 'nuclei' (bundled), or a "
                         "model.onnx from `minicnn export` (run by ONNX Runtime)")
    predict.add_argument("images", nargs="+", type=path_text,
                         help="TIFF images: 2-D, stacks (Z,Y,X) or (T,Z,Y,X)")
    predict.add_argument("--out", required=True, type=path_text, help="output folder")
    predict.add_argument("--tile", type=number(int, 8, 8192, why_high="a larger tile does not "
                                               "fit in memory"), default=None,
                         help="tile size in pixels for large images (default: 256, or twice "
                         "the overlap for deeper networks: --depth 6 and above)")
    predict.add_argument("--overlap", type=number(int, 0, 8191), default=None,
                         help="tile overlap in pixels (default: the network's receptive field)")
    predict.add_argument("--threshold", type=fraction, default=None,
                         help="foreground probability threshold (default: the model's, 0.5)")
    predict.add_argument("--instances", action="store_true",
                         help="split touching objects and count them")
    predict.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_channel_axis(predict, "the one the model was trained with")
    add_device(predict)

    evaluate = commands.add_parser(
        "evaluate", help="score predicted masks against ground truth",
        description="Score each <stem>_mask.tif in --pred against <stem>.tif in --masks: IoU "
        "and Dice of the foreground pixels, and F1@0.5, the F1 score of the objects, where a "
        "predicted object matches a true one when their IoU is at least 0.5.")
    evaluate.add_argument("--pred", required=True, type=path_text,
                          help="folder with <stem>_mask.tif files")
    evaluate.add_argument("--masks", required=True, type=path_text,
                          help="folder with ground truth <stem>.tif")

    add_export_parser(commands)

    assignment = commands.add_parser("assignment", help="course assignments: make and grade")
    kit = assignment.add_subparsers(dest="action", metavar="ACTION")
    make = kit.add_parser("make", help="write a student copy with exercises to fill in")
    make.add_argument("outdir")
    make.add_argument("--only", help="comma-separated exercise names (default: all; 'none': "
                                     "a complete copy, for its notebooks)")
    make.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=None,
                      help="seed of the hidden graded cases (default: a new random one, kept in "
                           "the instructor's record, $MINICNN_HOME or ~/.minicnn)")
    make.add_argument("--gradescope", action="store_true",
                      help="also write a Gradescope autograder: OUTDIR-autograder.zip")
    make.add_argument("--force", action="store_true")
    grade = kit.add_parser("grade", help="grade a student copy, or a folder of them (--batch)")
    grade.add_argument("student_dir", nargs="?")
    grade.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=None,
                       help="seed of the hidden cases (default: the one in the instructor's "
                            "record of the copy)")
    grade.add_argument("--json", metavar="RESULTS_JSON",
                       help="also write the results in Gradescope's results.json format")
    grade.add_argument("--batch", metavar="SUBMISSIONS",
                       help="grade every subfolder of SUBMISSIONS (one student copy each)")
    grade.add_argument("--csv", metavar="GRADEBOOK_CSV",
                       help="with --batch: the gradebook to write (student, exercises, total)")
    grade.add_argument("--timeout", type=number(int, 1, 3600), default=60,
                       help="seconds each exercise may run (default 60)")
    return parser


def check_device(device):
    if not minicnn.backend.cuda_available():
        raise UsageError(f"--device {device} needs CuPy and an NVIDIA GPU, and this machine "
                         f"has none that CuPy can use; drop --device {device} (the CPU is the "
                         f"default), or run `pip install \".[cuda]\"` in the minicnn checkout "
                         f"on a machine with a GPU")


def run_demo(args):
    from minicnn import pipeline

    _, history, summary = pipeline.demo(args.out, quick=args.quick, device=args.device,
                                        force=args.force)
    print(f"validation IoU {summary['val_iou']:.3f} (best at step {summary['best_step']} of "
          f"{summary['steps']}, {summary['seconds']:.0f} s); wrote model.npz, curves.png, "
          f"overlay.png and history.csv to {args.out}")


def check_train_flags(args):
    """What no single flag's type can check: flags that must agree with each other."""
    if args.classes == 1:
        raise UsageError("--classes must be 0 (foreground/background) or at least 2, got 1")
    multiple = 2 ** (args.depth - 1)
    if args.patch % multiple:
        raise UsageError(f"--patch must be a multiple of {multiple} with --depth {args.depth} "
                         f"(each of the {args.depth - 1} poolings halves it), got {args.patch}; "
                         f"use --patch {multiple * max(1, round(args.patch / multiple))}")
    if args.resume and not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: no such checkpoint file; give the "
                         f"checkpoint.npz of an earlier run")
    if args.out is None and not args.resume:
        raise UsageError("--out is required: the folder to write the model into (with --resume "
                         "it defaults to the checkpoint's folder, where the run continues)")


def run_train(args):
    from minicnn import pipeline
    from minicnn.data import read_pairs
    from minicnn.train import TrainSettings

    check_train_flags(args)
    out = args.out or os.path.dirname(os.path.abspath(args.resume))
    settings = TrainSettings(steps=args.steps, batch=args.batch, patch=args.patch,
                             lr=args.lr or 0.0, optimizer=args.optimizer, classes=args.classes,
                             dice=args.loss == "bce+dice",
                             val_every=args.val_every, seed=args.seed, device=args.device)
    with pipeline.output_folder(out, force=args.force, resume=args.resume):
        pairs = read_pairs(args.images, args.masks, classes=args.classes or None,
                           channel_axis=args.channel_axis)
        _, _, summary = pipeline.train_pairs(
            pairs, out, settings, {"base_channels": args.base_channels, "depth": args.depth},
            val_fraction=args.val_fraction, resume=args.resume, progress=not args.quiet,
            channel_axis=args.channel_axis)
    print(f"validation IoU {summary['val_iou']:.3f} (best at step {summary['best_step']} of "
          f"{summary['steps']}, {summary['seconds']:.0f} s); model: "
          f"{os.path.join(out, 'model.npz')}")


def run_predict(args):
    from minicnn import pipeline

    counts = pipeline.predict_files(args.model, args.images, args.out, tile=args.tile,
                                    overlap=args.overlap, threshold=args.threshold,
                                    instances=args.instances, device=args.device,
                                    force=args.force, channel_axis=args.channel_axis)
    for stem, count in counts:
        objects = f"{count} object{'' if count == 1 else 's'}"
        print(f"{stem}: {os.path.join(args.out, stem)}_prob.tif, {stem}_mask.tif"
              + (f", {stem}_labels.tif ({objects})" if count is not None else ""))
    if args.instances:
        print(f"object counts: {os.path.join(args.out, 'counts.csv')}")


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
        "`pip install \".[export]\"` in the minicnn checkout, torch needs PyTorch.")
    export.add_argument("model", type=path_text,
                        help="model.npz from `minicnn train`, or 'nuclei' (bundled)")
    export.add_argument("--format", required=True, choices=["onnx", "bioimageio", "torch"])
    export.add_argument("--out", required=True, type=path_text,
                        help="the file to write (.onnx, .zip or .pt)")
    export.add_argument("--force", action="store_true", help="replace an existing --out")


def run_export(args):
    from minicnn import interop

    interop.export(args.model, args.format, args.out, force=args.force)
    print(f"wrote {args.out} ({args.format}, {os.path.getsize(args.out) / 1e6:.2f} MB)")


def exercise_names(only):
    """--only's value -> the names for assignment.make: None for all, [] for 'none'."""
    if only is None:
        return None
    names = [name.strip() for name in only.split(",") if name.strip()]
    if names == ["none"]:
        return []
    if not names:
        raise ValueError(f"--only {only!r} names no exercise: give comma-separated exercise "
                         f"names, or 'none' for a copy without exercises")
    return names


def run_assignment(args):
    try:
        from minicnn import assignment
    except ImportError:
        raise ValueError(f"the minicnn in {os.path.dirname(minicnn.__file__)} has no assignment "
                         f"kit (a student copy?): make and grade with the instructor's "
                         f"minicnn") from None

    if args.action == "make":
        only = exercise_names(args.only)
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


# ---- one line for every way a command can end early ----

OS_ERROR_FIXES = {
    errno.ENOSPC: "free some space, or choose another --out on a disk with room",
    errno.EDQUOT: "free some space (your disk quota is used up), or choose another --out",
    errno.EACCES: "check its permissions, or choose a folder you can write to",
    errno.EPERM: "check its permissions, or choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "give a file, not a folder",
    errno.EEXIST: "choose another name, or add --force",
}


def os_error_line(error, out):
    """'<what went wrong>: <path>; <the fix>' for an error of the operating system."""
    path = error.filename or out or "the output folder"
    if os.path.basename(str(path)).startswith(".tmp-"):     # a temporary file: name its folder
        path = os.path.dirname(str(path)) or "."
    reason = (error.strerror or type(error).__name__).lower()
    fix = OS_ERROR_FIXES.get(error.errno, "check the path and try again")
    return f"{reason}: {path}; {fix}"


def error_line(error, args):
    if isinstance(error, MemoryError):
        detail = f" ({error})" if str(error) else ""
        return (f"out of memory{detail}: use a smaller --patch or --batch (train), a smaller "
                f"--tile (predict), fewer --base-channels, or smaller images")
    if isinstance(error, OSError) and error.errno is not None:
        return os_error_line(error, getattr(args, "out", None))
    return " ".join(str(error).split()) or type(error).__name__


def interrupt_line(interrupt, command, args=None):
    """What Ctrl-C left behind: the training and prediction loops say it in their message;
    before them (starting, reading data, checking inputs) nothing had been written yet; an
    export writes a temporary file that is removed, so --out is as it was."""
    if str(interrupt):
        return str(interrupt)
    if command in (None, "train", "demo", "predict"):
        return "interrupted before any result was written"
    if command == "export":
        before = "is as it was" if os.path.exists(args.out) else "was not written"
        return f"interrupted; --out {args.out} {before} (no partial file is left)"
    return "interrupted"


class OneLineWarnings(warnings.catch_warnings):
    """Warnings (minicnn's, NumPy's 'overflow encountered', tifffile's log lines about odd
    files) are held while the command runs and printed at its end, one line each, when it
    succeeds: an error line always comes alone."""

    def __init__(self, prefix):
        super().__init__()
        self.prefix, self.held = prefix, []
        self.log = logging.getLogger("tifffile")
        self.log_handler = logging.Handler(logging.WARNING)
        self.log_handler.emit = lambda record: self.hold(record.getMessage())

    def __enter__(self):
        super().__enter__()
        warnings.simplefilter("default")
        # not about the user's input: files another library (bioimageio.spec) leaves to the
        # garbage collector, and a file name's characters that the plots' font lacks
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        warnings.showwarning = lambda message, *_, **__: self.hold(message)
        self.log.addHandler(self.log_handler)
        self.log.propagate = False
        return self

    def __exit__(self, *exc):
        self.log.removeHandler(self.log_handler)
        self.log.propagate = True
        return super().__exit__(*exc)

    def hold(self, message):
        text = f"{self.prefix}: warning: {' '.join(str(message).split())}"
        if text not in self.held:
            self.held.append(text)

    def print_held(self):
        for text in self.held:
            print(text, file=sys.stderr)


def main(argv=None):
    prefix, command, args = "minicnn", None, None
    try:
        _interrupt.restore()         # Ctrl-C: KeyboardInterrupt again, caught below
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        command = args.command
        prefix = f"minicnn {command}"
        with OneLineWarnings(prefix) as shown:
            if getattr(args, "device", "cpu") != "cpu":
                check_device(args.device)                     # before anything is written
            status = COMMANDS[command](args) or 0
            shown.print_held()
        return status
    except KeyboardInterrupt as interrupt:
        print(f"{prefix}: {interrupt_line(interrupt, command, args)}", file=sys.stderr)
        return 130
    except Exception as error:  # one clear line, never a traceback (MINICNN_DEBUG=1 shows it)
        if os.environ.get("MINICNN_DEBUG"):
            raise
        print(f"{prefix}: error: {error_line(error, args)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
