"""ONNX export (minicnn.interop.to_onnx, `minicnn export --format onnx`) and prediction through
ONNX Runtime (`minicnn predict model.onnx`): ONNX Runtime's output must equal minicnn's own
forward pass followed by its output activation (what minicnn.predict computes) to 1e-4."""
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason='ONNX export needs onnx: pip install ".[export]"')
ort = pytest.importorskip("onnxruntime",
                          reason='ONNX tests need onnxruntime: pip install ".[export]"')

import minicnn as mc  # noqa: E402
from minicnn import cli, interop, pipeline  # noqa: E402
from minicnn.data import normalize, sample_nuclei, write_image  # noqa: E402
from minicnn.predict import _forward_probabilities  # noqa: E402
from tests.export_cases import CONFIGS, nuclei_model, random_input, small_model  # noqa: E402

TOLERANCE = 1e-4


def run_onnx(model, x):
    session = ort.InferenceSession(interop.to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {interop.INPUT: x})[0]


def largest_difference(model, inputs):
    return max(float(np.abs(run_onnx(model, x) - _forward_probabilities(model, x, "cpu")).max())
               for x in inputs)


def test_bundled_model_equals_minicnn_on_random_inputs_of_several_sizes():
    model = nuclei_model()
    inputs = [random_input(model, 1, 8, 8, seed=1), random_input(model, 2, 12, 20, seed=2),
              random_input(model, 1, 25, 7, seed=3)]               # 32², 48x80, 100x28 pixels
    assert largest_difference(model, inputs) < TOLERANCE


def test_bundled_model_equals_minicnn_on_the_real_nuclei_image():
    model = nuclei_model()
    image, labels = sample_nuclei()                                       # (512, 512) uint16
    x = normalize(image, model.metadata["normalization"])[None, None]     # (1, 1, 512, 512)
    onnx_probs = run_onnx(model, x)
    assert np.abs(onnx_probs - _forward_probabilities(model, x, "cpu")).max() < TOLERANCE
    iou = ((onnx_probs[0, 0] > 0.5) & (labels > 0)).sum() / ((onnx_probs[0, 0] > 0.5) |
                                                             (labels > 0)).sum()
    assert iou > 0.8                     # it is the trained model, not just equal numbers


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_other_architectures_equal_minicnn(name):
    model = small_model(name)
    inputs = [random_input(model, 1, 3, 5, seed=4), random_input(model, 3, 2, 2, seed=5)]
    assert largest_difference(model, inputs) < TOLERANCE


def test_bilinear_align_corners_equals_minicnn():
    model = small_model("depth2_rgb_bilinear")
    model.up[0][1].align_corners = True          # Resize with 'align_corners' coordinates
    assert largest_difference(model, [random_input(model, 2, 5, 3, seed=6)]) < TOLERANCE


def test_graph_uses_the_expected_operators_with_dynamic_batch_and_size():
    proto = interop.to_onnx(small_model("depth4_transpose_bn_dropout"))
    ops = {node.op_type for node in proto.graph.node}
    assert {"Conv", "Relu", "MaxPool", "ConvTranspose", "Concat", "BatchNormalization",
            "Sigmoid"} <= ops
    assert "Softmax" in {n.op_type for n in interop.to_onnx(small_model("depth1_3classes"))
                         .graph.node}
    assert "Resize" in {n.op_type for n in interop.to_onnx(nuclei_model()).graph.node}
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 2, "height", "width"]
    # initializers keep minicnn's parameter names
    assert "encoder.0.conv1.weight" in {t.name for t in proto.graph.initializer}


def test_metadata_records_normalization_and_config():
    model = small_model("depth2_rgb_bilinear")
    props = {p.key: p.value for p in interop.to_onnx(model).metadata_props}
    assert json.loads(props["minicnn.normalization"]) == model.metadata["normalization"]
    assert json.loads(props["minicnn.config"]) == model.config
    assert props["minicnn.output"] == "softmax" and props["minicnn.size_multiple"] == "2"


class Swish(mc.nn.Module):
    def forward(self, x):
        return x * mc.functional.sigmoid(x)


def test_unknown_module_is_named_with_the_reason():
    model = small_model("depth1_3classes")
    model.encoder[0].relu1 = Swish()
    with pytest.raises(interop.ExportError, match=r"model\.encoder\.0\.relu1 \(Swish\).*no ONNX "
                                                  r"translation"):
        interop.to_onnx(model)
    with pytest.raises(interop.ExportError, match="cannot export a Sequential"):
        interop.to_onnx(mc.nn.Sequential(mc.nn.Conv2d(1, 1, 3)))


def test_non_finite_weights_are_refused():
    model = small_model("depth1_3classes")
    model.head.bias.data[0] = np.nan
    with pytest.raises(interop.ExportError, match="head.bias holds NaN"):
        interop.to_onnx(model)


def test_cli_export_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_text("mine")
    assert cli.main(["export", "nuclei", "--format", "onnx", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--force" in error and "already exists" in error
    assert out.read_text() == "mine"
    assert cli.main(["export", "nuclei", "--format", "onnx", "--out", str(out), "--force"]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]          # no temporary file left


def test_failed_export_leaves_no_file(tmp_path, capsys):
    model = small_model("depth1_3classes")
    model.encoder[0].relu1 = Swish()
    with pytest.raises(interop.ExportError):
        interop.export(model, "onnx", tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_missing_package_names_the_extra(monkeypatch, capsys, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)                  # import onnx now fails
    out = str(tmp_path / "never.onnx")
    assert cli.main(["export", "nuclei", "--format", "onnx", "--out", out]) == 2
    error = capsys.readouterr().err
    assert "package onnx" in error and '.[export]' in error and error.count("\n") == 1
    assert os.listdir(tmp_path) == []
    with pytest.raises(ModuleNotFoundError, match=r"onnxruntime.*\.\[export\]"):
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
        interop.OnnxModel(out)


def test_predict_with_onnx_equals_predict_with_npz(tmp_path):
    model = small_model("depth2_rgb_bilinear")
    mc.save(model, tmp_path / "model.npz", metadata=model.metadata)
    interop.export(str(tmp_path / "model.npz"), "onnx", tmp_path / "model.onnx")
    image = np.random.default_rng(0).uniform(0, 200, (70, 90, 3)).astype(np.float32)
    write_image(tmp_path / "img.tif", image)
    for name in ("model.npz", "model.onnx"):                         # tiles of 32, blended
        pipeline.predict_files(str(tmp_path / name), [str(tmp_path / "img.tif")],
                               str(tmp_path / name.replace(".", "_")), tile=32, channel_axis=-1)
    read = mc.data.read_image
    npz, via_onnx = (read(tmp_path / f"model_{k}" / "img_prob.tif") for k in ("npz", "onnx"))
    assert npz.shape == (4, 70, 90) and np.abs(npz - via_onnx).max() < TOLERANCE


def test_onnx_model_without_minicnn_metadata_is_refused(tmp_path):
    proto = interop.to_onnx(small_model("depth1_3classes"))
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match="not written by `minicnn export`"):
        interop.OnnxModel(tmp_path / "foreign.onnx")
