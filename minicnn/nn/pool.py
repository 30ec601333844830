"""Pooling and resizing layers (no parameters): thin modules around the functional ops.

    MaxPool2d / AvgPool2d: OH = floor((H + 2*padding - KH) / stride) + 1, stride defaults to
    kernel_size (so MaxPool2d(2) halves H and W).
    Upsample(scale_factor, mode): OH = H * scale_factor, 'nearest' or 'bilinear'.
"""
from minicnn import functional as F
from minicnn.nn.module import Module


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}" + \
               (f", padding={self.padding}" if self.padding else "")


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class Upsample(Module):
    def __init__(self, scale_factor=2, mode="nearest", align_corners=False):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.scale_factor, self.mode, self.align_corners = scale_factor, mode, align_corners

    def forward(self, x):
        return F.upsample(x, scale_factor=self.scale_factor, mode=self.mode,
                          align_corners=self.align_corners)

    def extra_repr(self):
        text = f"scale_factor={self.scale_factor}, mode='{self.mode}'"
        return text + (", align_corners=True" if self.align_corners else "")
