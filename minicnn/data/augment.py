"""Data augmentation: random changes that keep the image-mask correspondence true.

A nucleus stays a nucleus when the image is mirrored or turned by 90 degrees, or when the lamp is
a little brighter: showing the network such variants teaches it those invariances and stretches a
small training set. Geometric changes are applied to image and mask together; the intensity change
(image * scale + offset) only to the image.
"""
import numpy as np

from minicnn.rng import get_rng


def augment(image, mask, rng=None, flips=True, rotations=True, scale=(0.8, 1.2),
            offset=(-0.1, 0.1)):
    """(image, mask) randomly flipped, rotated by k*90 degrees, intensity scaled and shifted.

    image (P, P) or (C, P, P), mask (P, P); returns new contiguous arrays, image float32.
    scale/offset: ranges of the uniform intensity change, or None to switch it off.
    Non-square patches are only rotated by 0 or 180 degrees (90 would change their shape).
    """
    rng = get_rng(rng)
    image, mask = np.asarray(image), np.asarray(mask)
    if flips:
        if rng.random() < 0.5:
            image, mask = image[..., ::-1, :], mask[::-1, :]   # up-down
        if rng.random() < 0.5:
            image, mask = image[..., :, ::-1], mask[:, ::-1]   # left-right
    if rotations:
        square = mask.shape[0] == mask.shape[1]
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        image, mask = np.rot90(image, k, axes=(-2, -1)), np.rot90(mask, k)
    image = np.array(image, dtype=np.float32)  # a contiguous copy we may change
    if scale is not None:
        image *= rng.uniform(*scale)
    if offset is not None:
        image += rng.uniform(*offset)
    return image, np.ascontiguousarray(mask)
