"""Cheng's chroma on a subsampled grid (features.grid, upsample's grid geometry) and the batched MLPs (models.stacked_mlp)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from deepcolor.features.grid import grid_descriptors, grid_maps, grid_positions
from deepcolor.models.stacked_mlp import StackedMLP, WeightedSum, stack_terms
from deepcolor.regressor import ChromaMLP, Regressor
from deepcolor.upsample import apply_coefficients, bilinear_window, coefficients_from_coarse


def _regressor(width: int, hidden: int, seed: int) -> Regressor:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    return Regressor(ChromaMLP(width, hidden).eval(), rng.normal(0, 0.2, width).astype(np.float32),
                     rng.uniform(0.5, 2, width).astype(np.float32), 0.3)


def test_stacked_mlps_equal_the_weighted_sum_of_the_nets():
    """One batched product per layer gives the sum of each net's prediction times its weight (widths may differ)."""
    terms = [(_regressor(20, 10, 0), 0.7), (_regressor(20, 6, 1), -0.4)]
    x = np.random.default_rng(2).normal(size=(70_000, 20)).astype(np.float32)  # more than one chunk
    stacked = stack_terms(terms)
    assert isinstance(stacked, StackedMLP) and len(stacked.weights) == 4
    expected = WeightedSum(terms).predict(x)
    got = stacked.predict(x)
    assert got.shape == (70_000, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    assert np.abs(expected).max() > 0.05
    with pytest.raises(ValueError, match="shape"):
        stacked.predict(x[:, :19])


def test_stand_in_regressors_fall_back_to_the_weighted_sum():
    class Twice:
        def predict(self, x):
            return (2 * x[:, :2]).astype(np.float32)

    mlp = stack_terms([(Twice(), 0.5)])
    assert isinstance(mlp, WeightedSum)
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(mlp.predict(x), x)


def test_grid_positions_of_a_tile_are_the_whole_images():
    """A region's grid is the part of the whole image's grid inside it, so tiles agree with the whole image."""
    whole = grid_positions(0, 100, 3)
    assert whole[0] == 1 and np.all(np.diff(whole) == 3)
    for start, stop in ((5, 60), (37, 100), (2, 3)):
        part = grid_positions(start, stop, 3)
        inside = whole[(whole >= start) & (whole < stop)]
        np.testing.assert_array_equal(part, inside if inside.size else [(start + stop - 1) // 2])
    np.testing.assert_array_equal(grid_positions(0, 4, 1), [0, 1, 2, 3])


def test_bilinear_window_on_a_grid_hits_the_samples_and_holds_beyond():
    small = np.random.default_rng(0).random((5, 7, 2)).astype(np.float32)
    full = bilinear_window(small, (20, 28), (slice(0, 20), slice(0, 28)), grid=(2, 1, 4))
    np.testing.assert_allclose(full[2::4, 1::4][:5, :7], small, atol=1e-6)
    np.testing.assert_allclose(full[0, 0], small[0, 0], atol=1e-6)  # before the first sample: held
    np.testing.assert_allclose(full[3, 1], (3 * small[0, 0] + small[1, 0]) / 4, atol=1e-3)  # a quarter of the way


def test_guided_coefficients_recover_a_luma_step_on_the_grid():
    """Chroma that is a linear function of the luma on the grid comes back away from a luma step, and at the step
    each side keeps nearer its own colour than a bilinear upsample of the grid would (which blurs across it)."""
    luma = np.zeros((40, 40), np.float32)
    luma[:, 17:] = 0.8
    rows = grid_positions(0, 40, 2)
    coarse = luma[rows][:, rows]
    chroma = np.stack([0.2 * coarse - 0.05, -0.1 * coarse + 0.03], axis=-1).astype(np.float32)
    full = apply_coefficients(luma, coefficients_from_coarse(coarse, chroma), luma.shape, grid=(1, 1, 2))
    expected = np.stack([0.2 * luma - 0.05, -0.1 * luma + 0.03], axis=-1)
    far = np.r_[0:11, 23:40]
    np.testing.assert_allclose(full[:, far], expected[:, far], atol=1e-4)
    bilinear = bilinear_window(chroma, luma.shape, (slice(0, 40), slice(0, 40)), grid=(1, 1, 2))
    col = 16  # the last dark column, between the samples at 15 (dark) and 17 (bright)
    assert np.all(np.abs(full[:, col] - expected[:, col]) < 0.5 * np.abs(bilinear[:, col] - expected[:, col]))


def test_grid_descriptors_equal_the_dense_descriptors_at_the_grid_pixels_without_semantics():
    """Patch and DAISY columns are the dense path's values at the grid's pixels."""
    from deepcolor.features.descriptor import descriptor_at, feature_maps

    luma = (data.camera()[100:160, 200:290] / 255.0).astype(np.float32)
    region = (slice(7, 60), slice(3, 81))
    maps = grid_maps(luma, small=None, region=region, step=3)
    dense = feature_maps(luma, region=region)
    rows, cols = maps.rows - region[0].start, maps.cols - region[1].start
    index = (rows[:, None] * dense.shape[1] + cols[None, :]).ravel()
    got = grid_descriptors(maps, 0, maps.shape[0], semantic=False)
    np.testing.assert_allclose(got, descriptor_at(dense, index, semantic=False), atol=1e-6)
    np.testing.assert_array_equal(maps.luma, luma[region][rows][:, cols])
    with pytest.raises(ValueError, match="semantic"):
        grid_descriptors(maps, 0, 1, semantic=True)


@pytest.fixture(scope="module")
def model():
    from deepcolor.pipeline import load_model

    return load_model("cheng")


def test_grid_chroma_is_close_to_dense_and_tiles_match_the_whole_image(model):
    """The default (grid) chroma stays near the per-pixel chroma; tiled equals whole; ``dense`` is the paper's path."""
    from deepcolor.evaluation import gray_version
    from deepcolor.pipeline import colorize_luma

    luma = gray_version(data.astronaut()[::2, ::2])[0]  # 256 x 256
    dense = model.predict_chroma(luma, dense=True)
    grid = model.predict_chroma(luma)
    assert "upsampling" in grid.seconds and "upsampling" not in dense.seconds
    assert grid.info == dense.info
    diff = np.abs(grid.chroma - dense.chroma)
    assert diff.mean() < 0.01 and np.abs(dense.chroma).mean() > 0.01
    whole = colorize_luma(luma, model, tile=512).chroma
    tiled = colorize_luma(luma, model, tile=96).chroma
    np.testing.assert_allclose(tiled, whole, atol=2e-3)
    assert np.abs(tiled - whole).mean() < 1e-4
    image = model.prepare(luma, dense=True)
    assert image.step == 1 and model.prepare(luma).step > 1
