"""Loop versions of max_pool2d and avg_pool2d, forward and backward: read them next to
minicnn/ops/pool.py. They work on plain arrays and return plain arrays.

Notation:
    N, C     batch size and channels;  H, W  input size;  OH, OW  output size
    KH, KW   kernel size;  SH, SW  stride;  PH, PW  padding (ints or (h, w) pairs)
    x (N,C,H,W)   g = dLoss/dout (N,C,OH,OW)
    OH = (H + 2*PH - KH) // SH + 1,  OW = (W + 2*PW - KW) // SW + 1

Output pixel (i, j) of channel (n, c) looks at the window xpad[n, c, i*SH : i*SH+KH, j*SW : j*SW+KW]
of the padded input (padded with -inf for max pooling, with 0 for average pooling).
"""
from minicnn.backend import get_array_module


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _settings(x, kernel_size, stride, padding):
    (KH, KW) = _pair(kernel_size)
    (SH, SW) = _pair(kernel_size if stride is None else stride)
    (PH, PW) = _pair(padding)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    return (KH, KW), (SH, SW), (PH, PW), (OH, OW)


def _padded(x, PH, PW, value):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.full((N, C, H + 2 * PH, W + 2 * PW), value, dtype=x.dtype)
    out[:, :, PH:PH + H, PW:PW + W] = x
    return out


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """out[n,c,i,j] = max of the window (padded cells are -inf and never win)."""
    # BEGIN SOLUTION max_pool2d_forward
    xp = get_array_module(x)
    (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _settings(x, kernel_size, stride, padding)
    xpad = _padded(x, PH, PW, -float("inf"))
    N, C = x.shape[:2]
    out = xp.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    out[n, c, i, j] = xpad[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW].max()
    return out
    # END SOLUTION


def max_pool2d_backward(x, g, kernel_size, stride=None, padding=0):
    # BEGIN SOLUTION max_pool2d_backward
    """dx: each window's gradient g[n,c,i,j] goes to the FIRST maximum of the window in
    row-major order (argmax returns the first one); overlapping windows add up."""
    xp = get_array_module(x)
    (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _settings(x, kernel_size, stride, padding)
    xpad = _padded(x, PH, PW, -float("inf"))
    gpad = xp.zeros(xpad.shape, dtype=g.dtype)
    N, C, H, W = x.shape
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    window = xpad[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW]   # (KH, KW)
                    k = int(xp.argmax(window))                      # flat row-major position
                    gpad[n, c, i * SH + k // KW, j * SW + k % KW] += g[n, c, i, j]
    return gpad[:, :, PH:PH + H, PW:PW + W]
    # END SOLUTION


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """out[n,c,i,j] = (sum of the window) / (KH*KW); padded zeros count in the divisor."""
    xp = get_array_module(x)
    (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _settings(x, kernel_size, stride, padding)
    xpad = _padded(x, PH, PW, 0)
    N, C = x.shape[:2]
    out = xp.zeros((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            window = xpad[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW]        # (N, C, KH, KW)
            out[:, :, i, j] = window.sum(axis=(2, 3)) / (KH * KW)
    return out


def avg_pool2d_backward(x, g, kernel_size, stride=None, padding=0):
    """dx: every cell of window (i, j) gets g[:, :, i, j] / (KH*KW); overlapping windows add up."""
    xp = get_array_module(x)
    (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _settings(x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    gpad = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=g.dtype)
    for i in range(OH):
        for j in range(OW):
            gpad[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += \
                g[:, :, i, j][:, :, None, None] / (KH * KW)
    return gpad[:, :, PH:PH + H, PW:PW + W]
