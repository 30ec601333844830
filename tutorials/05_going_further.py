# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Going further: GPUs, class imbalance, large images
#
# Three things that matter once the network works on a toy run:
# 1. **GPU with CuPy.** The same code runs on an NVIDIA GPU: minicnn asks every array which
#    library it belongs to (NumPy or CuPy). Without a GPU this notebook says so and runs on the CPU.
# 2. **Class imbalance.** When the objects cover 1 % of the pixels, a network that predicts "no
#    object" everywhere is 99 % accurate and useless. Weighting the rare class (`pos_weight`) or
#    adding the Dice loss fixes the incentive.
# 3. **Tiled prediction.** A microscope image can be far larger than what fits through the network
#    at once. We cut it into overlapping tiles and blend them so that no seams show.

# %%
import inspect
import os
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy import ndimage

import minicnn as mc
import minicnn.functional as F
from minicnn import backend, metrics, predict
from minicnn.models import UNet
from minicnn.pipeline import load_model
from minicnn.predict import predict_image, probabilities_to_mask

QUICK = os.environ.get("MINICNN_QUICK") == "1"
OUT = mc.viz.tutorial_output_dir()                     # figures and files go here
show = mc.viz.show                                     # save a figure; inline in Jupyter

mc.manual_seed(0)
image, labels = mc.data.sample_nuclei()
normalized = mc.data.normalize(image)                               # (512, 512) float32

# %% [markdown]
# ## 1. The GPU, through CuPy
#
# CuPy is a NumPy look-alike whose arrays live on an NVIDIA GPU. minicnn's operations never call
# `np.` on their data; they ask `xp = get_array_module(x)` and write `xp.exp(x)`. That single
# switch, in `minicnn/backend.py`, is the only place that knows CuPy exists:

# %%
print(inspect.getsource(backend.get_array_module))
print(inspect.getsource(backend.to_device))

# %%
GPU = mc.cuda_available()
device = "cuda" if GPU else "cpu"
if GPU:
    print("A GPU is available: the comparison below runs on both devices.")
else:
    print("NOTE: no GPU here (CuPy is not installed, or it sees no NVIDIA GPU). Everything below "
          "runs on the CPU; with `pip install \"minicnn[cuda]\"` on a machine with a GPU the same "
          "cells also time the GPU.")

# %% [markdown]
# Moving work to the GPU is one call on the model and one on the data. Gradients, optimizer state
# and every operation in between stay on that device. We time one training step (forward,
# backward, update) on each device that we have.

# %%
def time_training_step(device, base_channels=16, batch=4, patch=128, repeats=3):
    mc.manual_seed(0)
    net = UNet(base_channels=base_channels).to(device)
    opt = mc.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.random((batch, 1, patch, patch), np.float32), device=device)
    y = mc.tensor((rng.random((batch, 1, patch, patch)) > 0.5).astype(np.float32), device=device)
    times, losses = [], []
    for _ in range(repeats + 1):                  # the first round warms up (GPU kernels compile)
        start = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        backend.synchronize()                     # GPU calls return before the work is done
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    return min(times[1:]), losses


size = dict(base_channels=8, patch=64) if QUICK else dict(base_channels=16, patch=128)
cpu_time, cpu_losses = time_training_step("cpu", **size)
print(f"CPU: {cpu_time * 1e3:.0f} ms per training step {size}")
if GPU:
    gpu_time, gpu_losses = time_training_step("cuda", **size)
    print(f"GPU: {gpu_time * 1e3:.0f} ms per training step ({cpu_time / gpu_time:.1f}x faster)")
    # same weights, same data: the same losses up to float32 rounding
    assert np.allclose(cpu_losses, gpu_losses, rtol=1e-3), (cpu_losses, gpu_losses)

# %% [markdown]
# ## 2. Class imbalance
#
# Change the task: instead of whole nuclei, find each nucleus's **centre** (a disk of radius 3
# pixels around it). Now the foreground is about 1 % of the pixels.

# %%
centres = ndimage.center_of_mass(labels > 0, labels, np.unique(labels)[1:])
yy, xx = np.mgrid[:labels.shape[0], :labels.shape[1]]
centre_mask = np.zeros(labels.shape, np.uint8)
for cy, cx in centres:
    centre_mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = 1
fraction = centre_mask.mean()
print(f"{len(centres)} centres, foreground {fraction:.2%} of the pixels")

# %% [markdown]
# A lazy "network" that predicts background everywhere, with confidence 95 % (logit -3):

# %%
truth = mc.tensor(centre_mask[None, None].astype(np.float32))
lazy_logits = mc.tensor(np.full(truth.shape, -3.0, np.float32))
lazy_mask = np.zeros_like(centre_mask)
pos_weight = (1 - fraction) / fraction                              # negatives per positive
plain = F.binary_cross_entropy_with_logits(lazy_logits, truth).item()
weighted = F.binary_cross_entropy_with_logits(lazy_logits, truth,
                                              pos_weight=mc.tensor([pos_weight])).item()
dice_loss = F.dice_loss(lazy_logits, truth).item()
print(f"pixel accuracy {metrics.pixel_accuracy(lazy_mask, centre_mask):.1%}, "
      f"IoU {metrics.iou(lazy_mask, centre_mask):.2f}")
print(f"plain BCE {plain:.3f} | BCE with pos_weight {pos_weight:.0f}: {weighted:.3f} | "
      f"Dice loss {dice_loss:.3f}")
assert metrics.pixel_accuracy(lazy_mask, centre_mask) > 0.98 and weighted > 10 * plain

# %% [markdown]
# Plain BCE already rates the lazy answer as good (the 99 % background pixels each
# contribute a tiny loss). With `pos_weight` = negatives / positives, every missed foreground
# pixel costs as much as all the background pixels together, and the lazy answer's loss is
# large. The **Dice loss** (1 - soft Dice) ignores the background count altogether: it only asks
# how well the predicted and true foreground overlap, and for the lazy answer it is close to 1.
#
# Train three small U-Nets the same way (same start, same batches) with each loss, and look at
# the recall (the fraction of true centre pixels found) and IoU on the validation strip:

# %%
split = 384                                                        # columns 384.. are held out
train_pairs = [mc.data.Pair("train", normalized[:, :split], centre_mask[:, :split])]
val_image, val_truth = normalized[:, split:], centre_mask[:, split:]
steps = 40 if QUICK else 300


def train_centres(loss_name):
    mc.manual_seed(0)
    net = UNet(base_channels=8, depth=3)
    opt = mc.optim.Adam(net.parameters(), lr=3e-3)
    batches = mc.data.BatchLoader(train_pairs, patch_size=64, batch_size=4,
                                  rng=np.random.default_rng(0), foreground_bias=0.0)
    for _ in range(steps):
        xb, yb = batches.next_batch()
        logits, y = net(mc.tensor(xb)), mc.tensor(yb)
        if loss_name == "BCE":
            loss = F.binary_cross_entropy_with_logits(logits, y)
        elif loss_name == "BCE + pos_weight":
            loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=mc.tensor([pos_weight]))
        else:
            loss = F.binary_cross_entropy_with_logits(logits, y) + F.dice_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    predicted = probabilities_to_mask(predict_image(net, val_image))
    recall = np.logical_and(predicted, val_truth).sum() / val_truth.sum()
    return predicted, recall, metrics.iou(predicted, val_truth)


results = {}
for loss_name in ("BCE", "BCE + pos_weight", "BCE + Dice"):
    start = time.perf_counter()
    results[loss_name] = train_centres(loss_name)
    print(f"{loss_name:18s} recall {results[loss_name][1]:.2f}  IoU {results[loss_name][2]:.2f}  "
          f"({time.perf_counter() - start:.0f} s)")
assert results["BCE + pos_weight"][1] > results["BCE"][1], \
    "weighting the rare class should find more centre pixels"

fig = Figure(figsize=(14, 4))
axes = fig.subplots(1, 4)
axes[0].imshow(val_image, cmap="gray", vmax=1)
axes[0].contour(val_truth, levels=[0.5], colors=["lime"], linewidths=1)
axes[0].set_title("validation strip, true centres")
for ax, (loss_name, (predicted, recall, iou)) in zip(axes[1:], results.items()):
    ax.imshow(predicted, cmap="gray")
    ax.set_title(f"{loss_name}: recall {recall:.2f}")
for ax in axes:
    ax.set_axis_off()
show(fig, "05_imbalance.png")

# %% [markdown]
# With plain BCE the network learns the lazy answer first: in a short run it finds few centres or
# none. Weighting the rare class makes it find them from the first steps, at the price of fat,
# over-eager disks: `pos_weight` trades precision for recall (a value between 1 and
# negatives/positives, or a higher threshold, balances the two). The Dice term needs more steps
# before it pays off (compare quick and full mode); `minicnn train --dice` adds it to BCE.
# Sampling patches centred on objects (`foreground_bias`, 0.5 in tutorial 4) is the third remedy:
# it changes what the network sees rather than how errors are counted.
#
# **Exercise.** Why is `pos_weight` = negatives / positives the "balancing" value? Compute the
# total weight that all foreground pixels and all background pixels carry in the weighted loss of
# a batch with the fraction above; the check asserts they are equal.

# %%
n_pixels = 100_000
n_foreground = n_pixels * fraction
# BEGIN SOLUTION t05_pos_weight
foreground_weight = n_foreground * pos_weight        # each positive pixel counts pos_weight times
background_weight = (n_pixels - n_foreground) * 1.0  # each negative pixel counts once
# END SOLUTION

# %%
assert np.isclose(foreground_weight, background_weight)
print("Exercise: correct; both classes carry", f"{foreground_weight:.0f}")

# %% [markdown]
# ## 3. Tiled prediction of a large image
#
# A 4000 x 4000 image through a U-Net at once needs gigabytes of activations. `predict_image` cuts
# it into tiles, predicts a batch of tiles at a time, and blends them. We use the bundled
# pretrained nuclei model.

# %%
model = load_model("nuclei")        # the bundled pretrained U-Net (see its README)
normalization = model.metadata["normalization"]  # how its training images were scaled

# %% [markdown]
# A large test image: the sample mirrored into a 2 x 2 mosaic (1024 x 1024), with its ground
# truth mirrored the same way.

# %%
def mosaic(a):
    top = np.concatenate([a, a[:, ::-1]], axis=1)
    return np.concatenate([top, top[::-1]], axis=0)


large = mc.data.normalize(mosaic(image), normalization)            # (1024, 1024)
large_truth = mosaic(labels > 0)
print("large image", large.shape)

# %% [markdown]
# Near a tile's edge part of each output pixel's receptive field falls outside the tile, onto
# padding, so predictions there are less reliable. Tiles therefore **overlap** by the receptive
# field, and each tile's output is weighted by a window that is 1 in the middle and
# falls smoothly to the edges; the weighted outputs are added and divided by the summed weights:

# %%
print(inspect.getsource(predict._blend_window))

# %% [markdown]
# One more detail matters: tutorial 3 showed that shifting the input shifts the U-Net's output
# exactly only for shifts that are multiples of 2**(depth-1) (= 4 here, the two poolings). A tile
# whose corner is not on that grid sees the pooling windows cut differently and predicts slightly
# differently everywhere. So predict_image puts every tile corner on that grid (and the mirrored
# margin of overlap/2 it adds around the whole image is a multiple of 4 too):

# %%
tile = 256
multiple = 2 ** (model.config["depth"] - 1)
layout = predict.TileLayout(model, *large.shape, tile=tile)        # what predict_image does
overlap, margin, starts = layout.overlap, layout.margin, layout.starts_y
print(f"tile {tile}, overlap {overlap}: tiles start at {[s - margin for s in starts]} (image "
      f"coordinates) along each axis -> {len(starts) ** 2} tiles")
assert all((s - margin) % multiple == 0 for s in starts), "tile corners off the pooling grid"

# %%
start = time.perf_counter()
prob_tiled = predict_image(model, large, tile=tile, overlap=overlap)      # (1, 1024, 1024)
seconds = time.perf_counter() - start
prob_naive = predict_image(model, large, tile=tile, overlap=0)            # plain tiles, no blend
prob_whole = predict_image(model, large, tile=1024)                       # one pass, for reference
mask_tiled = probabilities_to_mask(prob_tiled)
print(f"tiled prediction of {large.shape}: {seconds:.1f} s; IoU vs ground truth "
      f"{metrics.iou(mask_tiled, large_truth):.3f}")
# Compare away from the image's own border (overlap/2 px): when it tiles, predict_image also adds a
# mirrored margin around the whole image, so the outermost pixels differ from the one-pass run.
inner = (slice(None), slice(margin, -margin), slice(margin, -margin))
seam_naive = np.abs(prob_naive - prob_whole)[inner].max()
seam_blend = np.abs(prob_tiled - prob_whole)[inner].max()
print(f"largest difference from the one-pass prediction: plain tiles {seam_naive:.4f}, "
      f"overlapping blended tiles {seam_blend:.4f}")
mean_blend = np.abs(prob_tiled - prob_whole)[inner].mean()
print(f"mean difference with blending: {mean_blend:.5f}")
assert seam_blend < seam_naive / 4 and mean_blend < 1e-3

# %%
fig = Figure(figsize=(15, 5))
axes = fig.subplots(1, 3)
axes[0].imshow(large, cmap="gray", vmax=1)
for y0 in starts:
    for x0 in starts:
        axes[0].add_patch(Rectangle((x0 - margin, y0 - margin), tile, tile, fill=False,
                                    edgecolor="orange", lw=1))
axes[0].set_title(f"{len(starts) ** 2} overlapping tiles")
axes[1].imshow(np.abs(prob_naive - prob_whole)[0], cmap="magma", vmin=0, vmax=0.3)
axes[1].set_title("plain tiles: error vs one pass (seams)")
axes[2].imshow(np.abs(prob_tiled - prob_whole)[0], cmap="magma", vmin=0, vmax=0.3)
axes[2].set_title("overlap + blending: error vs one pass")
for ax in axes:
    ax.set_axis_off()
show(fig, "05_tiles.png")
show(mc.viz.plot_overlay(large, large_truth, mask_tiled, title="tiled prediction, 1024 x 1024"),
     "05_large_overlay.png")

# %% [markdown]
# `minicnn predict --model model.npz image.tif` does exactly this for TIFF files (and stacks, plane
# by plane), and writes probabilities, masks and, with `--instances`, labelled objects.
#
# ## Where next
#
# - Train on your own folders: `minicnn train --images images/ --masks masks/ --out run/`.
# - Read `minicnn/ops/` next to `minicnn/reference/`: every fast operation has a loop twin.
# - Change the U-Net (depth, `batch_norm=True`, `up="transpose"`) and watch the learning curves.

# %% [markdown]
# ## Questions
#
# Answer in a few sentences, in the cell below each question.

# %% [markdown]
# **Question 1.** In a batch where 5 % of the pixels are foreground, which pos_weight gives both
# classes the same total weight, and what does a large pos_weight do to precision and recall?
#
# BEGIN SOLUTION
# negatives / positives = 95 / 5 = 19. Weighting the foreground that much makes misses costly:
# recall rises, while precision falls (over-eager, fat objects).
# END SOLUTION

# %% [markdown]
# **Question 2.** Why does tiled prediction overlap the tiles and blend them, instead of cutting
# the image into disjoint tiles?
#
# BEGIN SOLUTION
# Near a tile's border the network sees zero padding instead of the real neighbourhood, so its
# predictions there are worse. Overlapping tiles, weighted towards their centres, keep every
# pixel's prediction from a tile where it had full context, and leave no seams.
# END SOLUTION
