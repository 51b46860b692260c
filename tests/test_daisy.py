"""Dense DAISY against skimage.feature.daisy on the reflect-padded image."""

import numpy as np
import pytest
from skimage.feature import daisy

from deepcolor.features.daisy import DAISY_DIM, DAISY_RING_OFFSETS, daisy_features


def _skimage(luma):
    """The documented reference: skimage's DAISY of the luma padded by 7 (numpy 'reflect')."""
    padded = np.pad(luma, 7, mode="reflect")
    return daisy(padded, step=1, radius=7, rings=1, histograms=3, orientations=8)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 7), (23, 31)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_skimage_random(shape, dtype):
    """Random luma at sizes down to 1x1 (smaller than the 15-pixel window): skimage's values, float32."""
    luma = np.random.default_rng(0).random(shape).astype(dtype)
    out = daisy_features(luma)
    assert out.dtype == np.float32 and out.shape == shape + (DAISY_DIM,)
    np.testing.assert_allclose(out, _skimage(luma), atol=1e-5)


@pytest.mark.parametrize("vertical", [True, False])
def test_matches_skimage_step_edge(vertical):
    """A step edge: gradients on one line, exact zeros elsewhere; skimage's values, uniform far away."""
    luma = np.full((64, 64), 0.2)
    if vertical:
        luma[:, 40:] = 0.9
    else:
        luma[40:] = 0.9
    out = daisy_features(luma)
    np.testing.assert_allclose(out, _skimage(luma), atol=1e-5)
    if not vertical:
        out = out.transpose(1, 0, 2)
    # The ring (reach 7) plus the Gaussian's 14-pixel support: beyond 21 px the edge is invisible.
    np.testing.assert_allclose(out[:, :17], 1 / DAISY_DIM, rtol=1e-6)
    assert np.abs(out[:, 35:45] - 1 / DAISY_DIM).max() > 0.05


def test_constant_is_uniform():
    """A flat image has no gradient anywhere: every descriptor is 1/32 (the 1e-10 floor, L1-normalised)."""
    out = daisy_features(np.full((9, 12), 0.5, np.float32))
    np.testing.assert_allclose(out, 1 / DAISY_DIM, rtol=1e-6)


def test_normalised_and_layout():
    """Descriptors sum to 1; a gradient only to the right of a pixel shows in the 0-degree ring, dims 8-15."""
    rng = np.random.default_rng(1)
    out = daisy_features(rng.random((30, 30)))
    np.testing.assert_allclose(out.sum(axis=2), 1.0, rtol=1e-5)
    assert (out >= 0).all()
    # A lone bright dot 7 px right of the centre pixel: the ring offsets are (0, 7), (6, -3), (-6, -4).
    assert [tuple(o) for o in DAISY_RING_OFFSETS] == [(0, 7), (6, -3), (-6, -4)]
    luma = np.zeros((41, 41), np.float32)
    luma[20, 27] = 1.0
    d = daisy_features(luma)[20, 20]
    mass = d.reshape(4, 8).sum(axis=1)
    assert mass.argmax() == 1


def test_bad_input():
    """Wrong rank, empty, integer or non-finite luma is rejected."""
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        daisy_features(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="non-empty"):
        daisy_features(np.zeros((0, 5)))
    with pytest.raises(ValueError, match="float"):
        daisy_features(np.zeros((4, 4), np.uint8))
    bad = np.zeros((4, 4))
    bad[2, 2] = np.inf
    with pytest.raises(ValueError, match="finite"):
        daisy_features(bad)
