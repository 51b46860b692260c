"""CPU (numba) kernel of the joint bilateral filter; called through `deepcolor.kernels.joint_bilateral`."""

import numba
import numpy as np

from deepcolor.kernels.params import BILATERAL_CUTOFF_SIGMAS


@numba.njit(parallel=True, cache=True, nogil=True)
def joint_bilateral_rows(guide, source, dy, dx, space, inv_sigma, radius, out):  # pragma: no cover - compiled
    # guide (H + 2r, W + 2r) and source (C, H + 2r, W + 2r): reflect-101 padded, float32.
    # out (H, W, C). One output row per iteration; accumulators run along the row so every
    # inner loop is contiguous and vectorises; per pixel the taps add up in dy-major order.
    # The colour weight exp(z), z = -(dg / sigma)^2 / 2, is evaluated as 2^n * p(r),
    # z = n ln2 + r, |r| <= ln2 / 2, p the degree-7 Taylor polynomial (relative error
    # < 2e-7), with 2^n built from its exponent bits: numba has no vector exp.
    h, w, nc = out.shape
    nk = dy.shape[0]
    log2e = np.float32(1.4426950408889634)
    ln2_hi = np.float32(0.693359375)  # Cody-Waite split of ln 2: n * ln2_hi is exact
    ln2_lo = np.float32(-2.12194440e-4)
    zmin = np.float32(-0.5 * BILATERAL_CUTOFF_SIGMAS * BILATERAL_CUTOFF_SIGMAS)
    half = np.float32(0.5)
    for y in numba.prange(h):
        acc = np.zeros((nc, w), dtype=np.float32)
        wsum = np.zeros(w, dtype=np.float32)
        weight = np.empty(w, dtype=np.float32)
        poly = np.empty(w, dtype=np.float32)
        bits = np.empty(w, dtype=np.int32)
        scale = bits.view(np.float32)
        g0 = guide[y + radius][radius : radius + w]
        for k in range(nk):
            yy = y + radius + dy[k]
            xx = radius + dx[k]
            gq = guide[yy][xx : xx + w]
            for x in range(w):
                d = (g0[x] - gq[x]) * inv_sigma
                z = -half * d * d
                cut = z < zmin
                z = max(z, zmin)
                n = np.floor(z * log2e + half)
                r = (z - n * ln2_hi) - n * ln2_lo
                p = np.float32(1.0 / 5040.0)
                p = p * r + np.float32(1.0 / 720.0)
                p = p * r + np.float32(1.0 / 120.0)
                p = p * r + np.float32(1.0 / 24.0)
                p = p * r + np.float32(1.0 / 6.0)
                p = p * r + half
                p = p * r + np.float32(1.0)
                p = p * r + np.float32(1.0)
                poly[x] = np.float32(0.0) if cut else p
                bits[x] = (np.int32(n) + np.int32(127)) << np.int32(23)
            sk = space[k]
            for x in range(w):
                wt = sk * (poly[x] * scale[x])
                weight[x] = wt
                wsum[x] += wt
            for c in range(nc):
                sq = source[c, yy][xx : xx + w]
                ac = acc[c]
                for x in range(w):
                    ac[x] += weight[x] * sq[x]
        for x in range(w):
            inv = np.float32(1.0) / wsum[x]
            for c in range(nc):
                out[y, x, c] = acc[c, x] * inv
