"""The joint bilateral kernel against the loop definition and OpenCV, and the chroma refinement."""

import cv2
import numpy as np
import pytest

from deepcolor.refine import bilateral, joint_bilateral, refine_chroma
from naive import naive_joint_bilateral

PARAMS = [(3, 1.0, 10.0), (5, 0.2, 1.5), (9, 0.05, 3.0)]


def _opencv(source, guide, diameter, sigma_color, sigma_space):
    """cv2.ximgproc.jointBilateralFilter; a 2-channel source goes through a 3-channel stack with a zero channel."""
    if source.ndim == 3 and source.shape[2] == 2:
        stacked = np.concatenate([source, np.zeros(source.shape[:2] + (1,), np.float32)], axis=2)
        return cv2.ximgproc.jointBilateralFilter(guide, stacked, diameter, sigma_color, sigma_space)[..., :2]
    return cv2.ximgproc.jointBilateralFilter(guide, source, diameter, sigma_color, sigma_space)


@pytest.mark.parametrize("shape", [(6, 9), (5, 7, 2), (8, 5, 3), (2, 3, 2), (1, 1)])
@pytest.mark.parametrize("params", PARAMS)
def test_matches_naive(shape, params):
    """Random data, 1-3 channels, images smaller than the window: equal to the loop definition."""
    rng = np.random.default_rng(0)
    source = rng.random(shape, dtype=np.float32)
    guide = rng.random(shape[:2], dtype=np.float32)
    diameter, sigma_color, sigma_space = params
    out = joint_bilateral(source, guide, diameter=diameter, sigma_color=sigma_color, sigma_space=sigma_space)
    assert out.dtype == np.float32 and out.shape == source.shape
    np.testing.assert_allclose(out, naive_joint_bilateral(source, guide, *params), atol=2e-6)


@pytest.mark.parametrize("shape", [(40, 33, 2), (31, 24, 3), (17, 19), (5, 7, 2), (2, 3)])
@pytest.mark.parametrize("params", PARAMS)
def test_matches_opencv(shape, params):
    """Same result as cv2.ximgproc.jointBilateralFilter at equal parameters (module docstring: to 1e-5)."""
    rng = np.random.default_rng(1)
    source = rng.random(shape, dtype=np.float32)
    guide = rng.random(shape[:2], dtype=np.float32)
    diameter, sigma_color, sigma_space = params
    out = joint_bilateral(source, guide, diameter=diameter, sigma_color=sigma_color, sigma_space=sigma_space)
    np.testing.assert_allclose(out, _opencv(source, guide, *params), atol=1e-5)


def test_step_edge_matches_opencv_and_is_kept():
    """A guide step with chroma on both sides: OpenCV's result, and no bleeding across the step."""
    h, w = 24, 30
    guide = np.zeros((h, w), np.float32)
    guide[:, 15:] = 0.8
    chroma = np.zeros((h, w, 2), np.float32)
    chroma[:, 15:] = (0.3, -0.2)
    chroma += np.random.default_rng(2).normal(0, 0.01, chroma.shape).astype(np.float32)
    out = refine_chroma(guide, chroma)
    np.testing.assert_allclose(out, _opencv(chroma, guide, 9, 0.05, 3.0), atol=1e-5)
    # 0.8 / 0.05 = 16 sigma: the far side gets weight 0, so each side keeps its own mean.
    assert np.abs(out[:, :15]).max() < 0.05
    np.testing.assert_allclose(out[:, 15:].mean(axis=(0, 1)), (0.3, -0.2), atol=0.01)
    # Without the guide (a flat one) the same disc blurs the step.
    blurred = refine_chroma(np.zeros_like(guide), chroma)
    assert blurred[:, 14, 0].mean() > 0.05


def test_constant_guide_is_spatial_gaussian():
    """A constant guide leaves only the spatial Gaussian over the disc (normalised)."""
    rng = np.random.default_rng(3)
    source = rng.random((11, 13, 2), dtype=np.float32)
    guide = np.full((11, 13), 0.4, np.float32)
    out = joint_bilateral(source, guide, diameter=5, sigma_color=0.01, sigma_space=1.5)
    # sigma_color -> infinity removes the colour term; for a constant guide it is 1 anyway.
    expected = naive_joint_bilateral(source, np.zeros_like(guide), 5, 1e9, 1.5)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    # An interior pixel by hand: the 13-tap disc of radius 2.
    dy, dx = np.mgrid[-2:3, -2:3]
    disc = dy**2 + dx**2 <= 4
    weights = np.exp(-(dy**2 + dx**2) / (2 * 1.5**2)) * disc
    by_hand = (weights[..., None] * source[3:8, 4:9]).sum(axis=(0, 1)) / weights.sum()
    np.testing.assert_allclose(out[5, 6], by_hand, atol=2e-6)


def test_constant_source_is_unchanged():
    """A weighted mean of a constant is that constant, whatever the guide."""
    guide = np.random.default_rng(4).random((9, 12), dtype=np.float32)
    source = np.full((9, 12, 2), -0.25, np.float32)
    np.testing.assert_allclose(refine_chroma(guide, source), source, atol=1e-6)


def test_diameter_one_is_identity():
    """diameter=1 is a one-pixel window: the source comes back (OpenCV would use radius 1)."""
    rng = np.random.default_rng(5)
    source = rng.random((7, 8, 2), dtype=np.float32)
    out = joint_bilateral(source, rng.random((7, 8), dtype=np.float32), diameter=1, sigma_color=0.1, sigma_space=2.0)
    np.testing.assert_array_equal(out, source)


def test_plain_is_joint_with_self():
    """bilateral(x) is joint_bilateral(x, guide=x) exactly, and matches the loop definition."""
    x = np.random.default_rng(6).random((16, 21), dtype=np.float32)
    plain = bilateral(x, diameter=7, sigma_color=0.1, sigma_space=2.0)
    np.testing.assert_array_equal(plain, joint_bilateral(x, x.copy(), diameter=7, sigma_color=0.1, sigma_space=2.0))
    np.testing.assert_allclose(plain, naive_joint_bilateral(x, x, 7, 0.1, 2.0), atol=2e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_float32(dtype):
    """Any float input gives float32 output of the source's shape."""
    rng = np.random.default_rng(7)
    out = refine_chroma(rng.random((6, 5)).astype(dtype), rng.random((6, 5, 2)).astype(dtype))
    assert out.dtype == np.float32 and out.shape == (6, 5, 2)


def test_bad_input():
    """Shape mismatches, bad diameters, non-positive sigmas, integer and non-finite images are rejected."""
    luma = np.zeros((4, 5), np.float32)
    chroma = np.zeros((4, 5, 2), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 5, 2\)"):
        refine_chroma(luma, np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        refine_chroma(chroma, chroma)
    with pytest.raises(ValueError, match="source"):
        joint_bilateral(np.zeros((4, 6), np.float32), luma, sigma_color=0.1, sigma_space=1.0)
    with pytest.raises(ValueError, match="guide"):
        joint_bilateral(chroma, chroma, sigma_color=0.1, sigma_space=1.0)
    for diameter in (0, 4, -3, 2.0, True):
        with pytest.raises(ValueError, match="diameter"):
            refine_chroma(luma, chroma, diameter=diameter)
    for sigma in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma_color"):
            refine_chroma(luma, chroma, sigma_color=sigma)
        with pytest.raises(ValueError, match="sigma_space"):
            refine_chroma(luma, chroma, sigma_space=sigma)
    with pytest.raises(ValueError, match="float"):
        refine_chroma(luma.astype(np.uint8), chroma)
    bad = chroma.copy()
    bad[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        refine_chroma(luma, bad)
    with pytest.raises(ValueError, match="non-empty"):
        joint_bilateral(np.zeros((0, 3)), np.zeros((0, 3)), sigma_color=0.1, sigma_space=1.0)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        bilateral(chroma, sigma_color=0.1, sigma_space=1.0)
