"""Bridges out of minicnn: a trained model as an ONNX graph, as a bioimage.io model package, and as
a PyTorch module (and back).

A trained minicnn model is a tree of modules (UNet -> Sequential -> ConvBlock -> Conv2d, ReLU,
...) holding weights. Every bridge here walks that tree and writes each module in the other
system's words:

    to_onnx(model)         an ONNX graph: Conv, Relu, MaxPool, Resize or ConvTranspose, Concat,
                           BatchNormalization where present, and the output activation (Sigmoid
                           for one output channel, Softmax over channels for several), so the
                           graph maps an image to probabilities, as `minicnn predict` does
    to_bioimageio(model)   a bioimage.io model package (.zip): rdf.yaml, the ONNX weights, test
                           tensors from the real nuclei image, a cover; Fiji (deepImageJ),
                           ilastik, QuPath and napari run it
    to_torch(model)        a torch.nn.Module with the same layers, names and weights; it returns
                           logits, like model(x), so that it can be trained further
    from_torch(module)     the way back: a minicnn model with the torch module's weights
    OnnxModel(path)        a model.onnx run by ONNX Runtime, for `minicnn predict model.onnx`
    export(model, format, out, force)   what `minicnn export` calls

The optional packages (onnx, onnxruntime, bioimageio.spec, bioimageio.core, torch) are imported
inside the functions that need them: `import minicnn` stays NumPy-only.
`pip install ".[export]"` (in the checkout) adds all but torch (torch: pytorch.org).

Walking the tree: a layer (Conv2d, ReLU, ...) becomes one node (ONNX) or one torch layer. A
chain (Sequential, ConvBlock: their forward applies the children in order) becomes its children
in order. A UNet's forward is not a chain (pooling between levels, skips concatenated in the
decoder), so `_unet_onnx` and the torch UNet follow UNet.forward step by step. Any other module
has a forward the exporter cannot read, and exporting it raises ExportError naming it.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from minicnn import backend
from minicnn.models.unet import ConvBlock, UNet
from minicnn.nn import (AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, MaxPool2d,
                        ReLU, Sequential, Sigmoid, Upsample)
from minicnn.ops.geometry import pair

OPSET = 17           # ONNX operator set: Resize, BatchNormalization, Softmax(axis) as used here
IR_VERSION = 8       # the ONNX file-format version that goes with opset 17 (older runtimes read it)
INPUT, OUTPUT = "image", "probabilities"        # tensor names in the ONNX graph and rdf.yaml
EXTRA = 'pip install ".[export]" in the minicnn checkout'
CHAINS = (Sequential, ConvBlock)     # modules whose forward applies their children in order


class ExportError(ValueError):
    """A model (or one of its modules) that a bridge cannot translate."""


def _require(package, fix):
    """Import an optional package, or say which one is missing and how to get it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ModuleNotFoundError(f"this needs the optional package {package}, which is not "
                                  f"installed; {fix}") from None


def _numpy(tensor):
    return backend.to_numpy(tensor.data)


def _output_activation(model):
    """'sigmoid' for one output channel (foreground probability), 'softmax' for several classes:
    what minicnn.predict applies to the logits."""
    return "sigmoid" if model.config["out_channels"] == 1 else "softmax"


def _check_finite(model, what):
    for name, array in model.state_dict().items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ExportError(f"{what}: the weight {name} holds NaN or inf values; a model with "
                              f"non-finite weights cannot be exported (train it again, or "
                              f"export an earlier checkpoint)")


def _check_model(model, what):
    if not isinstance(model, UNet):
        raise ExportError(f"{what}: cannot export a {type(model).__name__}: the exporter "
                          f"writes whole minicnn.models.UNet models (what `minicnn train` "
                          f"writes), whose forward() it knows and whose config gives the input "
                          f"channels and size rule; any other forward() is Python code it "
                          f"cannot read")
    _check_finite(model, what)


# ---------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------

class OnnxGraph:
    """The graph being written: nodes in execution order, the weights as initializers (named as
    in model.state_dict(), e.g. 'encoder.0.conv1.weight'), and a fresh name for every output."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.initializers, self.count = onnx, [], [], 0

    def weight(self, name, array):
        array = np.asarray(array, np.float32)                  # ONNX weights are float32
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attributes):
        self.count += 1
        output = f"{name or op.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=output,
                                                     **attributes))
        return output


def _conv_onnx(g, m, x, path):
    (ph, pw), (sh, sw) = pair(m.padding, "padding"), pair(m.stride, "stride")
    inputs = [x, g.weight(f"{path}.weight", _numpy(m.weight))]     # (C_out, C_in, KH, KW)
    if m.bias is not None:
        inputs.append(g.weight(f"{path}.bias", _numpy(m.bias)))     # (C_out,)
    return g.node("Conv", inputs, path, kernel_shape=list(m.kernel_size), strides=[sh, sw],
                  pads=[ph, pw, ph, pw], dilations=list(pair(m.dilation, "dilation")))


def _conv_transpose_onnx(g, m, x, path):
    (ph, pw), (sh, sw) = pair(m.padding, "padding"), pair(m.stride, "stride")
    inputs = [x, g.weight(f"{path}.weight", _numpy(m.weight))]     # (C_in, C_out, KH, KW)
    if m.bias is not None:
        inputs.append(g.weight(f"{path}.bias", _numpy(m.bias)))
    return g.node("ConvTranspose", inputs, path, kernel_shape=list(m.kernel_size),
                  strides=[sh, sw], pads=[ph, pw, ph, pw],
                  output_padding=list(pair(m.output_padding, "output_padding")))


def _pool_onnx(g, m, x, path):
    kernel = pair(m.kernel_size, "kernel_size")
    stride = pair(m.stride or m.kernel_size, "stride")
    (ph, pw) = pair(m.padding, "padding")
    options = dict(kernel_shape=list(kernel), strides=list(stride), pads=[ph, pw, ph, pw])
    if isinstance(m, AvgPool2d):                 # minicnn's zero padding counts in the divisor
        return g.node("AveragePool", [x], path, count_include_pad=1, **options)
    return g.node("MaxPool", [x], path, **options)


def _upsample_onnx(g, m, x, path):
    """Resize by the integer scale. Nearest: output d copies input floor(d / s) ('asymmetric'
    coordinates, 'floor' rounding). Bilinear: source position (d + 0.5) / s - 0.5 ('half_pixel'),
    or d (n - 1) / (m - 1) ('align_corners'): the formulas in minicnn/ops/resize.py."""
    sh, sw = pair(m.scale_factor, "scale_factor")
    scales = g.weight(f"{path}.scales", [1.0, 1.0, sh, sw])          # (N, C, H, W) factors
    if m.mode == "nearest":
        return g.node("Resize", [x, "", scales], path, mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return g.node("Resize", [x, "", scales], path, mode="linear",
                  coordinate_transformation_mode="align_corners" if m.align_corners
                  else "half_pixel")


def _batch_norm_onnx(g, m, x, path):
    """Evaluation mode: the running statistics, y = weight (x - mean) / sqrt(var + eps) + bias."""
    inputs = [x] + [g.weight(f"{path}.{name}", _numpy(getattr(m, name)))
                    for name in ("weight", "bias", "running_mean", "running_var")]
    return g.node("BatchNormalization", inputs, path, epsilon=float(m.eps))


ONNX_LAYERS = {
    Conv2d: _conv_onnx,
    ConvTranspose2d: _conv_transpose_onnx,
    MaxPool2d: _pool_onnx,
    AvgPool2d: _pool_onnx,
    Upsample: _upsample_onnx,
    BatchNorm2d: _batch_norm_onnx,
    ReLU: lambda g, m, x, path: g.node("Relu", [x], path),
    Sigmoid: lambda g, m, x, path: g.node("Sigmoid", [x], path),
    Dropout: lambda g, m, x, path: x,           # the identity when predicting (evaluation mode)
}


def _module_onnx(g, module, x, path):
    """Write `module` applied to the tensor named x; returns the output's name."""
    convert = ONNX_LAYERS.get(type(module))
    if convert is not None:
        return convert(g, module, x, path)
    if isinstance(module, CHAINS):
        for name, child in module.named_children():
            x = _module_onnx(g, child, x, f"{path}.{name}" if path else name)
        return x
    known = ", ".join(sorted(cls.__name__ for cls in ONNX_LAYERS))
    raise ExportError(f"cannot export the module model.{path} ({type(module).__name__}): there "
                      f"is no ONNX translation for {type(module).__name__} (the exporter knows "
                      f"{known}, and Sequential/ConvBlock chains of them); build the model from "
                      f"these layers, or add a translation to minicnn.interop.ONNX_LAYERS")


def _unet_onnx(g, model, x):
    """UNet.forward, step by step: encoder levels with pooling between them, then up-sampling,
    concatenation with the skip (skip first, as in forward) and a decoder block per level."""
    skips = []
    for level, block in enumerate(model.encoder):
        if level > 0:
            x = _module_onnx(g, model.pool, x, "pool")              # (N, c, h/2, w/2)
        x = _module_onnx(g, block, x, f"encoder.{level}")           # (N, c_level, h, w)
        skips.append(x)
    x = skips.pop()
    if model.config["dropout"] > 0:
        x = _module_onnx(g, model.dropout, x, "dropout")
    for i, (up, block) in enumerate(zip(model.up, model.decoder)):
        x = _module_onnx(g, up, x, f"up.{i}")                       # (N, c_l, 2h, 2w)
        x = g.node("Concat", [skips.pop(), x], f"concat.{i}", axis=1)   # (N, 2 c_l, 2h, 2w)
        x = _module_onnx(g, block, x, f"decoder.{i}")
    return _module_onnx(g, model.head, x, "head")                  # logits (N, C_out, H, W)


def export_metadata(model):
    """What a runtime needs besides the graph, as text: how to normalize an image before the
    network (the settings minicnn trained with), the size rule, the output, the threshold."""
    metadata = dict(getattr(model, "metadata", None) or {})
    return {
        "minicnn.config": json.dumps(model.config),
        "minicnn.metadata": json.dumps(metadata),
        "minicnn.normalization": json.dumps(metadata.get("normalization",
                                                         _default_normalization())),
        "minicnn.size_multiple": str(model.size_multiple),
        "minicnn.output": _output_activation(model),
        "minicnn.threshold": str(metadata.get("threshold", 0.5)),
    }


def _default_normalization():
    from minicnn.data import DEFAULT_NORMALIZATION

    return DEFAULT_NORMALIZATION


def to_onnx(model):
    """The model as an onnx.ModelProto: image (N, C_in, H, W) -> probabilities (N, C_out, H, W),
    with N, H and W dynamic (H and W multiples of model.size_multiple), float32."""
    onnx = _require("onnx", EXTRA)
    _check_model(model, "to_onnx")
    g = OnnxGraph(onnx)
    logits = _unet_onnx(g, model, INPUT)
    if _output_activation(model) == "sigmoid":
        probabilities = g.node("Sigmoid", [logits], "output")
    else:
        probabilities = g.node("Softmax", [logits], "output", axis=1)       # over the classes
    g.nodes.append(onnx.helper.make_node("Identity", [probabilities], [OUTPUT], name=OUTPUT))

    float32 = onnx.TensorProto.FLOAT
    c_in, c_out = model.config["in_channels"], model.config["out_channels"]
    graph = onnx.helper.make_graph(
        g.nodes, "minicnn_unet",
        inputs=[onnx.helper.make_tensor_value_info(INPUT, float32, ["batch", c_in, "height",
                                                                     "width"])],
        outputs=[onnx.helper.make_tensor_value_info(OUTPUT, float32, ["batch", c_out, "height",
                                                                       "width"])],
        initializer=g.initializers)
    proto = onnx.helper.make_model(graph, producer_name="minicnn",
                                   opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    proto.doc_string = (f"minicnn UNet {model.config}: a normalized image (N, {c_in}, H, W), H "
                        f"and W multiples of {model.size_multiple} -> {_output_activation(model)} "
                        f"probabilities (N, {c_out}, H, W). Normalize as in "
                        f"metadata_props['minicnn.normalization'].")
    onnx.helper.set_model_props(proto, export_metadata(model))
    onnx.checker.check_model(proto, full_check=True)         # types and shapes agree throughout
    return proto


class OnnxModel:
    """A model.onnx written by minicnn, run by ONNX Runtime, offering what the tiled predictor
    (minicnn.predict) asks of a model: .config, .metadata, .eval(), and probabilities(batch)
    in place of model(x) followed by the activation (the graph ends in its activation)."""

    def __init__(self, path):
        runtime = _require("onnxruntime", f"{EXTRA} to predict with a .onnx model")
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file {path}")
        options = runtime.SessionOptions()
        options.log_severity_level = 3                       # errors only
        try:
            self.session = runtime.InferenceSession(path, options,
                                                    providers=["CPUExecutionProvider"])
        except Exception as error:
            raise ValueError(f"ONNX Runtime cannot read {path}: {error}") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "minicnn.config" not in props:
            raise ValueError(f"{path} was not written by `minicnn export` (its metadata has no "
                             f"minicnn.config, so the normalization and size rule are unknown); "
                             f"export the model.npz with `minicnn export MODEL.npz --format "
                             f"onnx --out model.onnx`")
        inputs = [tensor.name for tensor in self.session.get_inputs()]
        outputs = [tensor.name for tensor in self.session.get_outputs()]
        if inputs != [INPUT] or OUTPUT not in outputs:
            raise ValueError(f"{path} takes {inputs} and gives {outputs}, but a model.onnx from "
                             f"`minicnn export` takes ['{INPUT}'] and gives ['{OUTPUT}']: the "
                             f"graph was edited; export the model.npz again")

        def damaged(why):
            return ValueError(f"{path}: its minicnn metadata is damaged ({why}); export the "
                              f"model.npz again with `minicnn export MODEL.npz --format onnx "
                              f"--out model.onnx`")

        try:
            self.config = json.loads(props["minicnn.config"])
            self.metadata = json.loads(props.get("minicnn.metadata", "{}"))
            normalization = json.loads(props.get("minicnn.normalization", "null"))
        except ValueError as error:
            raise damaged(error) from None
        if not (isinstance(self.config, dict) and isinstance(self.config.get("depth"), int)
                and isinstance(self.metadata, dict)):
            raise damaged("minicnn.config names no network depth")
        self.metadata.setdefault("normalization", normalization)
        self.path = path

    def eval(self):
        return self

    def to(self, device):
        if device != "cpu":
            raise ValueError(f"{self.path} runs on the CPU through ONNX Runtime; drop --device "
                             f"{device} (or predict with the model.npz on the GPU)")
        return self

    def probabilities(self, batch):
        """(B, C_in, h, w) normalized image tiles -> (B, C_out, h, w) probabilities, float32."""
        return self.session.run([OUTPUT], {INPUT: np.asarray(batch, np.float32)})[0]


# ---------------------------------------------------------------------------------------------
# bioimage.io
# ---------------------------------------------------------------------------------------------

DSB_CITATIONS = [
    {"text": "Caicedo, J. C. et al. Nucleus segmentation across imaging experiments: the 2018 "
             "Data Science Bowl. Nature Methods 16, 1247-1253 (2019)",
     "doi": "10.1038/s41592-019-0612-7"},
    {"text": "Schmidt, U., Weigert, M., Broaddus, C., Myers, G. Cell Detection with Star-convex "
             "Polygons. MICCAI 2018 (the redistributed DSB 2018 image used for the test tensors)",
     "doi": "10.1007/978-3-030-00934-2_30"},
]


TEST_CROP = 256                  # the test tensors' height and width


def _test_tensors(model, crop=TEST_CROP):
    """Test input and output from the bundled real DSB 2018 image: a crop x crop window (raw
    values, float32, repeated over the input channels), and minicnn's own probabilities for it
    after minicnn's normalization. bioimage.io's test normalizes the raw input with its own
    preprocessing and runs the ONNX weights, so it checks both against minicnn."""
    from minicnn.data import normalize, sample_nuclei
    from minicnn.predict import _forward_probabilities

    image, _ = sample_nuclei()                                         # (512, 512) uint16
    top, left = (image.shape[0] - crop) // 2, image.shape[1] - crop    # right half: holds the
    # quarter the bundled model never trained on
    raw = image[top:top + crop, left:left + crop].astype(np.float32)   # (crop, crop)
    raw = np.repeat(raw[None, None], model.config["in_channels"], axis=1)  # (1, C_in, h, w)
    normalization = (getattr(model, "metadata", None) or {}).get("normalization")
    model.eval()
    probabilities = _forward_probabilities(model, normalize(raw[0], normalization)[None],
                                           "cpu")                        # (1, C_out, h, w)
    return raw, probabilities.astype(np.float32)


def bioimageio_preprocessing(normalization):
    """minicnn's percentile normalization in the spec's words: `scale_range` per sample and
    channel (axes y, x), out = (x - p_low) / (p_high - p_low + eps), then `clip` if minicnn
    clips. The only difference from minicnn.data.normalize is eps: the spec needs eps > 0
    (default 1e-6) where minicnn divides by max(p_high - p_low, 1e-20); for an image whose
    percentile range is r the results differ by a factor r / (r + 1e-6)."""
    if normalization.get("method") != "percentile":
        raise ExportError(f"bioimage.io export: cannot express the normalization "
                          f"{normalization} in the spec's preprocessing")
    steps = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
             {"id": "scale_range", "kwargs": {"axes": ["y", "x"],
                                              "min_percentile": float(normalization["low"]),
                                              "max_percentile": float(normalization["high"]),
                                              "eps": 1e-6}}]
    if normalization.get("clip"):
        steps.append({"id": "clip", "kwargs": {"min": 0.0, "max": 1.0}})
    return steps


def _cover(raw, probabilities, path):
    """A 2:1 PNG: the raw test image beside the predicted probability (or class) map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    left.imshow(raw[0, 0], cmap="gray")
    right.imshow(probabilities[0, 0] if probabilities.shape[1] == 1 else
                 probabilities[0].argmax(axis=0), cmap="magma")
    for axis, title in ((left, "input"), (right, "minicnn U-Net output")):
        axis.set_title(title)
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _readme(model, normalization):
    c = model.config
    return (f"# minicnn U-Net\n\n"
            f"A U-Net trained with minicnn (a from-scratch NumPy deep-learning engine), exported "
            f"with `minicnn export MODEL.npz --format bioimageio`.\n\n"
            f"- architecture: UNet(in_channels={c['in_channels']}, out_channels="
            f"{c['out_channels']}, base_channels={c['base_channels']}, depth={c['depth']}, "
            f"up='{c['up']}', batch_norm={c['batch_norm']})\n"
            f"- input: (batch, {c['in_channels']} channel(s), y, x); y and x multiples of "
            f"{model.size_multiple}\n"
            f"- preprocessing: per image and channel, the {normalization['low']}th percentile "
            f"maps to 0 and the {normalization['high']}th to 1 (scale_range)\n"
            f"- output: {_output_activation(model)} probabilities, same y and x as the input\n\n"
            f"## Validation\n\n"
            f"The test input is a {TEST_CROP} x {TEST_CROP} crop of the 2018 Data Science Bowl "
            f"nuclei image bundled with minicnn (Caicedo et al., Nature Methods 2019), raw values; "
            f"the test output is minicnn's own prediction for it (NumPy engine, minicnn's "
            f"normalization), so the bioimage.io test checks the spec's preprocessing and the ONNX "
            f"weights against minicnn. A model trained on one image is a starting point, not a "
            f"general-purpose nuclei segmenter.\n")


def bioimageio_rdf(model, name=None, authors=None, license="MIT"):
    """The rdf.yaml content (format 0.5) for the files that to_bioimageio writes beside it."""
    from bioimageio.spec.model.v0_5 import ModelDescr

    c, m = model.config, model.size_multiple
    normalization = (getattr(model, "metadata", None) or {}).get("normalization",
                                                                  _default_normalization())
    space = [{"type": "space", "id": axis, "size": {"min": m, "step": m}} for axis in "yx"]
    channels = {"type": "channel", "channel_names": [f"channel{i}" for i in
                                                     range(c["in_channels"])]}
    classes = ["foreground"] if c["out_channels"] == 1 else \
        [f"class{i}" for i in range(c["out_channels"])]
    return {
        "type": "model",
        "format_version": ModelDescr.implemented_format_version,
        "name": name or f"minicnn U-Net {c['in_channels']}-{c['out_channels']} depth {c['depth']}",
        "description": "A U-Net trained with minicnn for the segmentation of fluorescence "
                       "microscopy images (e.g. cell nuclei); outputs per-pixel "
                       f"{_output_activation(model)} probabilities.",
        "authors": authors or [{"name": "minicnn contributors"}],
        "cite": DSB_CITATIONS,
        "license": license,
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "tags": ["unet", "segmentation", "fluorescence-light-microscopy", "nuclei", "onnx",
                 "2d", "minicnn"],
        "inputs": [{
            "id": INPUT,
            "description": "raw image; the preprocessing normalizes it as minicnn did in training",
            "axes": [{"type": "batch"}, channels, *space],
            "test_tensor": {"source": "test_input.npy"},
            "sample_tensor": {"source": "sample_input.tif"},
            "data": {"type": "float32"},
            "preprocessing": bioimageio_preprocessing(normalization),
        }],
        "outputs": [{
            "id": OUTPUT,
            "description": f"{_output_activation(model)} probabilities",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": classes},
                     *[{"type": "space", "id": axis,
                        "size": {"tensor_id": INPUT, "axis_id": axis}} for axis in "yx"]],
            "test_tensor": {"source": "test_output.npy"},
            "sample_tensor": {"source": "sample_output.tif"},
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": {"onnx": {"source": "model.onnx", "opset_version": OPSET}},
        "config": {"minicnn": {"unet": c, "normalization": normalization}},
    }


def to_bioimageio(model, path, name=None, authors=None, license="MIT"):
    """Write a bioimage.io model package (a .zip) for `model` to `path`, validated by
    bioimageio.spec before it is written (raises ExportError with the validation summary if not).
    Offline: the spec's io checks read the local files only (nothing here is a URL); export
    and bioimageio.core's test both ran without a network (in a namespace with none)."""
    _require("bioimageio.spec", EXTRA)
    onnx = _require("onnx", EXTRA)
    import tifffile
    from bioimageio.spec import ValidationContext, build_description, save_bioimageio_package

    proto = to_onnx(model)
    raw, probabilities = _test_tensors(model)
    with tempfile.TemporaryDirectory(prefix="minicnn-bioimageio-") as folder:
        onnx.save(proto, os.path.join(folder, "model.onnx"))
        np.save(os.path.join(folder, "test_input.npy"), raw)
        np.save(os.path.join(folder, "test_output.npy"), probabilities)
        tifffile.imwrite(os.path.join(folder, "sample_input.tif"), raw[0])      # (C_in, h, w)
        tifffile.imwrite(os.path.join(folder, "sample_output.tif"), probabilities[0])
        _cover(raw, probabilities, os.path.join(folder, "cover.png"))
        rdf = bioimageio_rdf(model, name, authors, license)
        normalization = rdf["config"]["minicnn"]["normalization"]
        with open(os.path.join(folder, "README.md"), "w") as f:
            f.write(_readme(model, normalization))
        with ValidationContext(root=Path(folder), file_name="rdf.yaml", perform_io_checks=True):
            description = build_description(rdf)
        summary = description.validation_summary
        if summary.status == "failed":
            raise ExportError(f"bioimage.io export: the package does not validate: "
                              f"{summary.format()}")
        save_bioimageio_package(description, output_path=path)
    return description


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------

def _torch_layer(torch, m, path):
    """The torch.nn layer equal to one minicnn layer (same hyper-parameters; weights later)."""
    nn = torch.nn
    if isinstance(m, Conv2d):
        return nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                         m.dilation, bias=m.bias is not None)
    if isinstance(m, ConvTranspose2d):
        return nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                  m.padding, m.output_padding, bias=m.bias is not None)
    if type(m) is MaxPool2d:
        return nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
    if type(m) is AvgPool2d:
        return nn.AvgPool2d(m.kernel_size, m.stride, m.padding)     # count_include_pad=True
    if isinstance(m, Upsample):
        return nn.Upsample(scale_factor=m.scale_factor, mode=m.mode,
                           align_corners=m.align_corners if m.mode == "bilinear" else None)
    if isinstance(m, BatchNorm2d):
        return nn.BatchNorm2d(m.num_features, eps=m.eps, momentum=m.momentum)
    simple = {ReLU: nn.ReLU, Sigmoid: nn.Sigmoid}
    if type(m) in simple:
        return simple[type(m)]()
    if isinstance(m, Dropout):
        return nn.Dropout(m.p)
    if isinstance(m, CHAINS):                 # children in order, under the same names
        from collections import OrderedDict

        return nn.Sequential(OrderedDict((name, _torch_layer(torch, child, f"{path}.{name}"))
                                          for name, child in m.named_children()))
    raise ExportError(f"to_torch: cannot translate the module model.{path} "
                      f"({type(m).__name__}): it has no PyTorch counterpart in minicnn.interop "
                      f"(known: Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Upsample, "
                      f"BatchNorm2d, ReLU, Sigmoid, Dropout, Sequential, ConvBlock)")


def _torch_unet_class(torch):
    """TorchUNet, defined when torch is imported (so that minicnn never imports it itself)."""

    class TorchUNet(torch.nn.Module):
        """minicnn.models.UNet in PyTorch: the same submodules under the same names (so the
        state_dict keys are minicnn's), and UNet.forward line by line. Returns logits."""

        def __init__(self, layers, config, metadata):
            super().__init__()
            self.minicnn_config, self.minicnn_metadata = dict(config), dict(metadata)
            for name, layer in layers:
                self.add_module(name, layer)

        def forward(self, x):
            skips = []
            for level, block in enumerate(self.encoder):
                if level > 0:
                    x = self.pool(x)                            # (N, c, h/2, w/2)
                x = block(x)                                    # (N, c_level, h, w)
                skips.append(x)
            x = skips.pop()
            if self.minicnn_config["dropout"] > 0:
                x = self.dropout(x)
            for up, block in zip(self.up, self.decoder):
                x = up(x)                                       # (N, c_l, 2h, 2w)
                x = block(torch.cat([skips.pop(), x], dim=1))   # (N, 2 c_l, ...) -> (N, c_l, ...)
            return self.head(x)                                 # (N, out_channels, H, W)

    return TorchUNet


def to_torch(model):
    """A torch.nn.Module equal to `model`: same architecture, same parameter and buffer names,
    minicnn's weights (copied, same dtype), in the model's train/eval mode. model(x) and
    to_torch(model)(x) give the same logits."""
    torch = _require("torch", "install PyTorch (https://pytorch.org), e.g. pip install torch")
    _check_model(model, "to_torch")
    layers = [(name, _torch_layer(torch, child, name)) for name, child in model.named_children()]
    module = _torch_unet_class(torch)(layers, model.config, getattr(model, "metadata", {}) or {})
    state = {name: torch.from_numpy(array)            # state_dict(): NumPy copies on the host
             for name, array in model.state_dict().items()}
    module.to(dtype=state["head.weight"].dtype)
    module.load_state_dict(state, strict=True)
    return module.train(model.training)


def from_torch(module):
    """The way back: a minicnn UNet with the weights (and BatchNorm statistics) of `module`, a
    module made by to_torch / load_torch (also wrapped in DistributedDataParallel), trained in
    PyTorch. The weights keep their dtype; the model is on the CPU, in evaluation mode."""
    inner = getattr(module, "module", module)            # DistributedDataParallel(...).module
    config = getattr(inner, "minicnn_config", None)
    if not isinstance(config, dict):
        raise ExportError(f"from_torch: a {type(inner).__name__} has no minicnn_config, so the "
                          f"minicnn architecture to rebuild is unknown; give a module made by "
                          f"minicnn.interop.to_torch or load_torch (after training it)")
    model = UNet(**config)
    model.metadata = dict(getattr(inner, "minicnn_metadata", {}))
    state = {name: value.detach().cpu().numpy() for name, value in inner.state_dict().items()}
    if "head.weight" in state:
        model.astype(state["head.weight"].dtype)
    model.load_state_dict(state)
    _check_finite(model, "from_torch")
    return model.eval()


def load_torch(path):
    """The torch module saved by `minicnn export --format torch` (a file torch.load reads with
    weights_only=True: tensors, numbers, strings; no code runs on load)."""
    torch = _require("torch", "install PyTorch (https://pytorch.org), e.g. pip install torch")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != "minicnn-torch":
        raise ValueError(f"{path} is not a file written by `minicnn export --format torch`")
    model = UNet(**saved["config"])
    model.metadata = saved["metadata"]
    module = to_torch(model)
    module.to(dtype=saved["state_dict"]["head.weight"].dtype)
    module.load_state_dict(saved["state_dict"])
    return module


def save_torch(model, path):
    """model.pt: {'format': 'minicnn-torch', 'version': 1, 'config': the UNet arguments,
    'metadata': normalization etc., 'state_dict': PyTorch's state_dict}, via torch.save."""
    torch = _require("torch", "install PyTorch (https://pytorch.org), e.g. pip install torch")
    module = to_torch(model)
    saved = {"format": "minicnn-torch", "version": 1, "config": module.minicnn_config,
             "metadata": module.minicnn_metadata, "state_dict": module.state_dict()}
    with open(path, "wb") as f:        # (given a name, torch.save names the archive's folder
        torch.save(saved, f)           # after it: a temporary name would show inside the file)


# ---------------------------------------------------------------------------------------------
# export: what `minicnn export` calls
# ---------------------------------------------------------------------------------------------

FORMATS = {"onnx": ".onnx", "bioimageio": ".zip", "torch": ".pt"}
SUFFIXES = {"onnx": (".onnx",), "bioimageio": (".zip",), "torch": (".pt", ".pth")}
NEEDS = {"onnx": [("onnx", EXTRA)],
         "bioimageio": [("onnx", EXTRA), ("bioimageio.spec", EXTRA)],
         "torch": [("torch", "install PyTorch (https://pytorch.org), e.g. pip install torch")]}


def publish_new(temporary, out):
    """Give the finished file its name, unless `out` appeared while it was written (another run
    exporting to the same --out): a hard link never replaces a file."""
    try:
        os.link(temporary, out)
    except FileExistsError:
        raise FileExistsError(f"--out {out} was written by another run while this export ran; "
                              f"choose another --out, or add --force to replace it") from None
    except OSError:                          # a file system without hard links
        os.replace(temporary, out)


def export(model, format, out, force=False):
    """Write `model` (a UNet, a model.npz path, or a bundled name like 'nuclei') to `out` in
    `format` ('onnx', 'bioimageio' or 'torch'). An existing `out` is replaced only with force;
    the file is written under a unique temporary name beside `out`, then renamed (atomic)."""
    if format not in FORMATS:
        raise ValueError(f"unknown --format {format!r}; choose one of {', '.join(FORMATS)}")
    out = os.fspath(out)
    if out.endswith(("/", os.sep)):
        raise IsADirectoryError(f"--out {out} ends in '/', the name of a folder; give a file "
                                f"name, e.g. {os.path.join(out, 'model' + FORMATS[format])}")
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:                  # ONNX Runtime and Fiji could not open it
        shown = os.fsencode(out).decode("utf-8", "backslashreplace")
        raise ValueError(f"--out {shown} is not valid UTF-8 text; choose a name of letters, "
                         f"digits, '-' and '_'") from None
    if not out.lower().endswith(SUFFIXES[format]):            # what other tools go by
        stem = os.path.splitext(out)[0] if os.path.splitext(out)[1] else out
        raise ValueError(f"--out {out} does not end in {' or '.join(SUFFIXES[format])}, the "
                         f"file type of --format {format} that other tools go by; use --out "
                         f"{stem}{FORMATS[format]}")
    if isinstance(model, (str, os.PathLike)) and \
            os.fspath(model).lower().endswith(tuple(s for f in SUFFIXES.values() for s in f)):
        raise ValueError(f"{os.fspath(model)} is already an exported model; export takes the "
                         f"model.npz written by `minicnn train` (or 'nuclei', the bundled one)")
    if os.path.isdir(out):
        raise IsADirectoryError(f"--out {out} is a folder; give a file name, e.g. "
                                f"{os.path.join(out, 'model' + FORMATS[format])}")
    if os.path.exists(out) and not os.path.isfile(out):      # e.g. /dev/null, a named pipe
        raise ValueError(f"--out {out} is not a regular file (a device, pipe or socket); "
                         f"--force replaces files only: choose a file name")
    if os.path.exists(out) and not force:
        raise FileExistsError(f"--out {out} already exists; choose another --out, or add "
                              f"--force to replace it")
    for package, fix in NEEDS[format]:                     # before anything is written
        _require(package, fix)
    if isinstance(model, (str, os.PathLike)):
        from minicnn.pipeline import load_model

        model = load_model(os.fspath(model))
    model.eval()
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder of --out ({folder}) does not exist; create it first")
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(out)}-",
                                         suffix=FORMATS[format], dir=folder)
    os.close(handle)
    try:
        if format == "onnx":
            _require("onnx", EXTRA).save(to_onnx(model), temporary)
        elif format == "bioimageio":
            to_bioimageio(model, temporary)
        else:
            save_torch(model, temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)               # mkstemp made it private (0600)
        if force:
            os.replace(temporary, out)                    # atomic: the old file or the new one
        else:
            publish_new(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return out
