"""Models the export tests translate (ONNX, bioimage.io, PyTorch): the bundled nuclei model and
small U-Nets with other depths, widths, class and channel counts, upsampling modes, BatchNorm
with non-trivial running statistics, and dropout (the identity when predicting)."""
import numpy as np

import minicnn as mc
from minicnn.pipeline import load_model

CONFIGS = {
    "depth1_3classes": dict(in_channels=1, out_channels=3, base_channels=6, depth=1),
    "depth2_rgb_bilinear": dict(in_channels=3, out_channels=4, base_channels=4, depth=2,
                                up="bilinear"),
    "depth4_transpose_bn_dropout": dict(in_channels=2, out_channels=1, base_channels=4, depth=4,
                                        up="transpose", batch_norm=True, dropout=0.3),
    "depth3_wide_2classes": dict(in_channels=1, out_channels=2, base_channels=10, depth=3),
}


def small_model(name, seed=0):
    """CONFIGS[name] with seeded weights; BatchNorm gets running statistics and affine weights
    far from their initial 0/1 (so that evaluation mode is really tested), in eval mode."""
    mc.manual_seed(seed)
    model = mc.models.UNet(**CONFIGS[name])
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, mc.nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.data[...] = rng.normal(0, 0.5, c)          # (C,)
            module.running_var.data[...] = rng.uniform(0.5, 2.0, c)        # (C,)
            module.weight.data[...] = rng.uniform(0.5, 1.5, c)
            module.bias.data[...] = rng.normal(0, 0.2, c)
    classes = model.config["out_channels"]
    model.metadata = {"normalization": {"method": "percentile", "low": 2.0, "high": 99.5,
                                        "clip": False}, "threshold": 0.4,
                      "classes": classes if classes > 1 else 0}     # as `minicnn train` stores
    return model.eval()


def nuclei_model():
    return load_model("nuclei").eval()


def random_input(model, batch, size_h, size_w, seed=0, dtype=np.float32):
    """(batch, in_channels, h, w) standard normal, h and w in units of model.size_multiple."""
    m = model.size_multiple
    shape = (batch, model.config["in_channels"], size_h * m, size_w * m)
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
