"""Random square patches from (image, mask) pairs: what a fully convolutional network trains on.

Notation: P patch size, H, W image height and width, C channels.

A patch is a P x P window at a random position. With `foreground_bias` = b, a fraction b of the
patches is centred on a randomly chosen foreground pixel (mask > 0): useful when objects are
sparse and random windows would show mostly background. Images smaller than P are first
reflect-padded (mirrored at the border) up to P, image and mask alike.
"""
import numpy as np

from minicnn.data.errors import DataError
from minicnn.rng import get_rng


def pad_to_size(array, size):
    """Reflect-pad the last two axes of `array` up to at least (size, size), centred."""
    height, width = array.shape[-2:]
    pad_y, pad_x = max(size - height, 0), max(size - width, 0)
    if pad_y == 0 and pad_x == 0:
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [(pad_y // 2, pad_y - pad_y // 2),
                                            (pad_x // 2, pad_x - pad_x // 2)]
    return np.pad(array, widths, mode="reflect" if min(height, width) > 1 else "edge")


def unpack_pairs(pairs):
    """[(image, mask)] from a list of (image, mask) or (name, image, mask) items, checked."""
    if len(pairs) == 0:
        raise DataError("no (image, mask) pairs given; read some with read_pairs(images_dir, "
                        "masks_dir)")
    unpacked = []
    for item in pairs:
        image, mask = item[-2], item[-1]
        image, mask = np.asarray(image), np.asarray(mask)
        if image.shape[-2:] != mask.shape[-2:] or mask.ndim != 2:
            raise DataError(f"image of shape {image.shape} does not match mask of shape "
                            f"{mask.shape}; expected image (H, W) or (C, H, W) and mask (H, W)")
        unpacked.append((image, mask))
    return unpacked


class PatchSampler:
    """Draws (image_patch, mask_patch) pairs: (P, P) or (C, P, P) image, (P, P) mask.

    An image is chosen with probability proportional to its area, so every pixel of the data set
    is equally likely to be seen. rng: a numpy Generator, an int seed, or None for the global
    generator of `minicnn.rng` (so `mc.manual_seed` makes sampling repeatable).
    """

    def __init__(self, pairs, patch_size, foreground_bias=0.0, rng=None):
        if not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
            raise DataError(f"patch_size must be a positive integer, got {patch_size!r}")
        if not 0.0 <= foreground_bias <= 1.0:
            raise DataError(f"foreground_bias is a probability in [0, 1], got {foreground_bias}")
        self.patch_size = int(patch_size)
        self.foreground_bias = float(foreground_bias)
        self._rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
        self.pairs = [(pad_to_size(image, self.patch_size), pad_to_size(mask, self.patch_size))
                      for image, mask in unpack_pairs(pairs)]
        self.foreground = [np.argwhere(mask > 0) for _, mask in self.pairs]  # (n_fg, 2) each
        areas = np.array([mask.size for _, mask in self.pairs], dtype=np.float64)
        self.weights = areas / areas.sum()

    @property
    def rng(self):
        return get_rng(self._rng)

    def corner(self, index):
        """Top-left (y, x) of a random patch in image `index`."""
        rng = self.rng
        height, width = self.pairs[index][1].shape
        P = self.patch_size
        foreground = self.foreground[index]
        if len(foreground) and rng.random() < self.foreground_bias:
            cy, cx = foreground[rng.integers(len(foreground))]
            y, x = cy - P // 2, cx - P // 2          # centre the patch, then keep it inside
            return int(np.clip(y, 0, height - P)), int(np.clip(x, 0, width - P))
        return int(rng.integers(height - P + 1)), int(rng.integers(width - P + 1))

    def sample(self):
        """One (image_patch, mask_patch), as views into the stored arrays."""
        index = int(self.rng.choice(len(self.pairs), p=self.weights))
        y, x = self.corner(index)
        image, mask = self.pairs[index]
        P = self.patch_size
        return image[..., y:y + P, x:x + P], mask[y:y + P, x:x + P]
