"""Cheng's descriptor on a subsampled grid of pixels: chroma where it is needed.

Chroma needs fewer samples than luma (photo and video codecs store it at a quarter of the
pixels, 4:2:0), so Cheng's MLPs need not run at every pixel: `grid_maps` takes the pixels
``(row0 + i * step, col0 + j * step)`` of an image or region, where ``row0`` and ``col0`` are the
first rows and columns ``= step // 2 (mod step)`` of the whole image (so a tile's grid is part of
the whole image's); the chroma predicted there is brought to every pixel by the guided
upsampling on the luma (`deepcolor.upsample`), as the global-prior CNN does with its coarse chroma.

Each grid pixel's descriptor has the layout of `deepcolor.features.descriptor` and the same
patch and DAISY columns as the dense path (the patch is gathered from the full-resolution luma,
DAISY is the dense map's value there). The semantic columns are computed on the grid itself: the
FCN's small map resampled at the grid's pixels and smoothed by the domain transform guided by the
grid's luma, its spatial sigma divided by the step (the same reach in image pixels), so that stage
costs ``1 / step^2`` of the dense one. On ``device="cuda"`` every array is the device's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor.features.daisy import DAISY_DIM, daisy_features
from deepcolor.features.descriptor import assemble_descriptors
from deepcolor.features.patch import pad_luma
from deepcolor.features.semantic import SIGMA_SPATIAL, smooth_probabilities, upsample_at
from deepcolor.kernels.device import array_module_for, synchronize, to_host
from deepcolor.upsample import apply_coefficients, coefficients_from_coarse

__all__ = ["GridMaps", "grid_positions", "grid_maps", "grid_descriptors", "grid_chroma"]


def grid_positions(start: int, stop: int, step: int) -> np.ndarray:
    """The grid's pixels in ``[start, stop)`` of one axis: those ``= step // 2 (mod step)``, int64.

    An interval too short to hold one (only when ``stop - start < step``) gets its middle pixel.
    """
    if step < 1 or stop <= start:
        raise ValueError(f"need step >= 1 and stop > start, got {step}, {start}..{stop}")
    first = start + (step // 2 - start) % step
    positions = np.arange(first, stop, step, dtype=np.int64)
    return positions if positions.size else np.array([(start + stop - 1) // 2], np.int64)


@dataclass
class GridMaps:
    """The parts of the descriptors of one region's grid pixels (arrays of ``device``'s module).

    Attributes
    ----------
    rows, cols : numpy.ndarray, int64
        The grid's pixel rows and columns, in image coordinates.
    luma : (gh, gw) float32, the luma at the grid's pixels (the guide of the upsampling).
    padded : (H + 6, W + 6) float32, the region's reflect-padded full-resolution luma (the patches).
    width : int, the region's width W.
    index : (gh * gw,) int64, the grid's pixels as row-major indices of the region.
    daisy : (gh * gw, 32) float32.
    semantic : (gh * gw, C) float32, or None without semantics.
    """

    rows: np.ndarray
    cols: np.ndarray
    luma: Any
    padded: Any
    width: int
    index: Any
    daisy: Any
    semantic: Any | None
    step: int = 1
    device: str = "cpu"

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.rows.size), int(self.cols.size))

    @property
    def grid(self) -> tuple[int, int, int]:
        """``(row0, col0, step)`` of `deepcolor.upsample.Grid`."""
        return int(self.rows[0]), int(self.cols[0]), self.step


def grid_maps(luma: np.ndarray, *, small: Any, region: tuple[slice, slice], step: int, device: str = "cpu") -> GridMaps:
    """The descriptor parts of the grid pixels of ``luma[region]``.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float32 in [0, 1]
        The whole image, on the host.
    small : array (h, w, C), or None
        The FCN's probabilities of the whole image (`deepcolor.features.semantic.small_probabilities`),
        of the device's module; None: no semantic columns.
    region : (rows, columns) slices
        The region (the whole image, or a tile's outer region).
    step : int
        Grid spacing in pixels (1: every pixel).
    device : {"cpu", "cuda"}

    Returns
    -------
    GridMaps
    """
    xp = array_module_for(device)
    rows = grid_positions(region[0].start, region[0].stop, step)
    cols = grid_positions(region[1].start, region[1].stop, step)
    crop = xp.asarray(np.ascontiguousarray(luma[region], dtype=np.float32))
    local_r, local_c = xp.asarray(rows - region[0].start), xp.asarray(cols - region[1].start)
    index = (local_r[:, None] * crop.shape[1] + local_c[None, :]).ravel()
    guide = xp.ascontiguousarray(crop[local_r][:, local_c])
    daisy = daisy_features(crop, backend=device).reshape(-1, DAISY_DIM)[index]
    semantic = None
    if small is not None:
        probs = upsample_at(small, luma.shape, rows, cols)
        semantic = smooth_probabilities(probs, guide, sigma_spatial=SIGMA_SPATIAL / step, backend=device)
        semantic = semantic.reshape(index.shape[0], -1)
    return GridMaps(rows, cols, guide, pad_luma(crop), int(crop.shape[1]), index, xp.ascontiguousarray(daisy), semantic,
                    step, device)


def grid_descriptors(maps: GridMaps, start: int, stop: int, *, semantic: bool) -> Any:
    """Descriptors of grid rows ``start:stop``: ``((stop - start) * gw, 81 + C)`` float32 (81 columns without semantics)."""
    if semantic and maps.semantic is None:
        raise ValueError("semantic=True needs grid maps computed with the FCN's map")
    gw = maps.shape[1]
    rows = slice(start * gw, stop * gw)
    return assemble_descriptors(maps.padded, maps.width, maps.index[rows], maps.daisy[rows],
                                maps.semantic[rows] if semantic else None, device=maps.device)


def grid_chroma(luma: np.ndarray, small: Any, outer: tuple[slice, slice], want: tuple[slice, slice], *, step: int, semantic: bool,
                predict: Callable[[Any], Any], device: str = "cpu", chunk_pixels: int = 1 << 16) -> tuple[Any, dict[str, float]]:
    """Chroma of the pixels ``want`` predicted on the grid of ``outer`` (which holds them) and guided-upsampled on the luma.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float32 in [0, 1]
        The whole image, on the host.
    small : array (h, w, C) or None
        See `grid_maps`.
    outer, want : (rows, columns) slices
        Image coordinates: the region whose grid is predicted (a tile's core and halo), the pixels wanted.
    step, semantic : keyword-only
        Grid spacing; whether the descriptor has its semantic columns.
    predict : callable, keyword-only
        Descriptor rows (N, D) -> chroma (N, 2) float32 on the device (Cheng's batched MLPs).
    device, chunk_pixels : keyword-only
        Where features and MLP run; grid pixels per MLP call (memory bound).

    Returns
    -------
    chroma : array, shape (rows, columns of want, 2), float32, on the device
    seconds : dict
        ``features``, ``regression``, ``upsampling`` (the guided filter, on the host).
    """
    xp = array_module_for(device)
    t0 = time.perf_counter()
    maps = grid_maps(luma, small=small if semantic else None, region=outer, step=step, device=device)
    synchronize(xp)
    t1 = time.perf_counter()
    gh, gw = maps.shape
    coarse = xp.empty((gh, gw, 2), dtype=xp.float32)
    rows = max(1, chunk_pixels // gw)
    for start in range(0, gh, rows):
        stop = min(gh, start + rows)
        coarse[start:stop] = predict(grid_descriptors(maps, start, stop, semantic=semantic)).reshape(stop - start, gw, 2)
    synchronize(xp)
    t2 = time.perf_counter()
    coefficients = coefficients_from_coarse(to_host(maps.luma), to_host(coarse))
    chroma = apply_coefficients(np.ascontiguousarray(luma[want]), coefficients, luma.shape, want, grid=maps.grid)
    return xp.asarray(chroma), {"features": t1 - t0, "regression": t2 - t1, "upsampling": time.perf_counter() - t2}
