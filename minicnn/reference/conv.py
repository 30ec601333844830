"""Loop versions of conv2d and conv_transpose2d, forward and backward: read them next to
minicnn/ops/conv.py. They work on plain arrays and return plain arrays.

Notation:
    N        batch size
    C, O     input and output channels of a convolution (for the transpose: C_in, C_out)
    H, W     input height and width;  OH, OW  output height and width
    KH, KW   kernel height and width
    s, p, d  stride, padding, dilation: ints or (h, w) pairs
    x (N,C,H,W)   w (O,C,KH,KW) (transpose: (C_in,C_out,KH,KW))   b (O,)   g = dLoss/dy

The loops run over output (or input) positions (i, j); the sum over channels and kernel offsets
at one position is a tensordot, so that they stay fast enough for tests on small sizes.
"""
from minicnn.backend import get_array_module


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _window(i, j, s, d, KH, KW):
    """The index of the kernel window whose top-left corner serves output pixel (i, j):
    rows i*s, i*s + d, ..., i*s + d(KH-1) (and the same for the columns)."""
    return (slice(None), slice(None),
            slice(i * s[0], i * s[0] + d[0] * (KH - 1) + 1, d[0]),
            slice(j * s[1], j * s[1] + d[1] * (KW - 1) + 1, d[1]))


def _padded(x, p, extra=(0, 0)):
    """x (N,C,H,W) with p zeros around it (and `extra` more at the bottom/right)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, H + 2 * p[0] + extra[0], W + 2 * p[1] + extra[1]), dtype=x.dtype)
    out[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    return out


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """y[n,o,i,j] = b[o] + sum_{c,kh,kw} xpad[n, c, i*s + kh*d, j*s + kw*d] * w[o,c,kh,kw],
    OH = (H + 2p - d(KH-1) - 1) // s + 1."""
    # BEGIN SOLUTION conv2d_forward
    xp = get_array_module(x)
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    xpad = _padded(x, p)                                       # (N, C, H+2p, W+2p)
    y = xp.zeros((N, O, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            window = xpad[_window(i, j, s, d, KH, KW)]          # (N, C, KH, KW)
            y[:, :, i, j] = xp.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))  # (N, O)
    if b is not None:
        y += b[None, :, None, None]
    return y
    # END SOLUTION


def conv2d_backward(x, w, g, stride=1, padding=0, dilation=1):
    # BEGIN SOLUTION conv2d_backward
    """(dx, dw, db) for y = conv2d(x, w, b) and g = dLoss/dy (N,O,OH,OW).
    Each output pixel y[:, :, i, j] used one window of xpad, so it sends g[:, :, i, j]
    back to that window through w (dx), and to w through that window (dw)."""
    xp = get_array_module(x)
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH, OW = g.shape[2:]
    xpad = _padded(x, p)                                       # (N, C, H+2p, W+2p)
    dxpad = xp.zeros_like(xpad)
    dw = xp.zeros_like(w)                                      # (O, C, KH, KW)
    for i in range(OH):
        for j in range(OW):
            index = _window(i, j, s, d, KH, KW)
            g_ij = g[:, :, i, j]                                # (N, O)
            dxpad[index] += xp.tensordot(g_ij, w, axes=([1], [0]))          # (N, C, KH, KW)
            dw += xp.tensordot(g_ij, xpad[index], axes=([0], [0]))         # (O, C, KH, KW)
    dx = dxpad[:, :, p[0]:p[0] + H, p[1]:p[1] + W]             # padding gets no gradient
    db = g.sum(axis=(0, 2, 3))                                 # (O,)
    return dx, dw, db
    # END SOLUTION


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    # BEGIN SOLUTION conv2d_backward
    """Every input pixel x[:, :, i, j] spreads over one window of the (padded) output:
    ypad[n, :, i*s + kh*d, j*s + kw*d] += sum_c x[n,c,i,j] * w[c, :, kh, kw];
    then the p outer rows/columns are cut away.
    OH = (H - 1)s - 2p + d(KH-1) + output_padding + 1."""
    xp = get_array_module(x)
    s, p, d, op = _pair(stride), _pair(padding), _pair(dilation), _pair(output_padding)
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    OH = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1
    OW = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1
    ypad = xp.zeros((N, C_out, OH + 2 * p[0], OW + 2 * p[1]), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            ypad[_window(i, j, s, d, KH, KW)] += xp.tensordot(
                x[:, :, i, j], w, axes=([1], [0]))               # (N, C_out, KH, KW)
    y = ypad[:, :, p[0]:p[0] + OH, p[1]:p[1] + OW]
    if b is not None:
        y = y + b[None, :, None, None]
    return y
    # END SOLUTION


def conv_transpose2d_backward(x, w, g, stride=1, padding=0, output_padding=0, dilation=1):
    # BEGIN SOLUTION conv2d_backward
    """(dx, dw, db) for y = conv_transpose2d(x, w, b) and g = dLoss/dy (N,C_out,OH,OW).
    Input pixel (i, j) was spread over one window of the padded output, so its gradient is
    that window of the padded g, summed against w (an ordinary convolution of g).
    output_padding is implied by g's shape; it is accepted so that the arguments match the
    forward's."""
    xp = get_array_module(x)
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    gpad = _padded(g, p)                                       # (N, C_out, OH+2p, OW+2p)
    dx = xp.zeros_like(x)
    dw = xp.zeros_like(w)                                      # (C_in, C_out, KH, KW)
    for i in range(H):
        for j in range(W):
            g_window = gpad[_window(i, j, s, d, KH, KW)]         # (N, C_out, KH, KW)
            dx[:, :, i, j] = xp.tensordot(g_window, w, axes=([1, 2, 3], [1, 2, 3]))  # (N, C_in)
            dw += xp.tensordot(x[:, :, i, j], g_window, axes=([0], [0]))  # (C_in, C_out, KH, KW)
    db = g.sum(axis=(0, 2, 3))                                 # (C_out,)
    return dx, dw, db
    # END SOLUTION
