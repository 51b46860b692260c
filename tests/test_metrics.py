"""PSNR and colorfulness on known answers."""

import numpy as np
import pytest

from deepcolor.metrics import colorfulness, psnr, summarize, to_uint8


def test_psnr_known_value():
    """An error of 1 level everywhere is 10 log10(255^2) = 48.13 dB."""
    a = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(a + 1, a) == pytest.approx(48.1308, abs=1e-3)
    assert psnr(a, a) == float("inf")


def test_psnr_rejects_float_and_mismatch():
    """PSNR is defined on 8-bit images of one shape only."""
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_colorfulness_gray_is_zero_and_colour_is_not():
    """A gray image has colorfulness 0; a red/green checker a large one."""
    gray = np.full((8, 8, 3), 77, np.uint8)
    assert colorfulness(gray) == 0
    checker = np.zeros((8, 8, 3), np.uint8)
    checker[::2, :, 0] = 255
    checker[1::2, :, 1] = 255
    assert colorfulness(checker) > 100


def test_to_uint8_rounds():
    """0.5/255 rounds up to 1; values clip to [0, 255]."""
    np.testing.assert_array_equal(to_uint8(np.array([0.5 / 255, 0.49 / 255, -1, 2])), [1, 0, 0, 255])


def test_summarize_quartiles():
    """Median and quartiles of 1..5."""
    s = summarize(np.arange(1, 6))
    assert (s["median"], s["q1"], s["q3"], s["n"]) == (3, 2, 4, 5)
