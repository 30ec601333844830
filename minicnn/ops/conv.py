"""2-D convolution and transposed convolution, as matrix products (im2col + GEMM).

Notation (see ops/geometry.py):
    N        batch size
    C, O     input and output channels of a convolution (for conv_transpose2d: C_in, C_out)
    H, W     input height and width;  OH, OW  output height and width
    KH, KW   kernel height and width
    SH, SW   stride;  PH, PW  padding;  DH, DW  dilation (each given as an int or an (h, w) pair)
    x (N,C,H,W)   w (O,C,KH,KW)   b (O,)   y (N,O,OH,OW)
    g = dL/dy, shaped like y;  dx, dw, db the gradients returned

Convolution (strictly a cross-correlation, as in every deep-learning library):

    y[n,o,i,j] = b[o] + sum_{c,kh,kw} xpad[n, c, i*SH + kh*DH, j*SW + kw*DW] * w[o,c,kh,kw]

where xpad is x with PH rows and PW columns of zeros on each side, and

    OH = (H + 2PH - DH(KH-1) - 1) // SH + 1          (the same for OW)

The trick (im2col): cut every window that the kernel visits out of xpad and lay the windows side
by side as the columns of one matrix `cols` (C*KH*KW, N*OH*OW). Then the whole convolution is
ONE matrix product, w as a matrix (O, C*KH*KW) times cols, which BLAS (or cuBLAS) does very fast.
The windows come from a strided *view* of xpad (no copy, see geometry.sliding_windows); only the
final reshape into a matrix copies the numbers once.

Transposed convolution is conv2d's backward step dx = col2im(W^T g) used as a forward pass: it
maps (N,C_in,H,W) to (N,C_out,OH,OW), spreading each input pixel over a KH x KW patch of the
output, with

    OH = (H - 1)SH - 2PH + DH(KH-1) + output_padding + 1

These are the ops as you derive them. minicnn/fast/conv.py computes the same numbers in bands
on every core, which is several times faster on a CPU; `mc.set_fast(False)` runs these instead.
"""
from minicnn import fast
from minicnn.backend import get_array_module
from minicnn.ops.geometry import (conv_output_size, conv_transpose_output_size, pad_spatial, pair,
                                  sliding_windows)
from minicnn.tensor import Function


def im2col(x, kernel, stride, padding, dilation, out_size):
    """Every kernel window of x, as the columns of one matrix.

    x (N,C,H,W) -> cols (C*KH*KW, N*OH*OW), where column (n,i,j) holds the window under output
    pixel (i, j) of image n. out_size = (OH, OW) says how many windows to take per axis."""
    N, C = x.shape[:2]
    (KH, KW), (OH, OW) = kernel, out_size
    xpad = pad_spatial(x, padding, 0)                                 # (N, C, H+2PH, W+2PW)
    windows = sliding_windows(xpad, kernel, stride, dilation, out_size)  # (N,C,KH,KW,OH,OW) view
    # Rows (c, kh, kw), columns (n, i, j). The innermost axis (j) walks along a row of x, so the
    # one copy that reshape makes reads memory nearly in order.
    return windows.transpose(1, 2, 3, 0, 4, 5).reshape(C * KH * KW, N * OH * OW)


def col2im(cols, x_shape, kernel, stride, padding, dilation, out_size):
    """The adjoint of im2col: send every column back to its window, adding where windows overlap.

    cols (C*KH*KW, N*OH*OW) -> x (N,C,H,W). Loops only over the KH*KW kernel offsets: for a fixed
    offset (kh, kw), the pixels it touches form a regular grid with step SH, i.e. one slice."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW), (OH, OW) = kernel, stride, padding, dilation, out_size
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    xpad = xp.zeros((C, N, H + 2 * PH, W + 2 * PW), dtype=cols.dtype)  # channels first, like cols
    for kh in range(KH):
        for kw in range(KW):
            top, left = kh * DH, kw * DW
            xpad[:, :, top:top + SH * (OH - 1) + 1:SH,
                 left:left + SW * (OW - 1) + 1:SW] += cols[:, kh, kw]  # (C, N, OH, OW)
    x = xpad[:, :, PH:PH + H, PW:PW + W]                                # drop the padding
    return xp.ascontiguousarray(x.transpose(1, 0, 2, 3))                # (N, C, H, W)


def channel_rows(a):
    """(N, C, H, W) -> (C, N*H*W): one row per channel, the layout the GEMMs use."""
    N, C, H, W = a.shape
    return a.transpose(1, 0, 2, 3).reshape(C, N * H * W)


def to_images(rows, N, H, W):
    """The inverse of channel_rows: (C, N*H*W) -> (N, C, H, W)."""
    xp = get_array_module(rows)
    return xp.ascontiguousarray(rows.reshape(-1, N, H, W).transpose(1, 0, 2, 3))


class Conv2d(Function):
    """y = conv2d(x, w) + b as one matrix product: y = W cols + b, with cols = im2col(x).

    Backward. Entry (o, (n,i,j)) of W cols is y[n,o,i,j] minus its bias, so with g laid out the
    same way, as channel rows (O, N*OH*OW), the chain rule for a matrix product Y = W cols gives
        dW    = g cols^T       (O, N*OH*OW) @ (N*OH*OW, C*KH*KW)
        dcols = W^T g          (C*KH*KW, O) @ (O, N*OH*OW)
    and since b[o] was added to every pixel of channel o,
        db[o] = sum of g[n, o, i, j] over n, i, j.
    cols holds copies of x's pixels (one per window that covers it), so a pixel's gradient is the
    sum of its copies' gradients: dx = col2im(dcols), adding where windows overlap."""

    def __init__(self, stride, padding, dilation):
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, w, b=None):
        N, C, H, W = x.shape
        O, _, KH, KW = w.shape
        OH, OW = (conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(
            (H, W), (KH, KW), self.stride, self.padding, self.dilation))
        self.x_shape, self.w, self.has_bias = x.shape, w, b is not None   # for backward
        self.kernel, self.out_size = (KH, KW), (OH, OW)
        # BEGIN SOLUTION conv2d_forward
        self.cols = im2col(x, self.kernel, self.stride, self.padding, self.dilation,
                           self.out_size)                     # (C*KH*KW, N*OH*OW)
        y_rows = w.reshape(O, C * KH * KW) @ self.cols        # (O, N*OH*OW)
        if b is not None:
            y_rows += b[:, None]                              # b[o] on every pixel of row o
        return to_images(y_rows, N, OH, OW)                   # (N, O, OH, OW)
        # END SOLUTION

    def backward(self, g):
        # BEGIN SOLUTION conv2d_backward
        O = g.shape[1]
        g_rows = channel_rows(g)                              # (O, N*OH*OW)
        dw = (g_rows @ self.cols.T).reshape(self.w.shape)     # (O, C, KH, KW)
        db = g_rows.sum(axis=1) if self.has_bias else None    # (O,)
        dcols = self.w.reshape(O, -1).T @ g_rows              # (C*KH*KW, N*OH*OW)
        dx = col2im(dcols, self.x_shape, self.kernel, self.stride, self.padding,
                    self.dilation, self.out_size)             # (N, C, H, W)
        return dx, dw, db
        # END SOLUTION


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, w (C_in, C_out, KH, KW): conv2d's dx = col2im(W^T g) used
    as a forward pass, with x in the part of g (W as a matrix (C_in, C_out*KH*KW)):
        cols = W^T x (C_out*KH*KW, N*H*W),   y = col2im(cols) + b
    Each input pixel spreads, through w, over one KH x KW window of the output.

    Backward. im2col is col2im's adjoint (it collects from each window what col2im spread over
    it), so dcols = im2col(g), taking the H x W windows of g; then, as for a product cols = W^T x,
        dx = W dcols (a conv2d of g with w),   dW = x dcols^T,   db = sum of g over n, i, j."""

    def __init__(self, stride, padding, dilation, output_padding):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding

    def forward(self, x, w, b=None):
        N, C_in, H, W = x.shape
        _, C_out, KH, KW = w.shape
        OH, OW = (conv_transpose_output_size(n, k, s, p, d, op) for n, k, s, p, d, op in zip(
            (H, W), (KH, KW), self.stride, self.padding, self.dilation, self.output_padding))
        self.x, self.w, self.has_bias, self.kernel = x, w, b is not None, (KH, KW)
        cols = w.reshape(C_in, C_out * KH * KW).T @ channel_rows(x)  # (C_out*KH*KW, N*H*W)
        y = col2im(cols, (N, C_out, OH, OW), self.kernel, self.stride, self.padding,
                   self.dilation, (H, W))                     # (N, C_out, OH, OW)
        if b is not None:
            y += b[None, :, None, None]
        return y

    def backward(self, g):
        N, C_in, H, W = self.x.shape
        dcols = im2col(g, self.kernel, self.stride, self.padding, self.dilation,
                       (H, W))                                # (C_out*KH*KW, N*H*W)
        w_rows = self.w.reshape(C_in, -1)                     # (C_in, C_out*KH*KW)
        dx = to_images(w_rows @ dcols, N, H, W)               # (N, C_in, H, W)
        dw = (channel_rows(self.x) @ dcols.T).reshape(self.w.shape)  # (C_in, C_out, KH, KW)
        db = g.sum(axis=(0, 2, 3)) if self.has_bias else None  # (C_out,)
        return dx, dw, db


# ---- the functions users call: check the arguments, then run the Function ----
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation) like torch.nn.functional.conv2d.

    x (N, C, H, W), w (O, C, KH, KW), b (O,) or None -> y (N, O, OH, OW) with
    OH = (H + 2PH - DH(KH-1) - 1) // SH + 1 (and the same for the width).
    stride, padding, dilation: an int or an (h, w) pair."""
    stride, padding, dilation, _ = conv_settings(x, w, b, stride, padding, dilation, "conv2d")
    inputs = (x, w) if b is None else (x, w, b)
    return fast.choose(Conv2d)(stride, padding, dilation)(*inputs)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """2-D transposed convolution like torch.nn.functional.conv_transpose2d.

    x (N, C_in, H, W), w (C_in, C_out, KH, KW), b (C_out,) or None -> y (N, C_out, OH, OW) with
    OH = (H - 1)SH - 2PH + DH(KH-1) + output_padding + 1 (and the same for the width).
    output_padding adds rows/columns at the bottom/right (it picks one of the input sizes that a
    strided conv2d maps to the same output size); it must be smaller than stride or dilation."""
    settings = conv_settings(x, w, b, stride, padding, dilation, "conv_transpose2d",
                             output_padding)
    inputs = (x, w) if b is None else (x, w, b)
    return fast.choose(ConvTranspose2d)(*settings)(*inputs)


def conv_settings(x, w, b, stride, padding, dilation, what, output_padding=0):
    """Check a conv2d or conv_transpose2d call (what: its name); return (stride, padding,
    dilation, output_padding) as (h, w) pairs."""
    transpose = what == "conv_transpose2d"
    stride, padding, dilation = (pair(stride, "stride", 1), pair(padding, "padding", 0),
                                 pair(dilation, "dilation", 1))
    output_padding = pair(output_padding, "output_padding", 0)
    _check_arrays(what, x, w, b)
    C, H, W = x.shape[1:]
    in_axis, out_axis = (0, 1) if transpose else (1, 0)   # w: (C_in, C_out, ...) or (O, C, ...)
    if C != w.shape[in_axis]:
        layout = ("(in_channels, out_channels, KH, KW)" if transpose
                  else "(out_channels, in_channels, KH, KW)")
        raise ValueError(f"{what}: x has {C} channels (shape {tuple(x.shape)}), but w expects "
                         f"{w.shape[in_axis]} (shape {tuple(w.shape)}, laid out {layout}); "
                         f"w.shape[{in_axis}] must equal x.shape[1]")
    _check_bias(what, b, w.shape[out_axis], f"w.shape[{out_axis}] (out_channels)")
    check_size = _check_transpose_size if transpose else _check_conv_size
    for axis, *sizes in zip(("height", "width"), (H, W), w.shape[2:], stride, padding, dilation,
                            output_padding):
        check_size(axis, *sizes)
    return stride, padding, dilation, output_padding


def _check_conv_size(axis, n, k, s, p, d, op):
    size = conv_output_size(n, k, s, p, d)
    if size < 1:
        raise ValueError(
            f"conv2d: the kernel does not fit in the padded input along the {axis}: output "
            f"size = (size + 2p - d(k-1) - 1) // s + 1 = ({n} + 2*{p} - {d}*({k}-1) - 1) // {s}"
            f" + 1 = {size}, must be at least 1. The dilated kernel spans {d * (k - 1) + 1} "
            f"pixels but the padded input has {n + 2 * p}; use a larger input, more padding, or "
            f"a smaller kernel/dilation")


def _check_transpose_size(axis, n, k, s, p, d, op):
    if op >= s and op >= d:
        raise ValueError(f"conv_transpose2d: output_padding {op} along the {axis} must be "
                         f"smaller than either stride ({s}) or dilation ({d}), as in PyTorch")
    size = conv_transpose_output_size(n, k, s, p, d, op)
    if size < 1:
        raise ValueError(
            f"conv_transpose2d: the output {axis} would be (size - 1)s - 2p + d(k-1) + "
            f"output_padding + 1 = ({n}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {size}, "
            f"must be at least 1; use less padding")


def _check_arrays(op, x, w, b):
    for name, a in (("x", x), ("w", w), ("b", b)):
        if a is not None and not hasattr(a, "shape"):
            raise TypeError(f"{op}: {name} must be a Tensor or an array, got {type(a).__name__}; "
                            f"wrap it with mc.tensor(...)")
    for name, a in (("x", x), ("w", w)):
        if len(a.shape) != 4:
            layout = "(N, C, H, W)" if name == "x" else (
                "(out_channels, in_channels, KH, KW)" if op == "conv2d"
                else "(in_channels, out_channels, KH, KW)")
            hint = " (add the batch axis with x[None] or x.reshape(1, *x.shape))" \
                if name == "x" and len(a.shape) == 3 else ""
            raise ValueError(f"{op}: {name} must be 4-D {layout}, got shape "
                             f"{tuple(a.shape)}{hint}")
    if min(w.shape[2:]) < 1:
        raise ValueError(f"{op}: the kernel must be at least 1 x 1, got w of shape "
                         f"{tuple(w.shape)}")
    dtypes = {str(a.dtype) for a in (x, w, b) if a is not None}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: x, w (and b) must have the same dtype, got "
                        f"{', '.join(sorted(dtypes))}; convert one of them with .astype(...)")


def _check_bias(op, b, channels, source):
    if b is not None and tuple(b.shape) != (channels,):
        raise ValueError(f"{op}: b must have shape ({channels},), one value per output channel "
                         f"as given by {source}, got shape {tuple(b.shape)}")
