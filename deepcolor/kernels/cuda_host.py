"""Host-side helpers of the CUDA kernels: which array module, input checks, launch geometry.

Imports only numpy: CuPy is imported only when handed a CuPy array, so the
host functions run on numpy arrays under numba's CUDA simulator where CuPy is
not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepcolor.kernels.arrays import array_module  # the kernels' own import of it

__all__ = ["array_module", "check_float_array", "check_source_guide", "grid_blocks", "pixel_grid", "PIXEL_BLOCK"]

# (x, y) threads per block for per-pixel kernels: 32 along x so a warp reads one row segment.
PIXEL_BLOCK = (32, 4)


def check_float_array(array: Any, name: str, ndims: tuple[int, ...]):
    """Validate a CuPy or numpy float array; return ``(xp, float32 C-contiguous array)``.

    Raises
    ------
    ValueError
        If ``array`` is not a non-empty float array with ``ndim`` in ``ndims``
        and only finite values (one device-to-host sync for that check).
    """
    xp = array_module(array)
    array = xp.asarray(array)
    if array.ndim not in ndims or array.size == 0:
        raise ValueError(f"{name} must be a non-empty array with {' or '.join(map(str, ndims))} dims, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got dtype {array.dtype}")
    if not bool(xp.isfinite(array).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    return xp, xp.ascontiguousarray(array, dtype=xp.float32)


def check_source_guide(source: Any, guide: Any):
    """Validate a (H, W[, C]) source and its (H, W) guide.

    Returns ``(xp, planes, guide, was_2d)``: float32 C-contiguous planes
    (H, W, C) (C = 1 for a 2-D source) and guide (H, W), and whether the
    source was 2-D, so the caller can return the source's shape.

    Raises
    ------
    ValueError
        As `check_float_array`, or when the source's (H, W) is not the guide's.
    """
    xp, source = check_float_array(source, "source", (2, 3))
    _, guide = check_float_array(guide, "guide", (2,))
    if source.shape[:2] != guide.shape:
        h, w = guide.shape
        raise ValueError(f"source must have shape ({h}, {w}) or ({h}, {w}, C) to match the guide, got {source.shape}")
    planes = source[..., None] if source.ndim == 2 else source
    return xp, xp.ascontiguousarray(planes), guide, source.ndim == 2


def grid_blocks(n: int, threads: int) -> int:
    """Blocks of ``threads`` threads that cover ``n`` work items (at least 1)."""
    return max(1, -(-int(n) // int(threads)))


def pixel_grid(h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(blocks, threads)`` of a 2-D launch with one thread per pixel of an (h, w) grid; x runs along w."""
    bx, by = PIXEL_BLOCK
    return (grid_blocks(w, bx), grid_blocks(h, by)), PIXEL_BLOCK
