"""The `minicnn` command against a hostile user: bad flags, bad files, bad folders, each run as
the real command in a subprocess (`python -m minicnn.cli`).

Every case asserts: the documented exit status (2 for an error, 0 for a documented success),
one line on stderr, no "Traceback", the words that say what was wrong, and that nothing the user
wrote changed (every file under the test's root is fingerprinted before and compared after).
The faults (kill -9, Ctrl-C at several moments, a full disk, out of memory) are in
test_hostile_faults.py.

The cases run a few at a time (a thread pool of subprocesses) to keep the suite fast.
"""
import concurrent.futures
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from minicnn import cli
from minicnn.data import synthetic_nuclei, write_image

COMMAND = [sys.executable, "-m", "minicnn.cli"]
TINY = ["--steps", "2", "--batch", "1", "--patch", "32", "--base-channels", "2", "--depth", "2",
        "--val-every", "1", "--quiet"]
NON_UTF8 = os.fsdecode(b"caf\xe9.tif")          # a Latin-1 file name: not valid UTF-8


def make_world(root):
    """root/: images/ + masks/ (two 32 x 32 synthetic pairs), a trained model, predictions, and
    every kind of bad file a user might hand over."""
    images, labels = synthetic_nuclei(2, size=32, seed=0)
    for folder in ("images", "masks", "copies", "bad", "pred", "probs", "odd/images",
                   "odd/masks", "small/images", "small/masks", "thin/images", "thin/masks",
                   "rgb/images", "rgb/masks", "sizes/images", "sizes/masks", "taken"):
        os.makedirs(root / folder)
    for i in range(2):
        write_image(root / "images" / f"a{i}.tif", images[i])
        write_image(root / "masks" / f"a{i}.tif", labels[i])
        write_image(root / "copies" / f"a{i}.tif", images[i])          # raw images as "masks"
    assert cli.main(["train", "--images", str(root / "images"), "--masks", str(root / "masks"),
                     "--out", str(root / "run"), *TINY]) == 0
    assert cli.main(["predict", str(root / "run" / "model.npz"), str(root / "images" / "a0.tif"),
                     "--out", str(root / "pred"), "--instances"]) == 0
    bad = root / "bad"
    tifffile.imwrite(bad / "rgb.tif", np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(bad / "five.tif", np.zeros((2, 2, 2, 32, 32), np.float32))
    nan = images[0].copy()
    nan[3, 3] = np.nan
    tifffile.imwrite(bad / "nan.tif", nan)
    tifffile.imwrite(bad / "huge.tif", images[0].astype(np.float64) * 1e300)
    outlier = images[0].astype(np.float64)
    outlier[0, 0] = 1e300
    tifffile.imwrite(bad / "outlier.tif", outlier)
    extremes = np.where(images[0] > np.median(images[0]), 3e38, -3e38).astype(np.float32)
    tifffile.imwrite(bad / "extremes.tif", extremes)
    os.makedirs(root / "huge" / "images")
    for i in range(2):
        tifffile.imwrite(root / "huge" / "images" / f"a{i}.tif", images[i].astype(float) * 1e300)
    tifffile.imwrite(bad / "lzw.tif", images[0], compression="lzw")
    whole = (root / "images" / "a0.tif").read_bytes()
    (bad / "truncated.tif").write_bytes(whole[:len(whole) // 2])
    (bad / "text.tif").write_text("not an image")
    (bad / "empty.tif").write_bytes(b"")
    (bad / "folder.tif").mkdir()
    os.makedirs(bad / "other")
    write_image(bad / "other" / "a0.tif", images[1])                    # same stem as images/a0
    (bad / "model.tif").write_bytes(whole)
    (bad / "afile").write_text("a file, not a folder")
    (bad / "lock").mkdir()
    (bad / "lock" / ".minicnn.lock").write_text(str(os.getpid()))       # a live process holds it
    write_image(root / "probs" / "a0_mask.tif", (labels[0] > 0) * 0.25 + 0.01)   # a prob. map
    write_image(root / "odd" / "images" / "a0.tif", images[0])
    write_image(root / "odd" / "masks" / "a0.tif", images[0] / images[0].max())   # in (0, 1]
    write_image(root / "small" / "images" / "a.tif", images[0][:3, :3])
    write_image(root / "small" / "masks" / "a.tif", np.eye(3, dtype=np.uint8))
    write_image(root / "thin" / "images" / "a.tif", np.tile(images[0][:, 12:16], (40, 1)))
    write_image(root / "thin" / "masks" / "a.tif", np.tile(labels[0][:, 12:16], (40, 1)))
    tifffile.imwrite(root / "rgb" / "images" / "a.tif",
                     np.stack([images[0]] * 3, axis=-1).astype(np.uint8), photometric="rgb")
    write_image(root / "rgb" / "masks" / "a.tif", labels[0])
    write_image(root / "sizes" / "images" / "a.tif", images[0])
    write_image(root / "sizes" / "masks" / "a.tif", labels[0][:30])
    os.makedirs(root / "latin" / "images")
    os.makedirs(root / "latin" / "masks")
    write_image(root / "latin" / "images" / NON_UTF8, images[0])
    write_image(root / "latin" / "masks" / NON_UTF8, labels[0])
    (root / "taken" / "history.csv").write_text("my own notes\n")


def fingerprints(root, skip="outs"):
    """{relative path: sha1, a link's target, or 'special file'} of every file under root, but
    the case outputs under root/skip."""
    prints = {}
    for folder, dirs, files in os.walk(root):
        if os.path.relpath(folder, root).split(os.sep)[0] == skip:
            continue
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):                     # a link: where it points
                prints[os.path.relpath(path, root)] = "-> " + os.readlink(path)
                continue
            if not os.path.isfile(path):                 # a named pipe: reading would block
                prints[os.path.relpath(path, root)] = "special file"
                continue
            with open(path, "rb") as f:
                prints[os.path.relpath(path, root)] = hashlib.sha1(f.read()).hexdigest()
    return prints


# (id, argv with {r} for the root and {o} for this case's own output folder, exit status,
#  words the one stderr line must hold). Each case is one hostile input.
TRAIN = ["train", "--images", "{r}/images", "--masks", "{r}/masks", "--out", "{o}", *TINY]
PREDICT = ["predict", "{r}/run/model.npz", "{r}/images/a0.tif", "--out", "{o}"]


def train_with(*flags):
    return TRAIN + list(flags)


def predict_with(*flags):
    return PREDICT + list(flags)


def predict_image(name, *flags):
    return ["predict", "{r}/run/model.npz", f"{{r}}/bad/{name}", "--out", "{o}", *flags]


def train_on(folder, *flags):
    return ["train", "--images", f"{{r}}/{folder}/images", "--masks", f"{{r}}/{folder}/masks",
            "--out", "{o}", *TINY, *flags]


CASES = [
    # section 2: every number is finite, in range, and named
    ("lr-nan", train_with("--lr", "nan"), 2, ["--lr must be a finite number > 0", "got nan"]),
    ("lr-inf", train_with("--lr", "inf"), 2, ["--lr must be", "got inf"]),
    ("lr-negative", train_with("--lr", "-1"), 2, ["--lr must be", "got -1"]),
    ("lr-zero", train_with("--lr", "0"), 2, ["--lr must be", "> 0"]),
    ("lr-huge", train_with("--lr", "1e10"), 2, ["--lr must be", "<= 10", "diverges"]),
    ("lr-text", train_with("--lr", "fast"), 2, ["--lr must be a finite number"]),
    ("steps-zero", train_with("--steps", "0"), 2, ["--steps must be a whole number >= 1"]),
    ("steps-negative", train_with("--steps", "-5"), 2, ["--steps must be"]),
    ("steps-float", train_with("--steps", "1e3"), 2, ["--steps must be a whole number"]),
    ("steps-huge", train_with("--steps", "99999999999"), 2, ["--steps must be", "<= 10000000"]),
    ("steps-400-digits", train_with("--steps", "9" * 400), 2, ["--steps must be"]),
    ("batch-zero", train_with("--batch", "0"), 2, ["--batch must be"]),
    ("batch-huge", train_with("--batch", "100000"), 2, ["--batch must be", "memory"]),
    ("patch-not-multiple", train_with("--patch", "30", "--depth", "3"), 2,
     ["--patch must be a multiple of 4", "--patch 32"]),
    ("patch-tiny", train_with("--patch", "4"), 2, ["--patch must be", ">= 8"]),
    ("patch-huge", train_with("--patch", "100000"), 2, ["--patch must be", "<= 4096"]),
    ("val-fraction-zero", train_with("--val-fraction", "0"), 2, ["--val-fraction must be"]),
    ("val-fraction-one", train_with("--val-fraction", "1"), 2, ["--val-fraction must be", "< 1"]),
    ("val-fraction-nan", train_with("--val-fraction", "nan"), 2, ["--val-fraction must be"]),
    ("classes-one", train_with("--classes", "1"), 2, ["--classes must be 0", "got 1"]),
    ("classes-negative", train_with("--classes", "-3"), 2, ["--classes must be"]),
    ("classes-huge", train_with("--classes", "1000"), 2, ["--classes must be", "<= 256"]),
    ("depth-zero", train_with("--depth", "0"), 2, ["--depth must be"]),
    ("depth-huge", train_with("--depth", "50"), 2, ["--depth must be", "<= 8"]),
    ("base-channels-zero", train_with("--base-channels", "0"), 2, ["--base-channels must be"]),
    ("base-channels-huge", train_with("--base-channels", "100000"), 2,
     ["--base-channels must be", "<= 256"]),
    ("seed-negative", train_with("--seed", "-1"), 2, ["--seed must be", ">= 0"]),
    ("seed-float", train_with("--seed", "1e40"), 2, ["--seed must be a whole number"]),
    ("val-every-zero", train_with("--val-every", "0"), 2, ["--val-every must be"]),
    ("channel-axis-out-of-range", train_with("--channel-axis", "7"), 2, ["out of range"]),
    ("channel-axis-text", train_with("--channel-axis", "last"), 2, ["--channel-axis"]),
    ("overlap-negative", predict_with("--overlap", "-100"), 2, ["--overlap must be", ">= 0"]),
    ("overlap-huge", predict_with("--overlap", "1000000000"), 2, ["--overlap must be"]),
    ("overlap-above-tile", predict_with("--overlap", "300", "--tile", "256"), 2,
     ["--overlap", "--tile"]),
    ("tile-zero", predict_with("--tile", "0"), 2, ["--tile must be"]),
    ("tile-float", predict_with("--tile", "1e6"), 2, ["--tile must be a whole number"]),
    ("tile-huge", predict_with("--tile", "100000"), 2, ["--tile must be", "memory"]),
    ("threshold-above-one", predict_with("--threshold", "2"), 2, ["--threshold must be", "< 1"]),
    ("threshold-nan", predict_with("--threshold", "nan"), 2, ["--threshold must be"]),
    ("threshold-zero", predict_with("--threshold", "0"), 2, ["--threshold must be", "> 0"]),
    ("huge-pixels", predict_image("huge.tif"), 2, ["float32's range", "rescale"]),
    ("huge-pixels-train", ["train", "--images", "{r}/huge/images", "--masks", "{r}/masks",
                           "--out", "{o}", *TINY], 2, ["float32's range", "rescale"]),  # NumPy
    # warned "overflow encountered in cast" on several lines before the error line
    ("huge-outlier", predict_image("outlier.tif"), 2, ["outlier.tif", "float32's range"]),
    ("float32-extremes", predict_image("extremes.tif"), 0, []),     # +-3e38: normalized fine

    # section 4: folders and files the user has
    ("out-is-a-file", train_with() + ["--out", "{r}/bad/afile"], 2, ["is a file", "--out"]),
    ("out-not-empty", train_with() + ["--out", "{r}/taken"], 2, ["not empty", "--force"]),
    ("resume-into-user-folder", train_with("--resume", "{r}/run/checkpoint.npz") +
     ["--out", "{r}/taken"], 2, ["not empty", "--force"]),
    ("resume-missing", train_with("--resume", "{r}/nothing.npz"), 2, ["--resume", "no such"]),
    ("resume-not-a-checkpoint", train_with("--resume", "{r}/run/model.npz"), 2,
     ["not a minicnn training checkpoint"]),
    ("folder-held-by-a-live-run", train_with("--force") + ["--out", "{r}/bad/lock"], 2,
     ["another minicnn run", "process"]),
    ("predict-out-is-a-file", predict_with() + ["--out", "{r}/bad/afile"], 2, ["is a file"]),
    ("predict-existing-outputs", predict_with() + ["--out", "{r}/pred"], 2,
     ["already exists", "--force"]),
    ("predict-existing-counts", ["predict", "{r}/run/model.npz", "{r}/images/a1.tif", "--out",
                                 "{r}/pred", "--instances"], 2, ["counts.csv already exists",
                                                                 "--force"]),
    ("predict-same-stem-twice", ["predict", "{r}/run/model.npz", "{r}/images/a0.tif",
                                 "{r}/bad/other/a0.tif", "--out", "{o}"], 2,
     ["share the name a0"]),
    ("train-tiny-image", train_on("small"), 2, ["is 3 x 2 pixels", "too small"]),
    ("train-thin-image", train_on("thin"), 2, ["too small", "--val-fraction"]),
    ("predict-non-utf8-name", ["predict", "{r}/run/model.npz", "{r}/latin/images/" + NON_UTF8,
                               "--out", "{o}"], 2, ["not valid UTF-8", "rename"]),
    ("train-non-utf8-name", train_on("latin"), 2, ["not valid UTF-8", "rename"]),
    # section 5: inputs that are not what they claim
    ("predict-rgb-with-gray-model", predict_image("rgb.tif"), 2,
     ["RGB image", "3 channels on axis -1", "--channel-axis -1"]),
    ("train-rgb-without-axis", train_on("rgb"), 2, ["RGB image", "--channel-axis -1"]),
    ("predict-5d", predict_image("five.tif"), 2, ["(2, 2, 2, 32, 32)", "time series"]),
    ("predict-5d-after-a-good-image", ["predict", "{r}/run/model.npz", "{r}/images/a0.tif",
                                       "{r}/bad/five.tif", "--out", "{o}"], 2, ["time series"]),
    ("predict-rgb-after-a-good-image", ["predict", "{r}/run/model.npz", "{r}/images/a0.tif",
                                        "{r}/bad/rgb.tif", "--out", "{o}"], 2, ["RGB image"]),
    ("predict-nan-pixels", predict_image("nan.tif"), 2, ["1 NaN"]),
    ("predict-truncated", predict_image("truncated.tif"), 2, ["truncated"]),
    ("predict-text-as-tiff", predict_image("text.tif"), 2, ["not a TIFF"]),
    ("predict-empty-file", predict_image("empty.tif"), 2, ["empty.tif"]),
    ("predict-folder-as-image", predict_image("folder.tif"), 2, ["is a folder"]),
    ("predict-missing-image", predict_image("nothing.tif"), 2, ["does not exist"]),
    ("predict-missing-model", ["predict", "{r}/none.npz", "{r}/images/a0.tif", "--out", "{o}"],
     2, ["no model file"]),
    ("predict-tiff-as-model", ["predict", "{r}/bad/model.tif", "{r}/images/a0.tif", "--out",
                               "{o}"], 2, ["model.tif"]),
    ("predict-lzw-image", predict_image("lzw.tif"), 0, []),
    ("train-masks-are-the-images-folder", train_with() + ["--masks", "{r}/images"], 2,
     ["same folder"]),
    ("train-masks-are-image-copies", train_with() + ["--masks", "{r}/copies"], 2,
     ["identical to its image", "--masks"]),
    ("train-masks-between-0-and-1", train_on("odd"), 2, ["fractional values"]),
    ("train-size-mismatch", train_on("sizes"), 2, ["same height and width"]),
    ("evaluate-probability-map", ["evaluate", "--pred", "{r}/probs", "--masks", "{r}/masks"], 2,
     ["fractional values", "probability map"]),
    ("evaluate-images-as-truth", ["evaluate", "--pred", "{r}/pred", "--masks", "{r}/copies"], 2,
     ["fractional values", "ground truth"]),
    ("evaluate-missing-pred", ["evaluate", "--pred", "{r}/nothing", "--masks", "{r}/masks"], 2,
     ["--pred folder", "does not exist"]),
    ("evaluate-no-predictions", ["evaluate", "--pred", "{r}/masks", "--masks", "{r}/masks"], 2,
     ["no *_mask.tif"]),
    # section 6: the command line's words
    ("unknown-command", ["frobnicate"], 2, ["invalid choice"]),
    ("train-without-out", ["train", "--images", "{r}/images", "--masks", "{r}/masks", *TINY], 2,
     ["--out is required"]),
    ("demo-out-is-a-file", ["demo", "--quick", "--out", "{r}/bad/afile"], 2, ["is a file"]),
]


def expand(argv, root, out):
    return [a.replace("{r}", str(root)).replace("{o}", str(out)) for a in argv]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    make_world(root)
    return root


def run_cases(world, cases, workers=3):
    """{case id: (CompletedProcess, own output folder)} for (id, argv, ...) cases, each run as
    the real command, a few at a time."""
    env = dict(os.environ, MPLBACKEND="Agg")

    def run(case):
        case_id, argv = case[0], case[1]
        out = world / "outs" / case_id
        argv = COMMAND + expand(argv, world, out)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace",
                                  env=env, timeout=120)
        except subprocess.TimeoutExpired:       # e.g. a flag accepted that should not be
            done = subprocess.CompletedProcess(argv, "timed out after 120 s", "", "")
        return case_id, (done, out)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(run, cases))


def check_outcome(done, out, status, words):
    """The exit status; no traceback; an error is one line holding `words`, and nothing was
    written with a final name (refused before any work)."""
    err = done.stderr.strip()
    assert done.returncode == status, (done.returncode, err, done.stdout)
    assert "Traceback" not in err, err
    if status:
        assert len(err.splitlines()) == 1, err
        for word in words:
            assert word in err, (word, err)
        written = [name for _, _, files in os.walk(out) for name in files] \
            if os.path.isdir(out) else []
        assert written == [], written
    return err


@pytest.fixture(scope="module")
def outcomes(world):
    """{case id: (CompletedProcess, own output folder)}; the user's files are fingerprinted
    before any case runs."""
    before = fingerprints(world)
    return run_cases(world, CASES), before


def test_at_least_sixty_hostile_inputs():
    assert len(CASES) >= 60 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id,argv,status,words", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(outcomes, world, case_id, argv, status, words):
    results, before = outcomes
    done, out = results[case_id]
    check_outcome(done, out, status, words)
    assert fingerprints(world) == before          # nothing the user wrote changed
