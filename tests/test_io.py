"""mc.save / mc.load: round trips, atomic writes, and clear refusals of bad files."""
import json
import os
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim


def seeded_input(shape=(2, 1, 16, 16)):
    return mc.tensor(np.random.default_rng(7).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("config", [dict(), dict(depth=2, base_channels=8, up="transpose",
                                                 batch_norm=True, dropout=0.2)])
def test_unet_save_load_gives_bit_identical_outputs(tmp_path, config):
    mc.manual_seed(1)
    model = mc.models.UNet(**config)
    if config.get("batch_norm"):
        model(seeded_input())                          # training step changes the running stats
    model.eval()
    path = mc.save(model, tmp_path / "model.npz")
    loaded = mc.load(path)
    assert type(loaded) is mc.models.UNet and loaded.config == model.config
    assert loaded is not model
    assert list(loaded.state_dict()) == list(model.state_dict())
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    loaded.eval()
    x = seeded_input()
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


def test_the_file_is_a_plain_npz_without_pickle(tmp_path):
    model = mc.models.UNet(depth=2, base_channels=4)
    path = mc.save(model, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:
        record = json.loads(str(archive["__minicnn__"]))
        assert set(model.state_dict()) <= set(archive.files)
    assert record["format"] == "minicnn" and record["version"] == 1
    assert record["model_class"] == "UNet" and record["config"] == model.config
    assert [name for name in os.listdir(tmp_path)] == ["m.npz"]     # no temporary file left


def test_other_modules_are_saved_as_their_state_dict(tmp_path):
    mc.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    state = mc.load(mc.save(seq, tmp_path / "seq.npz"))
    assert isinstance(state, dict) and list(state) == list(seq.state_dict())
    assert state["1.num_batches_tracked"].dtype == np.int64
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    fresh.load_state_dict(state)
    x = seeded_input((1, 1, 5, 5))
    np.testing.assert_array_equal(seq.eval()(x).numpy(), fresh.eval()(x).numpy())


def test_checkpoint_dict_with_optimizer_state_round_trips(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(seeded_input((1, 1, 5, 5))).sum().backward()
    opt.step()
    checkpoint = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                  "note": "after one step", "history": [0.5, 0.25], "empty": {},
                  "big": 2 ** 100}
    loaded = mc.load(mc.save(checkpoint, tmp_path / "ckpt.npz"))
    assert loaded["epoch"] == 3 and loaded["note"] == "after one step"
    assert loaded["history"] == [0.5, 0.25] and loaded["empty"] == {} and loaded["big"] == 2 ** 100
    assert list(loaded["optimizer"]) == list(opt.state_dict())
    assert loaded["optimizer"]["state.0.step"] == 1 and loaded["optimizer"]["lr"] == 0.01
    np.testing.assert_array_equal(loaded["optimizer"]["state.0.exp_avg"],
                                  opt.state_dict()["state.0.exp_avg"])
    opt2 = optim.Adam(model.parameters(), lr=0.5)
    opt2.load_state_dict(loaded["optimizer"])
    assert opt2.lr == 0.01 and opt2.state[0]["step"] == 1


def test_metadata_numpy_scalars_and_generator_state_round_trip(tmp_path):
    model = mc.models.UNet(depth=2, base_channels=4)
    metadata = {"scaling": {"mean": np.float32(0.25), "std": 2.0}, "classes": 1}
    loaded = mc.load(mc.save(model, tmp_path / "m.npz", metadata=metadata))
    assert loaded.metadata == {"scaling": {"mean": 0.25, "std": 2.0}, "classes": 1}
    assert mc.load(mc.save(model, tmp_path / "plain.npz")).metadata == {}
    generator = np.random.default_rng(3)
    checkpoint = {"rng": generator.bit_generator.state,                # 128-bit integers inside
                  "history": [{"step": np.int64(1), "loss": np.float64(0.5)}]}
    back = mc.load(mc.save(checkpoint, tmp_path / "c.npz"))
    assert back["history"] == [{"step": 1, "loss": 0.5}]
    other = np.random.default_rng(0)
    other.bit_generator.state = back["rng"]
    assert other.random() == generator.random()
    with pytest.raises(TypeError, match="metadata must be a dict"):
        mc.save(model, tmp_path / "m.npz", metadata=["a"])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        mc.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -30])
def test_truncated_file_is_refused_clearly(tmp_path, keep):
    path = mc.save(mc.models.UNet(depth=2, base_channels=4), tmp_path / "m.npz")
    data = open(path, "rb").read()
    cut = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else
                                                                  len(data) + keep)
    open(path, "wb").write(data[:cut])
    with pytest.raises(ValueError, match="not a valid minicnn file"):
        mc.load(path)


def test_corrupted_bytes_are_refused_clearly(tmp_path):
    path = mc.save(mc.models.UNet(depth=2, base_channels=4), tmp_path / "m.npz")
    data = bytearray(open(path, "rb").read())
    data[200:260] = b"\xff" * 60                     # inside the first stored array
    open(path, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="not a valid minicnn file"):
        mc.load(path)


def test_foreign_npz_and_npy_are_refused(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a minicnn file.*weights"):
        mc.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a minicnn file.*npy"):
        mc.load(tmp_path / "array.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a minicnn file: it is a single .npy"):
        mc.load(tmp_path / "objects.npy")              # refused before anything is unpickled
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a valid minicnn file"):
        mc.load(tmp_path / "text.npz")


def test_wrong_marker_or_newer_version_refused(tmp_path):
    for record, message in (({"format": "other", "version": 1}, "format marker"),
                            ({"format": "minicnn", "version": 99}, "newer")):
        np.savez(tmp_path / "x.npz", __minicnn__=np.array(json.dumps(record)))
        with pytest.raises(ValueError, match=message):
            mc.load(tmp_path / "x.npz")


def test_state_from_another_architecture_is_listed(tmp_path):
    path = mc.save(mc.models.UNet(depth=3, base_channels=8), tmp_path / "deep.npz")
    other = mc.models.UNet(depth=2, base_channels=4)
    with pytest.raises(ValueError) as info:
        other.load_state_dict(mc.load(path).state_dict())
    text = str(info.value)
    assert "unexpected keys" in text and "encoder.2.conv1.weight" in text
    assert "encoder.0.conv1.weight: expected shape (4, 1, 3, 3), got (8, 1, 3, 3)" in text


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    mc.save({"a": np.arange(3)}, path)

    def crash_midway(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(mc.io.np, "savez", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        mc.save({"a": np.zeros(5)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(mc.load(path)["a"], np.arange(3))
    assert os.listdir(tmp_path) == ["m.npz"]            # the temporary file was removed
    with pytest.raises(TypeError, match="cannot store"):
        mc.save({"a": np.arange(3), "bad": object()}, path)
    np.testing.assert_array_equal(mc.load(path)["a"], np.arange(3))
    assert os.listdir(tmp_path) == ["m.npz"]
    with pytest.raises(ValueError, match="end in|ending in"):
        mc.save({"a": np.arange(3)}, tmp_path / "m.pt")


def test_is_a_zip_of_npy_entries(tmp_path):
    path = mc.save({"a": np.arange(3)}, tmp_path / "m.npz")
    assert zipfile.is_zipfile(path)
    assert sorted(zipfile.ZipFile(path).namelist()) == ["__minicnn__.npy", "a.npy"]
