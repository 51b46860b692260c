"""The 7x7 patch kernel against a numpy sliding-window reference."""

import numpy as np
import pytest

from deepcolor.features.patch import PATCH_DIM, gather_patches, patch_features


def _reference(luma):
    padded = np.pad(luma.astype(np.float32), 3, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (7, 7))
    return windows.reshape(luma.shape[0], luma.shape[1], PATCH_DIM)


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (7, 7), (33, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_matches_sliding_window(shape, dtype):
    """Every pixel's patch equals the reflect-padded sliding window, at any size."""
    luma = np.random.default_rng(0).random(shape).astype(dtype)
    out = patch_features(luma)
    assert out.dtype == np.float32 and out.shape == shape + (PATCH_DIM,)
    np.testing.assert_array_equal(out, _reference(luma))


def test_gather_matches_dense():
    """Gathering chosen pixels gives the same rows as the dense map."""
    luma = np.random.default_rng(1).random((15, 11)).astype(np.float32)
    idx = np.array([0, 5, 164, 77, 77])
    np.testing.assert_array_equal(gather_patches(luma, idx), patch_features(luma).reshape(-1, PATCH_DIM)[idx])


def test_centre_column_is_the_pixel():
    """Column 24 (the patch centre) is the pixel itself."""
    luma = np.random.default_rng(2).random((9, 13)).astype(np.float32)
    np.testing.assert_array_equal(patch_features(luma)[..., 24], luma)


def test_bad_input():
    """Integer images, wrong ranks and out-of-range indices are rejected."""
    with pytest.raises(ValueError):
        patch_features(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        patch_features(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="flat_index"):
        gather_patches(np.zeros((4, 4), np.float32), np.array([16]))
