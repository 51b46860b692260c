"""Suggested colours: the class head's modes at a point, or the model's chroma around it."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from deepcolor.colorspace import rgb_to_luma, split_luma_chroma
from deepcolor.metrics import to_uint8
from deepcolor.suggest import MERGE_RADIUS, class_distribution, suggest_at, suggest_colours


def test_class_head_modes_merge_neighbouring_bins():
    centres = np.array([[0.0, 0.0], [0.04, 0.0], [-0.2, 0.3], [0.2, -0.2]], np.float32)  # bins 0 and 1 are one colour
    probabilities = np.zeros((4, 6, 4), np.float32)
    probabilities[...] = (0.3, 0.3, 0.35, 0.05)
    luma = np.full((16, 24), 0.5, np.float32)
    out = suggest_colours(luma, np.zeros((16, 24, 2), np.float32), 5, 5, distribution=(probabilities, centres))
    assert [s.source for s in out] == ["class head"] * 3
    assert [s.probability for s in out] == pytest.approx([0.6, 0.35, 0.05], abs=1e-3)  # the merged pair first
    _, uv = split_luma_chroma(np.array([s.rgb for s in out], np.float32) / 255.0)
    assert np.allclose(uv[0], (0.02, 0.0), atol=0.01) and np.allclose(uv[1], (-0.2, 0.3), atol=0.02)


def test_local_estimate_reads_the_model_chroma_around_the_point():
    luma = np.full((64, 64), 0.5, np.float32)
    chroma = np.zeros((64, 64, 2), np.float32)
    chroma[:, :40] = (-0.1, 0.2)
    chroma[:, 40:] = (0.15, -0.1)
    out = suggest_colours(luma, chroma, 36, 30)
    assert [s.source for s in out] == ["local", "local"]
    _, uv = split_luma_chroma(np.array([s.rgb for s in out], np.float32) / 255.0)
    assert np.allclose(uv[0], (-0.1, 0.2), atol=0.01) and np.allclose(uv[1], (0.15, -0.1), atol=0.01)
    assert out[0].probability > out[1].probability and sum(s.probability for s in out) == pytest.approx(1.0)
    assert np.linalg.norm(uv[0] - uv[1]) > MERGE_RADIUS
    with pytest.raises(ValueError, match="outside the 64x64 image"):
        suggest_colours(luma, chroma, 64, 0)


@pytest.mark.parametrize("method, source", [("global-prior", "class head"), ("cheng", "local")])
def test_shipped_models_suggest(method, source):
    gray = to_uint8(rgb_to_luma(data.coffee()[::4, ::4] / 255.0))
    out = suggest_at(gray, 60, 40, method=method, count=4)
    assert 1 <= len(out) <= 4 and all(s.source == source for s in out)
    assert sum(s.probability for s in out) <= 1.0 + 1e-6
    luma = gray[40, 60] / 255.0  # every suggestion is shown at the point's luma
    assert all(abs(rgb_to_luma(np.array(s.rgb, np.float32) / 255.0) - luma) <= 1.5 / 255 for s in out)


def test_only_a_class_head_has_a_distribution():
    from deepcolor.models.registry import load_model

    assert class_distribution(load_model("cheng"), np.zeros((32, 32), np.float32)) is None
