"""CPU (numba) kernels of dense DAISY; called through `deepcolor.kernels.dense_daisy`."""

import math

import numba
import numpy as np

# Output rows per parallel band, at most: each band recomputes the 40 halo rows its
# ring (+-6) and Gaussian (+-14) reach into, so larger bands waste less; 256 rows keep
# a band's scratch (about 300 rows x Wp x 32 bytes) moderate on large images.
_MAX_BAND = 256


def _reflect_index(n: int, radius: int) -> np.ndarray:
    """Source index of positions ``-radius .. n + radius - 1`` under scipy.ndimage 'reflect' (``c b a | a b c``)."""
    i = np.arange(-radius, n + radius) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i).astype(np.int64)


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


def dense_daisy(padded, h, w, taps, cos_a, sin_a, kappa, ring_offsets, margin, out):
    """Fill ``out`` (h, w * 32) with the descriptors of the reflect-padded luma ``padded``."""
    hp, wp = padded.shape
    gauss_radius = taps.shape[0] - 1
    orientations = 2 * cos_a.shape[0]
    # Bands: one per thread, or more of at most _MAX_BAND rows on tall images.
    nband = max(numba.get_num_threads(), -(-h // _MAX_BAND))
    band = -(-h // nband)
    reach = int(ring_offsets[:, 0].max() - min(0, ring_offsets[:, 0].min()))
    # Per-thread scratch for every thread numba may use (untouched pages cost nothing).
    # Rows hold the 8 orientations interleaved per pixel, Wp * 8 wide, so passes run on contiguous rows.
    threads = numba.config.NUMBA_NUM_THREADS
    nrows = min(hp, band + reach + 2 * gauss_radius) + band + reach
    scratch = np.empty((threads, nrows, wp * orientations), dtype=np.float32)
    ext = np.empty((threads, (wp + 2 * gauss_radius) * orientations), dtype=np.float32)
    work = np.empty((threads, 3, wp), dtype=np.float32)
    _daisy_bands(
        padded,
        _reflect_index(wp, gauss_radius),
        _reflect_index(hp, gauss_radius),
        taps,
        cos_a,
        sin_a,
        kappa,
        ring_offsets,
        margin,
        band,
        scratch,
        ext,
        work,
        out,
    )
