"""Per-image percentile normalization: the `low`-th percentile maps to 0, the `high`-th to 1.

Microscopes give images of very different brightness (8-bit, 16-bit, other exposure times);
a network trained on one range fails on another. Mapping robust percentiles to 0..1 makes every
image look alike to the network, and a few outlier pixels (hot pixels, saturated spots) do not
squash the range the way min/max would.

    out = (image - p_low) / (p_high - p_low)        p_q = q-th percentile over (H, W)

Values are not clipped by default (like csbdeep's `normalize`): pixels brighter than the high
percentile stay above 1, so bright objects remain distinguishable. A (C, H, W) image is
normalized channel by channel. The settings are a small dict that a model file stores, so that
prediction normalizes new images exactly as training did: `normalize(image, settings)`.
"""
import numpy as np

from minicnn.data.errors import DataError

DEFAULT_NORMALIZATION = {"method": "percentile", "low": 1.0, "high": 99.8, "clip": False}


def normalization_settings(low=1.0, high=99.8, clip=False):
    """The dict describing a percentile normalization (stored in model files)."""
    if not 0.0 <= low < high <= 100.0:
        raise DataError(f"percentiles must satisfy 0 <= low < high <= 100, got low={low}, "
                        f"high={high}; the usual choice is low=1.0, high=99.8")
    return {"method": "percentile", "low": float(low), "high": float(high), "clip": bool(clip)}


def normalize_percentile(image, low=1.0, high=99.8, clip=False):
    """float32 image with the low/high percentiles of each (H, W) plane mapped to 0/1."""
    normalization_settings(low, high, clip)  # validates the arguments
    image = np.asarray(image)
    # float64 pixels stay float64 until scaled: values beyond float32's range would become inf
    image = image.astype(np.float64 if image.dtype == np.float64 else np.float32, copy=False)
    if image.ndim < 2:
        raise DataError(f"expected an image (H, W) or (C, H, W), got shape {image.shape}")
    p_low, p_high = np.percentile(image, [low, high], axis=(-2, -1), keepdims=True)  # (..., 1, 1)
    scale = np.maximum(p_high - p_low, 1e-20)   # a constant image becomes all zeros
    with np.errstate(over="ignore"):            # checked just below, with the range in the message
        out = ((image - p_low) / scale).astype(np.float32)
    if not np.isfinite(out).all():
        raise DataError(f"normalized pixels overflow float32 (the image spans {image.min():.3g} "
                        f"to {image.max():.3g} around percentiles {p_low.min():.3g}..."
                        f"{p_high.max():.3g}); clip the image's outliers and save it again")
    return np.clip(out, 0.0, 1.0) if clip else out


def normalize(image, settings=None):
    """Apply stored settings (a dict from `normalization_settings`; default 1..99.8 percentiles)."""
    settings = dict(DEFAULT_NORMALIZATION if settings is None else settings)
    method = settings.pop("method", None)
    if method != "percentile":
        raise DataError(f"unknown normalization method {method!r}; expected 'percentile' "
                        f"(settings dict like {DEFAULT_NORMALIZATION})")
    unknown = settings.keys() - {"low", "high", "clip"}
    if unknown:
        raise DataError(f"unknown normalization settings {sorted(unknown)}; expected the keys "
                        f"of {DEFAULT_NORMALIZATION}")
    return normalize_percentile(image, **settings)
