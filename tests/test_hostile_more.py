"""More hostile inputs through the real `minicnn` command (a review after issues 14 and 16): masks
that are not masks, files that are another format than their name says, empty names, deep
networks, the exports' files. Same rules and helpers as test_hostile_cli.py: the documented exit
status, one stderr line without a traceback that holds the stated words, nothing of the user's
changed, and nothing written under a final name when a case is refused.
"""
import argparse
import concurrent.futures
import importlib.util
import os
import subprocess

import numpy as np
import pytest
import tifffile

from minicnn import cli
from minicnn.data import synthetic_nuclei, write_image
from tests.test_hostile_cli import COMMAND, TINY, expand, fingerprints

HAS_EXPORT = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
HAS_TORCH = importlib.util.find_spec("torch") is not None


def make_world(root):
    """root/: a trained tiny model, its exports, and the odd files of this review."""
    images, labels = synthetic_nuclei(3, size=32, seed=0)

    def pair(name, image, mask, image_name="a.tif", mask_name=None):
        os.makedirs(root / name / "images")
        os.makedirs(root / name / "masks")
        tifffile.imwrite(root / name / "images" / image_name, image)
        tifffile.imwrite(root / name / "masks" / (mask_name or image_name), mask)

    for i in range(2):
        pair(f"good{i}", images[i], labels[i])
    os.makedirs(root / "images")
    os.makedirs(root / "masks")
    for i in range(2):
        write_image(root / "images" / f"a{i}.tif", images[i])
        write_image(root / "masks" / f"a{i}.tif", labels[i])
    assert cli.main(["train", "--images", str(root / "images"), "--masks", str(root / "masks"),
                     "--out", str(root / "run"), *TINY]) == 0
    pair("negative", images[0], labels[0].astype(np.int16) * -1)
    pair("binary255", images[0], (labels[0] > 0).astype(np.uint8) * 255)
    for name, truth in (("evneg", labels[0].astype(np.int16) * -1),
                        ("evsize", labels[0][:20, :20]),
                        ("evrgb", np.stack([labels[0].astype(np.uint8)] * 3, axis=-1)),
                        ("evdup", labels[0])):
        os.makedirs(root / name / "pred")
        os.makedirs(root / name / "masks")
        write_image(root / name / "pred" / "a_mask.tif", (labels[0] > 0).astype(np.uint8) * 255)
        tifffile.imwrite(root / name / "masks" / "a.tif", truth,
                         photometric="rgb" if truth.ndim == 3 else None)
    tifffile.imwrite(root / "evdup" / "masks" / "a.tiff", labels[1])   # a second truth for a
    tifffile.imwrite(root / "complex.tif", images[0].astype(np.complex64))
    tifffile.imwrite(root / "big.tif", np.tile(images[0], (4, 4)))      # 128 x 128
    (root / "model.pt").write_bytes(b"PK\x03\x04 a PyTorch file")
    (root / "garbage.onnx").write_bytes(os.urandom(500))
    write_image(root / "mine.npz", images[0])                            # a TIFF named .npz
    if HAS_EXPORT:
        assert cli.main(["export", str(root / "run" / "model.npz"), "--format", "onnx",
                         "--out", str(root / "model.onnx")]) == 0
        import onnx

        proto = onnx.load(root / "model.onnx")
        for prop in proto.metadata_props:
            if prop.key == "minicnn.config":
                prop.value = "{not json"
        onnx.save(proto, root / "badmeta.onnx")
        proto = onnx.load(root / "model.onnx")
        proto.graph.input[0].name = "x"
        for node in proto.graph.node:
            node.input[:] = ["x" if name == "image" else name for name in node.input]
        onnx.save(proto, root / "renamed.onnx")


MODEL = "{r}/run/model.npz"
PREDICT = ["predict", MODEL, "{r}/images/a0.tif", "--out", "{o}"]
EXPORT = ["export", MODEL, "--format", "onnx"]


def train_on(folder, *flags):
    return ["train", "--images", f"{{r}}/{folder}/images", "--masks", f"{{r}}/{folder}/masks",
            "--out", "{o}", *TINY, *flags]


def evaluate_on(folder):
    return ["evaluate", "--pred", f"{{r}}/{folder}/pred", "--masks", f"{{r}}/{folder}/masks"]


# (id, argv with {r} for the root and {o} for this case's own output, exit status, words)
CASES = [
    # empty names name no file
    ("predict-out-empty", PREDICT[:-1] + [""], 2, ["--out must name a file or folder"]),
    ("export-out-empty", EXPORT + ["--out", ""], 2, ["--out must name a file or folder"]),
    ("train-images-empty", train_on("good0") + ["--images", ""], 2, ["--images must name"]),
    ("evaluate-pred-empty", ["evaluate", "--pred", "", "--masks", "{r}/masks"], 2,
     ["--pred must name"]),
    # the CLI's words: --device, --tile
    ("predict-device-cuda-without-gpu", PREDICT + ["--device", "cuda"], 2,
     ["--device cuda needs CuPy", "drop --device cuda"]),
    ("predict-tile-below-the-overlap", ["predict", MODEL, "{r}/big.tif", "--out", "{o}",
                                        "--tile", "8"], 2,
     ["--tile 8 (tiles of 8 pixels)", "overlap of 18 pixels", "--tile 36 or more"]),
    # masks that are not masks: negative labels (train read them as foreground, evaluate as
    # background), 0/255 masks given --classes 2, ground truth of another size or in RGB
    ("train-negative-mask", train_on("negative"), 2, ["negative values (-", "background 0"]),
    ("train-negative-mask-classes", train_on("negative", "--classes", "3"), 2,
     ["negative values"]),
    ("train-0-255-mask-with-classes-2", train_on("binary255", "--classes", "2"), 2,
     ["0..255", "foreground/background mask (0 and 255): omit classes (--classes)"]),
    ("evaluate-negative-truth", evaluate_on("evneg"), 2, ["evneg/masks/a.tif", "negative"]),
    ("evaluate-truth-of-another-size", evaluate_on("evsize"), 2,
     ["a_mask.tif has shape (32, 32)", "evsize/masks/a.tif has shape (20, 20)"]),
    ("evaluate-rgb-truth", evaluate_on("evrgb"), 2, ["has shape (32, 32, 3)", "one channel"]),
    ("evaluate-truth-as-tif-and-tiff", evaluate_on("evdup"), 2,
     ["holds both a.tif and a.tiff", "one file per name"]),
    # a deep network (--depth 6 sees 408 pixels: more than the default 256-pixel tile)
    ("train-depth-6", ["train", "--images", "{r}/images", "--masks", "{r}/masks", "--out", "{o}",
                       *TINY, "--depth", "6"], 0, []),
]


def test_help_states_the_bounds_and_defaults_the_checks_enforce():
    """Every number flag's --help line names its range, and a value just outside it is refused
    while the bound itself (when included) is accepted: what --help says is what is checked."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name in ("train", "predict"):
        sub = commands.choices[name]
        formatter = sub._get_formatter()
        for action in sub._actions:
            range_text = getattr(action.type, "range_text", None)
            if not range_text:
                continue
            shown = " ".join(formatter._expand_help(action).split())      # its --help line
            assert range_text in shown, (action.dest, shown)
            assert action.default is None or "default" in shown, (action.dest, shown)
            kind = int if action.type.__name__ == "int" else float
            for bound in range_text.split(" and "):
                sign, value = bound.split()
                if sign in (">=", "<="):                 # the bound itself is accepted
                    assert action.type(value) == kind(value)
                    value = str(kind(value) + (-1 if sign == ">=" else 1))
                with pytest.raises(argparse.ArgumentTypeError):
                    action.type(value)
            checked += 1
    assert checked >= 11


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_more")
    make_world(root)
    return root


@pytest.fixture(scope="module")
def outcomes(world):
    before = fingerprints(world)
    env = dict(os.environ, MPLBACKEND="Agg")

    def run(case):
        case_id, argv = case[0], case[1]
        out = world / "outs" / case_id
        argv = COMMAND + expand(argv, world, out)
        done = subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace",
                              env=env, timeout=120)
        return case_id, (done, out)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, [case for case in CASES if runnable(case)]))
    return results, before


def runnable(case):
    needs = case[4] if len(case) > 4 else ()
    return ("export" not in needs or HAS_EXPORT) and ("torch" not in needs or HAS_TORCH)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(outcomes, world, case):
    if not runnable(case):
        pytest.skip(f"needs the optional packages for {case[4]}")
    case_id, _, status, words = case[:4]
    results, before = outcomes
    done, out = results[case_id]
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
    else:
        assert err == "", err                    # a success prints no warnings
    assert fingerprints(world) == before
