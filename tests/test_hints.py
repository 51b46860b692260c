"""Point hints: parsing (one-line errors) and Levin et al.'s propagation (holds at the point, stops at edges)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from deepcolor.hints import Hint, HintError, as_hints, check_hints, hint_chroma, hints_json, parse_colour, propagate, read_hints

LEVEL = 1.0 / 255.0  # one level of U, V on the 0..255 scale


def two_regions(height: int, width: int, edge: int) -> np.ndarray:
    """Dark left region, bright right region, a little texture so neither is perfectly flat."""
    rng = np.random.default_rng(0)
    luma = np.where(np.arange(width)[None, :] < edge, 0.3, 0.7) + rng.normal(0, 0.005, (height, width))
    return np.clip(luma, 0, 1).astype(np.float32)


def model_chroma(shape: tuple[int, int]) -> np.ndarray:
    chroma = np.zeros(shape + (2,), np.float32)
    chroma[..., 0] = 0.05
    chroma[..., 1] = np.linspace(-0.05, 0.05, shape[1], dtype=np.float32)[None, :]
    return chroma


def test_parse_colour_forms():
    assert parse_colour("#ff8000") == (255, 128, 0)
    assert parse_colour("f80") == (255, 136, 0)
    assert parse_colour((1, 2, 3)) == (1, 2, 3)
    assert parse_colour(np.array([10, 20, 30])) == (10, 20, 30)
    for bad in ("#ggg000", "#12345", (1, 2), (0, 0, 256), (0.5, 0, 0), ("1", 2, 3), None, (True, 0, 0)):
        with pytest.raises(HintError) as err:
            parse_colour(bad)
        assert "\n" not in str(err.value)


def test_as_hints_forms_and_errors():
    hints = as_hints([(1, 2, "#010203"), {"x": 3, "y": 4, "color": [5, 6, 7], "frame": 2}, Hint(5, 6, (1, 1, 1))])
    assert hints == [Hint(1.0, 2.0, (1, 2, 3)), Hint(3.0, 4.0, (5, 6, 7), 2), Hint(5.0, 6.0, (1, 1, 1))]
    for bad in ([(1, 2)], [{"x": 1, "colour": "#000000"}], [(float("nan"), 1, "#000000")], "abc", [("a", 1, "#000000")]):
        with pytest.raises(HintError) as err:
            as_hints(bad)
        assert "\n" not in str(err.value)


def test_check_hints_outside_image():
    check_hints([Hint(9.5, 4.9, (0, 0, 0))], (5, 10))
    for x, y in ((10, 0), (0, 5), (-1, 0)):
        with pytest.raises(HintError, match="outside the 10x5 image"):
            check_hints([Hint(x, y, (0, 0, 0))], (5, 10))


def test_read_hints_json_round_trip_and_errors(tmp_path):
    hints = [Hint(1.0, 2.0, (255, 0, 0)), Hint(3.5, 4.0, (0, 128, 255), frame=7)]
    path = tmp_path / "hints.json"
    path.write_text(hints_json(hints))
    assert read_hints(path) == hints
    path.write_text(json.dumps([{"x": 1, "y": 1, "colour": [1, 2, 3]}]))  # a bare list works too
    assert read_hints(path, (4, 4)) == [Hint(1.0, 1.0, (1, 2, 3))]
    cases = {
        "{not json": "not valid JSON",
        json.dumps({"points": []}): "expected a list",
        json.dumps([{"x": 1, "y": 1, "colour": "#zz0000"}]): "bad colour",
        json.dumps([{"x": 9, "y": 1, "colour": "#000000"}]): "outside the 4x4 image",
    }
    for text, reason in cases.items():
        path.write_text(text)
        with pytest.raises(HintError, match=reason) as err:
            read_hints(path, (4, 4))
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(HintError, match="no such hints file"):
        read_hints(tmp_path / "missing.json")


def test_read_hints_png(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[2, 5] = (200, 10, 30, 255)
    rgba[4, 1] = (0, 0, 255, 130)  # half opaque and more: a hint
    rgba[0, 0] = (9, 9, 9, 100)  # mostly transparent: not a hint
    path = tmp_path / "hints.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert sorted(read_hints(path, (6, 8)), key=lambda h: h.y) == [Hint(5.0, 2.0, (200, 10, 30)), Hint(1.0, 4.0, (0, 0, 255))]
    with pytest.raises(HintError, match="the hint image is 8x6, the photo 9x6"):
        read_hints(path, (6, 9))
    Image.fromarray(rgba[..., :3], "RGB").save(path)
    with pytest.raises(HintError, match="needs an alpha channel"):
        read_hints(path)
    Image.fromarray(np.zeros((6, 8, 4), np.uint8), "RGBA").save(path)
    with pytest.raises(HintError, match="no opaque pixels"):
        read_hints(path)
    path.write_bytes(b"not an image")
    with pytest.raises(HintError, match="not a readable hint image"):
        read_hints(path)


def test_hint_chroma_stays_in_gamut_at_the_pixel_luma():
    luma = np.array([[0.05, 0.5]], np.float32)
    red = hint_chroma([Hint(0, 0, (255, 0, 0)), Hint(1, 0, (255, 0, 0))], luma)
    from deepcolor.colorspace import merge_luma_chroma, rgb_to_yuv, yuv_to_rgb

    full = rgb_to_yuv(np.array([1.0, 0, 0]))[1:]
    assert np.allclose(red[1] / np.linalg.norm(red[1]), full / np.linalg.norm(full), atol=1e-5)  # same hue
    assert np.linalg.norm(red[0]) < np.linalg.norm(red[1])  # a dark pixel shows less of it
    yuv = np.concatenate([luma[0, :, None], red], axis=1)
    rgb = yuv_to_rgb(yuv)  # inside the cube without any clamp
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5
    assert np.allclose(merge_luma_chroma(luma, red[None])[0], rgb, atol=1e-5)


def test_no_hints_changes_nothing():
    luma = two_regions(20, 30, 15)
    chroma = model_chroma(luma.shape)
    assert np.array_equal(propagate(luma, chroma, []), chroma)


@pytest.mark.parametrize("shape, edge", [((120, 150), 75), ((300, 640), 301), ((600, 900), 457)])
def test_hint_holds_and_stops_at_a_strong_edge(shape, edge):
    """Small images are solved at full resolution, larger ones on the coarse grid and upsampled."""
    luma = two_regions(*shape, edge)
    chroma = model_chroma(shape)
    hint = Hint(edge // 3, shape[0] // 2, (200, 40, 40))
    out = propagate(luma, chroma, [hint])
    wanted = hint_chroma([hint], luma)[0]
    assert np.abs(out[int(hint.y), int(hint.x)] - wanted).max() <= 2 * LEVEL
    assert np.abs(out[:, edge:] - chroma[:, edge:]).max() <= 0.5 * LEVEL  # the other region unchanged
    # and the hint recolours its own region (a weak prior: it spreads, it does not stay a dot)
    left = np.abs(out[:, : edge - 2] - wanted).max(axis=(0, 1))
    assert left.max() <= 12 * LEVEL, left * 255


def test_two_hints_each_hold_in_their_region():
    luma = two_regions(200, 300, 150)
    chroma = model_chroma(luma.shape)
    hints = [Hint(40, 100, (30, 160, 40)), Hint(250, 60, (32, 64, 208))]
    out = propagate(luma, chroma, [(h.x, h.y, h.rgb) for h in hints])
    wanted = hint_chroma(hints, luma)
    for hint, uv in zip(hints, wanted):
        assert np.abs(out[int(hint.y), int(hint.x)] - uv).max() <= 2 * LEVEL
    assert np.median(np.abs(out[:, :148] - wanted[0])) <= 3 * LEVEL
    assert np.median(np.abs(out[:, 152:] - wanted[1])) <= 3 * LEVEL


def test_propagate_refuses_bad_hints():
    luma = two_regions(10, 10, 5)
    with pytest.raises(HintError, match="outside"):
        propagate(luma, model_chroma(luma.shape), [(10, 0, "#ffffff")])
