"""Dense DAISY: a 32-d gradient-orientation descriptor at every pixel.

The configuration is fixed (step 1, radius 7, one ring of three histograms,
eight orientations, L1 normalisation) and the result is, to float32 rounding,

    skimage.feature.daisy(np.pad(luma, 7, mode="reflect"), step=1, radius=7,
                          rings=1, histograms=3, orientations=8)

which ``tests/test_daisy.py`` checks. The numba kernels get their speed from
three facts about that configuration: with one ring the centre and the ring
share sigma = 3.5, so each orientation plane is smoothed once, not twice; the
Gaussian is separable and symmetric; and ``cos(theta - a)`` is a dot product of
the gradient with a unit vector, so no ``arctan2``/``cos`` per pixel, and the
opposite orientation's weight is the reciprocal of the first's.
"""

from __future__ import annotations

import math

import numba
import numpy as np

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

# (dy, dx) of the ring histograms at 0, 120, 240 degrees, rounded exactly as skimage
# does it (Python's round, half to even: 7 cos(120 deg) = -3.4999... -> -3, 7 cos(240 deg) -> -4).
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


def _reflect_index(n: int, radius: int) -> np.ndarray:
    """Source index of positions ``-radius .. n + radius - 1`` under scipy.ndimage 'reflect' (``c b a | a b c``)."""
    i = np.arange(-radius, n + radius) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i).astype(np.int64)


_TAPS = _gaussian_taps(DAISY_SIGMA, _GAUSS_RADIUS)
# Orientation bin centres a_o = 2 pi o / 8 - pi; bins o and o + 4 point in opposite directions.
_ANGLES = 2.0 * np.pi * np.arange(DAISY_ORIENTATIONS) / DAISY_ORIENTATIONS - np.pi
_COS = np.cos(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
_SIN = np.sin(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
_KAPPA = np.float32(DAISY_ORIENTATIONS / np.pi)


@numba.njit(parallel=True, cache=True, nogil=True)
def _hist_rows(padded, cols, taps, cos_a, sin_a, kappa, out):  # pragma: no cover - compiled
    # out[y, x, o] = horizontal Gaussian of the orientation-weighted gradient magnitude of row y.
    hp, wp = padded.shape
    nhalf = cos_a.shape[0]
    norient = 2 * nhalf
    r = taps.shape[0] - 1
    for y in numba.prange(hp):
        hist = np.empty((wp, norient), dtype=np.float32)
        for x in range(wp):
            # Forward differences, zero in the last column/row (skimage's np.diff into zeros).
            gx = np.float32(0.0)
            gy = np.float32(0.0)
            if x + 1 < wp:
                gx = padded[y, x + 1] - padded[y, x]
            if y + 1 < hp:
                gy = padded[y + 1, x] - padded[y, x]
            mag = np.float32(math.sqrt(gx * gx + gy * gy))
            if mag == 0.0:
                for o in range(norient):
                    hist[x, o] = 0.0
            else:
                inv = np.float32(1.0) / mag
                for o in range(nhalf):
                    # cos(theta - a_o) = (g . (cos a_o, sin a_o)) / |g|; bin o + 4 has the opposite sign.
                    e = np.float32(math.exp(kappa * (gx * cos_a[o] + gy * sin_a[o]) * inv))
                    hist[x, o] = e * mag
                    hist[x, o + nhalf] = mag / e
        for x in range(wp):
            c = cols[x + r]
            for o in range(norient):
                out[y, x, o] = taps[0] * hist[c, o]
            for k in range(1, r + 1):
                a = cols[x + r - k]
                b = cols[x + r + k]
                t = taps[k]
                for o in range(norient):
                    out[y, x, o] += t * (hist[a, o] + hist[b, o])


@numba.njit(parallel=True, cache=True, nogil=True)
def _smooth_columns(tmp, rows, taps, out):  # pragma: no cover - compiled
    # out[y] = vertical Gaussian of tmp around row y; rows maps padded row positions to rows of tmp.
    hp, wp, norient = tmp.shape
    r = taps.shape[0] - 1
    for y in numba.prange(hp):
        c = rows[y + r]
        for x in range(wp):
            for o in range(norient):
                out[y, x, o] = taps[0] * tmp[c, x, o]
        for k in range(1, r + 1):
            a = rows[y + r - k]
            b = rows[y + r + k]
            t = taps[k]
            for x in range(wp):
                for o in range(norient):
                    out[y, x, o] += t * (tmp[a, x, o] + tmp[b, x, o])


@numba.njit(parallel=True, cache=True, nogil=True)
def _assemble(smooth, offsets, margin, out):  # pragma: no cover - compiled
    # out[y, x] = L1-normalised [centre, ring 0, ring 1, ring 2] histograms around padded (y + m, x + m).
    h, w, dim = out.shape
    norient = smooth.shape[2]
    nring = offsets.shape[0]
    eps = np.float32(1e-10)
    for y in numba.prange(h):
        for x in range(w):
            total = np.float32(0.0)
            for o in range(norient):
                v = smooth[y + margin, x + margin, o] + eps
                out[y, x, o] = v
                total += v
            for j in range(nring):
                yy = y + margin + offsets[j, 0]
                xx = x + margin + offsets[j, 1]
                base = norient * (j + 1)
                for o in range(norient):
                    v = smooth[yy, xx, o] + eps
                    out[y, x, base + o] = v
                    total += v
            inv = np.float32(1.0) / total
            for d in range(dim):
                out[y, x, d] *= inv


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
    luma = np.asarray(luma)
    if luma.ndim != 2 or luma.size == 0:
        raise ValueError(f"luma must be a non-empty (H, W) array, got shape {luma.shape}")
    if not np.issubdtype(luma.dtype, np.floating):
        raise ValueError(f"luma must be a float array in [0, 1], got dtype {luma.dtype}")
    if not np.all(np.isfinite(luma)):
        raise ValueError("luma must be finite, got NaN or inf values")
    h, w = luma.shape
    padded = np.ascontiguousarray(np.pad(luma.astype(np.float32, copy=False), DAISY_RADIUS, mode="reflect"))
    hp, wp = padded.shape
    tmp = np.empty((hp, wp, DAISY_ORIENTATIONS), dtype=np.float32)
    _hist_rows(padded, _reflect_index(wp, _GAUSS_RADIUS), _TAPS, _COS, _SIN, _KAPPA, tmp)
    smooth = np.empty_like(tmp)
    _smooth_columns(tmp, _reflect_index(hp, _GAUSS_RADIUS), _TAPS, smooth)
    out = np.empty((h, w, DAISY_DIM), dtype=np.float32)
    _assemble(smooth, DAISY_RING_OFFSETS, DAISY_RADIUS, out)
    return out
