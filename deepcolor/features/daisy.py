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

import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.kernels.arrays import array_module
from deepcolor.kernels.params import (
    DAISY_COS,
    DAISY_DIM,
    DAISY_HISTOGRAMS,
    DAISY_KAPPA,
    DAISY_ORIENTATIONS,
    DAISY_RADIUS,
    DAISY_RING_OFFSETS,
    DAISY_SIGMA,
    DAISY_SIN,
    DAISY_TAPS,
)

__all__ = [
    "DAISY_RADIUS",
    "DAISY_SIGMA",
    "DAISY_ORIENTATIONS",
    "DAISY_HISTOGRAMS",
    "DAISY_DIM",
    "DAISY_RING_OFFSETS",
    "daisy_features",
]

def daisy_features(luma: np.ndarray, *, backend: str = "cpu") -> np.ndarray:
    """Dense DAISY descriptor of every pixel.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1], any float dtype (computed in float32). Any size >= 1x1:
        the image is padded by 7 pixels with numpy's ``reflect`` mode
        (``d c b | a b c d``), which numpy repeats for images narrower than
        the pad, so even a 1x1 image has a (constant) descriptor. A CuPy
        luma (``backend="cuda"``) is computed on its device.
    backend : {"cpu", "cuda"}, keyword-only
        Which twin of the kernel runs (`deepcolor.kernels.dense_daisy`); the
        CUDA twin matches the CPU's within 1e-6.

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
    xp = array_module(luma)
    h, w = luma.shape
    padded = xp.ascontiguousarray(xp.pad(luma, DAISY_RADIUS, mode="reflect"))
    out = kernels.dense_daisy(
        padded, h, w, taps=DAISY_TAPS, cos=DAISY_COS, sin=DAISY_SIN, kappa=DAISY_KAPPA, ring_offsets=DAISY_RING_OFFSETS,
        margin=DAISY_RADIUS, backend=backend,
    )
    return out.reshape(h, w, DAISY_DIM)
