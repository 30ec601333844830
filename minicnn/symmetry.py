"""Why the weights must NOT all start equal: an experiment.

A common simplification says a network's connections all start with the same weight. If they
did, the network could never learn more than one feature per layer. Take the layer

    h_k = relu(w_k * x + b_k),   k = 1 .. K filters,   followed by   y = sum_k v_k h_k + c.

If every w_k is the same, every v_k is the same and every b_k is the same, then every h_k is the
same number, and back-propagation gives every filter the same gradient:

    dL/dw_k = sum over pixels of dL/dy * v_k * relu'(w_k * x + b_k) * x     (identical for all k)

so after the update the filters are still identical, and after the next one, forever: the K
filters act as one. This is the symmetry problem. Random initialization (nn.init, PyTorch's
default) starts every filter somewhere different, so each one gets its own gradient and can
become its own feature detector.

`symmetry_experiment()` trains a tiny two-layer convolutional network both ways and reports, at
every step, the "filter spread" of its first layer: the largest difference between any two of its
filters (0 means all filters are identical).
"""
import numpy as np

from minicnn import rng as rng_module
from minicnn.nn import Conv2d, Module, ReLU, init
from minicnn.optim import SGD
from minicnn.tensor import tensor


class TinyConvNet(Module):
    """Conv2d(1, filters, 3, padding=1) -> ReLU -> Conv2d(filters, 1, 1)."""

    def __init__(self, filters=4, rng=None):
        super().__init__()
        self.features = Conv2d(1, filters, 3, padding=1, rng=rng)
        self.relu = ReLU()
        self.combine = Conv2d(filters, 1, 1, rng=rng)

    def forward(self, x):
        return self.combine(self.relu(self.features(x)))


def filter_spread(weight):
    """max over filter pairs (i, j) of max |w_i - w_j| for a weight (C_out, C_in, KH, KW):
    0 exactly when all C_out filters are identical."""
    w = weight.numpy()                                          # (C_out, C_in, KH, KW)
    return float((w.max(axis=0) - w.min(axis=0)).max())


def symmetry_experiment(init_mode="constant", steps=20, filters=4, value=0.1, lr=0.05, seed=0):
    """Train TinyConvNet for `steps` SGD steps to turn a noisy image into its thresholded mask.

    init_mode: 'constant' (every weight = value, every bias = 0, as the simplification says) or
    'random' (PyTorch's default initialization, seeded). Both runs see the same data.
    Returns a dict: 'init', 'spread' (filter spread of the first layer before training and after
    each step: steps + 1 numbers), 'loss' (before each step), 'filters' (the final first-layer
    filters, a (filters, 3, 3) NumPy array)."""
    if init_mode not in ("constant", "random"):
        raise ValueError(f"init_mode must be 'constant' or 'random', got {init_mode!r}")
    data_rng = np.random.default_rng(seed)
    image = data_rng.standard_normal((2, 1, 12, 12))            # (N, 1, H, W) float64
    x, target = tensor(image), tensor((image > 0.5).astype(np.float64))

    model = TinyConvNet(filters, rng=rng_module.get_rng(seed + 1)).double()
    if init_mode == "constant":
        for layer in (model.features, model.combine):
            init.constant_(layer.weight, value)
            init.zeros_(layer.bias)
    optimizer = SGD(model.parameters(), lr=lr)
    spread, losses = [filter_spread(model.features.weight)], []
    for _ in range(steps):
        loss = ((model(x) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        spread.append(filter_spread(model.features.weight))
    return {"init": init_mode, "spread": spread, "loss": losses,
            "filters": model.features.weight.numpy()[:, 0]}


def compare_initializations(steps=20, **settings):
    """Both runs of symmetry_experiment: {'constant': {...}, 'random': {...}}."""
    return {mode: symmetry_experiment(mode, steps, **settings) for mode in ("constant", "random")}
