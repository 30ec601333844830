"""Batches of random, augmented patches, ready for the network.

Notation: B batch size, C image channels, P patch size.

    x  (B, C, P, P) float32    the image patches (C = 1 for 2-D images)
    y  (B, 1, P, P) float32    foreground 0/1, the target of binary_cross_entropy_with_logits
       (B, P, P)    int64      class indices, the target of cross_entropy, when classes is given

The loader never ends: `next(loader)` or `loader.next_batch()` draws a fresh batch each time.
Images should be normalized before (see normalize.py); the loader only cuts and augments.
"""
import numpy as np

from minicnn.data.augment import augment as augment_patch
from minicnn.data.errors import DataError
from minicnn.data.patches import PatchSampler


class BatchLoader:
    """Endless iterator over (x, y) batches drawn by a seeded PatchSampler (+ augmentation)."""

    def __init__(self, pairs, patch_size, batch_size, rng=None, augment=True,
                 foreground_bias=0.0, classes=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.sampler = PatchSampler(pairs, patch_size, foreground_bias, rng)
        self.batch_size = int(batch_size)
        self.augment = augment
        self.classes = classes

    def next_batch(self):
        images, masks = [], []
        for _ in range(self.batch_size):
            image, mask = self.sampler.sample()
            if self.augment:
                image, mask = augment_patch(image, mask, self.sampler.rng)
            images.append(image if image.ndim == 3 else image[None])  # (C, P, P)
            masks.append(mask)
        x = np.stack(images).astype(np.float32)                    # (B, C, P, P)
        if self.classes is None:
            y = (np.stack(masks) > 0).astype(np.float32)[:, None]  # (B, 1, P, P)
        else:
            y = np.stack(masks).astype(np.int64)                   # (B, P, P)
        return x, y

    def __iter__(self):
        return self

    def __next__(self):
        return self.next_batch()
