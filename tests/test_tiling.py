"""Tile grids, halos and stitching, on synthetic local operations with known reach."""

import numpy as np
import pytest
from scipy import ndimage

from deepcolor import tiling
from deepcolor.tiling import Tile, needs_tiles, run_tiled, tile_grid


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 square with reflected borders: reads exactly `radius` pixels away."""
    return ndimage.uniform_filter(image, size=2 * radius + 1, mode="reflect")


@pytest.mark.parametrize("shape,tile,halo", [((37, 53), 10, 4), ((64, 64), 16, 0), ((5, 200), 7, 3), ((1, 1), 4, 2)])
def test_cores_partition_the_image(shape, tile, halo):
    """Every pixel lies in exactly one core; outer regions hold their core plus at most `halo` pixels a side."""
    count = np.zeros(shape, int)
    for t in tile_grid(shape, tile=tile, halo=halo):
        count[t.core] += 1
        for axis in range(2):
            outer, core, inner = t.outer[axis], t.core[axis], t.inner[axis]
            assert outer.start <= core.start and core.stop <= outer.stop
            assert core.start - outer.start <= halo and outer.stop - core.stop <= halo
            assert inner.start == core.start - outer.start and inner.stop - inner.start == core.stop - core.start
            assert 0 <= outer.start and outer.stop <= shape[axis]
    assert (count == 1).all()


def test_halo_reaches_the_full_width_inside():
    """An interior tile gets the whole halo on every side (it is clipped only at the border)."""
    tiles = tile_grid((100, 100), tile=30, halo=5)
    middle = [t for t in tiles if t.core[0].start == 30 and t.core[1].start == 30][0]
    assert middle.outer == (slice(25, 65), slice(25, 65))
    assert middle.outer_shape == (40, 40)


@pytest.mark.parametrize("radius", [1, 3, 6])
def test_tiled_equals_untiled_when_halo_covers_the_reach(radius):
    """A box filter of radius r, tiled with halo >= r, stitches to exactly the whole-image result."""
    image = np.random.default_rng(0).random((61, 47)).astype(np.float32)
    expected = _box(image, radius)
    out = np.full_like(image, np.nan)
    run_tiled(lambda t: _box(image[t.outer], radius), out, tile=13, halo=radius)
    np.testing.assert_array_equal(out, expected)


def test_too_small_halo_shows_at_the_seams():
    """With a halo shorter than the reach, the stitched result differs (the test above could fail)."""
    image = np.random.default_rng(1).random((40, 40)).astype(np.float32)
    out = np.empty_like(image)
    run_tiled(lambda t: _box(image[t.outer], 4), out, tile=10, halo=2)
    assert np.abs(out - _box(image, 4)).max() > 1e-3


def test_channels_and_dtype_are_kept():
    """Trailing axes pass through; the output array is filled in place."""
    image = np.random.default_rng(2).random((30, 20)).astype(np.float32)
    out = np.zeros((30, 20, 2), np.float32)
    result = run_tiled(lambda t: np.dstack([image[t.outer], 2 * image[t.outer]]), out, tile=8, halo=1)
    assert result is out
    np.testing.assert_array_equal(out[..., 1], 2 * image)


def test_progress_and_wrong_shape():
    """progress(done, total) is called once a tile; a result of the wrong shape is a ValueError."""
    calls = []
    run_tiled(lambda t: np.zeros(t.outer_shape), np.empty((20, 20)), tile=10, halo=2, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(ValueError, match="expected"):
        run_tiled(lambda t: np.zeros((1, 1)), np.empty((20, 20)), tile=10, halo=2)


@pytest.mark.parametrize("kwargs", [{"tile": 0}, {"tile": 2.5}, {"halo": -1}, {"tile": True}])
def test_bad_grid_arguments(kwargs):
    with pytest.raises(ValueError):
        tile_grid((10, 10), **kwargs)
    with pytest.raises(ValueError):
        tile_grid((0, 10))


def test_needs_tiles():
    assert not needs_tiles((1024, 1024), tile=1024)
    assert needs_tiles((1025, 10), tile=1024)
    assert len(tile_grid((1024, 1024), tile=1024)) == 1
    grid = tile_grid((3, 3), tile=2)
    assert all(isinstance(t, Tile) for t in grid) and len(grid) == 4
    assert [t.core for t in grid] == [(slice(0, 2), slice(0, 2)), (slice(0, 2), slice(2, 3)),
                                      (slice(2, 3), slice(0, 2)), (slice(2, 3), slice(2, 3))]


def test_halos_match_the_stages_they_cover():
    """The documented halo widths follow from the constants of the stages they protect."""
    from deepcolor.kernels.params import DAISY_GAUSS_RADIUS, DAISY_RADIUS, PATCH_SIZE
    from deepcolor.refine import DEFAULT_DIAMETER

    assert tiling.PATCH_HALO == PATCH_SIZE // 2
    assert tiling.DAISY_HALO == DAISY_RADIUS + DAISY_GAUSS_RADIUS + 1
    assert tiling.REFINE_HALO == DEFAULT_DIAMETER // 2
    assert tiling.HALO == tiling.REFINE_HALO + max(tiling.PATCH_HALO, tiling.DAISY_HALO, tiling.SEMANTIC_HALO)
