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
# 1. the loop definition of `conv2d` (minicnn's readable reference) and the output-size formula;
# 2. the fast version: **im2col** turns the whole convolution into one matrix product;
# 3. the backward pass: deriving $\partial L/\partial X$, $\partial L/\partial W$,
#    $\partial L/\partial b$, checking them with `gradcheck`; an exercise;
# 4. timing the loop version against the fast one.

# %%
import inspect
import os
import time

import numpy as np
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

import minicnn as mc
import minicnn.functional as F
from minicnn import parallel
from minicnn.ops import conv as fast_conv
from minicnn.reference import conv as loop_conv

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
# deep-learning library. minicnn keeps a loop version of it, the definition the tests check the
# fast code against:

# %%
print(inspect.getsource(loop_conv.conv2d_forward))

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
# ## 2. The fast way: im2col and one matrix product
#
# The loops above visit OH x OW positions, and at each one compute a small weighted sum. The
# trick every fast library uses: cut out every window the kernel visits and lay them side by side
# as the **columns** of one matrix, `cols` of shape (C·KH·KW, N·OH·OW). The convolution is then
# a single matrix product: the weights as a matrix (O, C·KH·KW) times `cols`, which BLAS (or
# cuBLAS on a GPU) computes very fast. minicnn builds `cols` from a strided *view* of the image,
# so that no number is copied until the final reshape:

# %%
print(inspect.getsource(fast_conv.im2col))

# %% [markdown]
# See it on a tiny input: one 4 x 4 image, a 3 x 3 kernel, no padding: 2 x 2 = 4 windows,
# each of 9 numbers.

# %%
tiny = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
cols = fast_conv.im2col(tiny, kernel=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                        out_size=(2, 2))
print("image:\n", tiny[0, 0])
print("cols (one window per column):\n", cols)
kernel = rng.standard_normal((1, 1, 3, 3))
as_product = (kernel.reshape(1, 9) @ cols).reshape(1, 1, 2, 2)
assert np.allclose(as_product, loop_conv.conv2d_forward(tiny, kernel))
print("one matrix product == the loops")

# %% [markdown]
# `cols` holds KH·KW copies of the input, which for a real batch is hundreds of megabytes. So
# minicnn's `F.conv2d` does the same arithmetic in another order: it walks over the images and
# over **bands** of a few output rows, fills a small `cols` for each band (it stays in the CPU
# cache), and runs one matrix product per band, on all cores (on a GPU: one band, the whole
# batch). `im2col` above is the whole-batch version of what a band does. The module docstring
# says it all:

# %%
doc = fast_conv.__doc__
print(doc[doc.find("How it runs fast"):] if "How it runs fast" in doc else doc)

# %% [markdown]
# With several channels, stride, padding and dilation, the fast `F.conv2d` agrees with the loop
# definition:

# %%
for stride, padding, dilation in [(1, 1, 1), (2, 0, 1), (1, 2, 2), (3, 1, 1)]:
    x = rng.standard_normal((2, 3, 11, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    fast = F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), stride, padding, dilation).numpy()
    slow = loop_conv.conv2d_forward(x, w, b, stride, padding, dilation)
    assert np.allclose(fast, slow), (stride, padding, dilation)
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
#   the same as convolving $g$ with the flipped kernel.
#
# The loop reference says the same thing pixel by pixel:

# %%
print(inspect.getsource(loop_conv.conv2d_backward))

# %% [markdown]
# and the fast `Conv2d.backward` does it with matrix products: $g\,\text{cols}^T$ band by band
# for the weights (`conv_weight_grad`), and for the input either col2im or, with stride 1, a
# convolution of $g$ with the flipped kernel (`conv2d_input_grad`):

# %%
print(inspect.getsource(fast_conv.Conv2d.backward))
print(inspect.getsource(fast_conv.conv_weight_grad))

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
# position is one `tensordot`. A fully scalar six-fold loop in Python would be ~1000x slower.)

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
try:
    with threadpool_limits(1):
        t_loop = best_time(lambda: loop_conv.conv2d_forward(x, w, padding=1))
        t_fast = best_time(lambda: F.conv2d(mc.tensor(x), mc.tensor(w), padding=1))
finally:
    parallel.set_num_threads(threads)
print(f"input {x.shape}, weights {w.shape}: loops {t_loop * 1e3:.1f} ms, "
      f"F.conv2d (im2col + GEMM, in bands) {t_fast * 1e3:.1f} ms "
      f"({t_loop / t_fast:.0f}x faster)")
assert t_fast < t_loop / 3, "im2col should be several times faster than the loops"

# %% [markdown]
# ## What we saw
#
# - A convolution is one small neuron applied at every position: few weights, shared everywhere.
# - Output size: $\lfloor (H + 2p - d(K-1) - 1)/s \rfloor + 1$; padding 1 keeps a 3 x 3
#   convolution's output the size of its input.
# - im2col turns it into one matrix product (done in cache-sized bands); its backward pass is
#   two more ($g\,\text{cols}^T$, and $W^T g$ followed by col2im).
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
