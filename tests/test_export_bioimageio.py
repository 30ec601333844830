"""bioimage.io package export (`minicnn export nuclei --format bioimageio --out nuclei.zip`):
the package validates with bioimageio.spec, and bioimageio.core's own test (its preprocessing,
the ONNX weights in ONNX Runtime, compared with minicnn's test output) passes, offline. The
package is written once for the module (about 2 s)."""
import io
import zipfile

import numpy as np
import pytest

for package in ("bioimageio.spec", "bioimageio.core", "onnx", "onnxruntime"):
    pytest.importorskip(package, reason=f'bioimage.io export needs {package}: '
                                        f'pip install ".[export]"')

import bioimageio.core as core  # noqa: E402  (core.test_model: not a name pytest would collect)
from bioimageio.core import (Sample, Tensor, create_prediction_pipeline,  # noqa: E402
                             load_model_description, predict)
from bioimageio.spec.model.v0_5 import TensorId  # noqa: E402

from minicnn import cli, interop  # noqa: E402
from minicnn.data import normalize  # noqa: E402
from tests.export_cases import nuclei_model  # noqa: E402


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("bioimageio") / "nuclei.zip"
    assert cli.main(["export", "nuclei", "--format", "bioimageio", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def members(package):
    with zipfile.ZipFile(package) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy(members, name):
    return np.load(io.BytesIO(members[name]), allow_pickle=False)


def test_package_validates_and_passes_the_bioimageio_core_test(package):
    summary = core.test_model(str(package), weight_format="onnx", devices=["cpu"])
    assert summary.status == "passed", summary.format()
    assert summary.format_version.startswith("0.5.")


def test_package_holds_the_described_files(members):
    assert {"rdf.yaml", "model.onnx", "test_input.npy", "test_output.npy", "cover.png",
            "README.md"} <= set(members)
    assert members["cover.png"][:8] == b"\x89PNG\r\n\x1a\n"
    raw, expected = npy(members, "test_input.npy"), npy(members, "test_output.npy")
    assert raw.shape == expected.shape == (1, 1, interop.TEST_CROP, interop.TEST_CROP)
    assert raw.max() > 100 and raw.dtype == np.float32       # raw values of the real image
    assert 0.05 < (expected > 0.5).mean() < 0.6              # nuclei found in the crop


def test_description_says_what_minicnn_does(package):
    descr = load_model_description(str(package))
    assert str(descr.format_version).startswith("0.5.")
    assert any(c.doi and str(c.doi) == "10.1038/s41592-019-0612-7" for c in descr.cite)
    (inp,), (out,) = descr.inputs, descr.outputs
    assert [str(a.id) for a in inp.axes] == ["batch", "channel", "y", "x"]
    scale = next(p for p in inp.preprocessing if p.id == "scale_range")
    low, high = (nuclei_model().metadata["normalization"][k] for k in ("low", "high"))
    assert (scale.kwargs.min_percentile, scale.kwargs.max_percentile) == (low, high)
    assert [str(a) for a in scale.kwargs.axes] == ["y", "x"]      # per image and channel
    assert "onnx" in descr.weights.model_fields_set or descr.weights.onnx is not None


def test_spec_preprocessing_equals_minicnn_normalize_and_outputs_agree(package, members):
    """Run bioimageio.core's pipeline by hand: its scale_range against minicnn's normalize,
    and its prediction (ONNX Runtime) against minicnn's test output."""
    raw, expected = npy(members, "test_input.npy"), npy(members, "test_output.npy")
    pipeline = create_prediction_pipeline(load_model_description(str(package)),
                                          weight_format="onnx", devices=["cpu"])
    sample = Sample(members={TensorId("image"): Tensor.from_numpy(
        raw, dims=("batch", "channel", "y", "x"))}, stat={}, id="crop")
    pipeline.apply_preprocessing(sample)
    spec_normalized = sample.members[TensorId("image")].data.values
    minicnn_normalized = normalize(raw[0], nuclei_model().metadata["normalization"])[None]
    assert np.abs(spec_normalized - minicnn_normalized).max() < 1e-5
    output = predict(model=pipeline, inputs={TensorId("image"): raw})
    probabilities = output.members[TensorId("probabilities")].data.values
    assert np.abs(probabilities - expected).max() < 1e-4


def test_existing_package_is_not_overwritten(package, capsys):
    before = package.read_bytes()
    assert cli.main(["export", "nuclei", "--format", "bioimageio", "--out", str(package)]) == 2
    assert "--force" in capsys.readouterr().err and package.read_bytes() == before
