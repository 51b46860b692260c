"""Dense DAISY: a 32-d gradient-orientation descriptor at every pixel.

The configuration is fixed (step 1, radius 7, one ring of three histograms,
eight orientations, L1 normalisation) and the result is, to float32 rounding,

    skimage.feature.daisy(np.pad(luma, 7, mode="reflect"), step=1, radius=7,
                          rings=1, histograms=3, orientations=8)

which ``tests/test_daisy.py`` checks. The numba kernel gets its speed from
facts about that configuration: with one ring the centre and the ring share
sigma = 3.5, so each orientation plane is smoothed once, not twice; the
Gaussian is separable and symmetric (15 multiplies for 29 taps); and
``cos(theta - a)`` is a dot product of the gradient with a unit vector, so
there is no ``arctan2``/``cos`` per pixel, and the opposite orientation's
weight is the reciprocal of the first's. Work is split into bands of output
rows, one parallel region in all: each band computes the histogram rows it
needs (with a 20-row halo each side), smooths them and assembles its
descriptors in per-thread scratch, so no full-image intermediate is stored.
"""

from __future__ import annotations

import math

import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma

__all__ = [
    "DAISY_RADIUS",
    "DAISY_SIGMA",
    "DAISY_ORIENTATIONS",
    "DAISY_HISTOGRAMS",
    "DAISY_DIM",
    "DAISY_RING_OFFSETS",
    "daisy_features",
]

DAISY_RADIUS = 7
DAISY_HISTOGRAMS = 3
DAISY_ORIENTATIONS = 8
DAISY_DIM = DAISY_ORIENTATIONS * (1 + DAISY_HISTOGRAMS)
# skimage: sigma = radius / (2 * rings), the same for the centre and the single ring.
DAISY_SIGMA = DAISY_RADIUS / 2.0
# scipy.ndimage.gaussian_filter's default truncate (what skimage.filters.gaussian passes).
_TRUNCATE = 4.0
_GAUSS_RADIUS = int(_TRUNCATE * DAISY_SIGMA + 0.5)

# (dy, dx) of the ring histograms at 0, 120, 240 degrees, rounded exactly as skimage does
# it: in floating point 7 cos(120 deg) = -3.4999... -> -3 but 7 cos(240 deg) = -3.5000...03 -> -4,
# so the ring is not mirror-symmetric: (0, 7), (6, -3), (-6, -4).
DAISY_RING_OFFSETS = np.array(
    [
        (
            int(round(DAISY_RADIUS * math.sin(2 * math.pi * j / DAISY_HISTOGRAMS))),
            int(round(DAISY_RADIUS * math.cos(2 * math.pi * j / DAISY_HISTOGRAMS))),
        )
        for j in range(DAISY_HISTOGRAMS)
    ],
    dtype=np.int64,
)


def _gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    """Normalised taps ``w[0..radius]`` (centre first) of scipy.ndimage's Gaussian kernel."""
    x = np.arange(radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / sigma**2 * x**2)
    return (phi / (2.0 * phi.sum() - phi[0])).astype(np.float32)


_TAPS = _gaussian_taps(DAISY_SIGMA, _GAUSS_RADIUS)
# Orientation bin centres a_o = 2 pi o / 8 - pi; bins o and o + 4 point in opposite directions.
_ANGLES = 2.0 * np.pi * np.arange(DAISY_ORIENTATIONS) / DAISY_ORIENTATIONS - np.pi
_COS = np.cos(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
_SIN = np.sin(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
_KAPPA = np.float32(DAISY_ORIENTATIONS / np.pi)


def daisy_features(luma: np.ndarray) -> np.ndarray:
    """Dense DAISY descriptor of every pixel.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1], any float dtype (computed in float32). Any size >= 1x1:
        the image is padded by 7 pixels with numpy's ``reflect`` mode
        (``d c b | a b c d``), which numpy repeats for images narrower than
        the pad, so even a 1x1 image has a (constant) descriptor.

    Returns
    -------
    descriptors : ndarray, shape (H, W, 32), float32
        Non-negative, each descriptor sums to 1 (L1). ``[..., 0:8]`` is the
        centre histogram, ``[..., 8:16]``, ``[..., 16:24]`` and
        ``[..., 24:32]`` the ring histograms at 0, 120 and 240 degrees
        (offsets ``(dy, dx)`` = (0, 7), (6, -3), (-6, -4)), each over the
        orientations ``2 pi o / 8 - pi``, o = 0..7. This is exactly
        skimage's layout: the result equals, to about 1e-6,
        ``skimage.feature.daisy(np.pad(luma, 7, mode="reflect"), step=1,
        radius=7, rings=1, histograms=3, orientations=8)``
        (normalization ``'l1'``, sigma 3.5 for centre and ring, Gaussian
        truncated at 4 sigma with scipy.ndimage ``reflect`` borders). A flat
        region has no gradient and gets the uniform descriptor 1/32.

    Raises
    ------
    ValueError
        If ``luma`` is not a non-empty 2-D float array of finite values.
    """
    luma = check_luma(luma)
    h, w = luma.shape
    padded = np.ascontiguousarray(np.pad(luma.astype(np.float32, copy=False), DAISY_RADIUS, mode="reflect"))
    out = kernels.dense_daisy(
        padded, h, w, taps=_TAPS, cos=_COS, sin=_SIN, kappa=_KAPPA, ring_offsets=DAISY_RING_OFFSETS, margin=DAISY_RADIUS
    )
    return out.reshape(h, w, DAISY_DIM)
