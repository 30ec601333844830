"""Synthetic fluorescence images of nuclei with exact instance labels, for tests and tutorials.

Each image is built the way a microscope makes one:
  1. nuclei: ellipses of random size, shape and angle whose outline wobbles (a few random radial
     harmonics); some are placed against a neighbour so that they touch. Where two shapes overlap,
     a pixel goes to the nucleus it lies deeper inside (smaller distance relative to that
     nucleus's radius in that direction), so touching nuclei keep separate labels and a clean
     border between them;
  2. brightness: each nucleus has its own intensity and a little internal texture;
  3. optics: Gaussian blur (the point spread function);
  4. illumination: a smooth, low-frequency field that is brighter on one side;
  5. camera: Poisson shot noise on the photon counts, plus Gaussian read noise.
The labels are the truth before steps 3-5: exactly what a perfect annotator would draw.
"""
import math

import numpy as np
from scipy import ndimage

from minicnn.data.errors import DataError


def _nucleus_shape(rng):
    """(a, b, angle, harmonics): ellipse semi-axes in pixels, rotation and outline wobble."""
    a = rng.uniform(7.0, 13.0)
    b = a * rng.uniform(0.65, 1.0)
    harmonics = [(k, rng.uniform(0.0, 0.07), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5)]
    return a, b, rng.uniform(0, math.pi), harmonics


def _draw(score, labels, label, cy, cx, shape_params):
    """Paint nucleus `label` where its normalized radius beats what is already there."""
    a, b, angle, harmonics = shape_params
    reach = int(math.ceil(a * 1.35)) + 1                             # wobble adds at most 28 %
    size = score.shape[0]
    y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, size)
    x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, size)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]                                  # (h, w) pixel coordinates
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy, dx)
    phi = theta - angle                                              # angle in the ellipse frame
    ellipse_r = a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2)
    wobble = 1.0 + sum(amp * np.cos(k * theta + phase) for k, amp, phase in harmonics)
    rho = np.hypot(dy, dx) / (ellipse_r * wobble)                    # < 1 inside the outline
    window = score[y0:y1, x0:x1]
    wins = rho < np.minimum(window, 1.0)
    window[wins] = rho[wins]
    labels[y0:y1, x0:x1][wins] = label


def _far_enough(cy, cx, radius, centres, radii, partner):
    """True when (cy, cx) keeps clear of every nucleus but `partner` (which it may touch)."""
    for k, ((py, px), r) in enumerate(zip(centres, radii)):
        if math.hypot(cy - py, cx - px) < (0.7 if k == partner else 1.05) * (radius + r):
            return False
    return True


def _label_image(rng, size):
    """(H, W) uint16 instance labels 1..K with some touching nuclei."""
    n_target = max(2, int(rng.poisson(34 * (size / 256) ** 2)))
    score = np.full((size, size), np.inf)          # normalized radius of the owning nucleus
    labels = np.zeros((size, size), np.uint16)
    centres, radii = [], []
    for label in range(1, n_target + 1):
        shape_params = _nucleus_shape(rng)
        radius = shape_params[0]
        for _ in range(30):                          # rejection sampling of the centre
            partner = None
            if centres and rng.random() < 0.35:      # put it against a neighbour: they touch
                partner = int(rng.integers(len(centres)))
                direction = rng.uniform(0, 2 * math.pi)
                distance = (radii[partner] + radius) * rng.uniform(0.75, 0.9)
                cy = centres[partner][0] + distance * math.sin(direction)
                cx = centres[partner][1] + distance * math.cos(direction)
            else:
                cy, cx = rng.uniform(0, size, 2)
            inside = 0 <= cy < size and 0 <= cx < size
            if inside and _far_enough(cy, cx, radius, centres, radii, partner):
                break
        else:
            continue                                 # no room left for this one
        centres.append((cy, cx))
        radii.append(radius)
        _draw(score, labels, label, cy, cx, shape_params)
    # Relabel 1..K in order, dropping nuclei that were entirely covered or cut to a sliver.
    ids, counts = np.unique(labels, return_counts=True)
    keep = ids[(ids > 0) & (counts >= 20)]
    lookup = np.zeros(int(labels.max()) + 1, np.uint16)
    lookup[keep] = np.arange(1, len(keep) + 1)
    return lookup[labels]


def _render(rng, labels):
    """float32 camera image of the labelled nuclei."""
    size = labels.shape[0]
    n = int(labels.max())
    brightness = np.concatenate([[0.0], rng.uniform(0.45, 1.0, n)])  # per nucleus, 0 = background
    signal = brightness[labels]                                       # (H, W)
    texture = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0)
    signal *= 1.0 + 0.6 * texture                                     # chromatin texture
    signal = ndimage.gaussian_filter(signal, rng.uniform(1.0, 2.0))   # optics (PSF)
    yy, xx = np.mgrid[0:size, 0:size] / size                          # (H, W) in 0..1
    tilt = rng.uniform(-0.4, 0.4, 2)
    bump = 0.25 * np.cos(2 * math.pi * (yy * rng.uniform(0.3, 0.8) + rng.uniform()))
    illumination = 1.0 + tilt[0] * (yy - 0.5) + tilt[1] * (xx - 0.5) + bump   # smooth, ~0.5..1.5
    photons = rng.uniform(60, 200)                                    # photons at brightness 1
    expected = (signal + 0.08) * illumination * photons
    image = rng.poisson(np.maximum(expected, 0.0)) + rng.normal(0.0, 3.0, labels.shape)
    return image.astype(np.float32)


def synthetic_nuclei(n, size=256, seed=0):
    """(images (n, size, size) float32, labels (n, size, size) uint16 instance labels).

    Image i depends only on (seed, i): synthetic_nuclei(3)[0] is synthetic_nuclei(10)[0][:3].
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n (number of images) must be a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise DataError(f"size must be an integer >= 32 (nuclei are ~20 pixels wide), got {size!r}")
    images = np.empty((n, size, size), np.float32)
    labels = np.empty((n, size, size), np.uint16)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        labels[i] = _label_image(rng, size)
        images[i] = _render(rng, labels[i])
    return images, labels
