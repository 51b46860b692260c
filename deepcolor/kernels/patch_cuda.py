"""CUDA twin of the 7x7 gray-patch feature (`deepcolor.features.patch.patch_features`).

One thread per pixel copies its 49 neighbours, reading through reflect-101
folding instead of a padded copy. A copy involves no arithmetic, so the
result equals the CPU kernel's exactly: ``PARITY_ATOL = 0`` (checked under
numba's CUDA simulator in ``tests/test_kernels_cuda.py``).
"""

from __future__ import annotations

from numba import cuda

from deepcolor.kernels.cuda_borders import reflect101
from deepcolor.kernels.cuda_host import array_module, check_float_array, grid_blocks, pixel_grid
from deepcolor.kernels.params import PATCH_DIM, PATCH_SIZE

__all__ = ["PARITY_ATOL", "patch_kernel", "gather_kernel", "patch_features_cuda", "gather_patches"]

PARITY_ATOL = 0.0
_THREADS = 128


@cuda.jit
def gather_kernel(padded, width, flat_index, size, out, col0):  # pragma: no cover - device code
    """out[n, col0 + size*dy + dx] = padded[y + dy, x + dx] for pixel n = flat_index[n] = y * width + x.

    The CPU kernel's contract (`deepcolor.kernels.patch_cpu.gather_patches`):
    padded (H + size - 1, W + size - 1) float32, flat_index (N,) int64,
    out (N, >= col0 + size*size) float32. One thread per pixel.
    """
    n = cuda.grid(1)
    if n >= flat_index.shape[0]:
        return
    y = flat_index[n] // width
    x = flat_index[n] - y * width
    k = col0
    for dy in range(size):
        for dx in range(size):
            out[n, k] = padded[y + dy, x + dx]
            k += 1


@cuda.jit
def patch_kernel(luma, size, out):  # pragma: no cover - device code
    """out[y, x, size*dy + dx] = luma[fold(y + dy - size//2), fold(x + dx - size//2)].

    luma (H, W) float32; out (H, W, size*size) float32, made by the caller.
    """
    h, w = luma.shape
    x, y = cuda.grid(2)
    if y >= h or x >= w:
        return
    half = size // 2
    k = 0
    for dy in range(size):
        yy = reflect101(y + dy - half, h)
        for dx in range(size):
            out[y, x, k] = luma[yy, reflect101(x + dx - half, w)]
            k += 1


def patch_features_cuda(luma):
    """Dense 7x7 patch feature of every pixel, on the GPU.

    Parameters
    ----------
    luma : cupy.ndarray (or numpy.ndarray under the simulator), shape (H, W), float
        Luma in [0, 1]; computed in float32.

    Returns
    -------
    patches : array of the input's module, shape (H, W, 49), float32
        ``patches[y, x, 7 * dy + dx] = luma[y + dy - 3, x + dx - 3]`` with
        reflect-101 borders (numpy ``reflect``), as the CPU function.

    Raises
    ------
    ValueError
        If ``luma`` is not a non-empty, finite 2-D float array.
    """
    xp, luma = check_float_array(luma, "luma", (2,))
    h, w = luma.shape
    out = xp.empty((h, w, PATCH_DIM), dtype=xp.float32)
    patch_kernel[pixel_grid(h, w)](luma, PATCH_SIZE, out)
    return out


def gather_patches(padded, width, flat_index, size, out, col0):
    """The seam's contract (`deepcolor.kernels.gather_patches`, ``backend="cuda"``) on device arrays."""
    xp = array_module(out)
    n = flat_index.shape[0]
    if n:
        gather_kernel[grid_blocks(n, _THREADS), _THREADS](padded, int(width), xp.asarray(flat_index), int(size), out, int(col0))
