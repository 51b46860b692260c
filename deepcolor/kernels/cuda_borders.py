"""Border folding shared by the CUDA kernels: device functions mapping an index outside ``[0, n)`` inside.

Kernels read through these instead of padded copies, so no padded image is
allocated on the device. Both repeat the reflection as often as needed, so
windows wider than the image (tiny images) read what numpy's ``np.pad``
would have put there.
"""

from __future__ import annotations

from numba import cuda

__all__ = ["reflect101", "reflect_edge"]


@cuda.jit(device=True)
def reflect101(i, n):  # pragma: no cover - device code
    """Reflect-101 (``c b | a b c``: OpenCV's BORDER_DEFAULT, numpy's ``reflect``)."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period  # Python-style modulo in numba.cuda: non-negative for period > 0
    return i if i < n else period - i


@cuda.jit(device=True)
def reflect_edge(i, n):  # pragma: no cover - device code
    """Half-sample reflection (``b a | a b``: scipy.ndimage's ``reflect``, numpy's ``symmetric``)."""
    period = 2 * n
    i = i % period
    return i if i < n else period - 1 - i
