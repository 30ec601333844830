"""`--channel-axis` through the `minicnn` command: multi-channel TIFFs with the channels on the
first or the last axis train, the axis travels in model.npz to `predict`, and a wrong axis or a
model with another channel count is one line and exit 2."""
import os

import numpy as np
import pytest
import tifffile

import minicnn as mc
from minicnn import cli
from minicnn.data import synthetic_nuclei, write_image

TINY = ["--steps", "4", "--batch", "2", "--patch", "32", "--base-channels", "4", "--depth", "2",
        "--val-every", "2", "--quiet"]
LAYOUTS = {"first": 0, "last": -1}          # (C, H, W) and (H, W, C) on disk


def two_channels(image, seed):
    """(2, H, W): the nuclei image and a noisy inverted copy (a second stain)."""
    noise = np.random.default_rng(seed).normal(0, 5, image.shape)
    return np.stack([image, 255 - image + noise]).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """root/<layout>/images/*.tif (2 channels on that layout's axis) and root/masks/*.tif."""
    root = tmp_path_factory.mktemp("channels")
    images, labels = synthetic_nuclei(2, size=64, seed=5)
    os.makedirs(root / "masks")
    for layout, axis in LAYOUTS.items():
        os.makedirs(root / layout / "images")
    for i, (image, label) in enumerate(zip(images, labels)):
        write_image(root / "masks" / f"c{i}.tif", label)
        planes = two_channels(image, seed=i)                                      # (2, H, W)
        for layout, axis in LAYOUTS.items():
            tifffile.imwrite(root / layout / "images" / f"c{i}.tif", np.moveaxis(planes, 0, axis))
    return root


def train(folders, layout, out, *extra):
    return cli.main(["train", "--images", str(folders / layout / "images"), "--masks",
                     str(folders / "masks"), "--out", str(out), *TINY, *extra])


@pytest.fixture(scope="module")
def trained(folders, tmp_path_factory):
    """{layout: model.npz path}, one tiny run per layout."""
    paths = {}
    for layout, axis in LAYOUTS.items():
        out = tmp_path_factory.mktemp(layout) / "out"
        assert train(folders, layout, out, "--channel-axis", str(axis)) == 0
        paths[layout] = out / "model.npz"
    return paths


def one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("layout", LAYOUTS)
def test_train_stores_axis_and_two_input_channels(trained, layout):
    model = mc.load(trained[layout])
    assert model.config["in_channels"] == 2
    assert model.metadata["channel_axis"] == LAYOUTS[layout]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_predict_uses_the_trained_axis_and_agrees_with_the_other_layout(trained, folders,
                                                                       layout, tmp_path):
    """Without the flag predict reads files as in training; the same model on the same pixels
    stored the other way round, with the other --channel-axis, gives the same probabilities."""
    other = next(name for name in LAYOUTS if name != layout)
    image = str(folders / layout / "images" / "c0.tif")
    assert cli.main(["predict", str(trained[layout]), image, "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["predict", str(trained[layout]), str(folders / other / "images" / "c0.tif"),
                     "--out", str(tmp_path / "b"), "--channel-axis", str(LAYOUTS[other])]) == 0
    prob = mc.data.read_image(tmp_path / "a" / "c0_prob.tif")
    assert prob.shape == (64, 64)
    np.testing.assert_array_equal(prob, mc.data.read_image(tmp_path / "b" / "c0_prob.tif"))
    # and it is the network applied to (C, H, W) with channel 0 first, not a 2-plane stack
    model = mc.load(trained[layout])
    planes = mc.data.normalize(np.moveaxis(mc.data.read_image(image), LAYOUTS[layout], 0),
                               model.metadata["normalization"])
    expected = mc.predict.predict_image(model, planes)[0]
    np.testing.assert_allclose(prob, expected, rtol=1e-5, atol=1e-6)


def test_predict_stack_of_multichannel_planes(trained, folders, tmp_path):
    planes = tifffile.imread(folders / "last" / "images" / "c1.tif")              # (H, W, 2)
    tifffile.imwrite(tmp_path / "zstack.tif", np.stack([planes, planes[::-1]]))   # (Z, H, W, 2)
    assert cli.main(["predict", str(trained["last"]), str(tmp_path / "zstack.tif"),
                     "--out", str(tmp_path / "o")]) == 0
    prob = mc.data.read_image(tmp_path / "o" / "zstack_prob.tif")
    assert prob.shape == (2, 64, 64)
    single = tmp_path / "single"
    assert cli.main(["predict", str(trained["last"]), str(folders / "last" / "images" / "c1.tif"),
                     "--out", str(single)]) == 0
    np.testing.assert_allclose(prob[0], mc.data.read_image(single / "c1_prob.tif"), atol=1e-6)


@pytest.mark.parametrize("axis,words", [("3", ["channel_axis=3", "out of range"]),
                                        ("-4", ["out of range"])])
def test_train_axis_out_of_range(folders, tmp_path, capsys, axis, words):
    assert train(folders, "first", tmp_path / "out", "--channel-axis", axis) == 2
    one_error_line(capsys, *words)


def test_train_multichannel_without_the_flag_names_it(folders, tmp_path, capsys):
    assert train(folders, "last", tmp_path / "out") == 2
    one_error_line(capsys, "--channel-axis 2")


def test_channel_axis_must_be_a_whole_number(capsys):
    code = None
    with pytest.raises(SystemExit) as exit_info:
        code = cli.main(["predict", "m.npz", "x.tif", "--out", "o", "--channel-axis", "last"])
    assert code is None and exit_info.value.code == 2
    one_error_line(capsys, "--channel-axis")


@pytest.mark.parametrize("axis,words", [
    ("3", ["channel axis 3 is out of range", "(2, 64, 64)"]),
    ("1", ["64 channels on axis 1", "2-channel"]),          # H taken for the channel axis
])
def test_predict_bad_axis(trained, folders, tmp_path, capsys, axis, words):
    image = str(folders / "first" / "images" / "c0.tif")
    assert cli.main(["predict", str(trained["first"]), image, "--out", str(tmp_path),
                     "--channel-axis", axis]) == 2
    one_error_line(capsys, *words)


@pytest.mark.parametrize("in_channels,axis,words", [
    (2, None, ["2-channel images but no channel axis", "--channel-axis"]),
    (1, "0", ["2 channels on axis 0", "1-channel"]),
    (3, "-1", ["2 channels on axis -1", "3-channel"]),
])
def test_predict_model_channel_count_mismatch(folders, tmp_path, capsys, in_channels, axis,
                                              words):
    """Models saved without a channel axis in their metadata (e.g. by an older minicnn)."""
    model_path = tmp_path / "model.npz"
    mc.save(mc.models.UNet(in_channels=in_channels, base_channels=4, depth=2), model_path,
            metadata={"threshold": 0.5})
    layout = "first" if axis in (None, "0") else "last"
    argv = ["predict", str(model_path), str(folders / layout / "images" / "c0.tif"),
            "--out", str(tmp_path / "o")] + (["--channel-axis", axis] if axis else [])
    assert cli.main(argv) == 2
    one_error_line(capsys, *words)


def test_single_channel_model_accepts_2d_images_with_an_axis(tmp_path):
    images, _ = synthetic_nuclei(1, size=32, seed=1)
    write_image(tmp_path / "flat.tif", images[0])
    model_path = tmp_path / "model.npz"
    mc.save(mc.models.UNet(in_channels=1, base_channels=4, depth=2), model_path)
    assert cli.main(["predict", str(model_path), str(tmp_path / "flat.tif"), "--out",
                     str(tmp_path / "o"), "--channel-axis", "0"]) == 0
    assert mc.data.read_image(tmp_path / "o" / "flat_prob.tif").shape == (32, 32)


def test_resume_with_another_channel_count_is_one_line(trained, folders, tmp_path, capsys):
    flat = tmp_path / "flat"
    os.makedirs(flat)
    for i in range(2):
        write_image(flat / f"c{i}.tif", tifffile.imread(folders / "first" / "images" /
                                                         f"c{i}.tif")[0])
    checkpoint = trained["first"].parent / "checkpoint.npz"
    code = cli.main(["train", "--images", str(flat), "--masks", str(folders / "masks"),
                     "--out", str(tmp_path / "out"), *TINY, "--resume", str(checkpoint)])
    assert code == 2
    line = one_error_line(capsys, "shape")
    assert "--channel-axis" in line and "without --resume" in line
