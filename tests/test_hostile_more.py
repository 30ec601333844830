"""More hostile inputs through the real `minicnn` command (a review after issues 14 and 16): masks
that are not masks, files that are another format than their name says, empty names, deep
networks, the exports' files. Same rules and helpers as test_hostile_cli.py: the documented exit
status, one stderr line without a traceback that holds the stated words, nothing of the user's
changed, and nothing written under a final name when a case is refused.
"""
import argparse
import importlib.util
import os
import subprocess
import zipfile

import numpy as np
import pytest
import tifffile

from minicnn import cli
from minicnn.data import synthetic_nuclei, write_image
from tests.test_hostile_cli import COMMAND, TINY, check_outcome, fingerprints, run_cases

HAS_EXPORT = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
NON_UTF8_ONNX = os.fsdecode(b"caf\xe9.onnx")      # a Latin-1 file name
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_BIOIMAGEIO = HAS_EXPORT and importlib.util.find_spec("bioimageio") is not None


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
    os.makedirs(root / "outs")                   # the cases' own outputs
    for i in range(2):
        write_image(root / "images" / f"a{i}.tif", images[i])
        write_image(root / "masks" / f"a{i}.tif", labels[i])
    assert cli.main(["train", "--images", str(root / "images"), "--masks", str(root / "masks"),
                     "--out", str(root / "run"), *TINY]) == 0
    pair("binary01", images[0], (labels[0] > 0).astype(np.uint8))
    assert cli.main(["train", "--images", str(root / "binary01" / "images"), "--masks",
                     str(root / "binary01" / "masks"), "--out", str(root / "run2classes"),
                     "--classes", "2", *TINY]) == 0
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
    with zipfile.ZipFile(root / "package.zip", "w") as package:        # a bioimage.io package
        package.writestr("rdf.yaml", "format_version: 0.5.3\n")
        package.writestr("model.onnx", "")
    open(root / "empty.npz", "wb").close()
    os.mkfifo(root / "pipe.onnx")                        # a named pipe (as /dev/null: a device)
    pair("dangling", images[1], labels[1])
    os.symlink(root / "gone.tif", root / "dangling" / "masks" / "b.tif")  # a link to nothing
    tifffile.imwrite(root / "dangling" / "images" / "b.tif", images[0])
    if HAS_TORCH:
        assert cli.main(["export", str(root / "run" / "model.npz"), "--format", "torch",
                         "--out", str(root / "model.pt")]) == 0
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
        os.link(root / "model.onnx", root / NON_UTF8_ONNX)


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
    # a model that is another kind of file: say which, and what to give
    ("predict-model-is-a-tiff-named-npz", ["predict", "{r}/mine.npz", "{r}/images/a0.tif",
                                           "--out", "{o}"], 2, ["is a TIFF image, not a model"]),
    ("predict-image-and-model-swapped", ["predict", "{r}/images/a0.tif", MODEL, "--out", "{o}"],
     2, ["a0.tif is a TIFF image", "predict takes the model first"]),
    ("export-a-tiff", ["export", "{r}/mine.npz", "--format", "onnx", "--out", "{r}/mine.onnx"], 2,
     ["mine.npz is a TIFF image, not a model (the model.npz of `minicnn train`)"], "export"),
    ("predict-model-is-a-folder", ["predict", "{r}/run", "{r}/images/a0.tif", "--out", "{o}"], 2,
     ["is a folder", "model.npz inside it"]),
    ("predict-model-is-empty", ["predict", "{r}/empty.npz", "{r}/images/a0.tif", "--out", "{o}"],
     2, ["empty.npz is not a valid minicnn file", "written by `minicnn train`"]),
    ("predict-bioimageio-package", ["predict", "{r}/package.zip", "{r}/images/a0.tif", "--out",
                                    "{o}"], 2, ["is a bioimage.io package", "its model.onnx"]),
    ("predict-torch-file", ["predict", "{r}/model.pt", "{r}/images/a0.tif", "--out", "{o}"], 2,
     ["is a PyTorch file", "the model.npz it was exported from"], "torch"),
    ("predict-onnx-with-another-input-name", ["predict", "{r}/renamed.onnx", "{r}/images/a0.tif",
                                              "--out", "{o}"], 2,
     ["takes ['x']", "takes ['image']", "export the model.npz again"], "export"),
    ("predict-onnx-with-damaged-metadata", ["predict", "{r}/badmeta.onnx", "{r}/images/a0.tif",
                                            "--out", "{o}"], 2,
     ["metadata is damaged", "minicnn export MODEL.npz"], "export"),
    # exports: the file type in the name; an export is not exported again
    ("export-suffix-of-another-format", EXPORT + ["--out", "{r}/x.zip"], 2,
     ["--out", "x.zip does not end in .onnx", "x.onnx"]),
    ("export-torch-onto-its-own-model-with-force", ["export", MODEL, "--format", "torch",
                                                    "--out", MODEL, "--force"], 2,
     ["does not end in .pt or .pth", "model.pt"]),
    ("export-an-onnx-file", ["export", "{r}/model.onnx", "--format", "onnx", "--out",
                             "{r}/again.onnx"], 2, ["already an exported model"], "export"),
    ("export-bioimageio-prints-no-warnings", ["export", MODEL, "--format", "bioimageio", "--out",
                                              "{o}.zip"], 0, [], "bioimageio"),
    ("train-mask-is-a-dangling-link", train_on("dangling"), 2,
     ["b.tif in the masks folder is a link to", "gone.tif, which does not exist"]),
    ("predict-threshold-with-a-2-class-model", ["predict", "{r}/run2classes/model.npz",
                                                "{r}/images/a0.tif", "--out", "{o}",
                                                "--threshold", "0.9"], 2,
     ["--threshold", "has 2 classes", "drop --threshold"]),
    # images: complex pixels (train refused them, predict cast them with a warning), one file
    # given twice (told to use different --out folders)
    ("predict-complex-image-after-a-good-one", ["predict", MODEL, "{r}/images/a0.tif",
                                                "{r}/complex.tif", "--out", "{o}"], 2,
     ["complex.tif has pixel type complex64", "whole or real numbers"]),
    ("predict-same-image-twice", ["predict", MODEL, "{r}/images/a0.tif", "{r}/images/../images/"
                                  "a0.tif", "--out", "{o}"], 2, ["is given twice"]),
    ("export-force-onto-a-named-pipe", EXPORT + ["--out", "{r}/pipe.onnx", "--force"], 2,
     ["pipe.onnx is not a regular file", "replaces files only"]),
    ("export-out-ends-in-a-slash", EXPORT + ["--out", "{r}/new.onnx/"], 2,
     ["ends in '/'", "new.onnx/model.onnx"]),
    ("export-out-not-utf8", EXPORT + ["--out", "{r}/" + NON_UTF8_ONNX], 2,
     ["caf\\xe9.onnx is not valid UTF-8"]),
    ("predict-model-name-not-utf8", ["predict", "{r}/" + NON_UTF8_ONNX, "{r}/images/a0.tif",
                                     "--out", "{o}"], 2, ["caf\\xe9.onnx is not valid UTF-8"],
     "export"),
    # a deep network (--depth 6 sees 408 pixels: more than the default 256-pixel tile)
    ("train-depth-6", ["train", "--images", "{r}/images", "--masks", "{r}/masks", "--out", "{o}",
                       *TINY, "--depth", "6"], 0, []),
]


def subcommand(name):
    """The argparse parser of `minicnn NAME`."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


def test_help_states_the_bounds_and_defaults_the_checks_enforce():
    """Every number flag's --help line names its range, and a value just outside it is refused
    while the bound itself (when included) is accepted: what --help says is what is checked."""
    checked = 0
    for name in ("train", "predict"):
        sub = subcommand(name)
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
    return run_cases(world, [case for case in CASES if runnable(case)], workers=2), before


def runnable(case):
    needs = case[4] if len(case) > 4 else ""
    return {"": True, "export": HAS_EXPORT, "torch": HAS_TORCH,
            "bioimageio": HAS_BIOIMAGEIO}[needs]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(outcomes, world, case):
    if not runnable(case):
        pytest.skip(f"needs the optional packages for {case[4]}")
    case_id, _, status, words = case[:4]
    results, before = outcomes
    done, out = results[case_id]
    err = check_outcome(done, out, status, words)
    if not status:
        assert err == "", err                    # a success prints no warnings
    assert fingerprints(world) == before


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_torch_file_holds_no_temporary_name(world):
    """torch.save given a file name names the archive's folder after it: the export's temporary
    name ('.model.pt-x8f3k2') showed inside the file and in every message about it."""
    with zipfile.ZipFile(world / "model.pt") as archive:
        folders = {name.split("/")[0] for name in archive.namelist()}
    assert folders == {"archive"}, folders


@pytest.mark.skipif(not HAS_EXPORT, reason="needs the export extra (onnx)")
def test_export_never_replaces_a_file_another_run_wrote_meanwhile(world, monkeypatch):
    """Two exports to one --out both passed the 'already exists' check, and the later one
    silently replaced the earlier one's file without --force."""
    from minicnn import interop

    out = world / "outs" / "race.onnx"
    real_to_onnx = interop.to_onnx

    def another_run_finishes_first(model):
        out.write_text("the other run's model")
        return real_to_onnx(model)

    monkeypatch.setattr(interop, "to_onnx", another_run_finishes_first)
    with pytest.raises(FileExistsError, match="another run"):
        interop.export(str(world / "run" / "model.npz"), "onnx", out)
    assert out.read_text() == "the other run's model"
    assert [name for name in os.listdir(out.parent) if name.startswith(".race")] == []


@pytest.mark.skipif(not HAS_BIOIMAGEIO, reason="needs the export extra (bioimageio.spec)")
def test_ctrl_c_during_export_says_what_is_left(world):
    """SIGINT while the package is being written (its temporary file is there): one line that
    says --out was not written, exit 130, and no file, temporary or final, is left."""
    import signal
    import time

    folder = world / "outs" / "ctrl-c-export"
    folder.mkdir()
    out = folder / "nuclei.zip"
    process = subprocess.Popen(COMMAND + ["export", str(world / "run" / "model.npz"), "--format",
                                          "bioimageio", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not os.listdir(folder) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the export ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip() == f"minicnn export: interrupted; --out {out} was not written (no " \
                          f"partial file is left)"
    assert os.listdir(folder) == []


def test_predict_names_every_file_it_wrote(world, tmp_path, capsys):
    """With --instances the summary named neither <stem>_labels.tif nor counts.csv, and said
    '1 objects'."""
    out = tmp_path / "pred"
    assert cli.main(["predict", str(world / "run" / "model.npz"), str(world / "images" / "a0.tif"),
                     "--out", str(out), "--instances"]) == 0
    lines = capsys.readouterr().out.splitlines()
    count = (out / "counts.csv").read_text().splitlines()[1].split(",")[1]
    objects = "1 object)" if count == "1" else f"{count} objects)"
    assert lines == [f"a0: {out}/a0_prob.tif, a0_mask.tif, a0_labels.tif ({objects}",
                     f"object counts: {out}/counts.csv"]
    assert sorted(os.listdir(out)) == ["a0_labels.tif", "a0_mask.tif", "a0_prob.tif",
                                       "counts.csv"]


def test_evaluate_help_says_what_each_score_is():
    """`minicnn evaluate` prints a column 'F1@0.5'; its --help said nothing about it."""
    text = " ".join(subcommand("evaluate").format_help().split())
    for words in ("<stem>_mask.tif in --pred", "<stem>.tif in --masks", "IoU and Dice",
                  "F1@0.5", "IoU is at least 0.5"):
        assert words in text, (words, text)


def test_evaluate_matches_the_objects_of_a_stack_plane_by_plane(tmp_path):
    """A perfect prediction of a (Z, Y, X) stack scored F1 0.000: predict numbers the objects of
    each plane from 1, and matching the whole stack at once merged id 1 of every plane (here
    the ground truth numbers them through the stack, as ImageJ's labelling does)."""
    from minicnn import pipeline

    _, labels = synthetic_nuclei(3, size=32, seed=0)               # ids restart in each plane
    offsets = np.cumsum([0] + [plane.max() for plane in labels[:-1]])
    through = np.where(labels > 0, labels + offsets[:, None, None], 0)      # 1..N over planes
    for folder in ("pred", "masks"):
        os.makedirs(tmp_path / folder)
    write_image(tmp_path / "pred" / "s_mask.tif", (labels > 0).astype(np.uint8) * 255)
    write_image(tmp_path / "pred" / "s_labels.tif", labels.astype(np.uint16))
    write_image(tmp_path / "masks" / "s.tif", through.astype(np.uint16))
    rows, mean = pipeline.evaluate_folders(tmp_path / "pred", tmp_path / "masks")
    assert rows[0]["iou"] == 1.0 and rows[0]["f1"] == 1.0, rows
