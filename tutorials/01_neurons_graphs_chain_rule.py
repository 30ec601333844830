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
# # 1. Neurons, graphs and the chain rule
#
# A fully convolutional network that segments nuclei is, at bottom, a very large number of
# artificial **neurons**. Each one takes numbers in, multiplies them by its **weights**, adds a
# **bias**, and passes the sum through a non-linear function. Activity flows from layer to layer
# until the last layer makes a **prediction**. The prediction is compared with the ground truth,
# giving an **error** (the *loss*), and every weight and bias is then nudged a little in the
# direction that lowers the error: that is **gradient descent**. The directions come from
# **back-propagation**, the chain rule of calculus applied backwards through the network.
#
# This notebook builds all of that from one neuron, with minicnn's own code:
#
# 1. one neuron, its computation graph and `backward()`;
# 2. checking every gradient numerically with `mc.gradcheck`;
# 3. how minicnn writes an operation (`Function`: forward and backward side by side), and an
#    exercise: write the ReLU backward pass yourself;
# 4. a layer of neurons, a loss, and gradient descent on a toy problem.
#
# Run it top to bottom. `MINICNN_QUICK=1` makes it shorter (used by the tests).

# %%
import inspect
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

import minicnn as mc
import minicnn.functional as F

QUICK = os.environ.get("MINICNN_QUICK") == "1"           # the tests set this: fewer steps
OUT = mc.viz.tutorial_output_dir()                     # figures and files go here
show = mc.viz.show                                     # save a figure; inline in Jupyter

mc.manual_seed(0)
print("minicnn", mc.__version__, "| quick mode" if QUICK else "| full mode")

# %% [markdown]
# ## 1. One neuron
#
# A neuron with three inputs $x$, weights $w$ and bias $b$ computes
#
# $$ z = w \cdot x + b, \qquad a = \sigma(z) = \frac{1}{1 + e^{-z}} .$$
#
# `mc.tensor(..., requires_grad=True)` marks the numbers we want derivatives for.

# %%
x = mc.tensor([1.0, 2.0, 3.0])                            # the input (data: no gradient needed)
w = mc.tensor([0.5, -1.0, 0.25], requires_grad=True)     # weights
b = mc.tensor(0.1, requires_grad=True)                   # bias
z = (w * x).sum() + b                                    # weighted sum
a = z.sigmoid()                                          # the neuron's activity
print("z =", z.item(), " a =", a.item())

# %% [markdown]
# Every operation recorded *where its output came from*: `a.creator` is the `Sigmoid` that made
# `a`, whose input is `z`, made by an `Add`, and so on back to the leaves `w`, `x`, `b`. That
# chain of records is the **computation graph**. minicnn can draw it (SVG, no Graphviz needed):

# %%
svg = mc.viz.draw_graph(a, OUT / "neuron_graph.svg")
print(f"graph written to {OUT / 'neuron_graph.svg'}")
print("a was made by", type(a.creator).__name__, "from", [t.shape for t in a.creator.inputs])
svg  # in Jupyter the picture shows here

# %% [markdown]
# ## 2. Back-propagation is the chain rule, walked backwards
#
# We want $\partial a / \partial w_i$ and $\partial a / \partial b$. The chain rule through the
# graph gives
#
# $$ \frac{\partial a}{\partial w_i} = \frac{\partial a}{\partial z}\,\frac{\partial z}{\partial
# w_i} = \sigma(z)\,(1-\sigma(z))\; x_i, \qquad \frac{\partial a}{\partial b} =
# \sigma(z)\,(1-\sigma(z)).$$
#
# `a.backward()` computes exactly these products, one graph node at a time, starting from the
# output. `mc.trace()` prints each step as it happens: the operation, and the size of the
# gradient that arrives and that it sends on to its inputs.

# %%
with mc.trace():
    a.backward()
print("w.grad =", w.grad, " b.grad =", b.grad)

# %% [markdown]
# Check it against the formula, computed by hand with NumPy:

# %%
s = 1 / (1 + np.exp(-z.item()))
by_hand_w = s * (1 - s) * x.numpy()
by_hand_b = s * (1 - s)
print("by hand:", by_hand_w, by_hand_b)
assert np.allclose(w.grad, by_hand_w, rtol=1e-5) and np.isclose(b.grad, by_hand_b, rtol=1e-5)

# %% [markdown]
# ### Checking gradients without doing calculus: `gradcheck`
#
# For any function we can estimate a derivative by nudging one input both ways:
# $\partial f/\partial x_i \approx (f(x + \epsilon e_i) - f(x - \epsilon e_i)) / 2\epsilon$.
# `mc.gradcheck` does this for every input element and compares with back-propagation. It needs
# float64 numbers (in float32 the rounding errors are as large as the bugs it hunts). Here is
# how it works, in minicnn's own source:

# %%
source = inspect.getsource(mc.gradcheck)
print(source[source.index("    out = fn(*inputs)"):source.index("        error = np.abs(grad - numeric)")])

# %%
w64 = mc.tensor([0.5, -1.0, 0.25], dtype="float64", requires_grad=True)
b64 = mc.tensor(0.1, dtype="float64", requires_grad=True)
x64 = mc.tensor([1.0, 2.0, 3.0], dtype="float64")
assert mc.gradcheck(lambda w, b: ((w * x64).sum() + b).sigmoid(), w64, b64)
print("gradcheck passed for the neuron")

# %% [markdown]
# ## 3. How an operation is written: `Function`
#
# Every operation in minicnn is a small class with a `forward` (arrays in, array out) and, right
# next to it, a `backward` that receives $g = \partial L/\partial\,\text{output}$ and returns
# $\partial L/\partial\,\text{input}$ for each input. Here is the ReLU, $\max(0, x)$:

# %%
from minicnn.ops import activation  # noqa: E402

print(inspect.getsource(activation.ReLU))

# %% [markdown]
# And this is the loop in `Tensor.backward` that calls those `backward` methods, from the loss back
# to the leaves, adding up gradients where a tensor was used more than once:

# %%
source = inspect.getsource(mc.Tensor.backward)
print(source[source.index("grads = {"):])

# %% [markdown]
# ### Exercise 1: the ReLU backward pass
#
# Write `forward` and `backward` for your own ReLU, $\mathrm{relu}(x) = \max(x, 0)$: work out
# its derivative, save in `forward` what `backward` needs, and return
# $\partial L/\partial x$ given $g = \partial L/\partial y$. (This version of the notebook has
# a working answer filled in, so that it runs; the student notebooks have a stub there.) Then run
# the check cell below.

# %%
class MyReLU(mc.Function):
    def forward(self, x):
        # BEGIN SOLUTION t01_relu
        self.mask = x > 0                     # (same shape as x) where the slope is 1
        return x * self.mask
        # END SOLUTION

    def backward(self, g):
        # BEGIN SOLUTION t01_relu
        return g * self.mask
        # END SOLUTION


def my_relu(x):
    return MyReLU()(x)


# %%
# Check: the values agree with F.relu and the gradient agrees with central differences.
# (We keep inputs away from 0, where ReLU has a kink and no derivative.)
rng = np.random.default_rng(1)
values = rng.uniform(0.1, 1.0, (4, 5)) * rng.choice([-1, 1], (4, 5))
xr = mc.tensor(values, requires_grad=True)
assert np.array_equal(my_relu(xr).numpy(), F.relu(xr).numpy()), "forward differs from F.relu"
assert mc.gradcheck(my_relu, xr), "backward is wrong"
print("Exercise 1: correct")

# %% [markdown]
# ### Exercise 2: the chain rule by hand, through two neurons
#
# A hidden neuron $h = \tanh(u\,x)$ feeds an output $y = v\,h$, with the squared error
# $L = (y - t)^2$. Write $\partial L/\partial u$ with the chain rule
# ($\tanh' = 1 - \tanh^2$) and compare with `backward()`.

# %%
u = mc.tensor(0.8, dtype="float64", requires_grad=True)
v = mc.tensor(-1.5, dtype="float64", requires_grad=True)
xs, t = 0.7, 0.3
L = (v * (u * xs).tanh() - t) ** 2
L.backward()

# BEGIN SOLUTION t01_chain_rule
h = np.tanh(u.item() * xs)
y = v.item() * h
dL_du = 2 * (y - t) * v.item() * (1 - h ** 2) * xs       # dL/dy * dy/dh * dh/d(ux) * d(ux)/du
# END SOLUTION

# %%
assert np.isclose(dL_du, u.grad), f"your dL/du = {dL_du}, back-propagation says {u.grad}"
print("Exercise 2: correct, dL/du =", dL_du)

# %% [markdown]
# ## 4. A layer, a loss and gradient descent
#
# A **layer** is many neurons reading the same inputs: with inputs as rows of a matrix $X$
# (one row per example) it is $H = \mathrm{relu}(X W_1 + b_1)$, one column of $W_1$ per neuron.
# A second layer turns the hidden activities into one **logit** per example, the prediction before
# the sigmoid. The toy task: is a point inside the circle of radius 1? Its **ground truth** is a
# 0/1 label per point, and the **loss** is the binary cross-entropy between the predicted
# probability and that label (`F.binary_cross_entropy_with_logits`).
#
# Gradient descent repeats: forward, loss, `backward()`, and then for every weight and bias
# $p \leftarrow p - \text{lr}\cdot\partial L/\partial p$. Weights whose change lowers the error are
# pushed in that direction; the others are pushed the other way.
#
# Note the **random** starting weights. The primer this project grew from says all connections
# start with equal weights; they must not: equal weights give every hidden neuron the same
# gradient, so they would stay copies of each other forever. Tutorial 4 measures this.

# %%
rng = np.random.default_rng(0)
points = rng.uniform(-2, 2, (256, 2)).astype(np.float32)                   # (N, 2)
labels = ((points ** 2).sum(axis=1, keepdims=True) < 1).astype(np.float32)  # (N, 1) 0/1
X, T = mc.tensor(points), mc.tensor(labels)

hidden = 16
W1 = mc.tensor(rng.normal(0, 1, (2, hidden)).astype(np.float32), requires_grad=True)
b1 = mc.tensor(np.zeros(hidden, np.float32), requires_grad=True)
W2 = mc.tensor(rng.normal(0, 1 / np.sqrt(hidden), (hidden, 1)).astype(np.float32),
               requires_grad=True)
b2 = mc.tensor(np.zeros(1, np.float32), requires_grad=True)
params = [W1, b1, W2, b2]


def predict_logits(X):
    H = F.relu(X @ W1 + b1)        # (N, hidden): the hidden layer
    return H @ W2 + b2             # (N, 1): one logit per point


# First check the whole network's gradients numerically, on a few points, in float64.
def network_loss(W1_, b1_, W2_, b2_):
    H = F.relu(mc.tensor(points[:8], dtype="float64") @ W1_ + b1_)
    return F.binary_cross_entropy_with_logits(H @ W2_ + b2_, mc.tensor(labels[:8], dtype="float64"))


assert mc.gradcheck(network_loss, *[mc.tensor(p.numpy(), dtype="float64", requires_grad=True)
                                    for p in params])
print("gradcheck passed for the two-layer network")

# %%
steps, lr = (150 if QUICK else 1500), 0.5
losses = []
for step in range(steps):
    loss = F.binary_cross_entropy_with_logits(predict_logits(X), T)   # forward: the error
    for p in params:
        p.zero_grad()                                                 # gradients accumulate
    loss.backward()                                                   # back-propagation
    with mc.no_grad():                                                # the update is not graph
        for p in params:
            p.data -= lr * p.grad                                     # gradient descent
    losses.append(loss.item())
    if step % (steps // 5) == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with mc.no_grad():
    accuracy = float(((predict_logits(X).numpy() > 0) == (labels > 0.5)).mean())
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.1%}")
assert losses[-1] < losses[0] / 2, "the loss should at least halve"
assert accuracy > (0.85 if QUICK else 0.95)

# %% [markdown]
# The optimizer classes do exactly that update (plus momentum, weight decay and friends).
# `mc.optim.SGD` with no momentum is the line `p.data -= lr * p.grad`:

# %%
print(inspect.getsource(mc.optim.SGD.update))

# %%
fig = Figure(figsize=(10, 4))
ax_loss, ax_map = fig.subplots(1, 2)
ax_loss.plot(losses)
ax_loss.set_yscale("log")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("loss (binary cross-entropy)")
ax_loss.set_title("gradient descent lowers the error")
grid = np.stack(np.meshgrid(np.linspace(-2, 2, 120), np.linspace(-2, 2, 120)), -1)
with mc.no_grad():
    prob = F.sigmoid(predict_logits(mc.tensor(grid.reshape(-1, 2).astype(np.float32)))).numpy()
ax_map.imshow(prob.reshape(120, 120), extent=(-2, 2, -2, 2), origin="lower", cmap="RdBu_r")
ax_map.add_patch(Circle((0, 0), 1, fill=False))
ax_map.set_title("predicted probability of 'inside'")
show(fig, "01_toy_training.png")

# %% [markdown]
# ## What we saw
#
# - A neuron is a weighted sum plus a bias through a non-linearity; a layer is many of them.
# - Each operation records its inputs: the computation graph. `backward()` walks it from the
#   loss to the leaves, each `Function.backward` doing one step of the chain rule.
# - `gradcheck` verifies any gradient with finite differences, in float64.
# - Gradient descent moves each weight and bias against its gradient; the loss falls.
#
# Next: **tutorial 2**, the convolution, the neuron that slides over an image.

# %% [markdown]
# ## Questions
#
# Answer in a few sentences, in the cell below each question.

# %% [markdown]
# **Question 1.** If every weight of a layer started with the same value, what would
# back-propagation do to those weights during training, and why? What breaks the problem?
#
# BEGIN SOLUTION
# Every neuron of the layer would compute the same output, so each would receive the same gradient
# and take the same step: the neurons stay identical forever (symmetry), and the layer acts like a
# single neuron. Random initialization gives each neuron a different start, which breaks the
# symmetry (tutorial 4 shows it by experiment).
# END SOLUTION

# %% [markdown]
# **Question 2.** `mc.gradcheck` compares with central differences in float64. Why float64, and
# why (f(x + eps) - f(x - eps)) / (2 eps) rather than (f(x + eps) - f(x)) / eps?
#
# BEGIN SOLUTION
# The central difference has an error of order eps^2, the one-sided one of order eps. The
# difference of two nearly equal numbers loses digits: float32 keeps about 7 significant digits,
# so with eps = 1e-6 almost nothing is left; float64 keeps about 16, so about 10 digits of the
# slope survive, enough to see a wrong gradient.
# END SOLUTION

# %% [markdown]
# **Question 3.** In `y = x * x`, x is used twice. Why does `Tensor.backward` add the gradients
# that reach a tensor instead of keeping the last one, and what is dy/dx here?
#
# BEGIN SOLUTION
# By the multivariable chain rule the derivative is the sum over every path from x to the loss;
# each use of x is one path. Here both factors contribute x, so dy/dx = x + x = 2x; keeping only
# the last one would give x.
# END SOLUTION
