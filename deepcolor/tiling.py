"""Tiles with halos: run a local image operation piece by piece in bounded memory.

A large image is cut into a grid of *cores* (``tile`` x ``tile`` pixels, the last
row and column of cores smaller). Each core is processed together with a *halo*
of ``halo`` pixels of real image around it (clipped at the image border, where
the operation pads the way it does for the whole image), and only the core of
the result is kept. When the operation reads no further than ``halo`` pixels
from the pixel it computes, the stitched result equals the whole-image result
exactly; for operations with a longer, decaying reach (the recursive domain
transform) the halo bounds the error instead.

How far each stage of the colorization path reads, in pixels of the full image:

``PATCH_HALO`` = 3
    the 7x7 luma patch (``features.patch.PATCH_SIZE // 2``).
``DAISY_HALO`` = 22
    dense DAISY: a central-difference gradient (1) smoothed by a Gaussian of
    sigma 3.5 truncated at 4 sigma (14), then sampled on a ring of radius 7
    (``DAISY_RADIUS`` + ``_GAUSS_RADIUS`` + 1).
``SEMANTIC_HALO`` = 48
    the FCN itself needs no halo: it runs once per image, on the whole image
    downscaled to at most ``fcn.max_side`` (400) pixels a side, so its
    receptive field (which spans that whole small image through the pooling
    pyramid) sees exactly what it sees untiled; each tile then bilinearly
    upsamples its own region of that small map, which is exact. What needs a
    halo is the edge-aware smoothing: OpenCV's recursive domain transform
    (sigma_spatial 16, 2 iterations) has an infinite, exponentially decaying
    reach that decays exponentially with distance (luma edges stop it sooner).
    Measured on three BSDS500 photos upscaled to 1443 x 963, tiles of 400:
    the largest difference in a smoothed probability is 1e-2 / 8e-3 / 1.5e-3 /
    1.8e-4 for halos of 24 / 32 / 48 / 64 pixels (mean 4e-7 at 48), and the
    most probable class of every pixel is the same from 32 on.
``REFINE_HALO`` = 4
    the joint bilateral refinement's disc (``refine.DEFAULT_DIAMETER // 2``):
    it reads the predicted chroma up to 4 pixels away, so the features and
    the MLP run on the core plus 4 pixels, and the refinement on that.

``HALO`` = ``REFINE_HALO`` + max(``PATCH_HALO``, ``DAISY_HALO``, ``SEMANTIC_HALO``) = 52
is the halo of the whole per-pixel path (features -> MLP -> refinement).
The per-image parts (gist, semantic histogram, cluster choice) are never tiled:
they come from the whole image downscaled, so tiling cannot change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PATCH_HALO",
    "DAISY_HALO",
    "SEMANTIC_HALO",
    "REFINE_HALO",
    "FEATURE_HALO",
    "HALO",
    "DEFAULT_TILE",
    "Tile",
    "tile_grid",
    "run_tiled",
    "needs_tiles",
]

PATCH_HALO = 3
DAISY_HALO = 22
SEMANTIC_HALO = 48
REFINE_HALO = 4
FEATURE_HALO = max(PATCH_HALO, DAISY_HALO, SEMANTIC_HALO)
HALO = REFINE_HALO + FEATURE_HALO
# Core side: a 1024^2 core with its halo is 1128^2 pixels, about 400 MB of working
# memory on the colorization path (dense maps, descriptors, chroma), and 21% more
# pixels processed than the core itself.
DEFAULT_TILE = 1024


@dataclass(frozen=True)
class Tile:
    """One piece of a tile grid; all slices are ``(rows, columns)``.

    Attributes
    ----------
    outer : tuple of slice
        Core plus halo, clipped to the image, in image coordinates: what the
        operation reads.
    core : tuple of slice
        The pixels this tile owns, in image coordinates: where its result goes.
    inner : tuple of slice
        The core inside the outer region (coordinates relative to ``outer``).
    """

    outer: tuple[slice, slice]
    core: tuple[slice, slice]
    inner: tuple[slice, slice]

    @property
    def outer_shape(self) -> tuple[int, int]:
        return (self.outer[0].stop - self.outer[0].start, self.outer[1].stop - self.outer[1].start)


def _check_grid_args(shape: tuple[int, ...], tile: int, halo: int) -> tuple[int, int]:
    if len(shape) < 2 or any(int(n) != n or n < 1 for n in shape[:2]):
        raise ValueError(f"shape must start with two positive sizes (H, W), got {tuple(shape)}")
    if isinstance(tile, bool) or int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer, got {tile!r}")
    if isinstance(halo, bool) or int(halo) != halo or halo < 0:
        raise ValueError(f"halo must be a non-negative integer, got {halo!r}")
    return int(shape[0]), int(shape[1])


def _spans(n: int, tile: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, tile):
        yield start, min(n, start + tile)


def tile_grid(shape: tuple[int, ...], *, tile: int = DEFAULT_TILE, halo: int = HALO) -> list[Tile]:
    """The tiles covering an image, row-major; every pixel is in exactly one core.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W, ...)``; only the first two sizes are used.
    tile : int, keyword-only
        Core side in pixels, >= 1. An image no larger than ``tile`` on both
        sides is one tile whose core is the whole image (and no halo).
    halo : int, keyword-only
        Pixels of context on each side of a core, >= 0, clipped at the border.

    Returns
    -------
    list of Tile
    """
    h, w = _check_grid_args(shape, tile, halo)
    tiles = []
    for y0, y1 in _spans(h, tile):
        oy0, oy1 = max(0, y0 - halo), min(h, y1 + halo)
        for x0, x1 in _spans(w, tile):
            ox0, ox1 = max(0, x0 - halo), min(w, x1 + halo)
            tiles.append(
                Tile(
                    outer=(slice(oy0, oy1), slice(ox0, ox1)),
                    core=(slice(y0, y1), slice(x0, x1)),
                    inner=(slice(y0 - oy0, y1 - oy0), slice(x0 - ox0, x1 - ox0)),
                )
            )
    return tiles


def needs_tiles(shape: tuple[int, ...], *, tile: int = DEFAULT_TILE) -> bool:
    """True when an image of this shape is cut into more than one tile."""
    h, w = _check_grid_args(shape, tile, 0)
    return h > tile or w > tile


def run_tiled(
    fn: Callable[[Tile], np.ndarray],
    out: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    halo: int = HALO,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Fill ``out`` tile by tile with the cores of ``fn``'s results.

    Parameters
    ----------
    fn : callable
        ``fn(t)`` gets a `Tile` and returns the operation's result on
        ``t.outer``: an array of shape ``t.outer_shape + out.shape[2:]``
        (any dtype ``out`` can hold). It reads the image itself, e.g.
        ``image[t.outer]``.
    out : ndarray, shape (H, W, ...)
        Written in place, core by core; its shape defines the grid.
    tile, halo : int, keyword-only
        See `tile_grid`.
    progress : callable, optional, keyword-only
        ``progress(done, total)`` after each tile.

    Returns
    -------
    out : ndarray
        The same array.

    Raises
    ------
    ValueError
        A bad grid argument, or ``fn`` returned an array of the wrong shape.
    """
    tiles = tile_grid(out.shape, tile=tile, halo=halo)
    for i, t in enumerate(tiles):
        result = np.asarray(fn(t))
        expected = t.outer_shape + tuple(out.shape[2:])
        if result.shape != expected:
            raise ValueError(f"tile function returned shape {result.shape}, expected {expected}")
        out[t.core] = result[t.inner]
        del result
        if progress is not None:
            progress(i + 1, len(tiles))
    return out
