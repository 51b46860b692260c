"""Feature maps of a region: the upsampled FCN map of a region equals the crop of the whole upsampled map."""

import cv2
import numpy as np
import pytest

from deepcolor.features.region import upsample_region


@pytest.mark.parametrize("small_shape,shape", [((30, 40), (300, 400)), ((13, 7), (100, 53)), ((5, 5), (5, 5))])
def test_region_upsampling_matches_opencv(small_shape, shape):
    """Bilinear upsampling of any region equals cv2.resize of the whole map, cropped (to float32 rounding)."""
    small = np.random.default_rng(0).random(small_shape + (11,), dtype=np.float32)
    full = cv2.resize(small, shape[::-1], interpolation=cv2.INTER_LINEAR).reshape(shape + (11,))
    for rows, cols in [(slice(0, shape[0]), slice(0, shape[1])), (slice(3, shape[0] - 1), slice(1, shape[1] // 2))]:
        np.testing.assert_allclose(upsample_region(small, shape, rows, cols), full[rows, cols], atol=5e-6)
