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
# # 3. Pooling, upsampling and skip connections
#
# A segmentation network must say, for **every pixel**, whether it belongs to a nucleus. To decide
# it needs context (is this bright blob round? is it a nucleus or debris?), so it must look at a
# region much larger than a 3 x 3 filter. The U-Net gets both:
#
# - an **encoder** of convolutions and **max pooling**: every pooling halves the image, so the
#   next 3 x 3 filters see twice as far, with more channels (the "what");
# - a **decoder** that **upsamples** back to full resolution, where **skip connections** hand
#   over the encoder's fine, full-resolution maps (the "where").
#
# Because every layer is a convolution (no fully connected layer that would fix the input size),
# the network is **fully convolutional**: it accepts any image size and returns one prediction per
# pixel. In this notebook:
# 1. max pooling forward and backward (exercise: its backward pass);
# 2. upsampling: nearest, bilinear and transposed convolution;
# 3. why a fully convolutional network labels every pixel, for any image size;
# 4. the receptive field, by formula and by measuring gradients (exercise);
# 5. the U-Net's code, and what its encoder and decoder see (feature maps).

# %%
import inspect
import os

import numpy as np
from matplotlib.figure import Figure

import minicnn as mc
import minicnn.functional as F
from minicnn.models import UNet
from minicnn.pipeline import load_model
from minicnn.predict import receptive_field

QUICK = os.environ.get("MINICNN_QUICK") == "1"
OUT = mc.viz.tutorial_output_dir()                     # figures and files go here
show = mc.viz.show                                     # save a figure; inline in Jupyter

mc.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Max pooling
#
# `F.max_pool2d(x, 2)` keeps the largest value of every 2 x 2 window: the image shrinks by two,
# and a feature that was found anywhere in the window is still reported.

# %%
x = mc.tensor([[[[1., 5., 2., 0.],
                 [3., 4., 8., 1.],
                 [0., 2., 6., 7.],
                 [9., 1., 3., 2.]]]], requires_grad=True)        # (1, 1, 4, 4)
y = F.max_pool2d(x, 2)                                            # (1, 1, 2, 2)
print(y.numpy()[0, 0])

# %% [markdown]
# Backward: only the winner of each window influenced the output, so the gradient goes to it and
# the three others get 0.
#
# **Exercise 1.** Given `g` ($\partial L/\partial y$, shape (2, 2)), write $\partial L/\partial x$
# (shape (4, 4)) for this 2 x 2 max pooling, with NumPy. The check compares with `x.grad`.

# %%
g = np.array([[10., 20.], [30., 40.]])


def max_pool_backward(x, g):
    # BEGIN SOLUTION t03_max_pool_backward
    dx = np.zeros_like(x)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            a, b = np.unravel_index(np.argmax(window), (2, 2))      # the winner's position
            dx[2 * i + a, 2 * j + b] += g[i, j]
    # END SOLUTION
    return dx


# %%
y.backward(g[None, None].astype(np.float32))
print(x.grad[0, 0])
assert np.array_equal(max_pool_backward(x.numpy()[0, 0], g), x.grad[0, 0])
x64 = mc.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)   # no ties: a clean check
assert mc.gradcheck(lambda t: F.max_pool2d(t, 2), x64)
print("Exercise 1: correct")

# %% [markdown]
# minicnn's pooling reads every window as a strided *view* (no copy), one view per kernel offset:

# %%
from minicnn.ops import pool  # noqa: E402

print(inspect.getsource(pool.MaxPool2d))

# %% [markdown]
# ## 2. Upsampling: back to full resolution
#
# Three ways to double the size of a feature map:
# - **nearest**: copy each pixel into a 2 x 2 block;
# - **bilinear**: interpolate between neighbours (smoother);
# - **transposed convolution** (`conv_transpose2d`, stride 2): a *learned* upsampling, each input
#   pixel spreading a weighted 2 x 2 patch; it is exactly the backward pass of a strided
#   convolution, used forwards.

# %%
small = mc.tensor(np.array([[[[0., 1.], [2., 3.]]]]))             # (1, 1, 2, 2)
print("nearest:\n", F.upsample(small, 2, "nearest").numpy()[0, 0])
print("bilinear:\n", F.upsample(small, 2, "bilinear").numpy()[0, 0].round(3))
w_up = mc.tensor(np.ones((1, 1, 2, 2)))                           # (C_in, C_out, KH, KW)
print("transposed conv with a 2x2 kernel of ones, stride 2:\n",
      F.conv_transpose2d(small, w_up, stride=2).numpy()[0, 0])
for mode in ("nearest", "bilinear"):
    t = mc.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert mc.gradcheck(lambda t: F.upsample(t, 2, mode), t)
t = mc.tensor(rng.standard_normal((1, 2, 3, 3)), requires_grad=True)
wt = mc.tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
assert mc.gradcheck(lambda t, wt: F.conv_transpose2d(t, wt, stride=2), t, wt)
print("gradcheck passed: upsample (nearest, bilinear) and conv_transpose2d")

# %% [markdown]
# ## 3. Fully convolutional: one answer per pixel, for any image size
#
# The U-Net ends with a 1 x 1 convolution (`head`): at every pixel it mixes that pixel's
# channels into one **logit** (sigmoid(logit) = probability of "nucleus"). Nothing in the network
# fixes the image size, so the output has the input's height and width, whatever they are (a
# multiple of 4 here, so that two poolings divide it evenly):

# %%
net = UNet(base_channels=4, depth=3)
for shape in [(1, 1, 32, 32), (2, 1, 64, 48), (1, 1, 100, 36)]:
    with mc.no_grad():
        print(shape, "->", net(mc.randn(*shape)).shape)

# %% [markdown]
# And because the same filters are applied everywhere, shifting the image shifts the prediction
# (away from the borders, where the zero padding differs). Shift by 8 pixels, a multiple of the
# poolings' 4, so that the pooling windows line up again:

# %%
img = rng.standard_normal((1, 1, 64, 64)).astype(np.float32)
with mc.no_grad():
    out = net(mc.tensor(img)).numpy()
    out_shifted = net(mc.tensor(np.roll(img, 8, axis=3))).numpy()
inner = (slice(None), slice(None), slice(24, 40), slice(24, 40))
difference = np.abs(np.roll(out, 8, axis=3)[inner] - out_shifted[inner]).max()
print(f"largest difference in the middle after shifting: {difference:.2e}")
assert difference < 1e-4

# %% [markdown]
# ## 4. The receptive field
#
# How many input pixels can one output pixel depend on? Walking through the layers: a 3 x 3
# convolution widens the view by 2 steps, each step being `jump` input pixels; a 2 x 2 pooling
# widens it by 1 step and doubles the jump. `minicnn.predict.receptive_field` does this count for
# the U-Net (the tiled prediction uses it to choose its overlap):

# %%
print(inspect.getsource(receptive_field))

# %% [markdown]
# We can also **measure** it with back-propagation: the gradient of one output pixel with respect
# to the input image is non-zero exactly where that pixel looks.

# %%
def measured_field(model, size):
    """(height, width) of the input region that changes the middle output pixel, and the
    (size, size) bool map of that region."""
    x = mc.tensor(rng.random((1, 1, size, size)).astype(np.float32), requires_grad=True)
    y = model(x)
    g = np.zeros(y.shape, np.float32)
    g[0, 0, y.shape[2] // 2, y.shape[3] // 2] = 1.0              # d(that one pixel)/d(input)
    y.backward(g)
    seen = np.abs(x.grad[0, 0]) > 0                               # (size, size) bool
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1), seen


for depth in (1, 2, 3):
    model = UNet(base_channels=4, depth=depth)
    (h, w), seen = measured_field(model, 96)
    print(f"U-Net depth {depth}: formula {receptive_field(model)} pixels, measured {h} x {w}")
    assert h == w == receptive_field(model)

fig = Figure(figsize=(4, 4))
ax = fig.subplots()
ax.imshow(seen, cmap="gray")
ax.set_title(f"pixels that one output pixel sees\n(U-Net depth 3: {receptive_field(model)} px)")
show(fig, "03_receptive_field.png")

# %% [markdown]
# **Exercise 2.** Write the receptive field of a plain stack of layers given as a list of
# `("conv", kernel)` (stride 1) and `("pool", kernel)` (stride = kernel). The check builds that
# network from `mc.nn` layers and measures it.

# %%
def stack_receptive_field(layers):
    # BEGIN SOLUTION t03_receptive_field
    field, jump = 1, 1
    for kind, k in layers:
        field += (k - 1) * jump          # k - 1 more steps of `jump` input pixels
        if kind == "pool":
            jump *= k                    # one step of the next layer = k steps here
    return field
    # END SOLUTION


# %%
for layers in [[("conv", 3), ("conv", 3)],
               [("conv", 3), ("pool", 2), ("conv", 3)],
               [("conv", 5), ("pool", 2), ("conv", 3), ("pool", 2), ("conv", 3), ("conv", 1)]]:
    modules = [mc.nn.Conv2d(1, 1, k, padding=k // 2) if kind == "conv" else mc.nn.AvgPool2d(k)
               for kind, k in layers]
    (h, w), _ = measured_field(mc.nn.Sequential(*modules), 64)
    assert h == stack_receptive_field(layers), (layers, h, stack_receptive_field(layers))
print("Exercise 2: correct")

# %% [markdown]
# ## 5. The U-Net: encoder, bottleneck, decoder, skips
#
# Here is minicnn's U-Net forward pass. The encoder stores each level's output in `skips`; the
# decoder upsamples and **concatenates** the stored map of the same size before its convolutions.

# %%
print(inspect.getsource(UNet.forward))
print(UNet(base_channels=8, depth=3))

# %% [markdown]
# To see what the layers respond to we need a network that has learned something. We use the
# bundled pretrained nuclei model, which `minicnn train` made from the bundled image (tutorial 4
# trains one step by step).

# %%
model = load_model("nuclei")        # the bundled pretrained U-Net (see its README)
normalization = model.metadata["normalization"]  # how its training images were scaled
model.eval()

# %%
def unet_feature_maps(model, x):
    """UNet.forward replayed step by step, keeping every intermediate map (name -> Tensor)."""
    maps, skips = {}, []
    for level, block in enumerate(model.encoder):
        if level > 0:
            x = model.pool(x)
        x = block(x)
        skips.append(x)
        maps[f"encoder level {level} {x.shape[2:]}"] = x
    x = skips.pop()
    if model.config["dropout"] > 0:
        x = model.dropout(x)
    for up, block in zip(model.up, model.decoder):
        x = block(mc.concat([skips.pop(), up(x)], axis=1))
        maps[f"decoder {x.shape[2:]}"] = x
    maps["output probability"] = F.sigmoid(model.head(x))
    return maps


image, labels = mc.data.sample_nuclei()
crop = mc.data.normalize(image, normalization)[64:192, 64:192]           # (128, 128)
with mc.no_grad():
    maps = unet_feature_maps(model, mc.tensor(crop[None, None]))
    assert np.allclose(maps["output probability"].numpy(),
                       F.sigmoid(model(mc.tensor(crop[None, None]))).numpy(), atol=1e-5)
for name, m in maps.items():
    print(f"{name:32s} {m.shape}")

# %%
for i, (name, m) in enumerate(maps.items()):
    fig = mc.viz.plot_feature_maps(m[0], max_maps=8, title=name)
    show(fig, f"03_maps_{i}.png")

# %% [markdown]
# The first encoder level responds to edges and blobs at full resolution; the deepest level
# (the bottleneck) is coarse but each of its pixels summarizes a large region; the decoder maps
# are sharp again, because the skip connections gave them the full-resolution encoder maps.
# The output probability is high on nuclei. Some channels stay dark on this crop: their ReLU
# is 0 everywhere here (they respond to something absent, or have "died" during training).

# %%
fig = Figure(figsize=(9, 3))
for ax, picture, title in zip(fig.subplots(1, 3),
                              [crop, labels[64:192, 64:192] > 0,
                               maps["output probability"].numpy()[0, 0]],
                              ["image", "ground truth", "output probability"]):
    ax.imshow(picture, cmap="gray")
    ax.set_title(title)
    ax.set_axis_off()
show(fig, "03_output.png")

# %% [markdown]
# ## What we saw
#
# - Max pooling halves the image and routes each window's gradient to its winner.
# - Nearest, bilinear and transposed-convolution upsampling bring maps back to full size.
# - With only convolutions, the network takes any image size and answers for every pixel.
# - The receptive field grows with depth (44 pixels for a depth-3 U-Net), as both the formula
#   and the gradients show.
# - Skip connections give the decoder the encoder's fine detail.
#
# Next: **tutorial 4**, training a U-Net to segment nuclei, end to end.

# %% [markdown]
# ## Questions
#
# Answer in a few sentences, in the cell below each question.

# %% [markdown]
# **Question 1.** When several pixels of a max-pool window tie for the maximum, why must the
# window's gradient go to exactly one of them? Which one does minicnn choose?
#
# BEGIN SOLUTION
# The window's output depends on one chosen value; moving that pixel moves the output with slope
# 1. Giving the full gradient to every tied pixel would count it several times (the total would be
# wrong), and splitting it is not what the forward pass computed. minicnn, like PyTorch, sends it
# to the first maximum in row-major order.
# END SOLUTION

# %% [markdown]
# **Question 2.** Work out the receptive field of conv 3x3, pool 2, conv 3x3 (stride 1
# convolutions).
#
# BEGIN SOLUTION
# Start with 1 pixel and a step of 1. conv 3: 1 + 2*1 = 3. pool 2: 3 + 1*1 = 4, and the step
# becomes 2. conv 3: 4 + 2*2 = 8 pixels.
# END SOLUTION

# %% [markdown]
# **Question 3.** What would a U-Net's decoder lack without its skip connections?
#
# BEGIN SOLUTION
# Pooling throws away where exactly things were; the bottleneck holds coarse, wide-context
# features. Upsampling alone cannot bring the fine detail back, so the boundaries would be
# blurred. The skips hand the decoder the encoder's full-resolution maps at each scale.
# END SOLUTION
