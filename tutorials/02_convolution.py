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
# # 2. Convolution, forward and backward
#
# A neuron that looks at a whole 512 x 512 image would need 262,144 weights, and what it learned
# about a nucleus in one corner would not help it anywhere else. A **convolution** is a small
# neuron (a 3 x 3 **filter**, or kernel) that slides over the image and computes the same weighted
# sum at every position. Its output is a **feature map**: where in the image the pattern it
# weighs for appears. A convolutional layer has many filters, each giving one output channel.
#
# In this notebook:
# 1. the definition of `conv2d`, the output-size formula, and the definition as loops in Python;
# 2. **im2col**: the whole convolution as one matrix product (minicnn's readable `conv2d`);
# 3. the backward pass: deriving $\partial L/\partial X$, $\partial L/\partial W$,
#    $\partial L/\partial b$, checking them with `gradcheck`; an exercise;
# 4. timing the loops against im2col, and one U-Net training step on minicnn's readable path
#    against its fast path (`mc.set_fast`).

# %%
import os
import time

import numpy as np
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

import minicnn as mc
import minicnn.functional as F
from minicnn import parallel
from minicnn.models import UNet
from minicnn.ops import conv as readable_conv

QUICK = os.environ.get("MINICNN_QUICK") == "1"
OUT = mc.viz.tutorial_output_dir()                     # figures and files go here
show = mc.viz.show                                     # save a figure; inline in Jupyter

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The definition, as loops
#
# For an input $x$ of shape (N, C, H, W) and weights $w$ of shape (O, C, KH, KW):
#
# $$ y[n,o,i,j] = b[o] + \sum_{c,k_h,k_w} x_\text{pad}[n,\,c,\,i s + k_h d,\,j s + k_w d]\;
# w[o,c,k_h,k_w] $$
#
# with stride $s$, padding $p$ (zeros around the image) and dilation $d$ (gaps inside the
# kernel). Strictly this is a cross-correlation (the kernel is not flipped), as in every
# deep-learning library. Once the output size is known (exercise 1 below), this notebook writes
# the definition out as loops, the slow version every faster one must agree with. (minicnn's own
# loop version, `minicnn/reference/conv.py`, is the one its tests check every convolution
# against.)

# %% [markdown]
# ### A filter on a real image
#
# The bundled image is a real fluorescence image of nuclei from the 2018 Data Science Bowl
# (Caicedo et al., Nature Methods 2019; as shipped with StarDist, Schmidt et al., MICCAI 2018).
# Two hand-made filters: a vertical-edge detector and a 5 x 5 blur.

# %%
image, labels = mc.data.sample_nuclei()
crop = mc.data.normalize(image)[:128, :128]                               # (128, 128) float32
x_img = mc.tensor(crop[None, None])                                       # (1, 1, 128, 128)
edge = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)         # Sobel: d/dx
blur = np.full((5, 5), 1 / 25, np.float32)
edges = F.conv2d(x_img, mc.tensor(edge[None, None]), padding=1)           # (1, 1, 128, 128)
blurred = F.conv2d(x_img, mc.tensor(blur[None, None]), padding=2)         # (1, 1, 128, 128)

fig = Figure(figsize=(12, 4))
pictures = [crop, edges.numpy()[0, 0], blurred.numpy()[0, 0]]
for ax, picture, title in zip(fig.subplots(1, 3), pictures,
                              ["image", "vertical-edge filter", "5x5 blur"]):
    ax.imshow(picture, cmap="gray")
    ax.set_title(title)
    ax.set_axis_off()
show(fig, "02_filters.png")

# %% [markdown]
# ### Output size
#
# Along each axis $OH = \lfloor (H + 2p - d(K-1) - 1)/s \rfloor + 1$. With $K=3, p=1, s=1$ the
# size is unchanged: that is how the U-Net's convolutions keep the image size.
#
# **Exercise 1.** Write the formula; the check compares it with the shapes `F.conv2d` produces.

# %%
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    # BEGIN SOLUTION t02_output_size
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    # END SOLUTION


# %%
for H, K, s, p, d in [(10, 3, 1, 1, 1), (10, 3, 2, 0, 1), (11, 5, 3, 2, 1), (12, 3, 1, 2, 2),
                      (7, 1, 1, 0, 1), (9, 4, 2, 1, 1)]:
    y = F.conv2d(mc.zeros(1, 1, H, H), mc.zeros(1, 1, K, K), stride=s, padding=p, dilation=d)
    assert y.shape[2] == conv_output_size(H, K, s, p, d), (H, K, s, p, d, y.shape)
print("Exercise 1: correct")

# %% [markdown]
# ### The definition, as loops in Python
#
# One output position (i, j) at a time: cut out the window under it (rows $is, is + d, \ldots$,
# $KH$ of them; the same for the columns) and take its weighted sum with every filter, which
# `np.tensordot` does over the axes c, k_h, k_w at once. Written fully as scalar loops, over n, o,
# i, j, c, k_h and k_w, the same definition would be a seven-fold loop.

# %%
def conv2d_loops(x, w, b=None, stride=1, padding=0, dilation=1):
    """y[n,o,i,j] = b[o] + sum over c, kh, kw of xpad[n, c, i*s + kh*d, j*s + kw*d] w[o,c,kh,kw]
    (stride s, padding p, dilation d: ints), one output position at a time."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, padding, dilation)
    OW = conv_output_size(W, KW, stride, padding, dilation)
    p = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))                   # (N, C, H+2p, W+2p)
    y = np.zeros((N, O, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            rows = slice(i * stride, i * stride + dilation * (KH - 1) + 1, dilation)
            cols = slice(j * stride, j * stride + dilation * (KW - 1) + 1, dilation)
            window = xpad[:, :, rows, cols]                                # (N, C, KH, KW)
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))  # (N, O)
    if b is not None:
        y += b[None, :, None, None]                                        # b[o] everywhere
    return y


# %% [markdown]
# ## 2. im2col: the whole convolution as one matrix product
#
# The loops above visit OH x OW positions, and at each one compute a small weighted sum. The
# trick every fast library uses: cut out every window the kernel visits and lay them side by side
# as the **columns** of one matrix, `cols` of shape (C·KH·KW, N·OH·OW). The convolution is then
# a single matrix product: the weights as a matrix (O, C·KH·KW) times `cols`, which BLAS (or
# cuBLAS on a GPU) computes very fast. Here it is for one 4 x 4 image and a 3 x 3 kernel (the
# colours match each window to its column and to the output pixel it becomes):

# %%
show(mc.viz.diagrams.im2col(), "02_im2col.png")

# %% [markdown]
# minicnn builds `cols` from a strided *view* of the image, so that no number is copied until
# the final reshape:

# %%
mc.viz.show_source(readable_conv.im2col)

# %% [markdown]
# See it on a tiny input: one 4 x 4 image, a 3 x 3 kernel, no padding: 2 x 2 = 4 windows,
# each of 9 numbers.

# %%
tiny = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
cols = readable_conv.im2col(tiny, kernel=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                           out_size=(2, 2))
print("image:\n", tiny[0, 0])
print("cols (one window per column):\n", cols)
kernel = rng.standard_normal((1, 1, 3, 3))
as_product = (kernel.reshape(1, 9) @ cols).reshape(1, 1, 2, 2)
assert np.allclose(as_product, conv2d_loops(tiny, kernel))
print("one matrix product == the loops")

# %% [markdown]
# That is minicnn's convolution, `minicnn/ops/conv.py`: a `Function` whose forward is
# `W_rows @ im2col(x) + b` and whose backward (section 3) is two more matrix products. Both
# passes, and the derivation in the docstring, are exercises of the course kit, so here they
# show as placeholders (section 3 derives the backward pass; the docs site's "engine, annotated"
# shows the whole class):

# %%
mc.viz.show_source(readable_conv.Conv2d)

# %% [markdown]
# `cols` holds KH·KW copies of the input, which for a real batch is hundreds of megabytes. So
# when speed matters minicnn runs a twin of this class, in `minicnn/fast/conv.py`: the same
# arithmetic in another order (small `cols` for **bands** of a few output rows, which stay in
# the CPU cache, one matrix product per band, on all cores). It returns the same numbers, and
# `mc.set_fast(False)` switches it off (section 4 times both). The twin is speed machinery, not
# something to learn the convolution from; everything in this notebook is the readable op.
#
# With several channels, stride, padding and dilation, `F.conv2d` agrees with the loop
# definition:

# %%
for stride, padding, dilation in [(1, 1, 1), (2, 0, 1), (1, 2, 2), (3, 1, 1)]:
    x = rng.standard_normal((2, 3, 11, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    y = F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), stride, padding, dilation).numpy()
    by_loops = conv2d_loops(x, w, b, stride, padding, dilation)
    assert np.allclose(y, by_loops), (stride, padding, dilation)
print("F.conv2d agrees with the loop definition")

# %% [markdown]
# ## 3. The backward pass
#
# With $g = \partial L/\partial y$ (shaped like $y$), and writing the forward pass as
# $Y = W\,\text{cols} + b$:
#
# - $\partial L/\partial b[o] = \sum_{n,i,j} g[n,o,i,j]$: the bias was added at every pixel.
# - $\partial L/\partial W = g\,\text{cols}^T$: each weight met one input number per output
#   pixel, so its gradient is the sum, over pixels, of $g$ times that input number.
# - $\partial L/\partial \text{cols} = W^T g$, and $\partial L/\partial x$ sends every column back
#   to the window it came from, **adding** where windows overlap (`col2im`). With stride 1 that is
#   the same as a convolution of $g$, padded by $d(K-1)-p$, with the kernel flipped in both
#   spatial axes and its two channel axes swapped (O, C becomes C, O): every input pixel
#   collects $g$ from each output pixel whose window covered it.
#
# In pictures, on the same 4 x 4 image: each weight's gradient collects one input pixel from
# every window (coloured by the output pixel, and so by the $g$, it belongs to), and each input
# pixel's gradient collects one weight from every window that covered it:

# %%
show(mc.viz.diagrams.conv_backward(), "02_conv_backward.png")

# %% [markdown]
# The readable `Conv2d.backward` (an exercise of the course kit) does it with matrix products, $g\,\text{cols}^T$ for the
# weights and $W^T g$ for the columns, which `col2im` sends back to their windows, adding where
# they overlap:

# %%
mc.viz.show_source(readable_conv.col2im)

# %% [markdown]
# `gradcheck` confirms all three gradients, for several settings (float64, small sizes: it does
# two forward passes per input number):

# %%
for stride, padding, dilation in [(1, 1, 1), (2, 1, 1), (1, 0, 2)]:
    x = mc.tensor(rng.standard_normal((2, 2, 6, 5)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = mc.tensor(rng.standard_normal(3), requires_grad=True)
    assert mc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), x, w, b)
print("gradcheck passed: dX, dW and db of conv2d")

# %% [markdown]
# ### Exercise 2: dW and db with loops
#
# Given $x$ (N, C, H, W), $g$ (N, O, OH, OW), stride 1 and no padding, compute
# `dw` (O, C, KH, KW) and `db` (O,). Output pixel (i, j) used the window
# `x[:, :, i:i+KH, j:j+KW]`: every weight met one pixel of each window, in every image.

# %%
def conv_weight_grads(x, g, KH, KW):
    N, O, OH, OW = g.shape
    # BEGIN SOLUTION t02_weight_grads
    dw = np.zeros((O, x.shape[1], KH, KW))
    for i in range(OH):
        for j in range(OW):
            dw += np.einsum("no,nchw->ochw", g[:, :, i, j], x[:, :, i:i + KH, j:j + KW])
    db = g.sum(axis=(0, 2, 3))
    # END SOLUTION
    return dw, db


# %%
x = mc.tensor(rng.standard_normal((2, 3, 7, 6)), requires_grad=True)
w = mc.tensor(rng.standard_normal((4, 3, 3, 2)), requires_grad=True)
b = mc.tensor(rng.standard_normal(4), requires_grad=True)
y = F.conv2d(x, w, b)
g = rng.standard_normal(y.shape)
y.backward(g)                                       # back-propagate a given dL/dy
dw, db = conv_weight_grads(x.numpy(), g, 3, 2)
assert np.allclose(dw, w.grad) and np.allclose(db, b.grad), "compare with w.grad and b.grad"
print("Exercise 2: correct")

# %% [markdown]
# ## 4. Loops against matrix products: how much faster?
#
# Same numbers, very different speed. (The loop version is already partly vectorized: each
# position is one `tensordot`. A fully scalar loop in Python, seven-fold over n, o, i, j, c,
# k_h, k_w, would be ~1000x slower.) Both run readable code here: `mc.set_fast(False)`.

# %%
size = 32 if QUICK else 96
x = rng.standard_normal((4, 16, size, size)).astype(np.float32)
w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)


def best_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# One core for both, a fair comparison (and steadier timings on a busy machine): one BLAS
# thread, and minicnn's own band threads (minicnn/parallel.py) set to 1 meanwhile.
threads = parallel.get_num_threads()
parallel.set_num_threads(1)
mc.set_fast(False)
try:
    with threadpool_limits(1):
        t_loop = best_time(lambda: conv2d_loops(x, w, padding=1))
        t_im2col = best_time(lambda: F.conv2d(mc.tensor(x), mc.tensor(w), padding=1))
finally:
    parallel.set_num_threads(threads)
    mc.set_fast(True)
print(f"input {x.shape}, weights {w.shape}: loops {t_loop * 1e3:.1f} ms, "
      f"F.conv2d (im2col + one GEMM) {t_im2col * 1e3:.1f} ms ({t_loop / t_im2col:.0f}x faster)")
assert t_im2col < t_loop / 3, "im2col should be several times faster than the loops"

# %% [markdown]
# ### The readable path and the fast path, on a whole training step
#
# What does the speed machinery of `minicnn/fast/` buy? One U-Net training step (forward, loss,
# backward, Adam update) on a batch of 4 patches, first with every op readable
# (`mc.set_fast(False)`: the `im2col` above, the max-pool loop of tutorial 3), then with the fast
# twins (`mc.set_fast(True)`, the default), with as many threads as minicnn may use
# (`mc.get_num_threads()`, printed below). Same start, same batch: the losses agree to float32
# rounding. (Timings on a busy machine vary; run it again to see the spread.)

# %%
def unet_step_time(fast, repeats=3):
    """Best time of one training step, and the losses, with the fast path on or off."""
    mc.set_fast(fast)
    try:
        mc.manual_seed(0)
        net = UNet(base_channels=8 if QUICK else 16, depth=3)
        opt = mc.optim.Adam(net.parameters(), lr=1e-3)
        patches = np.random.default_rng(0).random((4, 1, 64 if QUICK else 128, 64 if QUICK
                                                   else 128), np.float32)
        x, y = mc.tensor(patches), mc.tensor((patches > 0.5).astype(np.float32))
        times, losses = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            loss = F.binary_cross_entropy_with_logits(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
            losses.append(loss.item())
        return min(times), losses
    finally:
        mc.set_fast(True)


t_readable, losses_readable = unet_step_time(False)
t_fast, losses_fast = unet_step_time(True)
print(f"one U-Net step, batch 4, {mc.get_num_threads()} thread(s): readable path "
      f"{t_readable * 1e3:.0f} ms, fast path {t_fast * 1e3:.0f} ms ({t_readable / t_fast:.1f}x)")
print("losses, readable:", np.round(losses_readable, 5), " fast:", np.round(losses_fast, 5))
assert np.allclose(losses_readable, losses_fast, rtol=1e-4), "the two paths must agree"

# %% [markdown]
# ## What we saw
#
# - A convolution is one small neuron applied at every position: few weights, shared everywhere.
# - Output size: $\lfloor (H + 2p - d(K-1) - 1)/s \rfloor + 1$; padding 1 keeps a 3 x 3
#   convolution's output the size of its input.
# - im2col turns it into one matrix product; its backward pass is two more
#   ($g\,\text{cols}^T$, and $W^T g$ followed by col2im).
# - minicnn's fast path computes the same numbers in cache-sized bands on every core;
#   `mc.set_fast(False)` runs the readable ops this notebook derived.
#
# Next: **tutorial 3**, pooling, upsampling and skip connections: how a network labels every pixel.

# %% [markdown]
# ## Questions
#
# Answer in a few sentences, in the cell below each question.

# %% [markdown]
# **Question 1.** A 3 x 3 convolution with padding 1 and stride 2 reads a 64 x 64 image. What size
# is the output? And with stride 1?
#
# BEGIN SOLUTION
# OH = floor((64 + 2*1 - 1*(3 - 1) - 1) / 2) + 1 = floor(63 / 2) + 1 = 32, so 32 x 32. With stride
# 1: 64 - 1 + 1 = 64, the same size as the input.
# END SOLUTION

# %% [markdown]
# **Question 2.** Why is db, the gradient of the bias of output channel o, the sum of g over the
# batch and all pixels (n, i, j)?
#
# BEGIN SOLUTION
# b[o] is added to every output pixel of channel o in every image, with slope 1 each time; by the
# chain rule its gradient adds up g over all those pixels.
# END SOLUTION

# %% [markdown]
# **Question 3.** x has shape (N, C, H, W) and w (O, C, KH, KW), stride 1, padding that keeps the
# size. How many multiply-adds does the convolution do, and how many numbers does im2col's cols
# hold?
#
# BEGIN SOLUTION
# N * O * H * W * C * KH * KW multiply-adds (each output pixel is a sum of C*KH*KW products). cols
# is (C*KH*KW, N*H*W): KH*KW copies of the input, which is why it is built in bands.
# END SOLUTION
