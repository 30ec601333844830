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
# # 4. Training a segmentation network on microscopy images
#
# This is the whole story, end to end, on a real fluorescence image of nuclei:
#
# 1. **Paired images.** A fully convolutional network learns the relation between a raw image
#    and its manual annotation, the **ground truth**: for each pixel, nucleus or background.
# 2. **Normalization and patches.** Images are brought to a common intensity range and cut into
#    random patches, the network's training examples.
# 3. **The network.** A U-Net: layers of artificial neurons (convolution filters), activity
#    flowing from the input to the output, where a prediction is made for every pixel.
# 4. **Error.** The prediction is compared with the ground truth: the loss.
# 5. **Learning.** Back-propagation carries the error back to every weight and bias; gradient
#    descent (here Adam) changes each one a little to reduce it; then the next batch comes.
# 6. **Learning curves** and **predictions on pixels the network never saw**, scored with IoU and
#    Dice. The trained model is the network together with its optimized weights and biases.
# 7. **Why weights must start random**: what happens if all weights start equal, measured.
#
# Trained well, such networks segment as well as human experts on many tasks (e.g. Esteva et
# al., Nature 2017; Zeng, Wu and Ji, Bioinformatics 2017). Quick mode (`MINICNN_QUICK=1`)
# trains a very small network for 60 steps (well under a minute on 2 CPU cores) and asks for a
# held-out IoU above 0.5; full mode trains a larger one for 400 steps and asks for 0.75.

# %%
import inspect
import os
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import minicnn as mc
import minicnn.functional as F
from minicnn import metrics
from minicnn.models import UNet
from minicnn.predict import predict_image, probabilities_to_mask, receptive_field
from minicnn.symmetry import compare_initializations, filter_spread
from minicnn.train import Trainer

QUICK = os.environ.get("MINICNN_QUICK") == "1"
OUT = mc.viz.tutorial_output_dir()                     # figures and files go here
show = mc.viz.show                                     # save a figure; inline in Jupyter

# Quick mode: a tiny network and a short run; full mode: the real thing (a few minutes on a CPU).
if QUICK:
    CONFIG = dict(base_channels=8, patch=64, batch=4, steps=60, lr=3e-3, val_every=20,
                  min_iou=0.5)
else:
    CONFIG = dict(base_channels=16, patch=96, batch=4, steps=400, lr=2e-3, val_every=50,
                  min_iou=0.75)
print("quick mode" if QUICK else "full mode", CONFIG)
mc.manual_seed(0)

# %% [markdown]
# ## 1. Paired images: raw image and ground truth
#
# The bundled image is one fluorescence image of nuclei from the 2018 Data Science Bowl
# (Caicedo et al., Nature Methods 2019), as shipped with StarDist (Schmidt et al., MICCAI 2018),
# with its human annotation: every nucleus has its own label id, 0 is background. For
# segmentation we only need "nucleus or not": `labels > 0`.
#
# In practice the pairs are TIFF files, `images/NAME.tif` and `masks/NAME.tif`.
# `mc.data.read_pairs` reads such folders and checks that every image has a mask of the same
# size. We write the sample in that layout and read it back, as you would your own data:

# %%
image, labels = mc.data.sample_nuclei()
data_dir = Path(tempfile.mkdtemp())
(data_dir / "images").mkdir()
(data_dir / "masks").mkdir()
mc.data.write_image(data_dir / "images" / "nuclei.tif", image)
mc.data.write_image(data_dir / "masks" / "nuclei.tif", labels)
pairs = mc.data.read_pairs(data_dir / "images", data_dir / "masks")
name, raw, mask = pairs[0]
print(f"{len(pairs)} pair: {name}: image {raw.shape} {raw.dtype}, mask {mask.shape} {mask.dtype} "
      f"values {np.unique(mask)}")
print(f"raw intensities {image.min()}..{image.max()} ({image.dtype}), "
      f"{len(np.unique(labels)) - 1} annotated nuclei, foreground {np.mean(mask > 0):.1%}")

fig = Figure(figsize=(12, 4))
for ax, picture, title in zip(fig.subplots(1, 3), [image, labels, mask],
                              ["raw image", "annotation (one id per nucleus)",
                               "ground truth for segmentation"]):
    ax.imshow(picture, cmap="gray" if picture is not labels else "nipy_spectral",
              interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
show(fig, "04_pair.png")

# %% [markdown]
# ## 2. Normalization, a held-out strip, and patches
#
# Microscopes give very different intensity ranges (8-bit, 16-bit, exposure times). Percentile
# normalization maps the 1st percentile to 0 and the 99.8th to 1, so that every image looks alike
# to the network and a few hot pixels do not set the scale:

# %%
print(inspect.getsource(mc.data.normalize_percentile))
normalized = mc.data.normalize(raw)
print(f"after: 1st percentile {np.percentile(normalized, 1):.3f}, "
      f"99.8th {np.percentile(normalized, 99.8):.3f}, dtype {normalized.dtype}")

# %% [markdown]
# To judge the network honestly we hold back pixels it never trains on. With a single image,
# `split_train_val` keeps the right quarter of the width as a **validation strip**; training
# patches are cut from the left three quarters only.

# %%
train_pairs, val_pairs = mc.data.split_train_val([mc.data.Pair(name, normalized, mask)], 0.25)
train_image, train_mask = train_pairs[0].image, train_pairs[0].mask
val_image, val_mask = val_pairs[0].image, val_pairs[0].mask
print("train:", train_pairs[0].name, train_image.shape, "| validation:", val_pairs[0].name,
      val_image.shape)

fig = Figure(figsize=(5, 5))
ax = fig.subplots()
ax.imshow(normalized, cmap="gray", vmax=1)
ax.add_patch(Rectangle((train_image.shape[1], 0), val_image.shape[1], val_image.shape[0],
                       fill=False, edgecolor="orange", lw=3))
ax.set_title("orange: the held-out validation strip")
ax.set_axis_off()
show(fig, "04_split.png")

# %% [markdown]
# The network trains on random **patches** (64 x 64 pixels in quick mode, 96 x 96 in full
# mode), with random flips
# and 90-degree rotations (augmentation: a nucleus upside down is still a nucleus). A
# fully convolutional network trained on patches can later be applied to a whole image of any
# size. `BatchLoader` draws endless batches: `x` (B, 1, P, P) images and `y` (B, 1, P, P)
# 0/1 targets. Half of the patches are centred on a nucleus (`foreground_bias`).

# %%
loader = mc.data.BatchLoader(train_pairs, patch_size=CONFIG["patch"], batch_size=CONFIG["batch"],
                             rng=np.random.default_rng(0), foreground_bias=0.5)
xb, yb = loader.next_batch()
print("x", xb.shape, xb.dtype, "| y", yb.shape, yb.dtype, "values", np.unique(yb))
fig = Figure(figsize=(2.2 * len(xb), 4.4))
axes = fig.subplots(2, len(xb), squeeze=False)
for k in range(len(xb)):
    axes[0, k].imshow(xb[k, 0], cmap="gray")
    axes[1, k].imshow(yb[k, 0], cmap="gray")
    axes[0, k].set_axis_off()
    axes[1, k].set_axis_off()
axes[0, 0].set_title("patches")
axes[1, 0].set_title("targets")
show(fig, "04_patches.png")

# %% [markdown]
# ## 3. The network: a U-Net
#
# Tutorial 3 took it apart. Each `Conv2d` is a layer of neurons (filters), each with a weight per
# input channel and kernel position and one bias. At the start the weights are **random** (more
# on why in section 7):

# %%
model = UNet(in_channels=1, out_channels=1, base_channels=CONFIG["base_channels"], depth=3)
print(model)
print(f"{model.num_parameters():,} weights and biases; each output pixel sees "
      f"{receptive_field(model)} x {receptive_field(model)} input pixels")

# %% [markdown]
# ## 4. Prediction and error
#
# Activity flows forward: the batch goes in, one **logit** per pixel comes out;
# sigmoid(logit) is the predicted probability of "nucleus". The untrained network predicts about
# 0.5 everywhere. The error is the **binary cross-entropy** between these probabilities and the
# ground truth, averaged over pixels: $-[t \log p + (1-t)\log(1-p)]$, small when $p$ is close
# to the truth $t$.

# %%
x, y = mc.tensor(xb), mc.tensor(yb)
logits = model(x)                                                  # (B, 1, P, P)
loss = F.binary_cross_entropy_with_logits(logits, y)
probability = F.sigmoid(logits).numpy()
print(f"logits {logits.shape}; predicted probability {probability.min():.3f}..."
      f"{probability.max():.3f}; loss {loss.item():.4f} (ln 2 = {np.log(2):.4f} for p = 0.5)")

# %% [markdown]
# ## 5. Learning: back-propagation and gradient updates
#
# `loss.backward()` carries the error back through every layer (tutorials 1-3) and leaves in
# each weight's and bias's `.grad` how the loss changes when it grows. The optimizer then moves
# every parameter against its gradient. We use **Adam**, gradient descent with a per-parameter
# step size (`mc.optim.SGD` works too, with a larger learning rate and more steps):

# %%
print(inspect.getsource(mc.optim.Adam.update))

# %% [markdown]
# **Exercise 1.** Write one training step: forward, loss, clear old gradients, back-propagate,
# update. The check runs it a few times on one fixed batch: the error on that batch must drop.

# %%
def training_step(model, optimizer, x, y):
    """One step on batch (x, y); returns the loss before the update (a float)."""
    # BEGIN SOLUTION t04_training_step
    loss = F.binary_cross_entropy_with_logits(model(x), y)    # forward, and the error
    optimizer.zero_grad()                                      # gradients accumulate otherwise
    loss.backward()                                            # back-propagation
    optimizer.step()                                           # every weight and bias moves
    return loss.item()
    # END SOLUTION


# %%
check_model = UNet(base_channels=4, depth=2)
check_optimizer = mc.optim.Adam(check_model.parameters(), lr=1e-2)
check_losses = [training_step(check_model, check_optimizer, x, y) for _ in range(8)]
print("loss on one batch:", np.round(check_losses, 4))
assert check_losses[-1] < check_losses[0] - 0.01, "the loss on a fixed batch should fall"
print("Exercise 1: correct")

# %% [markdown]
# **Plain gradient descent or Adam?** SGD moves every parameter by `lr * gradient`; with momentum
# it follows a running average of the gradients. Adam divides each parameter's step by a running
# estimate of its gradient's size, so that layers whose gradients are small still move. Same
# network start, same batches, a few dozen steps each:

# %%
def short_run(make_optimizer, steps):
    mc.manual_seed(2)
    net = UNet(base_channels=4, depth=3)
    opt = make_optimizer(net.parameters())
    batches = mc.data.BatchLoader(train_pairs, patch_size=64, batch_size=4,
                                  rng=np.random.default_rng(2), foreground_bias=0.5)
    return [training_step(net, opt, *map(mc.tensor, batches.next_batch())) for _ in range(steps)]


compare_steps = 30 if QUICK else 100
runs = {"SGD lr 0.05": lambda p: mc.optim.SGD(p, lr=0.05),
        "SGD lr 0.05, momentum 0.9": lambda p: mc.optim.SGD(p, lr=0.05, momentum=0.9),
        "Adam lr 3e-3": lambda p: mc.optim.Adam(p, lr=3e-3)}
fig = Figure(figsize=(6, 3.5))
ax = fig.subplots()
for label, make in runs.items():
    curve = short_run(make, compare_steps)
    ax.plot(curve, label=label)
    print(f"{label:26s} loss {np.mean(curve[:3]):.3f} -> {np.mean(curve[-3:]):.3f}")
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.legend()
show(fig, "04_optimizers.png")

# %% [markdown]
# Now the real run. Every step draws a fresh batch, and every `val_every` steps we segment the
# validation strip and score it. We also follow one weight and one bias to watch the updates
# move them. (`minicnn.train.Trainer` runs this same loop with checkpoints, and `minicnn train`
# runs it from the command line; its step is the same few lines:)

# %%
print(inspect.getsource(Trainer.train_step))

# %%
def validation_scores(model):
    """IoU and Dice of the model's mask on the held-out strip (the whole strip, tiled)."""
    prob = predict_image(model, val_image)                         # (1, H, W) probabilities
    model.train()                                                  # predict_image sets eval()
    predicted = probabilities_to_mask(prob)                        # (H, W) 0/1
    return metrics.iou(predicted, val_mask), metrics.dice(predicted, val_mask)


mc.manual_seed(0)
model = UNet(in_channels=1, out_channels=1, base_channels=CONFIG["base_channels"], depth=3)
optimizer = mc.optim.Adam(model.parameters(), lr=CONFIG["lr"])
scheduler = mc.optim.CosineAnnealingLR(optimizer, T_max=CONFIG["steps"] - 10, warmup_steps=10) \
    if not QUICK else mc.optim.LinearWarmup(optimizer, warmup_steps=5)
loader = mc.data.BatchLoader(train_pairs, patch_size=CONFIG["patch"], batch_size=CONFIG["batch"],
                             rng=np.random.default_rng(0), foreground_bias=0.5)
watched = {"a weight of the first filter": (model.encoder[0].conv1.weight, (0, 0, 1, 1)),
           "the output layer's bias": (model.head.bias, (0,))}
traces = {label: [float(p.numpy()[index])] for label, (p, index) in watched.items()}
history, losses = [], []
start = time.perf_counter()
for step in range(1, CONFIG["steps"] + 1):
    xb, yb = loader.next_batch()
    losses.append(training_step(model, optimizer, mc.tensor(xb), mc.tensor(yb)))
    scheduler.step()
    for label, (p, index) in watched.items():
        traces[label].append(float(p.numpy()[index]))
    if step % CONFIG["val_every"] == 0:
        iou, dice = validation_scores(model)
        history.append({"step": step, "loss": float(np.mean(losses[-CONFIG["val_every"]:])),
                        "val_iou": iou, "val_dice": dice})
        print(f"step {step:4d}  loss {history[-1]['loss']:.4f}  validation IoU {iou:.3f}  "
              f"Dice {dice:.3f}  ({time.perf_counter() - start:.0f} s)")
first, last = np.mean(losses[:5]), np.mean(losses[-5:])
print(f"training loss {first:.3f} -> {last:.3f} (mean of the first and last 5 steps)")
assert last < first / 1.5, "the training loss should fall by at least a factor 1.5"

# %% [markdown]
# ## 6. Learning curves and predictions on unseen pixels
#
# The loss (the error on the training batches) falls; the IoU on the validation strip rises.

# %%
show(mc.viz.plot_curves(history), "04_curves.png")

fig = Figure(figsize=(10, 3.5))
for ax, (label, values) in zip(fig.subplots(1, 2), traces.items()):
    ax.plot(values)
    ax.set_xlabel("step")
    ax.set_title(label)
show(fig, "04_parameters.png")

# %% [markdown]
# The validation strip, predicted whole (`predict_image` cuts it into overlapping tiles if it is
# large: tutorial 5). The outlines compare the ground truth (green) with the prediction (magenta).
#
# **IoU** (intersection over union) = |P ∩ T| / |P ∪ T| and **Dice** = 2|P ∩ T| / (|P| + |T|),
# with P the predicted and T the true foreground pixels: 1 is perfect, 0 no overlap.
#
# **Exercise 2.** Write both. The check compares with `minicnn.metrics`.

# %%
def my_iou_and_dice(pred, truth):
    pred, truth = pred > 0, truth > 0
    # BEGIN SOLUTION t04_iou_dice
    intersection = np.logical_and(pred, truth).sum()
    iou = intersection / np.logical_or(pred, truth).sum()
    dice = 2 * intersection / (pred.sum() + truth.sum())
    # END SOLUTION
    return float(iou), float(dice)


# %%
prob = predict_image(model, val_image)                              # (1, H, W)
predicted = probabilities_to_mask(prob)                             # (H, W) 0/1
iou, dice = my_iou_and_dice(predicted, val_mask)
assert np.isclose(iou, metrics.iou(predicted, val_mask))
assert np.isclose(dice, metrics.dice(predicted, val_mask))
print("Exercise 2: correct")
print(f"held-out strip: IoU {iou:.3f}, Dice {dice:.3f} "
      f"(required here: IoU > {CONFIG['min_iou']})")
assert iou > CONFIG["min_iou"]
show(mc.viz.plot_overlay(val_image, val_mask, predicted,
                         title="validation strip: never trained on"),
     "04_overlay.png")

# %% [markdown]
# Pixels are not objects. To count nuclei we split the predicted foreground into objects
# (touching nuclei separated by a watershed) and match them to the annotated ones: a match needs
# an IoU of at least 0.5 between the two objects.

# %%
pred_objects, count = metrics.split_instances(predicted)
true_objects = labels[:, -val_mask.shape[1]:].astype(np.int64)
scores = metrics.object_f1(pred_objects.astype(np.int64), true_objects)
print(f"{count} predicted objects; {scores['tp']} matched, {scores['fp']} false, "
      f"{scores['fn']} missed; object F1 {scores['f1']:.2f}")

# %% [markdown]
# **The trained model** is the network together with its optimized weights and biases. `mc.save`
# writes it to one `.npz` file; loaded again, it predicts exactly the same on new images.

# %%
path = OUT / "nuclei_tutorial_model.npz"
mc.save(model, path)
reloaded = mc.load(path)
assert np.allclose(predict_image(reloaded, val_image), prob, atol=1e-6)
print(f"saved to {path} ({path.stat().st_size / 1e3:.0f} kB), reloaded: same prediction")

# %% [markdown]
# minicnn also bundles a model trained longer on the same left three quarters (`minicnn predict
# --model nuclei`). On the same held-out strip:

# %%
pretrained_file = resources.files("minicnn.data") / "pretrained" / "nuclei.npz"
if pretrained_file.is_file():
    from minicnn.pipeline import load_model

    pretrained = load_model("nuclei")
    settings = pretrained.metadata["training"]
    strip = mc.data.normalize(raw, pretrained.metadata["normalization"])[:, -val_mask.shape[1]:]
    pretrained_mask = probabilities_to_mask(predict_image(pretrained, strip))
    print(f"bundled model ({settings['steps']} steps, batch {settings['batch']}, patch "
          f"{settings['patch']}, base_channels {pretrained.config['base_channels']}): IoU "
          f"{metrics.iou(pretrained_mask, val_mask):.3f}, Dice "
          f"{metrics.dice(pretrained_mask, val_mask):.3f}; ours: IoU {iou:.3f}")
else:
    print("this copy of minicnn has no bundled pretrained model")

# %% [markdown]
# ## 7. Why the weights must not all start equal
#
# A common simplification says that all connections start with equal weights. They must not.
# If every filter of a layer starts the same, every filter computes the same feature map,
# receives the same gradient, gets the same update, and is still identical after the update:
# forever. The layer then acts as a single filter (this is the **symmetry** problem). Random
# initialization breaks the symmetry. minicnn has the experiment built in:

# %%
import minicnn.symmetry  # noqa: E402

print(minicnn.symmetry.__doc__)
results = compare_initializations(steps=20 if QUICK else 100)
for mode, result in results.items():
    print(f"{mode:8s} init: filter spread {result['spread'][0]:.4f} -> {result['spread'][-1]:.4f},"
          f" loss {result['loss'][0]:.4f} -> {result['loss'][-1]:.4f}")
assert results["constant"]["spread"][-1] < 1e-12
assert results["random"]["spread"][-1] > 0.1

fig = Figure(figsize=(10, 3.5))
ax_spread, ax_filters = fig.subplots(1, 2)
for mode, result in results.items():
    ax_spread.plot(result["spread"], label=f"{mode} init")
ax_spread.set_xlabel("step")
ax_spread.set_ylabel("largest difference between filters")
ax_spread.legend()
ax_filters.imshow(np.concatenate(list(results["constant"]["filters"]) + list(
    results["random"]["filters"]), axis=1), cmap="RdBu_r")
ax_filters.set_title("trained 3x3 filters: 4 constant-init | 4 random-init")
ax_filters.set_axis_off()
show(fig, "04_symmetry.png")

# %% [markdown]
# The same happens in our U-Net. Set every weight to the same value (and every bias to 0), train a
# few steps on patches of the training part of the image, and measure how different the filters
# of each convolution are; then the same with the usual random start:

# %%
def spreads_after_training(constant, steps):
    mc.manual_seed(1)
    net = UNet(base_channels=CONFIG["base_channels"], depth=3)
    if constant:
        for name, p in net.named_parameters():
            mc.nn.init.constant_(p, 0.0 if name.endswith("bias") else 0.02)
    opt = mc.optim.Adam(net.parameters(), lr=1e-3)
    batches = mc.data.BatchLoader(train_pairs, patch_size=64, batch_size=2,
                                  rng=np.random.default_rng(1), foreground_bias=0.5)
    for _ in range(steps):
        xb, yb = batches.next_batch()
        training_step(net, opt, mc.tensor(xb), mc.tensor(yb))
    return {name: filter_spread(p) for name, p in net.named_parameters()
            if name.endswith("weight") and p.shape[0] > 1}


steps = 5 if QUICK else 20
same = spreads_after_training(True, steps)
different = spreads_after_training(False, steps)
print(f"after {steps} steps: filter spread of each convolution\n{'layer':28s} equal start  "
      f"random start")
for name in same:
    print(f"{name:28s} {same[name]:11.2e}  {different[name]:.2e}")
assert max(same.values()) < 1e-5, "equal weights must stay equal"
assert min(different.values()) > 1e-2

# %% [markdown]
# With equal starting weights every filter of every layer is still a copy of its neighbours
# (differences at the level of float rounding), while random starts give distinct filters.
#
# ## What we saw
#
# - Paired raw and annotated images, normalized, split (a held-out strip) and cut into patches.
# - A U-Net predicts a probability per pixel; the loss measures the error against the ground
#   truth; back-propagation and Adam update every weight and bias; the loss falls.
# - On pixels it never trained on, the network's masks reach the IoU/Dice printed above; the
#   trained model (network + weights) is saved and reused.
# - Equal starting weights stay equal: random initialization is essential.
#
# Next: **tutorial 5**, GPUs, class imbalance and tiled prediction of large images.

# %% [markdown]
# ## Questions
#
# Answer in a few sentences, in the cell below each question.

# %% [markdown]
# **Question 1.** What happens if a training step forgets `optimizer.zero_grad()`?
#
# BEGIN SOLUTION
# Gradients accumulate (+=) in `.grad`, so each step uses the sum of all the gradients so far: the
# steps grow and point along old directions, and training becomes unstable or diverges.
# END SOLUTION

# %% [markdown]
# **Question 2.** Show that Dice = 2 IoU / (1 + IoU), so that Dice is never below IoU.
#
# BEGIN SOLUTION
# With I = |P ∩ T| and U = |P ∪ T|, |P| + |T| = U + I. So Dice = 2I / (U + I); dividing by U gives
# 2 IoU / (1 + IoU), and since 1 + IoU <= 2, Dice >= IoU (equal at 0 and 1).
# END SOLUTION

# %% [markdown]
# **Question 3.** Why is the IoU measured on a held-out strip of the image rather than on training
# patches?
#
# BEGIN SOLUTION
# On patches it trained on, a network can score well by memorizing them. The question is how it
# does on pixels it never saw; a separate strip (not random patches, which overlap the training
# ones) keeps the two apart.
# END SOLUTION
