"""conv2d and conv_transpose2d, fast: the same arithmetic as minicnn/ops/conv.py, in another order.

Read ops/conv.py first: there y = W cols + b with cols = im2col(x), and the backward pass is
dW = g cols^T, db = sum of g, dx = col2im(W^T g). The classes here are subclasses of those and
compute the same numbers (tests/test_fast.py); only where and in what order changes.

Why that is slow. The whole matrix `cols` holds KH*KW copies of the input: for a 32-channel
256 x 256 batch of 4 that is 300 MB, written once and read back once by the GEMM, which makes
memory, not arithmetic, the bottleneck; and NumPy runs the copies on one core.

What runs instead.
- Bands. `conv_gemm` and `conv_weight_grad` never build `cols` whole: they walk over the images
  and over bands of a few output rows, and for each band fill a small `cols` (about 4 MB,
  parallel.BAND_BYTES, with the measured step times that chose it; `band_columns`) that stays
  in the CPU cache while one GEMM uses it and writes its rows of y in place.
- All cores. The bands are independent, so they run on a thread pool (minicnn/parallel.py), with
  BLAS held to one thread; the weight gradient adds the bands' shares in band order, so the
  result does not depend on the number of threads.
- Scratch buffers. Each thread reuses its band buffers (parallel.scratch): no allocation and no
  page faults per band.
- Nothing stored. The forward pass keeps only x, not cols: the backward pass cuts the same bands
  out of x again, which costs one more copy but no memory.
- dx as a convolution. With stride 1, dx = col2im(W^T g) is also a convolution of g (padded by
  DH(KH-1) - PH) with the kernel flipped and its two channel axes swapped, so it runs through
  the same banded GEMM instead of col2im's KH*KW scattered additions.
- A GEMM layout that BLAS likes: dw^T = cols g^T (the same numbers as g cols^T) runs 10-15%
  faster when O is small.
On the GPU there is one band: the whole batch, one big GEMM per image (CuPy's memory pool does
the buffer reuse).
"""
from minicnn import parallel
from minicnn.backend import get_array_module
from minicnn.ops import conv
from minicnn.ops.conv import channel_rows, col2im
from minicnn.ops.geometry import conv_output_size, conv_transpose_output_size, sliding_windows


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
    (KH, KW), (SH, SW), (PH, PW), DH = kernel, stride, padding, dilation[0]
    n, rows = n1 - n0, r1 - r0
    if (KH, KW, SH, SW, PH, PW) == (1, 1, 1, 1, 0, 0):      # a 1x1 window is the pixel itself
        return x[n0:n1, :, r0:r1].reshape(n, C, rows * W)   # (n, C, rows*W), usually a view
    top = r0 * SH - PH                          # the first padded-input row the band reads,
    rows_in = (rows - 1) * SH + DH * (KH - 1) + 1   # in x's row numbers, and how many it reads
    above = min(max(-top, 0), rows_in)          # that many of them lie above x (padding),
    end = min(max(H - top, above), rows_in)     # rows above..end inside x, the rest below it
    padded = parallel.scratch(xp, (n, C, rows_in, W + 2 * PW), x.dtype, "conv rows")
    padded[:, :, above:end, PW:PW + W] = x[n0:n1, :, top + above:top + end]
    padded[:, :, :above] = 0                                # zero padding above the image,
    padded[:, :, end:] = 0                                  # below it,
    padded[:, :, :, :PW] = 0                                # left and right of it
    padded[:, :, :, PW + W:] = 0
    windows = sliding_windows(padded, kernel, stride, dilation, (rows, OW))  # (n,C,KH,KW,rows,OW)
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
    """(dw as a matrix (O, C*KH*KW), db (O,) or None): dw = g cols^T and db = g summed over the
    pixels, both added up band by band over the images and rows.

    x (N,C,H,W) the convolution's input, g (N,O,OH,OW) the gradient of its output; the windows
    taken are the OH x OW ones that g covers. db only if bias=True."""
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


def conv2d_input_grad(g, w, x_shape, stride, padding, dilation):
    """dx for y = conv2d(x, w): g (N,O,OH,OW), w (O,C,KH,KW) -> dx (N,C,H,W), x_shape (N,C,H,W).

    This is also the forward pass of conv_transpose2d. Two routes give the same numbers:
    - stride 1: dx is itself a convolution, of g padded by DH(KH-1) - PH, with the kernel
      flipped and its two channel axes swapped,
          dx[n,c,i,j] = sum_{o,kh,kw} gpad[n, o, i + DH(KH-1-kh), j + DW(KW-1-kw)] * w[o,c,kh,kw],
      done by conv_gemm (in bands, on every core).
    - any stride: col2im(W^T g), one image at a time (the windows of one image overlap, so
      bands of it cannot be written independently)."""
    xp = get_array_module(g)
    N, C, H, W = x_shape
    O, _, KH, KW = w.shape
    OH, OW = g.shape[2:]
    full_padding = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (KH, KW), padding))
    # the convolution route needs g to cover x exactly: OH = H + 2PH - DH(KH-1) (no rows of x
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


class Conv2d(conv.Conv2d):
    """ops.conv.Conv2d, fast. Forward: y = W cols + b band by band (conv_gemm), keeping x, not
    cols. Backward: dW = g cols^T with cols cut from x again (conv_weight_grad), db = sum of g,
    dx = col2im(W^T g), as a convolution of g with the flipped kernel when the stride is 1
    (conv2d_input_grad); dx is skipped for an input that needs no gradient (the image)."""

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
        dw, db = conv_weight_grad(self.x, g, self.kernel, self.stride, self.padding,
                                  self.dilation, bias=self.has_bias)  # g cols^T, sum of g
        dw = dw.reshape(self.w.shape)                        # (O, C, KH, KW)
        dx = None
        if self.inputs[0].requires_grad:                     # skip it for the input image
            dx = conv2d_input_grad(g, self.w, self.x.shape, self.stride, self.padding,
                                   self.dilation)            # (N, C, H, W)
        return dx, dw, db


class ConvTranspose2d(conv.ConvTranspose2d):
    """ops.conv.ConvTranspose2d, fast. Forward: y = conv2d_input_grad(x, w) + b, i.e.
    col2im(W^T x) + b, by either route of conv2d_input_grad.
    Backward: with cols = im2col(g) (H x W windows), dx = W cols (a conv2d of g with w, banded)
    and dW = x cols^T (the weight gradient of that conv2d, with x in the part of its output
    grad)."""

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
