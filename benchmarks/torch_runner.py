"""The same benchmark cases in PyTorch, for the ratios minicnn / PyTorch.

Run in its own process by compare.py (`python benchmarks/torch_runner.py --full --out t.json`),
never in the process that times minicnn. It builds the U-Net of minicnn.models.UNet(1, 1, 16, 3)
layer for layer (see `UNet` below), with the same optimizer and the same tiled prediction grid,
so that both libraries do the same arithmetic.
"""
import math

import numpy as np
import torch
import torch.nn.functional as TF
from torch import nn

import bench_common
from bench_common import Missing


def data(shape, device, requires_grad=False, seed=0):
    """The same float32 values as minicnn_runner.data (same generator, same seed)."""
    array = bench_common.normal_array(shape, seed)
    return torch.tensor(array, device=device, requires_grad=requires_grad)


def binary_mask(shape, device, seed=1):
    array = bench_common.mask_array(shape, seed)
    return torch.tensor(array, device=device)


def layer_call(op, inputs, backward, grad_out=None):
    def run():
        for t in inputs:
            t.grad = None
        out = op(*inputs)
        if backward:
            out.backward(grad_out)
        return out
    return run


def build_layer(case, device):
    n, c, h, w = case.shape
    p = case.params
    needs_grad = case.backward
    if case.op == "conv2d":
        x = data(case.shape, device, needs_grad and p["input_grad"])
        wt = data((p["out_channels"], c, p["kernel"], p["kernel"]), device, needs_grad, 2)
        b = data((p["out_channels"],), device, needs_grad, 3)
        op, inputs = (lambda x, wt, b: TF.conv2d(x, wt, b, padding=p["padding"])), [x, wt, b]
    elif case.op == "conv_transpose2d":
        x = data(case.shape, device, needs_grad)
        wt = data((c, p["out_channels"], p["kernel"], p["kernel"]), device, needs_grad, 2)
        b = data((p["out_channels"],), device, needs_grad, 3)
        op = lambda x, wt, b: TF.conv_transpose2d(x, wt, b, stride=p["stride"])  # noqa: E731
        inputs = [x, wt, b]
    elif case.op == "max_pool2d":
        op, inputs = (lambda x: TF.max_pool2d(x, p["kernel"])), [data(case.shape, device,
                                                                      needs_grad)]
    elif case.op == "upsample":
        corners = dict(align_corners=False) if p["mode"] == "bilinear" else {}
        op = lambda x: TF.interpolate(x, scale_factor=p["scale"], mode=p["mode"],  # noqa: E731
                                      **corners)
        inputs = [data(case.shape, device, needs_grad)]
    elif case.op == "relu":
        op, inputs = torch.relu, [data(case.shape, device, needs_grad)]
    elif case.op == "bce":
        target = binary_mask(case.shape, device)
        op = lambda x: TF.binary_cross_entropy_with_logits(x, target)  # noqa: E731
        return layer_call(op, [data(case.shape, device, needs_grad)], case.backward)
    else:
        raise ValueError(f"unknown layer op {case.op!r}")
    if not case.backward:
        return layer_call(op, inputs, False)
    with torch.no_grad():
        out_shape = tuple(op(*inputs).shape)
    return layer_call(op, inputs, True, data(out_shape, device, seed=4))


def double_conv(c_in, c_out):
    """Two 3x3 convolutions (padding 1), each followed by ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class UNet(nn.Module):
    """minicnn.models.UNet(in, out, base, depth, up="nearest"), layer for layer, in PyTorch.

    Encoder level i (i = 0 .. depth-1) has base * 2^i channels: two 3x3 convs + ReLU, with a
    2x2 max-pool before every level but the first (the last level is the bottleneck). Decoder,
    from the bottom up: a 1x1 conv halving the channels, nearest upsample x2 (minicnn does the
    1x1 conv first, at the low resolution: the same result for 4 times less work), concat with
    the skip of the same level (skip first), two 3x3 convs + ReLU. A final 1x1 conv gives the
    logits.
    """

    def __init__(self, in_channels=1, out_channels=1, base_channels=16, depth=3):
        super().__init__()
        widths = [base_channels * 2**i for i in range(depth)]       # 16, 32, 64
        self.down = nn.ModuleList()
        c = in_channels
        for width in widths:
            self.down.append(double_conv(c, width))
            c = width
        self.reduce = nn.ModuleList()
        self.up = nn.ModuleList()
        for width in reversed(widths[:-1]):                           # 32, 16
            self.reduce.append(nn.Conv2d(c, width, 1))
            self.up.append(double_conv(2 * width, width))
            c = width
        self.head = nn.Conv2d(c, out_channels, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = TF.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for reduce, block, skip in zip(self.reduce, self.up, reversed(skips[:-1])):
            x = TF.interpolate(reduce(x), scale_factor=2, mode="nearest")
            x = block(torch.cat([skip, x], dim=1))
        return self.head(x)


def make_unet(p, device):
    torch.manual_seed(0)
    return UNet(p["in_channels"], p["out_channels"], p["base_channels"], p["depth"]).to(device)


def build_unet_step(case, device):
    p = case.params
    model = make_unet(p, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"])
    x = data(case.shape, device)
    y = binary_mask((case.shape[0], p["out_channels"], *case.shape[2:]), device)

    def step():
        optimizer.zero_grad()
        loss = TF.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def tile_starts(length, tile, overlap):
    """Tile origins covering [0, length), overlapping by >= overlap (as minicnn.predict)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile - overlap)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def blend_window(size, overlap):
    """1-D weights: a raised-cosine ramp of length `overlap` at both ends, 1 in between."""
    window = torch.ones(size)
    ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(overlap) + 0.5) / overlap)
    window[:overlap] = ramp
    window[-overlap:] = torch.minimum(window[-overlap:], ramp.flip(0))
    return window


def build_predict(case, device):
    """minicnn.predict.predict_image's work in PyTorch, for an (H, W) image larger than a tile:
    reflect-pad by overlap / 2, cut tiles on the same grid, run them through the network
    `batch_size` at a time, blend the sigmoid outputs with the same window."""
    p = case.params
    model = make_unet(p, device).eval()
    image = np.random.default_rng(0).random(case.shape, dtype=np.float32)    # (H, W)
    tile, overlap = p["tile"], p["overlap"]
    margin = overlap // 2
    weight = (blend_window(tile, overlap)[:, None] * blend_window(tile, overlap)[None, :])

    def predict():
        padded = np.pad(image, margin, mode="reflect")                       # (Hp, Wp)
        height, width = padded.shape
        planes = torch.from_numpy(padded)
        origins = [(y, x) for y in tile_starts(height, tile, overlap)
                   for x in tile_starts(width, tile, overlap)]
        total = torch.zeros((p["out_channels"], height, width))
        norm = torch.zeros((height, width))
        with torch.no_grad():
            for i in range(0, len(origins), p["batch_size"]):
                chunk = origins[i:i + p["batch_size"]]
                tiles = torch.stack([planes[y:y + tile, x:x + tile] for y, x in chunk])[:, None]
                probs = torch.sigmoid(model(tiles.to(device))).cpu()    # (B, C, tile, tile)
                for (y, x), prob in zip(chunk, probs):
                    total[:, y:y + tile, x:x + tile] += prob * weight
                    norm[y:y + tile, x:x + tile] += weight
        return (total / norm)[:, margin:-margin, margin:-margin]          # (C, H, W)
    return predict


def build(case, device="cpu"):
    if device == "cuda" and not torch.cuda.is_available():
        raise Missing("this PyTorch has no CUDA device")
    if case.op in ("unet_step", "unet_memory"):
        return build_unet_step(case, device)
    if case.op == "predict_tiled":
        return build_predict(case, device)
    return build_layer(case, device)


def describe():
    return dict(torch=torch.__version__, numpy=np.__version__,
                torch_threads=torch.get_num_threads(),
                unet_parameters=sum(t.numel() for t in UNet().parameters()))


def sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def gpu_peak_mb():
    """The most memory PyTorch's caching allocator held (comparable to CuPy's pool size)."""
    return torch.cuda.max_memory_reserved() / 2**20


if __name__ == "__main__":
    bench_common.main("PyTorch", build, describe, sync=sync, gpu_peak_mb=gpu_peak_mb)
