"""Chroma predicted at a low resolution, brought to the image's resolution along the gray image's edges.

A network that runs at a working resolution predicts chroma on a coarse grid; upsampled
bilinearly, its colour ignores the edges of the full-resolution gray image (a blue sky spills
over a roof by a coarse pixel). `guide_coefficients` fits, in every (2r + 1)^2 window of the
coarse grid, the chroma as a linear function of the luma averaged to the same grid (the guided
filter of He, Sun & Tang, ECCV 2010, run at low resolution as in their "fast guided filter",
2015); `apply_coefficients` upsamples the coefficients bilinearly and applies them to the
full-resolution luma, so colour steps where the gray image steps. Where a coarse pixel holds
two regions, a step in luma and chroma together is recovered exactly (both are averages of
the same coverage). The full-resolution part is pointwise after a bilinear upsample, so any
window (a tile) equals the same window of the whole image.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["RADIUS", "EPS", "Grid", "bilinear_window", "guide_coefficients", "coefficients_from_coarse", "apply_coefficients",
           "guided_upsample"]

RADIUS = 1  # window radius in coarse pixels (3 x 3 windows; on a synthetic step, 1 and 2 do alike, 1 is sharper)
EPS = 1e-3  # regularization in luma^2 units: a luma step of contrast ~0.06 or more steers the chroma


# Where a coarse array's samples lie in the full image: sample (i, j) at pixel
# (row0 + i * step, col0 + j * step). Cheng's chroma predicted on a subsampled grid (`deepcolor.features.grid`).
Grid = tuple[int, int, int]  # (row0, col0, step)


def bilinear_window(small: np.ndarray, full_shape: tuple[int, int], window: tuple[slice, slice], *,
                    grid: Grid | None = None) -> np.ndarray:
    """The bilinear upsample of ``small`` to ``full_shape``, only the pixels of ``window``.

    Parameters
    ----------
    small : ndarray, shape (h, w, C), float32
        Covers the whole image (pixel centres aligned, as ``cv2.resize`` aligns them), or, with
        ``grid``, samples at the grid's pixels (beyond its first and last sample the value is held).
    full_shape : (H, W)
    window : (slice, slice)
        Rows and columns of the full image (with start and stop).
    grid : (row0, col0, step), optional, keyword-only
        Where ``small``'s samples lie (see `Grid`).

    Returns
    -------
    ndarray, shape (rows, columns, C), float32
        Equal, pixel for pixel, to the same window of the whole upsample.
    """
    h, w = small.shape[:2]
    if grid is None:
        ys = ((np.arange(window[0].start, window[0].stop) + 0.5) * (h / full_shape[0]) - 0.5).astype(np.float32)
        xs = ((np.arange(window[1].start, window[1].stop) + 0.5) * (w / full_shape[1]) - 0.5).astype(np.float32)
    else:
        row0, col0, step = grid
        ys = ((np.arange(window[0].start, window[0].stop) - row0) / step).astype(np.float32)
        xs = ((np.arange(window[1].start, window[1].stop) - col0) / step).astype(np.float32)
    map_x = np.broadcast_to(xs[None, :], (ys.size, xs.size))
    map_y = np.broadcast_to(ys[:, None], (ys.size, xs.size))
    out = cv2.remap(np.ascontiguousarray(small, np.float32), np.ascontiguousarray(map_x), np.ascontiguousarray(map_y),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(ys.size, xs.size, small.shape[2])


def guide_coefficients(luma: np.ndarray, small: np.ndarray, *, radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """Per coarse pixel, the linear map luma -> chroma of the guided filter (computed once per image).

    Parameters
    ----------
    luma : ndarray, shape (H, W), float32 in [0, 1]
        The whole gray image.
    small : ndarray, shape (h, w, 2), float32
        Coarse chroma of the whole image.
    radius, eps : keyword-only
        Window radius (coarse pixels) and regularization.

    Returns
    -------
    ndarray, shape (h, w, 4), float32
        ``a_U, a_V, b_U, b_V``, box-averaged: chroma = a * luma + b.
    """
    if small.ndim != 3 or small.shape[2] != 2:
        raise ValueError(f"small chroma must be (h, w, 2), got {small.shape}")
    h, w = small.shape[:2]
    coarse = cv2.resize(np.ascontiguousarray(luma, np.float32), (w, h), interpolation=cv2.INTER_AREA).reshape(h, w)
    return coefficients_from_coarse(coarse, small, radius=radius, eps=eps)


def coefficients_from_coarse(coarse: np.ndarray, small: np.ndarray, *, radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """`guide_coefficients` from the guide already at the chroma's resolution.

    Parameters
    ----------
    coarse : ndarray, shape (h, w), float32 in [0, 1]
        The luma where ``small`` was predicted (an area average, or the luma at a grid's pixels).
    small : ndarray, shape (h, w, 2), float32
    radius, eps : keyword-only
        See `guide_coefficients`.

    Returns
    -------
    ndarray, shape (h, w, 4), float32
    """
    if small.ndim != 3 or small.shape[2] != 2 or coarse.shape != small.shape[:2]:
        raise ValueError(f"small chroma must be (h, w, 2) over the (h, w) guide, got {small.shape} and {coarse.shape}")
    if radius < 1 or eps <= 0:
        raise ValueError(f"radius must be >= 1 and eps > 0, got {radius}, {eps}")
    coarse = np.ascontiguousarray(coarse, np.float32)
    small = np.ascontiguousarray(small, np.float32)

    def box(x: np.ndarray) -> np.ndarray:
        out = cv2.blur(x, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
        return out.reshape(x.shape)

    mean_i, mean_p = box(coarse)[..., None], box(small)
    var_i = box(coarse * coarse)[..., None] - mean_i * mean_i
    a = (box(small * coarse[..., None]) - mean_i * mean_p) / (np.maximum(var_i, 0.0) + np.float32(eps))
    b = mean_p - a * mean_i
    return np.ascontiguousarray(np.concatenate([box(a), box(b)], axis=2), np.float32)


def apply_coefficients(luma: np.ndarray, coefficients: np.ndarray, full_shape: tuple[int, int],
                       window: tuple[slice, slice] | None = None, *, grid: Grid | None = None) -> np.ndarray:
    """Full-resolution chroma of ``window``: the coefficients upsampled bilinearly, applied to the luma there.

    Parameters
    ----------
    luma : ndarray, shape (rows, columns), float32
        The gray image in ``window``.
    coefficients : ndarray, shape (h, w, 4), float32
        `guide_coefficients` of the whole image.
    full_shape : (H, W)
    window : (slice, slice), optional
        Where ``luma`` lies (default: the whole image).
    grid : (row0, col0, step), optional, keyword-only
        Where the coefficients' samples lie (`bilinear_window`), when they are not the whole image's pixel-centred grid.

    Returns
    -------
    ndarray, shape (rows, columns, 2), float32
    """
    window = window or (slice(0, full_shape[0]), slice(0, full_shape[1]))
    rows, cols = window[0].stop - window[0].start, window[1].stop - window[1].start
    if luma.shape != (rows, cols):
        raise ValueError(f"luma is {luma.shape}, the window is {(rows, cols)}")
    ab = bilinear_window(coefficients, full_shape, window, grid=grid)
    return np.ascontiguousarray(ab[..., :2] * luma[..., None] + ab[..., 2:], np.float32)


def guided_upsample(luma: np.ndarray, small: np.ndarray, *, radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """Coarse chroma (h, w, 2) -> (H, W, 2) float32 along the edges of the (H, W) luma; ``radius=0``: plain bilinear."""
    full = luma.shape
    if radius == 0:
        return bilinear_window(np.ascontiguousarray(small, np.float32), full, (slice(0, full[0]), slice(0, full[1])))
    return apply_coefficients(luma, guide_coefficients(luma, small, radius=radius, eps=eps), full)
