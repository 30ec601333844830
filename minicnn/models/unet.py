"""U-Net (Ronneberger, Fischer and Brox, 2015): the fully convolutional network for segmentation.

Notation: N batch, C channels, H x W image; c_l = base_channels * 2**l channels at level l
(l = 0 .. depth-1); the image at level l is (H / 2**l) x (W / 2**l).

    level 0: ConvBlock(in -> c0) ----------- skip ----------> concat -> ConvBlock -> 1x1 conv
      | maxpool 2x2                                                ^ up x2 (c1 -> c0)
    level 1: ConvBlock(c0 -> c1) --- skip ---> concat -> ConvBlock -+
      | maxpool 2x2                              ^ up x2 (c2 -> c1)
    level 2: ConvBlock(c1 -> c2) (the bottleneck) +          (the picture for depth=3)

ConvBlock = two 3x3 convolutions with padding 1 (H and W unchanged), each followed by
[BatchNorm2d] and ReLU. The encoder (contracting path) sees ever larger regions with more
channels; the decoder (expanding path) brings the coarse "what" back to full resolution and the
skip connections bring back the fine "where". The output has the input's H and W: one logit per
pixel and output channel.

Up-sampling ('up'), each halving the channels from c_{l+1} to c_l:
    'transpose': ConvTranspose2d(c_{l+1}, c_l, kernel_size=2, stride=2) (learned upsampling)
    'nearest' / 'bilinear': Conv2d(c_{l+1}, c_l, 1) then Upsample(x2). A 1x1 convolution and an
        interpolation are both linear and act on different axes (channels vs pixels, with
        interpolation weights that sum to 1), so their order does not change the result; doing
        the convolution first, at the low resolution, costs 4 times less.
Dropout (if dropout > 0) is applied to the bottleneck, at the end of the contracting path, as in
the original paper.

H and W must be multiples of 2**(depth-1), so that every pooling halves an even size and the
upsampled maps match the skips exactly.
"""
from minicnn import functional as F
from minicnn.nn import (BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, MaxPool2d, Module, ReLU,
                        Sequential, Upsample)
from minicnn.tensor import Tensor


class ConvBlock(Module):
    """conv3x3 -> [BN] -> ReLU -> conv3x3 -> [BN] -> ReLU; (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels, out_channels, batch_norm=False):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, padding=1)
        if batch_norm:
            self.bn1 = BatchNorm2d(out_channels)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1)
        if batch_norm:
            self.bn2 = BatchNorm2d(out_channels)
        self.relu2 = ReLU()

    def forward(self, x):
        for layer in self.children():                           # in the order assigned above
            x = layer(x)
        return x


def up_block(in_channels, out_channels, mode):
    """x2 upsampling from in_channels to out_channels: (N, C_in, h, w) -> (N, C_out, 2h, 2w)."""
    if mode == "transpose":
        return ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    return Sequential(Conv2d(in_channels, out_channels, 1), Upsample(scale_factor=2, mode=mode))


class UNet(Module):
    """UNet(in_channels=1, out_channels=1, base_channels=16, depth=3, up='nearest',
    batch_norm=False, dropout=0.0). Input (N, in_channels, H, W) -> logits (N, out_channels,
    H, W), with H and W multiples of 2**(depth-1)."""

    def __init__(self, in_channels=1, out_channels=1, base_channels=16, depth=3, up="nearest",
                 batch_norm=False, dropout=0.0):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("base_channels", base_channels), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"UNet: {name} must be a positive int, got {value!r}")
        if up not in ("nearest", "bilinear", "transpose"):
            raise ValueError(f"UNet: up must be 'nearest', 'bilinear' or 'transpose', got {up!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"UNet: dropout must be in [0, 1), got {dropout}")
        # the constructor arguments, as plain values: mc.save stores them to rebuild the model
        self.config = dict(in_channels=in_channels, out_channels=out_channels,
                           base_channels=base_channels, depth=depth, up=up,
                           batch_norm=bool(batch_norm), dropout=float(dropout))
        self.depth = depth
        channels = [base_channels * 2 ** level for level in range(depth)]   # c0, c1, ...

        self.encoder = Sequential(*[ConvBlock(in_channels if level == 0 else channels[level - 1],
                                              channels[level], batch_norm)
                                    for level in range(depth)])
        self.pool = MaxPool2d(2)
        if dropout > 0:
            self.dropout = Dropout(dropout)
        # decoder, from the deepest level up: up[i] and decoder[i] bring level d-1-i to d-2-i
        levels_up = range(depth - 2, -1, -1)
        self.up = Sequential(*[up_block(channels[level + 1], channels[level], up)
                               for level in levels_up])
        self.decoder = Sequential(*[ConvBlock(2 * channels[level], channels[level], batch_norm)
                                    for level in levels_up])
        self.head = Conv2d(channels[0], out_channels, 1)       # one logit per pixel and class

    @property
    def size_multiple(self):
        """H and W must be multiples of this: 2 ** (number of poolings)."""
        return 2 ** (self.depth - 1)

    def check_input(self, x):
        if not isinstance(x, Tensor) or x.ndim != 4:
            shape = x.shape if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"UNet expects a Tensor of shape (N, C, H, W), got {shape}; add the "
                             f"batch and channel axes, e.g. mc.tensor(image[None, None])")
        if x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"UNet was built for {self.config['in_channels']} input channel(s), "
                             f"but the input {x.shape} has {x.shape[1]}")
        m = self.size_multiple
        for axis, size in (("height", x.shape[2]), ("width", x.shape[3])):
            if size % m != 0:
                below, above = (size // m) * m, (size // m + 1) * m
                nearest = f"{below} or {above}" if below > 0 else f"{above}"
                raise ValueError(f"UNet(depth={self.depth}) halves the image size "
                                 f"{self.depth - 1} time(s), so height and width must be "
                                 f"multiples of 2**{self.depth - 1} = {m}; the input {axis} is "
                                 f"{size} (nearest valid sizes: {nearest}). Pad or crop the "
                                 f"image to a valid size (the prediction code pads automatically)")

    def forward(self, x):
        self.check_input(x)
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                x = self.pool(x)                                # (N, c, h, w) -> (N, c, h/2, w/2)
            x = block(x)                                        # (N, c_level, h, w)
            skips.append(x)
        x = skips.pop()                                         # the bottleneck's output
        if self.config["dropout"] > 0:
            x = self.dropout(x)
        for up, block in zip(self.up, self.decoder):
            x = up(x)                                           # (N, c_l, 2h, 2w)
            x = block(F.concat([skips.pop(), x], axis=1))       # (N, 2 c_l, ...) -> (N, c_l, ...)
        return self.head(x)                                     # (N, out_channels, H, W)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
