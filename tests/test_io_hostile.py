"""Crafted model files: mc.load reads the members' headers first and refuses, before inflating
anything, what a minicnn file cannot be (too big, unknown members, pickles, wrong shapes or
dtypes), then refuses complex or non-finite weights and metadata prediction could not use. Every
message says what was expected, what came, and what to do; the CLI turns it into one line."""
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn.io import META_KEY, ModelFileError


# ---- building crafted files ----
def npy(array, allow_pickle=False):
    """The bytes np.save writes for `array` (an npz member)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def read_members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename[:-4]: archive.read(info) for info in archive.infolist()}


def write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return path


def record_of(members):
    return json.loads(str(np.load(io.BytesIO(members[META_KEY]))))


def with_record(members, edit):
    """members with the JSON record changed by edit(record)."""
    record = record_of(members)
    edit(record)
    return {**members, META_KEY: npy(np.array(json.dumps(record)))}


@pytest.fixture
def good(tmp_path):
    """A small U-Net saved the way `minicnn train` saves one: (path, members)."""
    mc.manual_seed(0)
    model = mc.models.UNet(depth=2, base_channels=4)
    metadata = {"normalization": mc.data.DEFAULT_NORMALIZATION, "classes": 0, "threshold": 0.5,
                "channel_axis": None, "training": {"steps": 10}}
    path = mc.save(model, tmp_path / "good.npz", metadata=metadata)
    return path, read_members(path)


def refused(path, *words):
    """mc.load(path) raises ModelFileError whose message holds every one of words."""
    with pytest.raises(ModelFileError) as caught:
        mc.load(path)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


# ---- size: refused from the headers, before anything is inflated ----
BIG_SCRIPT = textwrap.dedent("""
    import resource, sys, time, zipfile, io
    import numpy as np
    import minicnn as mc
    path = sys.argv[1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        mc.load(path)
        print("LOADED")
    except ValueError as error:
        print("REFUSED", error)
    seconds = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before      # KiB on Linux
    print(f"SECONDS {seconds:.3f} GROWN_MIB {grown / 1024:.1f}")
""")


@pytest.fixture(scope="module")
def two_gib_bomb(tmp_path_factory):
    """A 9 MB model file whose extra member is a real 2 GiB array of zeros, deflated (the
    issue's case: the old loader inflated it, 2.2 GB of memory). Built once: ~4 s."""
    path = tmp_path_factory.mktemp("bomb") / "model.npz"
    model = mc.models.UNet(depth=2, base_channels=4)
    mc.save(model, path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (2 ** 29,)})
    zeros = bytes(2 ** 24)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("head.extra.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            for _ in range(2 ** 31 // len(zeros)):
                f.write(zeros)
    return path


def test_a_member_declaring_2_gib_is_refused_quickly_in_little_memory(two_gib_bomb):
    assert os.path.getsize(two_gib_bomb) < 16 * 2 ** 20
    result = subprocess.run([sys.executable, "-c", BIG_SCRIPT, str(two_gib_bomb)],
                            capture_output=True, text=True, timeout=120)
    out = result.stdout
    assert "REFUSED" in out, out + result.stderr
    assert "declares 2.0 GiB of arrays (the largest, 'head.extra': shape (536870912,) float32, " \
           "2.0 GiB), more than the 1.0 GiB that mc.load reads" in out
    assert "Nothing was read" in out and "max_bytes=" in out
    seconds = float(out.split("SECONDS ")[1].split()[0])
    grown = float(out.split("GROWN_MIB ")[1].split()[0])
    assert seconds < 2.0 and grown < 64, out          # not 2 GiB: the data were never inflated


def test_a_zip_bomb_behind_a_small_header_is_refused(good, tmp_path):
    """The header declares 10 floats, the compressed stream inflates to 64 MiB of zeros."""
    _, members = good
    bomb = npy(np.zeros(10, np.float32))
    bomb += bytes(2 ** 26)
    members = {**members, "head.bias": bomb}
    path = write_members(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 2 ** 20
    refused(path, "member 'head.bias' declares (10,) float32 (40 bytes of data) but holds "
            f"{40 + 2 ** 26} bytes", "damaged or crafted")


def test_a_member_whose_data_is_shorter_than_its_header(good, tmp_path):
    _, members = good
    members = {**members, "head.bias": npy(np.zeros(1, np.float32))[:-2]}
    refused(write_members(tmp_path / "short.npz", members),
            "member 'head.bias' declares (1,) float32 (4 bytes of data) but holds 2 bytes")


def test_the_size_bound_can_be_raised_for_a_big_file_you_trust(good, tmp_path):
    path, _ = good
    with pytest.raises(ModelFileError, match="more than the 1.0 KiB that mc.load reads"):
        mc.load(path, max_bytes=1024)
    assert mc.load(path, max_bytes=2 ** 20).config["depth"] == 2


# ---- members: exactly the declared network ----
def test_an_extra_member_is_refused(good, tmp_path):
    _, members = good
    members = {**members, "payload": npy(np.zeros(3, np.float32))}
    refused(write_members(tmp_path / "extra.npz", members),
            "does not hold the UNet(in_channels=1, out_channels=1, base_channels=4, depth=2",
            "unknown members (not in the network): payload", "use the model.npz")


def test_a_member_that_is_not_an_array_is_refused(good, tmp_path):
    path, members = good
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("run.sh", b"echo hello")
    refused(path, "a member 'run.sh' that is not a NumPy array (.npy)")


def test_a_missing_member_and_a_wrong_shape_are_listed_together(good, tmp_path):
    _, members = good
    members = dict(members)
    del members["head.bias"]
    members["head.weight"] = npy(np.zeros((1, 8, 1, 1), np.float32))
    message = refused(write_members(tmp_path / "shape.npz", members),
                      "missing members: head.bias",
                      "head.weight: the network needs shape (1, 4, 1, 1), the file stores "
                      "(1, 8, 1, 1)")
    assert message.startswith("mc.load: ")


def test_a_pickle_member_is_refused_without_unpickling(good, tmp_path):
    _, members = good
    members = {**members, "head.bias": npy(np.array([print], dtype=object), allow_pickle=True)}
    refused(write_members(tmp_path / "pickle.npz", members),
            "member 'head.bias' holds Python objects (object)", "never unpickles")


@pytest.mark.parametrize("array, words", [
    (np.zeros(1, np.int32), "head.bias is int32, expected float32 (a floating-point array)"),
    (np.array(["a"]), "head.bias is <U1, expected float32"),
    (np.zeros(1, np.complex64), "head.bias is complex (complex64): weights are real numbers, "
                                "and casting would silently drop the imaginary part"),
])
def test_wrong_and_complex_dtypes_are_refused(good, tmp_path, array, words):
    _, members = good
    members = {**members, "head.bias": npy(array)}
    refused(write_members(tmp_path / "dtype.npz", members), words)


def test_float64_weights_are_fine(good, tmp_path):
    _, members = good
    members = {**members, "head.bias": npy(np.array([0.25]))}
    model = mc.load(write_members(tmp_path / "f64.npz", members))
    assert model.head.bias.data.dtype == np.float32 and model.head.bias.data[0] == 0.25


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(good, tmp_path, value):
    _, members = good
    weight = np.load(io.BytesIO(members["encoder.0.conv1.weight"]))
    weight.flat[[0, 5]] = value
    members = {**members, "encoder.0.conv1.weight": npy(weight)}
    refused(write_members(tmp_path / "nan.npz", members),
            f"encoder.0.conv1.weight holds 2 NaN or infinite value(s) of {weight.size}",
            "Use an earlier model or checkpoint")


def test_a_config_declaring_a_huge_network_is_refused_before_building_it(good, tmp_path):
    _, members = good
    crafted = with_record(members, lambda r: r["config"].update(base_channels=2 ** 20, depth=9))
    start = time.perf_counter()
    refused(write_members(tmp_path / "huge.npz", crafted), "declares a U-Net of at least",
            "of float32 weights, but the file holds")
    assert time.perf_counter() - start < 1.0
    unknown = with_record(members, lambda r: r["config"].update(layers=3))
    refused(write_members(tmp_path / "cfg.npz", unknown), "unknown settings ['layers']")
    bad = with_record(members, lambda r: r["config"].update(up="cubic"))
    refused(write_members(tmp_path / "up.npz", bad), "not a valid UNet: UNet: up must be")


# ---- the record and its metadata ----
@pytest.mark.parametrize("field, value, words", [
    ("threshold", 2.0, "threshold is 2.0, expected a probability in [0, 1]"),
    ("threshold", -0.1, "threshold is -0.1"),
    ("threshold", "high", "threshold is 'high'"),
    ("threshold", True, "threshold is True"),
    ("normalization", {"method": "percentile", "low": 99.0, "high": 1.0, "clip": False},
     "percentiles must satisfy 0 <= low < high <= 100"),
    ("normalization", {"method": "zscore"}, "normalization is {'method': 'zscore'}, expected a "
                                            "dict like"),
    ("normalization", {"method": "percentile", "low": "1"}, "low and high must be numbers"),
    ("classes", 3, "classes is 3, but the network has 1 output channel(s): expected 0"),
    ("channel_axis", "last", "channel_axis is 'last', expected None or an axis number"),
    ("training", [1], "training is [1], expected a dict"),
])
def test_insane_metadata_is_refused(good, tmp_path, field, value, words):
    _, members = good
    crafted = with_record(members, lambda r: r["metadata"].update({field: value}))
    refused(write_members(tmp_path / "meta.npz", crafted), "the model's metadata is not sane",
            words, "use the model.npz that `minicnn train` wrote")


@pytest.mark.parametrize("edit, words", [
    (lambda r: r.update(surprise=1), "unknown fields ['surprise']"),
    (lambda r: r.update(kind="script"), "kind 'script' (expected 'model' or 'state')"),
    (lambda r: r.update(version="1"), "the format version is '1'"),
    (lambda r: r.update(model_class="ResNet"), "holds a ResNet, which minicnn cannot rebuild"),
    (lambda r: r.update(config=[1, 2]), "configuration is [1, 2], expected a dict"),
])
def test_a_malformed_record_is_refused(good, tmp_path, edit, words):
    _, members = good
    refused(write_members(tmp_path / "record.npz", with_record(members, edit)), words)


def test_a_record_that_is_not_text_is_refused(good, tmp_path):
    _, members = good
    members = {**members, META_KEY: npy(np.zeros((1000,), np.float32))}
    refused(write_members(tmp_path / "rec.npz", members),
            "the '__minicnn__' record should be one text")


def test_save_refuses_non_finite_models_and_insane_metadata(tmp_path):
    model = mc.models.UNet(depth=2, base_channels=4)
    with pytest.raises(ValueError, match="threshold is 2.0"):
        mc.save(model, tmp_path / "m.npz", metadata={"threshold": 2.0})
    model.head.bias.data[0] = np.nan
    with pytest.raises(ValueError, match=r"head.bias holds 1 NaN or infinite value\(s\) of 1; "
                                         r"a model with non-finite weights is never saved"):
        mc.save(model, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---- what must still load ----
def test_the_bundled_model_and_a_training_checkpoint_still_load(tmp_path):
    from minicnn import pipeline
    model = pipeline.load_model("nuclei")
    assert model.metadata["threshold"] == 0.5 and model.config["base_channels"] == 16
    net = mc.models.UNet(depth=2, base_channels=4, batch_norm=True)
    opt = mc.optim.Adam(net.parameters(), lr=0.01)
    net(mc.randn(2, 1, 8, 8)).sum().backward()
    opt.step()
    checkpoint = {"model": net.state_dict(), "optimizer": opt.state_dict(),
                  "trainer": {"step": 1, "history": [{"step": 1, "loss": 0.5}]},
                  "metadata": {"threshold": 0.5}}
    back = mc.load(mc.save(checkpoint, tmp_path / "checkpoint.npz"))
    assert back["trainer"]["step"] == 1
    net.load_state_dict(back["model"])
    assert back["model"]["encoder.0.bn1.num_batches_tracked"].dtype == np.int64


def test_a_checkpoint_with_an_unlisted_member_is_refused(tmp_path):
    path = mc.save({"a": np.arange(3), "b": {"c": np.ones(2)}}, tmp_path / "c.npz")
    members = {**read_members(path), "b/d": npy(np.zeros(2))}
    message = refused(write_members(tmp_path / "c2.npz", members),
                      "unknown members ['b/d']", "save it again with mc.save")
    assert "missing" not in message
    members = with_record(read_members(path), lambda r: r["order"].append("e"))
    refused(write_members(tmp_path / "c3.npz", members), "missing ['e']")


def test_the_cli_prints_one_line_and_exits_2(good, tmp_path):
    _, members = good
    crafted = with_record(members, lambda r: r["metadata"].update(threshold=2.0))
    path = write_members(tmp_path / "bad.npz", crafted)
    image = tmp_path / "img.tif"
    mc.data.write_image(image, np.zeros((16, 16), np.float32))
    result = subprocess.run([sys.executable, "-m", "minicnn.cli", "predict", str(path), str(image),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"minicnn predict: error: {path}: ")   # the file, then why
    assert "threshold is 2.0, expected a probability in [0, 1]" in lines[0]
    assert not (tmp_path / "o").exists() or os.listdir(tmp_path / "o") == []
