"""End to end through the `minicnn` command on small seeded synthetic data:
train a few steps -> predict -> evaluate; resume equals an uninterrupted run; bad input -> exit 2."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import cli
from minicnn.data import synthetic_nuclei, write_image
from minicnn.train import Trainer, TrainSettings

TINY = ["--steps", "6", "--batch", "2", "--patch", "32", "--base-channels", "4", "--depth", "2",
        "--val-every", "3", "--quiet"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuclei")
    images, labels = synthetic_nuclei(3, size=64, seed=3)
    for folder in ("images", "masks"):
        os.makedirs(root / folder)
    for i, (image, label) in enumerate(zip(images, labels)):
        write_image(root / "images" / f"cell_{i}.tif", image)
        write_image(root / "masks" / f"cell_{i}.tif", label)
    return root


@pytest.fixture(scope="module")
def trained(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    code = cli.main(["train", "--images", str(folders / "images"), "--masks",
                     str(folders / "masks"), "--out", str(out), *TINY])
    assert code == 0
    return out


def test_train_writes_everything(trained):
    for name in ("model.npz", "checkpoint.npz", "history.csv", "curves.png", "overlay.png"):
        assert (trained / name).stat().st_size > 0, name
    history = (trained / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,loss,val_iou") and len(history) == 3   # steps 3 and 6
    model = mc.load(trained / "model.npz")
    assert model.metadata["normalization"]["method"] == "percentile"


def test_predict_then_evaluate(trained, folders, tmp_path, capsys):
    images = [str(folders / "images" / f"cell_{i}.tif") for i in range(3)]
    out = tmp_path / "pred"
    assert cli.main(["predict", str(trained / "model.npz"), *images, "--out", str(out),
                     "--instances"]) == 0
    prob = mc.data.read_image(out / "cell_0_prob.tif")
    mask = mc.data.read_image(out / "cell_0_mask.tif")
    assert prob.shape == mask.shape == (64, 64) and prob.dtype == np.float32
    assert set(np.unique(mask)) <= {0, 255}
    assert (out / "cell_0_labels.tif").exists()
    assert (out / "counts.csv").read_text().startswith("image,objects")
    capsys.readouterr()
    assert cli.main(["evaluate", "--pred", str(out), "--masks", str(folders / "masks")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["image", "IoU", "Dice", "F1@0.5"] and table[-1].startswith("mean")
    assert len(table) == 5


def test_predict_refuses_to_overwrite(trained, folders, tmp_path, capsys):
    image = str(folders / "images" / "cell_0.tif")
    out = str(tmp_path / "p")
    assert cli.main(["predict", str(trained / "model.npz"), image, "--out", out]) == 0
    assert cli.main(["predict", str(trained / "model.npz"), image, "--out", out]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli.main(["predict", str(trained / "model.npz"), image, "--out", out, "--force"]) == 0


def test_predict_stack_keeps_shape(trained, tmp_path):
    stack = synthetic_nuclei(3, size=48, seed=5)[0]                # (Z, Y, X)
    write_image(tmp_path / "stack.tif", stack)
    assert cli.main(["predict", str(trained / "model.npz"), str(tmp_path / "stack.tif"),
                     "--out", str(tmp_path / "out")]) == 0
    assert mc.data.read_image(tmp_path / "out" / "stack_mask.tif").shape == (3, 48, 48)


def test_resume_equals_uninterrupted(folders, tmp_path):
    pairs = mc.data.read_pairs(folders / "images", folders / "masks")
    pairs = [mc.data.Pair(n, mc.data.normalize(i), m) for n, i, m in pairs]
    train, val = mc.data.split_train_val(pairs)
    settings = TrainSettings(steps=6, batch=2, patch=32, val_every=3, warmup_steps=2)

    def new_trainer(out):
        mc.manual_seed(0)
        os.makedirs(out, exist_ok=True)
        return Trainer(mc.models.UNet(1, 1, base_channels=4, depth=2), train, val, settings, out)

    whole = new_trainer(tmp_path / "a")
    whole.fit(progress=False)
    first = new_trainer(tmp_path / "b")
    first.fit(progress=False, until=4)               # stops between two validations
    second = new_trainer(tmp_path / "b")
    second.resume(tmp_path / "b" / "checkpoint.npz")
    assert second.step == 4
    second.fit(progress=False)
    for (name, a), (_, b) in zip(whole.model.named_parameters(), second.model.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert [r["step"] for r in second.history] == [3, 6]
    # a setting that changes what is optimized must match, e.g. the loss (Dice on or off)
    other = Trainer(mc.models.UNet(1, 1, base_channels=4, depth=2), train, val,
                    dataclasses.replace(settings, dice=not settings.dice), tmp_path / "b")
    with pytest.raises(ValueError, match="dice=True but this run asks for False"):
        other.resume(tmp_path / "b" / "checkpoint.npz")


def test_existing_output_folder_is_refused(folders, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = cli.main(["train", "--images", str(folders / "images"), "--masks",
                     str(folders / "masks"), "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("argv,words", [
    (["train", "--images", "/nonexistent", "--masks", "/nonexistent", "--out", "X"], "nonexistent"),
    (["predict", "/no/model.npz", "x.tif", "--out", "o"], "no model file"),
    (["evaluate", "--pred", "/nonexistent", "--masks", "/nonexistent"], "nonexistent"),
    (["train", "--images", "a", "--masks", "b", "--out", "c", "--classes", "1"], "--classes"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "minicnn.cli", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and mc.__version__ in result.stdout


def test_train_and_predict_with_classes(tmp_path):
    images, labels = synthetic_nuclei(3, size=48, seed=4)
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for i, (image, label) in enumerate(zip(images, labels)):
        classes = np.where(label == 0, 0, 1 + label % 2).astype(np.uint8)   # two nucleus kinds
        write_image(tmp_path / "images" / f"c{i}.tif", image)
        write_image(tmp_path / "masks" / f"c{i}.tif", classes)
    out = tmp_path / "run"
    assert cli.main(["train", "--images", str(tmp_path / "images"), "--masks",
                     str(tmp_path / "masks"), "--out", str(out), "--classes", "3", *TINY]) == 0
    model = mc.load(out / "model.npz")
    assert model.config["out_channels"] == 3 and model.metadata["classes"] == 3
    assert cli.main(["predict", str(out / "model.npz"), str(tmp_path / "images" / "c0.tif"),
                     "--out", str(tmp_path / "pred")]) == 0
    mask = mc.data.read_image(tmp_path / "pred" / "c0_mask.tif")
    prob = mc.data.read_image(tmp_path / "pred" / "c0_prob.tif")
    assert mask.shape == (48, 48) and mask.max() <= 2 and prob.shape == (3, 48, 48)
    np.testing.assert_allclose(prob.sum(axis=0), 1, atol=1e-5)       # softmax over classes


def test_classes_out_of_range_is_explained(tmp_path, capsys):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    write_image(tmp_path / "images" / "a.tif", np.ones((32, 32), np.float32))
    write_image(tmp_path / "masks" / "a.tif", np.full((32, 32), 5, np.uint8))
    assert cli.main(["train", "--images", str(tmp_path / "images"), "--masks",
                     str(tmp_path / "masks"), "--out", str(tmp_path / "o"), "--classes", "3",
                     *TINY]) == 2
    err = capsys.readouterr().err
    assert "5" in err and "3" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["train", "--images", "a", "--masks", "b", "--out", "c",
                                   "--steps", "0"], ["frobnicate"], ["predict", "nuclei"]])
def test_usage_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "--help" in err


# ---------------------------------------------------------------- issue 14: the CLI's own words

def test_warnings_are_one_line_each_after_success(monkeypatch, capsys):
    def warn_then_succeed(args):
        import warnings
        warnings.warn("mask x.tif has no\nforeground pixels")

    monkeypatch.setitem(cli.COMMANDS, "evaluate", warn_then_succeed)
    assert cli.main(["evaluate", "--pred", "p", "--masks", "m"]) == 0
    assert capsys.readouterr().err == ("minicnn evaluate: warning: mask x.tif has no foreground "
                                       "pixels\n")


@pytest.mark.parametrize("error,words", [
    (PermissionError(13, "Permission denied", "/data/out"),
     "permission denied: /data/out; check its permissions"),
    (OSError(28, "No space left on device"), "no space left on device: OUT; free some space"),
    (OSError(28, "No space left on device", "OUT/.tmp-a_prob-x1.tif"),
     "no space left on device: OUT; free some space"),
    (FileNotFoundError(2, "No such file or directory", "/x/y"), "/x/y; check the path"),
    (OSError(30, "Read-only file system", "/ro/m.npz"), "read-only: choose another --out"),
    (MemoryError("Unable to allocate 64.0 GiB"), "out of memory (Unable to allocate 64.0 GiB): "
                                                 "use a smaller --patch or --batch"),
    (MemoryError(), "out of memory: use a smaller --patch or --batch"),
])
def test_system_errors_are_one_line_with_the_path_and_the_fix(monkeypatch, capsys, error, words):
    def fail(args):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "predict", fail)
    assert cli.main(["predict", "m.npz", "x.tif", "--out", "OUT"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and words in err, err


def test_a_picture_that_fails_after_training_is_a_warning(folders, tmp_path, monkeypatch,
                                                          capsys):
    from minicnn import viz

    def broken(*args, **kwargs):
        raise ValueError("cannot draw this")

    monkeypatch.setattr(viz, "plot_overlay", broken)
    assert cli.main(["train", "--images", str(folders / "images"), "--masks",
                     str(folders / "masks"), "--out", str(tmp_path / "run"), *TINY]) == 0
    err = capsys.readouterr().err
    assert err == ("minicnn train: warning: overlay.png could not be drawn (ValueError: cannot "
                   "draw this); the model is saved\n")
    assert mc.load(tmp_path / "run" / "model.npz") is not None
    assert (tmp_path / "run" / "curves.png").exists()
