"""Everything between TIFF files on disk and batches for the network.

    tiff.py        read_image, write_image        TIFF in and out, with clear errors
    pairs.py       read_pairs                     images/X.tif + masks/X.tif -> checked pairs
    normalize.py   normalize_percentile, normalize  percentiles -> 0..1, settings for model files
    patches.py     PatchSampler                   random (foreground-biased) square patches
    augment.py     augment                        flips, 90-degree rotations, intensity changes
    loader.py      BatchLoader                    endless seeded (x, y) batches
    split.py       split_train_val                validation by image, or a held-out strip
    synthetic.py   synthetic_nuclei               fake nuclei images with exact labels
    sample.py      sample_nuclei                  the bundled real DSB 2018 image
"""
from minicnn.data.augment import augment
from minicnn.data.errors import DataError, OverwriteError
from minicnn.data.loader import BatchLoader
from minicnn.data.normalize import (DEFAULT_NORMALIZATION, normalization_settings, normalize,
                                    normalize_percentile)
from minicnn.data.pairs import Pair, read_pairs
from minicnn.data.patches import PatchSampler
from minicnn.data.sample import sample_nuclei
from minicnn.data.split import split_train_val
from minicnn.data.synthetic import synthetic_nuclei
from minicnn.data.tiff import read_image, write_image

__all__ = ["augment", "BatchLoader", "DataError", "DEFAULT_NORMALIZATION", "normalization_settings",
           "normalize", "normalize_percentile", "OverwriteError", "Pair", "PatchSampler",
           "read_image", "read_pairs", "sample_nuclei", "split_train_val", "synthetic_nuclei",
           "write_image"]
