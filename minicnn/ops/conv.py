"""2-D convolution and transposed convolution, as matrix products (im2col + GEMM).

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
               windows overlap their contributions add up. With stride 1, dL/dx is also a
               convolution of g with the flipped kernel, which is how it is computed then
               (see conv2d_input_grad).

Transposed convolution is exactly that last step used as a forward pass: it maps (N,C_in,H,W)
to (N,C_out,OH,OW), spreading each input pixel over a KH x KW patch of the output:

    OH = (H - 1)s - 2p + d(KH-1) + output_padding + 1

so its backward pass is an ordinary convolution (dL/dx = conv2d(g, w)), and both ops share the
helpers below.

How it runs fast (the same arithmetic, in another order). The whole matrix `cols` holds KH*KW
copies of the input: for a 32-channel 256 x 256 batch of 4 that is 300 MB, written once and read
back once by the GEMM, which makes memory the bottleneck. So `conv_gemm` and `conv_weight_grad`
never build it whole: they walk over the images and over bands of a few output rows, and for
each band fill a small `cols` (about 4 MB, `band_columns`) that stays in the CPU cache while one
GEMM uses it and writes its rows of y in place. The bands are independent, so they run on all
cores (minicnn/parallel.py). The forward pass keeps only x, not cols: the backward pass cuts the
same bands out of x again, which costs one more copy but no memory. On the GPU there is one
band: the whole batch, one big batched GEMM. `im2col` below is the whole-batch version, the
way to read what a band does (tutorial 2 uses it); `col2im` is its adjoint.
"""
from minicnn import backend, parallel
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


def band_columns(x, band, kernel, stride, padding, dilation, OW):
    """The im2col columns of one band: images n0:n1, output rows r0:r1 (band = (n0, n1, r0, r1)).

    x (N,C,H,W) -> cols (n1-n0, C*KH*KW, (r1-r0)*OW), where cols[k] equals the columns
    im2col(x[n0+k : n0+k+1])[:, r0*OW : r1*OW]. Only the input rows this band reads are copied
    (with their zero padding) into a small per-thread scratch buffer, and the windows are cut
    out of that; no padded copy of the whole image is made. cols is scratch too: use it before
    the next call in the same thread."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    n0, n1, r0, r1 = band
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, rows = n1 - n0, r1 - r0
    if (KH, KW, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):      # a 1x1 window is the pixel itself
        return x[n0:n1, :, r0:r1].reshape(n, C, rows * W)   # (n, C, rows*W), usually a view
    top = r0 * sh - ph                          # the first padded-input row the band reads,
    rows_in = (rows - 1) * sh + dh * (KH - 1) + 1   # in x's row numbers, and how many it reads
    above = min(max(-top, 0), rows_in)          # that many of them lie above x (padding),
    end = min(max(H - top, above), rows_in)     # rows above..end inside x, the rest below it
    padded = parallel.scratch(xp, (n, C, rows_in, W + 2 * pw), x.dtype, "conv rows")
    padded[:, :, above:end, pw:pw + W] = x[n0:n1, :, top + above:top + end]
    padded[:, :, :above] = 0                                # zero padding above the image,
    padded[:, :, end:] = 0                                  # below it,
    padded[:, :, :, :pw] = 0                                # left and right of it
    padded[:, :, :, pw + W:] = 0
    # windows[m, c, kh, kw, i, j] = padded[m, c, i*s + kh*d, j*s + kw*d], as in im2col
    step_n, step_c, step_h, step_w = padded.strides
    windows = backend.as_strided(
        padded, shape=(n, C, KH, KW, rows, OW),
        strides=(step_n, step_c, dh * step_h, dw * step_w, sh * step_h, sw * step_w))
    cols = parallel.scratch(xp, (n, C, KH, KW, rows, OW), x.dtype, "conv cols")
    xp.copyto(cols, windows)                                # the one copy, row by row of x
    return cols.reshape(n, C * KH * KW, rows * OW)          # (n, C*KH*KW, rows*OW)


def conv_gemm(x, w_rows, b, kernel, stride, padding, dilation, out_size):
    """y = a convolution of x with the weights w_rows (O, C*KH*KW), plus b (O,) if given,
    computed band by band: y[n0:n1, :, r0:r1] = w_rows @ band_columns(x, band) (+ b).

    x (N,C,H,W) -> y (N,O,OH,OW), out_size = (OH, OW). Each band's GEMM writes straight into
    its rows of y (a view), so no (O, N*OH*OW) matrix has to be transposed afterwards."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    O, K = w_rows.shape                                     # K = C*KH*KW
    OH, OW = out_size
    y = xp.empty((N, O, OH, OW), dtype=x.dtype)             # (N, O, OH, OW)

    def one_band(band):
        n0, n1, r0, r1 = band
        cols = band_columns(x, band, kernel, stride, padding, dilation, OW)  # (n, K, rows*OW)
        out = y[n0:n1, :, r0:r1].reshape(n1 - n0, O, (r1 - r0) * OW)  # a view into y
        for m in range(n1 - n0):                 # one GEMM per image (see conv_weight_grad)
            xp.matmul(w_rows, cols[m], out=out[m])          # (O, K) @ (K, rows*OW)
        if b is not None:
            out += b[:, None]                               # the same bias for every pixel

    parallel.run(one_band, parallel.tasks(xp, N, OH, K * OW * x.itemsize))
    return y


def conv_weight_grad(x, g, kernel, stride, padding, dilation, bias=False):
    """(dL/dw as a matrix (O, C*KH*KW), dL/db (O,) or None): dw = g cols^T and db = g summed
    over the pixels, both added up band by band over the images and rows.

    x (N,C,H,W) the convolution's input, g (N,O,OH,OW) the gradient of its output; the windows
    taken are the OH x OW ones that g covers. db only if bias=True."""
    # BEGIN SOLUTION conv2d_backward
    xp = get_array_module(x)
    N, C = x.shape[:2]
    O, OH, OW = g.shape[1:]

    def one_band(band):
        n0, n1, r0, r1 = band
        cols = band_columns(x, band, kernel, stride, padding, dilation, OW)  # (n, K, rows*OW)
        g_rows = g[n0:n1, :, r0:r1].reshape(n1 - n0, O, (r1 - r0) * OW)   # (n, O, rows*OW)
        # dw^T = cols g^T: the same numbers as g cols^T, but BLAS runs this shape (a tall
        # (K, rows*OW) matrix times a thin one) 10-15% faster when O is small. One GEMM per
        # image, not one batched GEMM: a batched GEMM with so small an output and so long a
        # sum runs very slowly on a GPU (where the band holds the whole batch; on the CPU a
        # band is one image)
        dw_t = sum(cols[m] @ g_rows[m].T for m in range(n1 - n0))   # (K, O), this band's
        return dw_t, (g_rows.sum(axis=(0, 2)) if bias else None)  # (O,)

    K = C * kernel[0] * kernel[1]
    shares = parallel.run(one_band, parallel.tasks(xp, N, OH, K * OW * x.itemsize))
    dws, dbs = zip(*shares)
    dw = sum(dws[1:], dws[0]).T                     # (O, K), added in band order: reproducible
    return dw, (sum(dbs[1:], dbs[0]) if bias else None)
    # END SOLUTION


def conv2d_input_grad(g, w, x_shape, stride, padding, dilation):
    """dL/dx for y = conv2d(x, w): g (N,O,OH,OW), w (O,C,KH,KW) -> dx (N,C,H,W), x_shape (N,C,H,W).

    This is also the forward pass of conv_transpose2d. Two routes give the same numbers:
    - stride 1: dx is itself a convolution, of g padded by d(K-1)-p, with the kernel flipped
      and its two channel axes swapped,
          dx[n,c,i,j] = sum_{o,kh,kw} gpad[n, o, i + d(KH-1-kh), j + d(KW-1-kw)] * w[o,c,kh,kw],
      done by conv_gemm (in bands, on every core).
    - any stride: col2im(W^T g), one image at a time (the windows of one image overlap, so
      bands of it cannot be written independently)."""
    # BEGIN SOLUTION conv2d_backward
    xp = get_array_module(g)
    N, C, H, W = x_shape
    O, _, KH, KW = w.shape
    OH, OW = g.shape[2:]
    full_padding = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (KH, KW), padding))
    # the convolution route needs g to cover x exactly: OH = H + 2p - d(KH-1) (no rows of x
    # left over at the bottom, which output_padding in conv_transpose2d can create)
    exact = (OH, OW) == tuple(n + 2 * p - d * (k - 1) for n, p, d, k in zip(
        (H, W), padding, dilation, (KH, KW)))
    if stride == (1, 1) and min(full_padding) >= 0 and exact:
        w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, O * KH * KW)
        return conv_gemm(g, w_flipped, None, (KH, KW), (1, 1), full_padding, dilation, (H, W))
    dx = xp.empty(x_shape, dtype=g.dtype)                   # (N, C, H, W)
    w_t = w.reshape(O, C * KH * KW).T                       # (C*KH*KW, O)

    def one_image(band):
        n0, n1 = band[:2]
        dcols = w_t @ channel_rows(g[n0:n1])                # (C*KH*KW, n*OH*OW)
        dx[n0:n1] = col2im(dcols, (n1 - n0, C, H, W), (KH, KW), stride, padding, dilation,
                           (OH, OW))
    parallel.run(one_image, parallel.tasks(xp, N))
    return dx
    # END SOLUTION


# ---- convolution ----
class Conv2d(Function):
    """y = conv2d(x, w) + b. Forward: y = W cols + b with cols = im2col(x), band by band.
    Backward: dW = g cols^T (cols cut from x again), db = sum of g, dx = col2im(W^T g), computed
    as a convolution of g with the flipped kernel when the stride is 1 (conv2d_input_grad)."""

    def __init__(self, stride, padding, dilation):
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, w, b=None):
        N, C, H, W = x.shape
        O, _, KH, KW = w.shape
        self.kernel = (KH, KW)
        out_size = tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(
            (H, W), self.kernel, self.stride, self.padding, self.dilation))
        y = conv_gemm(x, w.reshape(O, C * KH * KW), b, self.kernel, self.stride, self.padding,
                      self.dilation, out_size)              # (N, O, OH, OW)
        self.x = x                                          # (N, C, H, W): cols are cut again
        self.w = w                                          # (O, C, KH, KW)
        self.has_bias = b is not None
        return y

    def backward(self, g):
        # BEGIN SOLUTION conv2d_backward
        dw, db = conv_weight_grad(self.x, g, self.kernel, self.stride, self.padding,
                                  self.dilation, bias=self.has_bias)  # g cols^T, sum of g
        dw = dw.reshape(self.w.shape)                        # (O, C, KH, KW)
        dx = None
        if self.inputs[0].requires_grad:                     # skip it for the input image
            dx = conv2d_input_grad(g, self.w, self.x.shape, self.stride, self.padding,
                                   self.dilation)            # (N, C, H, W)
        return dx, dw, db
        # END SOLUTION


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, w (C_in, C_out, KH, KW): the input-gradient of a conv2d
    (with the same w, stride, padding, dilation) used as a forward pass.
    Forward: y = conv2d_input_grad(x, w) + b, i.e. col2im(W^T x) + b.
    Backward: with cols = im2col(g) (H x W windows), dx = W cols (a conv2d of g with w) and
    dW = x cols^T (the weight gradient of that conv2d, with x in the part of its output grad)."""

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
        self.has_bias = b is not None
        return y

    def backward(self, g):
        H, W = self.x.shape[2:]
        C_in = self.w.shape[0]
        settings = (self.kernel, self.stride, self.padding, self.dilation)
        # the windows of g that each input pixel was spread over: an ordinary convolution's
        # windows, exactly H x W of them (with output_padding >= stride, g has extra rows or
        # columns that no pixel reached, and they are left out)
        dw, _ = conv_weight_grad(g, self.x, *settings)      # x cols^T: (C_in, C_out*KH*KW)
        dw = dw.reshape(self.w.shape)                        # (C_in, C_out, KH, KW)
        db = g.sum(axis=(0, 2, 3)) if self.has_bias else None  # (C_out,)
        dx = None
        if self.inputs[0].requires_grad:
            dx = conv_gemm(g, self.w.reshape(C_in, -1), None, *settings, (H, W))  # (N, C_in, H, W)
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
