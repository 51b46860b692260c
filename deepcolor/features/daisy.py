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
# Output rows per parallel band, at most: each band recomputes the 40 halo rows its
# ring (+-6) and Gaussian (+-14) reach into, so larger bands waste less; 256 rows keep
# a band's scratch (about 300 rows x Wp x 32 bytes) moderate on large images.
_MAX_BAND = 256


@numba.njit(cache=True, nogil=True)
def _hist_row(padded, y, cols, taps, cos_a, sin_a, kappa, work, ext, dst):  # pragma: no cover - compiled
    # dst[x * 8 + o]: horizontal Gaussian of the orientation-weighted gradient magnitude of padded row y.
    # Inner loops run over 1-D row views with non-negative indices so LLVM vectorises them.
    # work (3, Wp) and ext ((Wp + 2r) * 8) are the caller's scratch.
    hp, wp = padded.shape
    nhalf = cos_a.shape[0]
    no = 2 * nhalf
    r = taps.shape[0] - 1
    n = wp * no
    gx = work[0]
    gy = work[1]
    mag = work[2]
    row = padded[y]
    # Forward differences, zero in the last column/row (skimage's np.diff into zeros).
    right = row[1:]
    for x in range(wp - 1):
        gx[x] = right[x] - row[x]
    gx[wp - 1] = 0.0
    if y + 1 < hp:
        below = padded[y + 1]
        for x in range(wp):
            gy[x] = below[x] - row[x]
    else:
        for x in range(wp):
            gy[x] = 0.0
    for x in range(wp):
        mag[x] = math.sqrt(gx[x] * gx[x] + gy[x] * gy[x])
    hist = ext[r * no : r * no + n]
    for x in range(wp):
        m = mag[x]
        if m == 0.0:
            for o in range(no):
                hist[x * no + o] = 0.0
        else:
            s = kappa / m
            for o in range(nhalf):
                # cos(theta - a_o) = (g . (cos a_o, sin a_o)) / |g|; bin o + 4 has the opposite sign.
                e = np.float32(math.exp((gx[x] * cos_a[o] + gy[x] * sin_a[o]) * s))
                hist[x * no + o] = e * m
                hist[x * no + o + nhalf] = m / e
    # Border columns of the extended row, copied from their reflected sources.
    for i in range(r):
        for o in range(no):
            ext[i * no + o] = hist[cols[i] * no + o]
            ext[(wp + r + i) * no + o] = hist[cols[wp + r + i] * no + o]
    t0 = taps[0]
    for j in range(n):
        dst[j] = t0 * hist[j]
    for k in range(1, r + 1):
        t = taps[k]
        a = ext[(r - k) * no : (r - k) * no + n]
        b = ext[(r + k) * no : (r + k) * no + n]
        for j in range(n):
            dst[j] += t * (a[j] + b[j])


@numba.njit(cache=True, nogil=True)
def _smooth_rows(hist, rows, lo, taps, start, out):  # pragma: no cover - compiled
    # out[i] = vertical Gaussian around padded row start + i; rows maps positions -r.. to
    # padded rows, which hist holds from padded row lo on.
    n = hist.shape[1]
    r = taps.shape[0] - 1
    t0 = taps[0]
    for i in range(out.shape[0]):
        y = start + i
        dst = out[i]
        c = hist[rows[y + r] - lo]
        for j in range(n):
            dst[j] = t0 * c[j]
        for k in range(1, r + 1):
            a = hist[rows[y + r - k] - lo]
            b = hist[rows[y + r + k] - lo]
            t = taps[k]
            for j in range(n):
                dst[j] += t * (a[j] + b[j])


@numba.njit(cache=True, nogil=True)
def _assemble_row(centre, ring0, ring1, ring2, no, dst):  # pragma: no cover - compiled
    # dst[x * 32 + i]: L1-normalised [centre, ring 0, ring 1, ring 2] histograms of output pixel x.
    dim = 4 * no
    w = dst.shape[0] // dim
    eps = np.float32(1e-10)
    part = np.empty(no, dtype=np.float32)
    for x in range(w):
        base = x * dim
        src = x * no
        for o in range(no):
            v0 = centre[src + o] + eps
            v1 = ring0[src + o] + eps
            v2 = ring1[src + o] + eps
            v3 = ring2[src + o] + eps
            dst[base + o] = v0
            dst[base + no + o] = v1
            dst[base + 2 * no + o] = v2
            dst[base + 3 * no + o] = v3
            # Per-orientation partial sums: a 32-long serial sum would stall on add latency.
            part[o] = (v0 + v1) + (v2 + v3)
        total = np.float32(0.0)
        for o in range(no):
            total += part[o]
        inv = np.float32(1.0) / total
        for i in range(dim):
            dst[base + i] *= inv


@numba.njit(parallel=True, cache=True, nogil=True)
def _daisy_bands(  # pragma: no cover - compiled
    padded, cols, rows, taps, cos_a, sin_a, kappa, offsets, margin, band, scratch, ext, work, out
):
    # One parallel region over bands of output rows. A band computes the orientation
    # histograms of the padded rows it reads (its rows, the ring's vertical reach and the
    # Gaussian's support, reflected at the border), smooths them vertically, and assembles
    # its descriptors; bands share nothing but read-only input. Per thread (numba's thread
    # id), scratch holds the band's histogram then smoothed rows, ext and work one row's
    # temporaries: allocated once by the caller, since per-band allocations would be fresh
    # mmaps paying page faults every time.
    h, n = out.shape
    hp, wp = padded.shape
    no = 2 * cos_a.shape[0]
    r = taps.shape[0] - 1
    dy_lo = min(0, offsets[:, 0].min())
    dy_hi = max(0, offsets[:, 0].max())
    nband = (h + band - 1) // band
    for b in numba.prange(nband):
        y0 = b * band
        y1 = min(h, y0 + band)
        first = y0 + margin + dy_lo  # first smoothed padded row
        nsm = y1 - y0 + dy_hi - dy_lo
        # Padded rows under the Gaussian of smoothed rows first .. first + nsm - 1.
        lo = hp
        hi = 0
        for i in range(first, first + nsm + 2 * r):
            lo = min(lo, rows[i])
            hi = max(hi, rows[i] + 1)
        tid = numba.get_thread_id()
        hist = scratch[tid][: hi - lo]
        smooth = scratch[tid][hi - lo : hi - lo + nsm]
        for i in range(hi - lo):
            _hist_row(padded, lo + i, cols, taps, cos_a, sin_a, kappa, work[tid], ext[tid], hist[i])
        _smooth_rows(hist, rows, lo, taps, first, smooth)
        for y in range(y0, y1):
            s = y - y0 - dy_lo
            _assemble_row(
                smooth[s][margin * no :],
                smooth[s + offsets[0, 0]][(margin + offsets[0, 1]) * no :],
                smooth[s + offsets[1, 0]][(margin + offsets[1, 1]) * no :],
                smooth[s + offsets[2, 0]][(margin + offsets[2, 1]) * no :],
                no,
                out[y],
            )


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
    # Bands: one per thread, or more of at most _MAX_BAND rows on tall images.
    nband = max(numba.get_num_threads(), -(-h // _MAX_BAND))
    band = -(-h // nband)
    reach = int(DAISY_RING_OFFSETS[:, 0].max() - min(0, DAISY_RING_OFFSETS[:, 0].min()))
    # Per-thread scratch for every thread numba may use (untouched pages cost nothing).
    # Rows hold the 8 orientations interleaved per pixel, Wp * 8 wide, so passes run on contiguous rows.
    threads = numba.config.NUMBA_NUM_THREADS
    nrows = min(hp, band + reach + 2 * _GAUSS_RADIUS) + band + reach
    scratch = np.empty((threads, nrows, wp * DAISY_ORIENTATIONS), dtype=np.float32)
    ext = np.empty((threads, (wp + 2 * _GAUSS_RADIUS) * DAISY_ORIENTATIONS), dtype=np.float32)
    work = np.empty((threads, 3, wp), dtype=np.float32)
    out = np.empty((h, w * DAISY_DIM), dtype=np.float32)
    _daisy_bands(
        padded,
        _reflect_index(wp, _GAUSS_RADIUS),
        _reflect_index(hp, _GAUSS_RADIUS),
        _TAPS,
        _COS,
        _SIN,
        _KAPPA,
        DAISY_RING_OFFSETS,
        DAISY_RADIUS,
        band,
        scratch,
        ext,
        work,
        out,
    )
    return out.reshape(h, w, DAISY_DIM)
