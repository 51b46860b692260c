"""Hints through `deepcolor.colorize(..., hints=)` and ``deepcolor colorize --hints``: held, luma kept, bad hints one line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from skimage import data

import deepcolor
from deepcolor.apply import main as apply_main
from deepcolor.colorspace import rgb_to_luma, split_luma_chroma
from deepcolor.hints import Hint, HintError, hint_chroma
from deepcolor.metrics import to_uint8
from deepcolor.models.base import ChromaPrediction


class TintModel:
    """A constant chroma: what the hints must change, and leave elsewhere."""

    name: ClassVar[str] = "tint"
    options: ClassVar[tuple] = ()

    def predict_chroma(self, luma: np.ndarray, **_: Any) -> ChromaPrediction:
        chroma = np.zeros(luma.shape + (2,), np.float32)
        chroma[..., 0] = 0.04
        return ChromaPrediction(chroma=chroma, info={})


def gray_photo() -> np.ndarray:
    return to_uint8(rgb_to_luma(data.coffee()[::4, ::4] / 255.0))


def chroma_at(rgb8: np.ndarray, hints) -> np.ndarray:
    _, chroma = split_luma_chroma(rgb8.astype(np.float32) / 255.0)
    return np.array([chroma[int(h.y), int(h.x)] for h in hints])


def test_colorize_with_hints_holds_them_and_keeps_the_luma():
    gray = gray_photo()
    hints = [Hint(40, 30, (190, 40, 40)), Hint(120, 80, (30, 90, 200))]
    rgb = deepcolor.colorize(gray, model=TintModel(), hints=[(40, 30, (190, 40, 40)), (120, 80, "#1e5ac8")], refine=False)
    wanted = hint_chroma(hints, gray.astype(np.float32) / 255.0)
    assert np.abs(chroma_at(rgb, hints) - wanted).max() <= 2.5 / 255  # 2 levels, plus the 8-bit RGB rounding
    assert np.abs(rgb_to_luma(rgb.astype(np.float32)) - gray).max() <= 1.0  # the luma stays
    plain = deepcolor.colorize(gray, model=TintModel(), refine=False)
    assert np.array_equal(plain, deepcolor.colorize(gray, model=TintModel(), hints=[], refine=False))
    assert not np.array_equal(plain, rgb)


def test_colorize_refuses_bad_hints_before_any_work():
    gray = gray_photo()
    for bad, reason in (([(gray.shape[1], 0, "#ff0000")], "outside"), ([(1, 1, "red")], "bad colour"), ("abc", "list")):
        with pytest.raises(HintError, match=reason):
            deepcolor.colorize(gray, model=TintModel(), hints=bad)


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(to_uint8(rgb_to_luma(data.chelsea()[::6, ::6] / 255.0))).save(path)
    return path


def test_command_hints_json(photo, tmp_path, capsys):
    hints = [Hint(20, 15, (200, 60, 40)), Hint(60, 40, (40, 160, 60))]
    path = tmp_path / "hints.json"
    path.write_text(json.dumps([{"x": h.x, "y": h.y, "colour": list(h.rgb)} for h in hints]))
    out = tmp_path / "out.png"
    assert apply_main([str(photo), "--hints", str(path), "-o", str(out), "--method", "cheng", "--device", "cpu", "-q"]) == 0
    rgb = np.asarray(Image.open(out))
    gray = np.asarray(Image.open(photo))
    assert np.abs(chroma_at(rgb, hints) - hint_chroma(hints, gray / 255.0)).max() <= 2.5 / 255
    assert np.abs(rgb_to_luma(rgb.astype(np.float32)) - gray).max() <= 1.0


@pytest.mark.parametrize("case, message", [
    ("outside", "--hints .*hints.json: hint at x=500, y=1 lies outside the 76x50 image"),
    ("png-size", "--hints .*hints.png: the hint image is 10x10, the photo 76x50"),
    ("folder", "--hints colours one photo"),
    ("bad-json", "not valid JSON"),
])
def test_command_bad_hints_one_line(photo, tmp_path, capsys, case, message):
    hints = tmp_path / ("hints.png" if case == "png-size" else "hints.json")
    if case == "png-size":
        Image.fromarray(np.full((10, 10, 4), 255, np.uint8), "RGBA").save(hints)
    else:
        hints.write_text("{x" if case == "bad-json" else json.dumps([{"x": 500, "y": 1, "colour": "#ff0000"}]))
    source = str(photo.parent) if case == "folder" else str(photo)
    out = [] if case == "folder" else ["-o", str(tmp_path / "out.png")]
    status = apply_main([source, "--hints", str(hints), *out, "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


    assert re.search(message, err), err
    assert not (tmp_path / "out.png").exists()
