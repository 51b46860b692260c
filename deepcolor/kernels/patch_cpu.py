"""CPU (numba) kernel of the gray-patch feature; called through `deepcolor.kernels.gather_patches`."""

import numba


@numba.njit(parallel=True, cache=True, nogil=True)
def gather_patches(padded, width, flat_index, size, out, col0):  # pragma: no cover - compiled
    # out[n, col0 + dy*size + dx] = padded[y + dy, x + dx]: each n is one pixel, no shared writes.
    for n in numba.prange(flat_index.shape[0]):
        y = flat_index[n] // width
        x = flat_index[n] - y * width
        k = col0
        for dy in range(size):
            for dx in range(size):
                out[n, k] = padded[y + dy, x + dx]
                k += 1
