"""Max and average pooling: one value per KH x KW window of every channel.

Notation (see ops/geometry.py):
    N batch, C channels, H x W input size, KH x KW kernel (window) size,
    SH, SW stride (default: the kernel size), PH, PW zero padding on each side,
    OH x OW output size, PyTorch's formula with ceil_mode=False:
        OH = (H + 2PH - KH) // SH + 1,   OW = (W + 2PW - KW) // SW + 1
    g = dL/dout (N, C, OH, OW);  dx the gradient returned, shaped like x

Windows as strided views. Output pixel (oh, ow) looks at the input pixels
(oh*SH + i, ow*SW + j) for the kernel offsets 0 <= i < KH, 0 <= j < KW. For ONE offset (i, j)
these pixels, over all output pixels, form the strided slice

    x[:, :, i : i + SH*(OH-1) + 1 : SH,  j : j + SW*(OW-1) + 1 : SW]      # (N, C, OH, OW)

a view into x (no copy, geometry.window_view). Pooling is an elementwise reduction over these
KH*KW views (maximum, or sum / (KH*KW)), and the backward pass adds each view's share of the
gradient back through the same slice. When windows overlap (stride < kernel) one input pixel sits
in several views and its gradient contributions simply add up, as the chain rule asks.

Padding follows PyTorch: max pooling pads with -inf (a padded cell never wins), average pooling
pads with zeros that count in the divisor (count_include_pad=True), and the padding may be at
most half the kernel, so that every window holds at least one real pixel.

These are the ops as you derive them; minicnn/fast/pool.py has a faster max-pool twin, and
`mc.set_fast(False)` runs this one instead.
"""
import math

from minicnn import fast
from minicnn.backend import get_array_module
from minicnn.ops.geometry import conv_output_size, pad_spatial, pair, window_view
from minicnn.tensor import Function, as_tensor


class _Pool2d(Function):
    """What both poolings share: the settings, the output size and the padded shape."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def sizes(self, x):
        N, C, H, W = x.shape
        (KH, KW), (SH, SW), (PH, PW) = self.kernel, self.stride, self.padding
        self.in_shape = (N, C, H, W)
        self.padded_shape = (N, C, H + 2 * PH, W + 2 * PW)
        self.out_size = (conv_output_size(H, KH, SH, PH), conv_output_size(W, KW, SW, PW))
        return self.out_size

    def offsets(self):
        """The kernel offsets (i, j) in row-major order: k = i*KW + j."""
        KH, KW = self.kernel
        return [(i, j) for i in range(KH) for j in range(KW)]

    def unpad(self, g_padded):
        (PH, PW), (H, W) = self.padding, self.in_shape[2:]
        return g_padded[:, :, PH: PH + H, PW: PW + W]


class MaxPool2d(_Pool2d):
    """out = the maximum of each window: a running maximum over the KH*KW offset views.

    Backward: the maximum passes on only the winner's value (slope 1 for the winner, 0 for the
    rest of the window), so each window's gradient goes to its winner alone. When several pixels
    tie (ReLU makes exact zeros tie often) the FIRST one in row-major order inside the window
    wins, as in PyTorch: walk the offsets in that order, and give each window's g to the first
    offset whose pixel equals the window's maximum."""

    def forward(self, x):
        xp = get_array_module(x)
        out_size = self.sizes(x)
        self.padded = pad_spatial(x, self.padding, -math.inf)    # (N, C, H+2PH, W+2PW)
        # BEGIN SOLUTION max_pool2d_forward
        views = [window_view(self.padded, i, j, out_size, self.stride)
                 for i, j in self.offsets()]                       # KH*KW of (N, C, OH, OW)
        out = views[0].copy()                                     # (N, C, OH, OW) running max
        for view in views[1:]:
            out = xp.maximum(out, view)
        self.out = out                                            # the window maxima
        return out
        # END SOLUTION

    def backward(self, g):
        # BEGIN SOLUTION max_pool2d_backward
        xp = get_array_module(g)
        g_padded = xp.zeros(self.padded_shape, dtype=g.dtype)     # (N, C, H+2PH, W+2PW)
        found = xp.zeros(g.shape, dtype=bool)                     # (N, C, OH, OW) winner seen
        for i, j in self.offsets():                               # row-major: first max first
            view = window_view(self.padded, i, j, self.out_size, self.stride)
            wins = (view == self.out) & ~found                    # (N, C, OH, OW)
            found |= wins
            # adding through the view: overlapping windows accumulate into shared pixels
            window_view(g_padded, i, j, self.out_size, self.stride)[...] += g * wins
        return self.unpad(g_padded)                               # (N, C, H, W)
        # END SOLUTION


class AvgPool2d(_Pool2d):
    """out = (sum of the window) / (KH*KW); padded zeros count in the divisor, as in PyTorch.

    Backward: d out / d x = 1/(KH*KW) for every pixel of the window (the slope), so each of the
    KH*KW views gets g / (KH*KW) added back."""

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
        return self.unpad(g_padded)                               # (N, C, H, W)


def pool_settings(x, kernel_size, stride, padding, what):
    """Check a pooling call's arguments; return (kernel, stride, padding) as pairs."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{what} expects x of shape (N, C, H, W), got shape {x.shape}; add the "
                         f"missing axes, e.g. x.reshape(1, 1, H, W) for a single image")
    if x.dtype.kind != "f":
        raise TypeError(f"{what} needs floating-point input, got {x.dtype}; convert it first, "
                        f"e.g. x.astype('float32')")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
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
    return fast.choose(MaxPool2d)(*pool_settings(x, kernel_size, stride, padding, "max_pool2d"))(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over KH x KW windows of x (N, C, H, W) -> (N, C, OH, OW); zero padding counts in
    the mean (PyTorch's count_include_pad=True). Sizes as in max_pool2d."""
    return AvgPool2d(*pool_settings(x, kernel_size, stride, padding, "avg_pool2d"))(x)
