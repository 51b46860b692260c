"""BT.601 YUV conversions and the luma-preserving merge."""

import numpy as np
import pytest

from deepcolor.colorspace import merge_luma_chroma, rgb_to_luma, rgb_to_yuv, split_luma_chroma, yuv_to_rgb


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip(dtype):
    """RGB -> YUV -> RGB is the identity to float32 precision."""
    rgb = np.random.default_rng(0).random((17, 9, 3)).astype(dtype)
    assert np.abs(yuv_to_rgb(rgb_to_yuv(rgb)) - rgb).max() < 1e-5


def test_known_values():
    """White has Y = 1, no chroma; pure red has the textbook BT.601 values."""
    yuv = rgb_to_yuv(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(yuv[0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(yuv[1], [0.299, -0.147108, 0.614777], atol=1e-5)


def test_luma_matches_y():
    """rgb_to_luma is the Y channel of rgb_to_yuv."""
    rgb = np.random.default_rng(1).random((5, 5, 3))
    np.testing.assert_allclose(rgb_to_luma(rgb), rgb_to_yuv(rgb)[..., 0], atol=1e-6)


def test_merge_keeps_luma_for_out_of_gamut_chroma():
    """Huge chroma is scaled into the RGB cube while the luma stays exactly as given."""
    rng = np.random.default_rng(2)
    luma = rng.random((32, 32)).astype(np.float32)
    chroma = (rng.standard_normal((32, 32, 2)) * 0.8).astype(np.float32)
    rgb = merge_luma_chroma(luma, chroma)
    assert rgb.dtype == np.float32 and rgb.min() >= 0 and rgb.max() <= 1
    assert np.abs(rgb_to_luma(rgb) - luma).max() < 1e-5
    # In-gamut chroma passes unchanged.
    small = chroma * 0.01
    mid = np.full_like(luma, 0.5)
    _, back = split_luma_chroma(merge_luma_chroma(mid, small))
    np.testing.assert_allclose(back, small, atol=1e-5)


def test_merge_zero_chroma_is_gray():
    """Zero chroma gives R = G = B = luma."""
    luma = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    rgb = merge_luma_chroma(luma, np.zeros((3, 4, 2), np.float32))
    for c in range(3):
        np.testing.assert_allclose(rgb[..., c], luma, atol=1e-6)


def test_bad_shapes():
    """Wrong channel counts are ValueErrors naming the shape."""
    with pytest.raises(ValueError, match="shape"):
        rgb_to_yuv(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="chroma"):
        merge_luma_chroma(np.zeros((4, 4)), np.zeros((4, 4, 3)))
