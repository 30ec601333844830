"""The benchmark cases, as plain data shared by the minicnn runner, the PyTorch runner and pytest.

This module imports neither minicnn nor torch: each runner turns a `Case` into a function of its
own library. Every case has two sizes: the real one (`full=True`, the sizes of issue 7) and a
tiny one (`full=False`) that only checks, in a fraction of a second, that the case still runs.

Case keys (`conv2d_16x16_256_fwdbwd`) are stable across sizes, so results can be compared
between runs and between libraries.
"""
from dataclasses import dataclass, field

# Upsampling and pooling all act on this input in the full size (issue 7): (N, C, H, W).
POOL_SHAPE = (4, 32, 128, 128)
TINY_POOL_SHAPE = (2, 8, 16, 16)


@dataclass
class Case:
    key: str                 # stable identifier, e.g. "conv2d_16x16_256_fwd"
    label: str               # what the results table shows
    op: str                  # conv2d | conv_transpose2d | max_pool2d | upsample | bce | relu
    #                          | unet_step | unet_memory | predict_tiled
    shape: tuple             # input shape (N, C, H, W); for predict_tiled the image (H, W)
    backward: bool = False   # time forward + backward instead of forward only
    params: dict = field(default_factory=dict)   # op settings (out_channels, mode, steps, ...)
    separate_process: bool = False               # needs a fresh process (peak-memory cases)


def _layer_cases(full):
    n = 4 if full else 2
    conv_sizes = [(1, 16, 256), (16, 16, 256), (32, 32, 128), (64, 64, 64), (128, 128, 32)]
    cases = []
    for backward in (False, True):
        suffix, what = ("fwdbwd", "fwd+bwd") if backward else ("fwd", "fwd")
        for c_in, c_out, size in conv_sizes:
            h = size if full else 16
            # The 1-channel layer is the network's input layer: the image needs no gradient.
            cases.append(Case(f"conv2d_{c_in}x{c_out}_{size}_{suffix}",
                              f"conv2d 3x3 {c_in}->{c_out} @{size}² {what}", "conv2d",
                              (n, c_in, h, h), backward,
                              dict(out_channels=c_out, kernel=3, padding=1,
                                   input_grad=c_in > 1)))
        h = 64 if full else 8
        cases.append(Case(f"conv_transpose2d_32x16_64_{suffix}",
                          f"conv_transpose2d 2x2 s2 32->16 @64² {what}", "conv_transpose2d",
                          (n, 32, h, h), backward, dict(out_channels=16, kernel=2, stride=2)))
        shape = POOL_SHAPE if full else TINY_POOL_SHAPE
        cases.append(Case(f"max_pool2d_{suffix}", f"max_pool2d 2x2 (4,32,128,128) {what}",
                          "max_pool2d", shape, backward, dict(kernel=2)))
        for mode in ("nearest", "bilinear"):
            cases.append(Case(f"upsample_{mode}_{suffix}",
                              f"upsample x2 {mode} (4,32,128,128) {what}", "upsample", shape,
                              backward, dict(mode=mode, scale=2)))
        cases.append(Case(f"relu_{suffix}", f"relu (4,32,128,128) {what}", "relu", shape,
                          backward))
        bce_shape = (4, 1, 256, 256) if full else (2, 1, 16, 16)
        cases.append(Case(f"bce_{suffix}", f"BCE-with-logits (4,1,256,256) {what}", "bce",
                          bce_shape, backward))
    return cases


def _unet_cases(full):
    unet = dict(in_channels=1, out_channels=1, base_channels=16, depth=3, lr=0.01,
                momentum=0.9)
    tiny = (2, 1, 32, 32)
    return [
        Case("unet_step_b4_256", "U-Net train step, batch 4 x 256²", "unet_step",
             (4, 1, 256, 256) if full else tiny, True, dict(unet)),
        Case("unet_step_b8_128", "U-Net train step, batch 8 x 128²", "unet_step",
             (8, 1, 128, 128) if full else tiny, True, dict(unet)),
        Case("unet_memory_b4_256", "U-Net peak memory, 3 steps batch 4 x 256² (MB)",
             "unet_memory", (4, 1, 256, 256) if full else tiny, True,
             dict(unet, steps=3 if full else 1), separate_process=True),
        Case("predict_tiled_2048", "tiled prediction 2048², tile 256 overlap 32 (MP/s)",
             "predict_tiled", (2048, 2048) if full else (96, 96), False,
             dict(unet, tile=256 if full else 64, overlap=32 if full else 16,
                  batch_size=4)),
    ]


def all_cases(full):
    """Every case, in the order the results table shows them."""
    return _layer_cases(full) + _unet_cases(full)


def get_case(key, full):
    for case in all_cases(full):
        if case.key == key:
            return case
    raise KeyError(f"no benchmark case {key!r}; known: {', '.join(all_keys())}")


def all_keys():
    return [case.key for case in all_cases(full=False)]


def keys_of(op_names):
    return [case.key for case in all_cases(full=False) if case.op in op_names]


def conv_out_size(size, kernel, stride=1, padding=0):
    """PyTorch's output size: floor((H + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def expected_out_shape(case):
    """The output shape each runner must produce (used by the smoke tests)."""
    n, c, h, w = case.shape if len(case.shape) == 4 else (1, 1, *case.shape)
    p = case.params
    if case.op == "conv2d":
        return (n, p["out_channels"], conv_out_size(h, p["kernel"], 1, p["padding"]),
                conv_out_size(w, p["kernel"], 1, p["padding"]))
    if case.op == "conv_transpose2d":    # (H - 1) * stride + kernel
        return (n, p["out_channels"], (h - 1) * p["stride"] + p["kernel"],
                (w - 1) * p["stride"] + p["kernel"])
    if case.op == "max_pool2d":
        return (n, c, h // p["kernel"], w // p["kernel"])
    if case.op == "upsample":
        return (n, c, h * p["scale"], w * p["scale"])
    if case.op == "relu":
        return case.shape
    if case.op == "predict_tiled":
        return case.shape
    return ()                            # scalar losses (bce, unet_step, unet_memory)
