"""Max and average pooling: one value per KH x KW window of every channel.

Notation:
    N batch, C channels, H x W input size, KH x KW kernel (window) size,
    SH, SW stride (default: the kernel size), PH, PW zero padding on each side,
    OH x OW output size, PyTorch's formula with ceil_mode=False:
        OH = floor((H + 2*PH - KH) / SH) + 1,   OW = floor((W + 2*PW - KW) / SW) + 1

Windows as strided views. Output pixel (oh, ow) looks at the input pixels
(oh*SH + i, ow*SW + j) for the kernel offsets 0 <= i < KH, 0 <= j < KW. For ONE offset (i, j)
these pixels, over all output pixels, form the strided slice

    x[:, :, i : i + SH*(OH-1) + 1 : SH,  j : j + SW*(OW-1) + 1 : SW]      # (N, C, OH, OW)

a view into x (no copy). Pooling is an elementwise reduction over these KH*KW views (maximum,
or sum / (KH*KW)), and the backward pass adds each view's share of the gradient back through
the same slice. When windows overlap (stride < kernel) one input pixel sits in several views and
its gradient contributions simply add up, as the chain rule asks.

Padding follows PyTorch: max pooling pads with -inf (a padded cell never wins), average pooling
pads with zeros that count in the divisor (count_include_pad=True), and the padding may be at
most half the kernel, so that every window holds at least one real pixel.
"""
import math

import numpy as np

from minicnn import parallel
from minicnn.backend import get_array_module
from minicnn.tensor import Function, as_tensor, is_grad_enabled


def as_pair(value, name):
    """An int or a pair of ints -> (height value, width value)."""
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    pair = (value, value) if is_int(value) else tuple(value) if hasattr(value, "__len__") else ()
    if len(pair) != 2 or not all(is_int(v) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    return int(pair[0]), int(pair[1])


def window_view(a, i, j, out_size, stride):
    """The input pixels at kernel offset (i, j) of every window: a strided view (N, C, OH, OW)."""
    (OH, OW), (SH, SW) = out_size, stride
    return a[:, :, i: i + SH * (OH - 1) + 1: SH, j: j + SW * (OW - 1) + 1: SW]


def pad_spatial(x, padding, value):
    """x (N, C, H, W) with PH rows / PW columns of `value` added on each side (x itself if none)."""
    PH, PW = padding
    if PH == 0 and PW == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.full((N, C, H + 2 * PH, W + 2 * PW), value, dtype=x.dtype)  # (N, C, H+2PH, W+2PW)
    padded[:, :, PH: PH + H, PW: PW + W] = x
    return padded


class _Pool2d(Function):
    """What both poolings share: the settings, the output size and the padded shape."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def sizes(self, x):
        (KH, KW), (SH, SW), (PH, PW) = self.kernel, self.stride, self.padding
        N, C, H, W = x.shape
        self.in_shape = (N, C, H, W)
        self.padded_shape = (N, C, H + 2 * PH, W + 2 * PW)
        self.out_size = ((H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1)
        return self.out_size

    def offsets(self):
        """The kernel offsets (i, j) in row-major order: k = i*KW + j."""
        KH, KW = self.kernel
        return [(i, j) for i in range(KH) for j in range(KW)]

    def unpad(self, g_padded):
        (PH, PW), (N, C, H, W) = self.padding, self.in_shape
        return g_padded[:, :, PH: PH + H, PW: PW + W]


class MaxPool2d(_Pool2d):
    """out = the maximum of each window.

    Backward: the maximum passes on only the winner's value, so the winner gets the whole
    gradient of its window and every other pixel of the window gets 0. When several pixels tie
    (ReLU makes exact zeros tie often) the FIRST one in row-major order inside the window wins,
    as in PyTorch. The forward pass records the winner's kernel offset k = i*KW + j per output
    pixel (a uint8 array, 1/4 of the output's float32 size); the backward pass sends
    g * (winner == k) back through the view of offset k, for each of the KH*KW offsets."""

    def forward(self, x):
        xp = get_array_module(x)
        out_size = self.sizes(x)
        N, C = x.shape[:2]
        padded = pad_spatial(x, self.padding, -np.inf)            # (N, C, H+2PH, W+2PW)
        out = xp.empty((N, C) + out_size, dtype=x.dtype)          # (N, C, OH, OW)
        record = is_grad_enabled()    # the winners are needed only if a backward pass may come
        index_dtype = np.uint8 if math.prod(self.kernel) <= 256 else np.int32
        winner = xp.zeros(out.shape, dtype=index_dtype) if record else None  # (N, C, OH, OW)

        def pool_images(task):
            # images n0:n1 (on the CPU one at a time: an image stays in the cache while the KH*KW
            # passes below read it, and the images run on all cores; measured 1.5x faster alone)
            n0, n1 = task[:2]
            views = [window_view(padded[n0:n1], i, j, out_size, self.stride)
                     for i, j in self.offsets()]
            running_max, first = out[n0:n1], winner[n0:n1] if record else None
            running_max[...] = views[0]                               # (n, C, OH, OW)
            for k, view in enumerate(views[1:], start=1):
                if record:
                    # strictly greater: on a tie the earlier offset stays the winner. Offsets come
                    # in increasing k, so "becomes the winner" is "winner = max(winner, k)".
                    better = view > running_max                       # (n, C, OH, OW) bool
                    xp.maximum(first, better.astype(index_dtype) * index_dtype(k), out=first)
                xp.maximum(running_max, view, out=running_max)  # ~6x faster than reshape().max()

        parallel.run(pool_images, parallel.tasks(xp, N))
        self.winner = winner  # (N, C, OH, OW) kernel offset of the first maximum
        return out

    def backward(self, g):
        # BEGIN SOLUTION max_pool2d_backward
        xp = get_array_module(g)
        g_padded = xp.zeros(self.padded_shape, dtype=g.dtype)     # (N, C, H+2PH, W+2PW)

        def images(task):                       # images n0:n1, as in forward: on all cores
            n0, n1 = task[:2]
            for k, (i, j) in enumerate(self.offsets()):
                # adding through the view: overlapping windows accumulate into shared pixels
                window_view(g_padded[n0:n1], i, j, self.out_size, self.stride)[...] += (
                    g[n0:n1] * (self.winner[n0:n1] == k))
        parallel.run(images, parallel.tasks(xp, g.shape[0]))
        return self.unpad(g_padded)
        # END SOLUTION


class AvgPool2d(_Pool2d):
    """out = (sum of the window) / (KH*KW); padded zeros count in the divisor, as in PyTorch.

    Backward: d out / d x = 1/(KH*KW) for every pixel of the window, so each of the KH*KW views
    gets g / (KH*KW) added back."""

    def forward(self, x):
        out_size = self.sizes(x)
        padded = pad_spatial(x, self.padding, 0)                  # (N, C, H+2PH, W+2PW)
        views = [window_view(padded, i, j, out_size, self.stride) for i, j in self.offsets()]
        out = views[0].copy()                                     # (N, C, OH, OW) running sum
        for view in views[1:]:
            out += view
        out /= len(views)
        return out

    def backward(self, g):
        xp = get_array_module(g)
        share = g / math.prod(self.kernel)                        # (N, C, OH, OW)
        g_padded = xp.zeros(self.padded_shape, dtype=g.dtype)     # (N, C, H+2PH, W+2PW)
        for i, j in self.offsets():
            window_view(g_padded, i, j, self.out_size, self.stride)[...] += share
        return self.unpad(g_padded)


def pool_settings(x, kernel_size, stride, padding, what):
    """Check a pooling call's arguments; return (kernel, stride, padding) as pairs."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{what} expects x of shape (N, C, H, W), got shape {x.shape}; add the "
                         f"missing axes, e.g. x.reshape(1, 1, H, W) for a single image")
    if x.dtype.kind != "f":
        raise TypeError(f"{what} needs floating-point input, got {x.dtype}; convert it first, "
                        f"e.g. x.astype('float32')")
    kernel = as_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else as_pair(stride, "stride")
    padding = as_pair(padding, "padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{what}: kernel_size and stride must be >= 1 and padding >= 0, got "
                         f"kernel_size={kernel}, stride={stride}, padding={padding}")
    for axis, (k, p) in enumerate(zip(kernel, padding)):
        if p > k // 2:
            raise ValueError(f"{what}: padding must be at most half the kernel size (as in "
                             f"PyTorch), got padding={p} for kernel size {k} along "
                             f"{'height' if axis == 0 else 'width'}; use padding <= {k // 2}")
    for axis, (n, k, s, p) in enumerate(zip(x.shape[2:], kernel, stride, padding)):
        if n + 2 * p < k:
            name, out = ("H", "OH") if axis == 0 else ("W", "OW")
            raise ValueError(f"{what}: input {x.shape} is too small for kernel {kernel}: "
                             f"{out} = floor(({name} + 2*padding - kernel) / stride) + 1 = "
                             f"floor(({n} + 2*{p} - {k}) / {s}) + 1 = {(n + 2 * p - k) // s + 1}; "
                             f"it must be >= 1, so use a smaller kernel or a larger input")
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over KH x KW windows of x (N, C, H, W) -> (N, C, OH, OW).

    kernel_size, stride, padding: an int or a pair (height, width); stride defaults to the
    kernel size. OH = floor((H + 2*padding - KH) / stride) + 1 (PyTorch, ceil_mode=False)."""
    return MaxPool2d(*pool_settings(x, kernel_size, stride, padding, "max_pool2d"))(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over KH x KW windows of x (N, C, H, W) -> (N, C, OH, OW); zero padding counts in
    the mean (PyTorch's count_include_pad=True). Sizes as in max_pool2d."""
    return AvgPool2d(*pool_settings(x, kernel_size, stride, padding, "avg_pool2d"))(x)
