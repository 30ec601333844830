"""Holding data back for validation: the model is judged on pixels it never trained on.

    n >= 2 images  the last ceil(val_fraction * n) images (sorted by name, at least one, and at
                   least one left for training) are validation; no randomness, so the same
                   folder always gives the same split
    1 image        a vertical strip: the right val_fraction of the width is validation, the left
                   rest is training (patches never cross the cut)
"""
import math

from minicnn.data.errors import DataError
from minicnn.data.pairs import Pair


def split_train_val(pairs, val_fraction=0.25):
    """(train_pairs, val_pairs), lists of Pair(name, image, mask)."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}; "
                        f"0.25 keeps a quarter for validation")
    pairs = [Pair(*item) if len(item) == 3 else Pair(f"image_{i}", *item)
             for i, item in enumerate(pairs)]
    if len(pairs) == 0:
        raise DataError("no pairs to split; read some with read_pairs(images_dir, masks_dir)")
    if len(pairs) >= 2:
        n_val = min(max(1, math.ceil(val_fraction * len(pairs))), len(pairs) - 1)
        return pairs[:-n_val], pairs[-n_val:]
    name, image, mask = pairs[0]
    width = mask.shape[-1]
    cut = width - round(val_fraction * width)          # first validation column
    if not 0 < cut < width:
        raise DataError(f"image {name} is {width} pixels wide: too narrow to hold back "
                        f"{val_fraction} of its width; use a wider image or more images")
    train = Pair(f"{name}[:, :{cut}]", image[..., :cut], mask[:, :cut])
    val = Pair(f"{name}[:, {cut}:]", image[..., cut:], mask[:, cut:])
    return [train], [val]
