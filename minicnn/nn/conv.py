"""Convolution layers: a Conv2d or ConvTranspose2d holds a weight and a bias and calls the
functional op (minicnn.ops.conv) in forward.

Weight layouts (as PyTorch):
    Conv2d           weight (C_out, C_in, KH, KW), bias (C_out,)
    ConvTranspose2d  weight (C_in, C_out, KH, KW), bias (C_out,)
Default initialization (exactly PyTorch's): weight kaiming_uniform_(a=sqrt(5)), i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in is
computed from the weight's axis 1 (C_in*KH*KW for Conv2d, C_out*KH*KW for ConvTranspose2d).
"""
import math

import numpy as np

from minicnn import functional as F
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter
from minicnn.ops.geometry import pair


def _check_channels(in_channels, out_channels, layer):
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")


class _ConvBase(Module):
    def _make_parameters(self, weight_shape, out_channels, bias, rng):
        self.weight = Parameter(np.empty(weight_shape, dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, rng=rng)


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation, as in every deep-learning library).
    Input (N, C_in, H, W) -> output (N, C_out, OH, OW),
    OH = floor((H + 2*padding - dilation*(KH-1) - 1) / stride) + 1 (same for OW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, rng=None):
        super().__init__()
        _check_channels(in_channels, out_channels, "Conv2d")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._make_parameters((out_channels, in_channels) + self.kernel_size, out_channels, bias,
                              rng)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}" if self.stride != 1 else ""
        text += f", padding={self.padding}" if self.padding != 0 else ""
        text += f", dilation={self.dilation}" if self.dilation != 1 else ""
        return text + (", bias=False" if self.bias is None else "")


class ConvTranspose2d(_ConvBase):
    """Transposed convolution (the backward pass of a convolution, used to upsample).
    Input (N, C_in, H, W) -> output (N, C_out, OH, OW),
    OH = (H - 1)*stride - 2*padding + KH + output_padding (same for OW).
    With kernel_size=2, stride=2 it exactly doubles H and W."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, rng=None):
        super().__init__()
        _check_channels(in_channels, out_channels, "ConvTranspose2d")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self._make_parameters((in_channels, out_channels) + self.kernel_size, out_channels, bias,
                              rng)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, stride=self.stride,
                                  padding=self.padding, output_padding=self.output_padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}" if self.stride != 1 else ""
        text += f", padding={self.padding}" if self.padding != 0 else ""
        text += f", output_padding={self.output_padding}" if self.output_padding != 0 else ""
        return text + (", bias=False" if self.bias is None else "")
