"""One `Colorizer` for every path: the settings of a command reach the model alike for an image, a tile,
a video frame and an evaluation row (videos used to drop --device and --max-pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deepcolor.apply import main as apply_main
from deepcolor.colorizer import Colorizer
from deepcolor.colorspace import rgb_to_luma
from deepcolor.evaluate import main as evaluate_main
from deepcolor.kernels.device import device_of
from deepcolor.metrics import to_uint8
from deepcolor.modelfile import load_model_file, save_model_file
from deepcolor.models import registry
from deepcolor.models.base import ChromaModel, ChromaPrediction, Option, ShotStateModel, TiledModel
from deepcolor.tiling import DEFAULT_TILE

CALLS: list[dict[str, Any]] = []  # what the spy model was asked, in order


class _SpyImage:
    def __init__(self, shape: tuple[int, int], xp: Any, vividness: float) -> None:
        self.shape, self.xp, self.vividness = shape, xp, vividness
        self.info = {"spied": True}
        self.seconds: dict[str, float] = {}

    def chroma(self, outer, want):
        out = self.xp.zeros((want[0].stop - want[0].start, want[1].stop - want[1].start, 2), self.xp.float32)
        out[..., 0] = self.vividness * 0.1
        return out


class SpyModel:
    """A model kind that records every call: which entry, the device of its array module, its options, the image."""

    name: ClassVar[str] = "spy"
    options: ClassVar[tuple[Option, ...]] = (Option("vividness", float, 0.0, "recorded"),)

    def predict_chroma(self, luma: np.ndarray, *, vividness: float = 0.0, state: Any = None) -> ChromaPrediction:
        CALLS.append({"call": "predict_chroma", "device": "cpu", "vividness": vividness, "shape": luma.shape, "state": state})
        return ChromaPrediction(_SpyImage(luma.shape, np, vividness).chroma(*[(slice(0, luma.shape[0]), slice(0, luma.shape[1]))] * 2))

    def prepare(self, luma: np.ndarray, xp: Any = np, *, vividness: float = 0.0, state: Any = None) -> _SpyImage:
        CALLS.append({"call": "prepare", "device": device_of(xp), "vividness": vividness, "shape": luma.shape, "state": state})
        return _SpyImage(luma.shape, xp, vividness)

    def shot_state(self, lumas: list[np.ndarray], *, vividness: float = 0.0) -> str:
        CALLS.append({"call": "shot_state", "vividness": vividness, "frames": len(lumas)})
        return "shot"

    @classmethod
    def load(cls, path: str | Path) -> "SpyModel":
        load_model_file(path, kind=cls.name)
        return cls()


@pytest.fixture()
def spy(tmp_path, monkeypatch):
    """The spy kind registered, a model file of it, and every Colorizer built recorded (its settings)."""
    registry.register(registry.ModelEntry("spy", SpyModel, "records what reaches it (test)"))
    path = save_model_file(tmp_path / "spy.safetensors", {"w": np.zeros(1, np.float32)}, kind="spy", config={})
    built: list[Colorizer] = []
    init = Colorizer.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(Colorizer, "__init__", recording_init)
    CALLS.clear()
    yield path, built
    registry.unregister("spy")


def _settings(colorizer: Colorizer) -> tuple:
    return colorizer.device, colorizer.refine, colorizer.saturation, colorizer.max_pixels, colorizer.options


def test_the_spy_kind_declares_its_abilities_by_protocol():
    model = SpyModel()
    assert isinstance(model, ChromaModel) and isinstance(model, TiledModel) and isinstance(model, ShotStateModel)


def test_settings_reach_the_model_for_an_image_a_tile_a_frame_and_an_evaluation_row(spy, tmp_path, capsys):
    path, built = spy
    flags = ["--model", str(path), "--device", "cpu", "--max-pixels", "2000000", "--no-refine", "--saturation", "1.5",
             "--vividness", "0.3", "-q"]
    expected = ("cpu", False, 1.5, 2_000_000, {"vividness": 0.3})
    gray = to_uint8(rgb_to_luma(data.astronaut() / 255.0))

    # an image (one tile: the whole-image prediction)
    Image.fromarray(gray[::8, ::8]).save(tmp_path / "small.png")
    assert apply_main([str(tmp_path / "small.png"), "-o", str(tmp_path / "small_out.png"), *flags]) == 0
    assert [_settings(c) for c in built] == [expected]
    assert CALLS == [{"call": "predict_chroma", "device": "cpu", "vividness": 0.3, "shape": (64, 64), "state": None}]

    # a tiled image: the per-image part once on the device, then every tile
    built.clear(), CALLS.clear()
    big = np.tile(gray, (3, 3))[: DEFAULT_TILE + 100, : DEFAULT_TILE + 60]
    Image.fromarray(big).save(tmp_path / "big.png")
    assert apply_main([str(tmp_path / "big.png"), "-o", str(tmp_path / "big_out.png"), *flags, "--saturation", "1.5"]) == 0
    assert [_settings(c) for c in built] == [expected]
    assert CALLS == [{"call": "prepare", "device": "cpu", "vividness": 0.3, "shape": big.shape, "state": None}]
    rgb = np.asarray(Image.open(tmp_path / "big_out.png")).astype(np.float32) / 255
    # U = 0.3 * 0.1 * saturation 1.5 = 0.045 on every pixel (B = Y + 2.03211 U where not clipped)
    mid = (big > 40) & (big < 200)
    np.testing.assert_allclose((rgb[..., 2] - big / 255)[mid], 2.03211 * 0.045, atol=1.5 / 255)

    # a video (a folder of frames): every frame, and the shot's decision, with the same settings
    pytest.importorskip("av")
    built.clear(), CALLS.clear()
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(gray[::8, ::8], i, axis=1)).save(frames / f"{i:04d}.png")
    assert apply_main([str(frames), "--fps", "5", "-o", str(tmp_path / "film.mp4"), *flags]) == 0
    assert [_settings(c) for c in built] == [expected]
    assert CALLS[0] == {"call": "shot_state", "vividness": 0.3, "frames": 3}
    assert CALLS[1:] == [{"call": "predict_chroma", "device": "cpu", "vividness": 0.3, "shape": (64, 64), "state": "shot"}] * 3

    # --max-pixels reaches the frames: a limit below a frame's size fails the video in one line
    capsys.readouterr()
    assert apply_main([str(frames), "--fps", "5", "-o", str(tmp_path / "film2.mp4"), *flags, "--max-pixels", "1000"]) == 1
    err = capsys.readouterr().err
    assert "over the limit of 1,000" in err and "internal error" not in err and not (tmp_path / "film2.mp4").exists()

    # an evaluation row
    built.clear(), CALLS.clear()
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(data.chelsea()[::4, ::4]).save(colour / "chelsea.png")
    eval_flags = [f for f in flags if f != "--saturation" and f != "1.5"]
    assert evaluate_main(["--images", str(colour), *eval_flags]) == 0
    assert [_settings(c) for c in built] == [("cpu", False, 1.0, 2_000_000, {"vividness": 0.3})]
    assert CALLS == [{"call": "predict_chroma", "device": "cpu", "vividness": 0.3, "shape": (75, 113), "state": None}]


def test_a_colorizer_checks_its_settings_and_the_luma_once(spy):
    path, _ = spy
    model = registry.load_model(path)
    with pytest.raises(ValueError, match="unknown option"):
        Colorizer(model, device="cpu", tint=1.0)
    with pytest.raises(ValueError, match="saturation"):
        Colorizer(model, device="cpu", saturation=-1)
    colorizer = Colorizer(model, device="cpu", max_pixels=100, vividness=0.5, refine=False)
    with pytest.raises(ValueError, match="over the limit of 100"):
        colorizer(np.zeros((20, 20), np.float32))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        colorizer(np.full((5, 5), 2.0, np.float32))
    chroma = colorizer(np.full((5, 5), 0.5, np.float32))
    assert chroma.shape == (5, 5, 2) and np.allclose(chroma[..., 0], 0.05) and colorizer.info == {}
    assert colorizer.video_state([np.zeros((4, 4), np.float32)]) == "shot"
