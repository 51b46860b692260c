"""CPU (numba) kernel of the FCN's upsampling merge; called through `deepcolor.kernels.merge_normalize`."""

import numba


@numba.njit(parallel=True, cache=True, nogil=True)
def merge_normalize(g0, g1, g2, out):  # pragma: no cover - compiled
    """out[i] = clip(concat(g0[i], g1[i], g2[i]), 0) / sum; uniform where the sum vanishes.

    g0, g1, g2 : (N, c_k) float32 C-contiguous; out : (N, c0 + c1 + c2) float32.
    """
    n = out.shape[0]
    c0, c1, c2 = g0.shape[1], g1.shape[1], g2.shape[1]
    c = c0 + c1 + c2
    for i in numba.prange(n):
        total = 0.0
        for k in range(c0):
            v = max(g0[i, k], 0.0)
            out[i, k] = v
            total += v
        for k in range(c1):
            v = max(g1[i, k], 0.0)
            out[i, c0 + k] = v
            total += v
        for k in range(c2):
            v = max(g2[i, k], 0.0)
            out[i, c0 + c1 + k] = v
            total += v
        if total > 1e-12:
            inv = 1.0 / total
            for k in range(c):
                out[i, k] *= inv
        else:
            for k in range(c):
                out[i, k] = 1.0 / c
