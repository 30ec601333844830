"""2-D convolution and transposed convolution, as one matrix product each (im2col + GEMM).

Notation:
    N        batch size
    C, O     input and output channels of a convolution (for conv_transpose2d: C_in, C_out)
    H, W     input height and width;  OH, OW  output height and width
    KH, KW   kernel height and width
    s, p, d  stride, padding, dilation (each an (h, w) pair; an int means the same for both)
    x (N,C,H,W)   w (O,C,KH,KW)   b (O,)   y (N,O,OH,OW)   g = dLoss/dy, shaped like y

Convolution (strictly a cross-correlation, as in every deep-learning library):

    y[n,o,i,j] = b[o] + sum_{c,kh,kw} xpad[n, c, i*s + kh*d, j*s + kw*d] * w[o,c,kh,kw]

where xpad is x with p zeros on each side. Output size (per axis, floor division):

    OH = (H + 2p - d(KH-1) - 1) // s + 1

The trick (im2col): cut every window that the kernel visits out of xpad and lay the windows side
by side as the columns of one matrix `cols` (C*KH*KW, N*OH*OW). Then the whole convolution is
ONE matrix product, w as a matrix (O, C*KH*KW) times cols, which BLAS (or cuBLAS) does very fast.
The windows come from a strided *view* of xpad (no copy, see backend.as_strided); only the final
reshape into a matrix copies the numbers once.

Backward, from y = W cols (+ b):
    dL/dW    = g cols^T                       one GEMM  (O, N*OH*OW) @ (N*OH*OW, C*KH*KW)
    dL/db    = g summed over n, i, j
    dL/dcols = W^T g                          one GEMM  (C*KH*KW, O) @ (O, N*OH*OW)
    dL/dx    = col2im(dL/dcols): each column goes back to the window it came from, and where
               windows overlap their contributions add up. (With stride 1 dL/dx is also a
               convolution of g with the flipped kernel; conv2d_input_grad picks the cheaper.)

Transposed convolution is exactly that last step used as a forward pass: it maps (N,C_in,H,W)
to (N,C_out,OH,OW), spreading each input pixel over a KH x KW patch of the output:

    OH = (H - 1)s - 2p + d(KH-1) + output_padding + 1

so its backward pass is an ordinary convolution (dL/dx = conv2d(g, w)), and both ops share the
helpers `im2col` and `col2im` below.
"""
from minicnn import backend
from minicnn.backend import get_array_module
from minicnn.tensor import Function


# ---- shared helpers ----
def conv_output_size(size, kernel, stride, padding, dilation):
    """OH = (H + 2p - d(KH-1) - 1) // s + 1 (one axis)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, dilation, output_padding):
    """OH = (H - 1)s - 2p + d(KH-1) + output_padding + 1 (one axis)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def im2col(x, kernel, stride, padding, dilation, out_size):
    """Every kernel window of x, as the columns of one matrix.

    x (N,C,H,W) -> cols (C*KH*KW, N*OH*OW), where column (n,i,j) holds the window under output
    pixel (i, j) of image n. out_size = (OH, OW) says how many windows to take per axis."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = kernel, stride, padding, dilation, out_size
    xpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)  # (N, C, H+2p, W+2p)
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    # A strided view windows[c, kh, kw, n, i, j] = xpad[n, c, i*s + kh*d, j*s + kw*d]: the same
    # memory read with other steps (strides are in bytes), so no number is copied yet.
    step_n, step_c, step_h, step_w = xpad.strides
    windows = backend.as_strided(
        xpad, shape=(C, KH, KW, N, OH, OW),
        strides=(step_c, dh * step_h, dw * step_w, step_n, sh * step_h, sw * step_w))
    # This order keeps the innermost axis (j) walking along a row of x, so the one copy that
    # reshape makes reads memory nearly in order (measured: 2-3x faster than (N*OH*OW, C*KH*KW)).
    return windows.reshape(C * KH * KW, N * OH * OW)  # (C*KH*KW, N*OH*OW)


def col2im(cols, x_shape, kernel, stride, padding, dilation, out_size):
    """The adjoint of im2col: send every column back to its window, adding where windows overlap.

    cols (C*KH*KW, N*OH*OW) -> x (N,C,H,W). Loops only over the KH*KW kernel offsets: for a fixed
    offset (kh, kw), the pixels it touches form a regular grid with step s, i.e. one slice."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = kernel, stride, padding, dilation, out_size
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    xpad = xp.zeros((C, N, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)  # channels first, like cols
    for kh in range(KH):
        for kw in range(KW):
            top, left = kh * dh, kw * dw
            xpad[:, :, top:top + sh * (OH - 1) + 1:sh,
                 left:left + sw * (OW - 1) + 1:sw] += cols[:, kh, kw]  # (C, N, OH, OW)
    x = xpad[:, :, ph:ph + H, pw:pw + W]                                # drop the padding
    return xp.ascontiguousarray(x.transpose(1, 0, 2, 3))                # (N, C, H, W)


def channel_rows(a):
    """(N, C, H, W) -> (C, N*H*W): one row per channel, the layout the GEMMs use."""
    N, C, H, W = a.shape
    return a.transpose(1, 0, 2, 3).reshape(C, N * H * W)


def from_channel_rows(m, N, H, W):
    """(C, N*H*W) -> (N, C, H, W), contiguous: the inverse of channel_rows."""
    xp = get_array_module(m)
    return xp.ascontiguousarray(m.reshape(-1, N, H, W).transpose(1, 0, 2, 3))


def conv2d_input_grad(g, w, x_shape, stride, padding, dilation):
    """dL/dx for y = conv2d(x, w): g (N,O,OH,OW), w (O,C,KH,KW) -> dx (N,C,H,W), x_shape (N,C,H,W).

    This is also the forward pass of conv_transpose2d. Two routes give the same numbers:
    - col2im(W^T g): any stride; its big matrix W^T g has C*KH*KW rows.
    - stride 1 only: dx is itself a convolution, of g padded by d(K-1)-p, with the kernel flipped
      and its two channel axes swapped,
          dx[n,c,i,j] = sum_{o,kh,kw} gpad[n, o, i + d(KH-1-kh), j + d(KW-1-kw)] * w[o,c,kh,kw],
      done by im2col + one GEMM, whose big matrix has O*KH*KW rows.
    Filling the big matrix is most of the cost, so we take the convolution when O <= C (measured
    10-50% faster there on a 2-core CPU) and col2im otherwise (e.g. a 1 -> 16 channel layer)."""
    N, C, H, W = x_shape
    O, _, KH, KW = w.shape
    OH, OW = g.shape[2:]
    full_padding = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (KH, KW), padding))
    # the convolution route needs g to cover x exactly: OH = H + 2p - d(KH-1) (no rows of x
    # left over at the bottom, which output_padding in conv_transpose2d can create)
    exact = (OH, OW) == tuple(n + 2 * p - d * (k - 1) for n, p, d, k in zip(
        (H, W), padding, dilation, (KH, KW)))
    if stride == (1, 1) and O <= C and min(full_padding) >= 0 and exact:
        cols = im2col(g, (KH, KW), (1, 1), full_padding, dilation, (H, W))  # (O*KH*KW, N*H*W)
        w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, O * KH * KW)
        return from_channel_rows(w_flipped @ cols, N, H, W)                # (N, C, H, W)
    dcols = w.reshape(O, C * KH * KW).T @ channel_rows(g)                  # (C*KH*KW, N*OH*OW)
    return col2im(dcols, x_shape, (KH, KW), stride, padding, dilation, (OH, OW))


# ---- convolution ----
class Conv2d(Function):
    """y = conv2d(x, w) + b. Forward: y = W cols + b with cols = im2col(x).
    Backward: dW = g cols^T, db = sum of g, dx = col2im(W^T g) (see conv2d_input_grad)."""

    def __init__(self, stride, padding, dilation):
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, w, b=None):
        N, C, H, W = x.shape
        O, _, KH, KW = w.shape
        self.kernel = (KH, KW)
        self.out_size = OH, OW = tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(
            (H, W), self.kernel, self.stride, self.padding, self.dilation))
        cols = im2col(x, self.kernel, self.stride, self.padding, self.dilation, self.out_size)
        y = w.reshape(O, C * KH * KW) @ cols                 # (O, N*OH*OW): the one GEMM
        if b is not None:
            y += b[:, None]                                  # the same bias for every pixel
        self.cols = cols                                     # (C*KH*KW, N*OH*OW)
        self.w = w                                           # (O, C, KH, KW)
        self.x_shape = x.shape
        self.has_bias = b is not None
        return from_channel_rows(y, N, OH, OW)               # (N, O, OH, OW)

    def backward(self, g):
        # BEGIN SOLUTION conv2d_backward
        g_rows = channel_rows(g)                             # (O, N*OH*OW)
        dw = (g_rows @ self.cols.T).reshape(self.w.shape)    # (O, C, KH, KW)
        db = g.sum(axis=(0, 2, 3)) if self.has_bias else None  # (O,)
        dx = None
        if self.inputs[0].requires_grad:                     # skip it for the input image
            dx = conv2d_input_grad(g, self.w, self.x_shape, self.stride, self.padding,
                                   self.dilation)            # (N, C, H, W)
        return dx, dw, db
        # END SOLUTION


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, w (C_in, C_out, KH, KW): the input-gradient of a conv2d
    (with the same w, stride, padding, dilation) used as a forward pass.
    Forward: y = conv2d_input_grad(x, w) + b, i.e. col2im(W^T x) + b.
    Backward: cols = im2col(g), dx = W cols (a conv2d of g), dW = x cols^T."""

    def __init__(self, stride, padding, dilation, output_padding):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding

    def forward(self, x, w, b=None):
        N, C_in, H, W = x.shape
        _, C_out, KH, KW = w.shape
        self.kernel = (KH, KW)
        OH, OW = (conv_transpose_output_size(n, k, s, p, d, op) for n, k, s, p, d, op in zip(
            (H, W), self.kernel, self.stride, self.padding, self.dilation, self.output_padding))
        # x plays the part of conv2d's output gradient, w that of its weight (O = C_in)
        y = conv2d_input_grad(x, w, (N, C_out, OH, OW), self.stride, self.padding,
                              self.dilation)                 # (N, C_out, OH, OW)
        if b is not None:
            y += b[None, :, None, None]
        self.x = x                                           # (N, C_in, H, W)
        self.w = w                                           # (C_in, C_out, KH, KW)
        self.in_size = (N, H, W)
        self.has_bias = b is not None
        return y

    def backward(self, g):
        N, H, W = self.in_size
        C_in = self.w.shape[0]
        # the windows of g that each input pixel was spread over (an ordinary convolution's
        # windows; with output_padding >= stride g has extra rows/columns that no pixel reached,
        # which taking exactly H x W windows leaves out)
        cols = im2col(g, self.kernel, self.stride, self.padding, self.dilation, (H, W))
        dw = (channel_rows(self.x) @ cols.T).reshape(self.w.shape)  # (C_in, C_out, KH, KW)
        db = g.sum(axis=(0, 2, 3)) if self.has_bias else None  # (C_out,)
        dx = None
        if self.inputs[0].requires_grad:
            dx = from_channel_rows(self.w.reshape(C_in, -1) @ cols, N, H, W)  # (N, C_in, H, W)
        return dx, dw, db


# ---- the functions users call: check the arguments, then run the Function ----
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation) like torch.nn.functional.conv2d.

    x (N, C, H, W), w (O, C, KH, KW), b (O,) or None -> y (N, O, OH, OW) with
    OH = (H + 2p - d(KH-1) - 1) // s + 1 (and the same for the width).
    stride, padding, dilation: an int or an (h, w) pair."""
    stride, padding, dilation = (_pair(stride, "stride", 1), _pair(padding, "padding", 0),
                                 _pair(dilation, "dilation", 1))
    _check_arrays("conv2d", x, w, b)
    N, C, H, W = x.shape
    O, C_w, KH, KW = w.shape
    if C != C_w:
        raise ValueError(f"conv2d: x has {C} channels (shape {tuple(x.shape)}), but w expects "
                         f"{C_w} (shape {tuple(w.shape)}, laid out (out_channels, in_channels, "
                         f"KH, KW)); w.shape[1] must equal x.shape[1]")
    _check_bias("conv2d", b, O, "w.shape[0] (out_channels)")
    for axis, n, k, s, p, d in zip(("height", "width"), (H, W), (KH, KW), stride, padding,
                                   dilation):
        if conv_output_size(n, k, s, p, d) < 1:
            raise ValueError(
                f"conv2d: the kernel does not fit in the padded input along the {axis}: output "
                f"size = (size + 2p - d(k-1) - 1) // s + 1 = ({n} + 2*{p} - {d}*({k}-1) - 1) // {s}"
                f" + 1 = {conv_output_size(n, k, s, p, d)}, must be at least 1. The dilated kernel "
                f"spans {d * (k - 1) + 1} pixels but the padded input has {n + 2 * p}; use a "
                f"larger input, more padding, or a smaller kernel/dilation")
    inputs = (x, w) if b is None else (x, w, b)
    return Conv2d(stride, padding, dilation)(*inputs)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """2-D transposed convolution like torch.nn.functional.conv_transpose2d.

    x (N, C_in, H, W), w (C_in, C_out, KH, KW), b (C_out,) or None -> y (N, C_out, OH, OW) with
    OH = (H - 1)s - 2p + d(KH-1) + output_padding + 1 (and the same for the width).
    output_padding adds rows/columns at the bottom/right (it picks one of the input sizes that a
    strided conv2d maps to the same output size); it must be smaller than stride or dilation."""
    stride, padding, dilation = (_pair(stride, "stride", 1), _pair(padding, "padding", 0),
                                 _pair(dilation, "dilation", 1))
    output_padding = _pair(output_padding, "output_padding", 0)
    _check_arrays("conv_transpose2d", x, w, b)
    N, C_in, H, W = x.shape
    C_w, C_out, KH, KW = w.shape
    if C_in != C_w:
        raise ValueError(f"conv_transpose2d: x has {C_in} channels (shape {tuple(x.shape)}), but "
                         f"w expects {C_w} (shape {tuple(w.shape)}, laid out (in_channels, "
                         f"out_channels, KH, KW)); w.shape[0] must equal x.shape[1]")
    _check_bias("conv_transpose2d", b, C_out, "w.shape[1] (out_channels)")
    for axis, n, k, s, p, d, op in zip(("height", "width"), (H, W), (KH, KW), stride, padding,
                                       dilation, output_padding):
        if op >= s and op >= d:
            raise ValueError(f"conv_transpose2d: output_padding {op} along the {axis} must be "
                             f"smaller than either stride ({s}) or dilation ({d}), as in PyTorch")
        size = conv_transpose_output_size(n, k, s, p, d, op)
        if size < 1:
            raise ValueError(
                f"conv_transpose2d: the output {axis} would be (size - 1)s - 2p + d(k-1) + "
                f"output_padding + 1 = ({n}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {size}, "
                f"must be at least 1; use less padding")
    inputs = (x, w) if b is None else (x, w, b)
    return ConvTranspose2d(stride, padding, dilation, output_padding)(*inputs)


def _pair(value, name, smallest):
    """An int or an (h, w) pair -> (h, w), each an int >= smallest."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) or hasattr(v, "__index__") for v in pair):
        raise TypeError(f"{name} must be an int or a pair (h, w) of ints, got {value!r}")
    pair = tuple(int(v) for v in pair)
    if min(pair) < smallest:
        raise ValueError(f"{name} must be >= {smallest} (along both axes), got {value!r}")
    return pair


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
