"""Applying a trained network to new images of any size: tiled prediction with blended overlaps.

A U-Net sees a window of about `receptive_field(model)` pixels around each output pixel; near a
tile's edge part of that window is padding, so predictions there are less reliable. We therefore
cut the image into overlapping tiles, predict each, and blend: every tile's output is weighted by
a window that is 1 in its middle and falls smoothly towards its edges, and the weighted sum is
divided by the summed weights. Where only one tile covers a pixel its own prediction is used;
where tiles overlap, the more central one dominates, so no seams show.

Notation: image (H, W) normalized float32; probabilities (C, H, W) with C = out_channels
(sigmoid for one channel, softmax for several).
"""
import math

import numpy as np

from minicnn import backend
from minicnn.ops.activation import sigmoid, softmax
from minicnn.tensor import no_grad, tensor


def receptive_field(model):
    """How many pixels one output pixel of the U-Net sees along each axis."""
    depth = model.config["depth"]
    field, jump = 1, 1
    for level in range(depth):                 # encoder: two 3x3 convs, then a 2x2 pool
        field += 2 * 2 * jump
        if level < depth - 1:
            field += jump
            jump *= 2
    for _ in range(depth - 1):                 # decoder: upsample, then two 3x3 convs
        jump //= 2
        field += 2 * 2 * jump
    return field


DEFAULT_TILE = 256         # pixels; larger when the overlap needs it (deep networks)


def _multiple(model):
    return 2 ** (model.config["depth"] - 1)


def _blend_window(size, overlap):
    """1-D weights: a raised-cosine ramp of length `overlap` at both ends, 1 in between."""
    window = np.ones(size, np.float32)
    if overlap > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)  # (0, 1)
        window[:overlap] = ramp
        window[-overlap:] = np.minimum(window[-overlap:], ramp[::-1])
    return window


def _tile_starts(length, tile, overlap, multiple):
    """Start positions so that tiles of size `tile` cover [0, length) overlapping >= overlap.
    Starts are multiples of `multiple` (2**(depth-1)): a tile then sits on the same pooling grid
    as the whole image, and every tile sees the pixels the way a one-pass prediction would."""
    if length <= tile:
        return [0]
    # slack for rounding the starts to the grid; at least one grid step, so that no two starts
    # round to the same place (length - tile is a multiple of `multiple`)
    step = max(tile - overlap - multiple, multiple)
    count = math.ceil((length - tile) / step) + 1
    return [multiple * round(i * (length - tile) / (count - 1) / multiple) for i in range(count)]


def _forward_probabilities(model, batch, device):
    """batch (B, C_in, h, w) float32 on the host -> probabilities (B, C_out, h, w) on the host."""
    if hasattr(model, "probabilities"):        # a model.onnx (minicnn.interop.OnnxModel): the
        return model.probabilities(batch)      # graph ends in its activation, run by ONNX Runtime
    with no_grad():
        logits = model(tensor(batch, device=device))
        probs = sigmoid(logits) if logits.shape[1] == 1 else softmax(logits, axis=1)
    return backend.to_numpy(probs.data)


class TileLayout:
    """Where the tiles go for an image of `height` x `width` (all in padded coordinates):
    `margin` mirrored pixels around the image, tiles of `tile_h` x `tile_w` starting at
    `starts_y` x `starts_x`. Every size and start is a multiple of 2**(depth-1), so every tile
    sits on the same pooling grid as the whole image."""

    def __init__(self, model, height, width, tile=None, overlap=None):
        multiple = _multiple(model)
        asked = tile
        overlap_given = overlap is not None
        if overlap is None:
            overlap = multiple * math.ceil(receptive_field(model) / multiple)
        if tile is None:           # 256, or twice the overlap for a deep network's wide field
            tile = max(DEFAULT_TILE, 2 * overlap)
        tile = max(multiple, multiple * math.ceil(tile / multiple))
        fits = multiple * math.ceil(max(height, width) / multiple) <= tile
        if overlap >= tile and (overlap_given or not fits):   # (one tile for the image: no overlap)
            source = "--overlap" if overlap_given else ("the default --overlap: the network's "
                                                        "receptive field")
            raise ValueError(f"--tile {asked} (tiles of {tile} pixels) must be larger than the "
                             f"overlap of {overlap} pixels ({source}) to cover a {height} x "
                             f"{width} image; use --tile {2 * overlap} or more, or a smaller "
                             f"--overlap")
        self.overlap = overlap
        self.margin = 0 if fits else multiple * math.ceil(overlap / 2 / multiple)  # context
        self.tile_h = min(tile, multiple * math.ceil((height + 2 * self.margin) / multiple))
        self.tile_w = min(tile, multiple * math.ceil((width + 2 * self.margin) / multiple))
        self.padded_h = multiple * math.ceil(max(self.tile_h, height + 2 * self.margin) / multiple)
        self.padded_w = multiple * math.ceil(max(self.tile_w, width + 2 * self.margin) / multiple)
        self.starts_y = _tile_starts(self.padded_h, self.tile_h, overlap, multiple)
        self.starts_x = _tile_starts(self.padded_w, self.tile_w, overlap, multiple)

    def tiles(self):
        return [(y, x) for y in self.starts_y for x in self.starts_x]

    def weight(self):
        """(tile_h, tile_w) blending weights; blended only along an axis with several tiles."""
        wy = _blend_window(self.tile_h, self.overlap if len(self.starts_y) > 1 else 0)
        wx = _blend_window(self.tile_w, self.overlap if len(self.starts_x) > 1 else 0)
        return wy[:, None] * wx[None, :]


def predict_image(model, image, tile=None, overlap=None, batch_size=4, device="cpu"):
    """Probabilities (C, H, W) for one normalized 2-D image (or (C_in, H, W) with channels).

    The image is mirror-padded by a margin (so border pixels get context like inner ones) and
    up to a multiple of 2**(depth-1); tiles of `tile` pixels overlap by at least `overlap`
    (default: the receptive field, rounded up to the multiple) and are blended; tile=None:
    256 pixels, or twice the overlap for a network that sees further."""
    model.eval()
    image = np.asarray(image, np.float32)
    planes = image[None] if image.ndim == 2 else image                         # (C_in, H, W)
    _, height, width = planes.shape
    layout = TileLayout(model, height, width, tile, overlap)
    m, th, tw = layout.margin, layout.tile_h, layout.tile_w
    pad = ((0, 0), (m, layout.padded_h - height - m), (m, layout.padded_w - width - m))
    mode = "reflect" if min(height, width) > max(pad[1] + pad[2]) else "symmetric"
    padded = np.pad(planes, pad, mode=mode)                                   # (C_in, Hp, Wp)

    tiles, weight = layout.tiles(), layout.weight()
    total, norm = None, np.zeros((layout.padded_h, layout.padded_w), np.float32)
    for first in range(0, len(tiles), batch_size):
        chunk = tiles[first:first + batch_size]
        batch = np.stack([padded[:, y:y + th, x:x + tw] for y, x in chunk])   # (B, C_in, th, tw)
        probs = _forward_probabilities(model, batch, device)                 # (B, C, th, tw)
        if total is None:
            total = np.zeros((probs.shape[1], layout.padded_h, layout.padded_w), np.float32)
        for (y, x), p in zip(chunk, probs):
            p *= weight                                                       # (C, th, tw)
            total[:, y:y + th, x:x + tw] += p
            norm[y:y + th, x:x + tw] += weight
    out = total / norm
    return out[:, m:m + height, m:m + width]                                  # (C, H, W)


def predict_stack(model, image, channels=False, **options):
    """Probabilities for a 2-D image (H, W) -> (C, H, W), or plane by plane for a stack
    (Z, H, W) or a time series (T, Z, H, W) -> (..., C, H, W).

    channels=True: the third-last axis holds the input channels, (..., C_in, H, W), and each
    (C_in, H, W) image is predicted whole."""
    image = np.asarray(image)
    plane_ndim = 3 if channels else 2
    if image.ndim == plane_ndim:
        return predict_image(model, image, **options)
    planes = image.reshape(-1, *image.shape[-plane_ndim:])
    probs = np.stack([predict_image(model, plane, **options) for plane in planes])
    return probs.reshape(*image.shape[:-plane_ndim], *probs.shape[1:])


def probabilities_to_mask(probs, threshold=0.5):
    """(..., C, H, W) probabilities -> mask (..., H, W): foreground where p > threshold for one
    channel (uint8 0/1), the most likely class index for several."""
    if probs.shape[-3] == 1:
        return (probs[..., 0, :, :] > threshold).astype(np.uint8)
    return probs.argmax(axis=-3).astype(np.uint8)
