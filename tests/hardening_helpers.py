"""What issue 29's tests share: a model that costs nothing, and ``deepcolor colorize`` run in this process with it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from deepcolor.models.base import ChromaPrediction


class Tint:
    """A model that costs nothing: chroma a smooth function of the luma, so every frame is coloured."""

    name = "tint"
    options = ()

    def predict_chroma(self, luma, **options):
        u = 0.05 * np.sin(6 * luma)
        return ChromaPrediction(np.stack([u, 0.1 - u], axis=-1).astype(np.float32))


class TintWithLabels(Tint):
    """`Tint` with a label map (so ``--save-semantic`` is accepted)."""

    def writes_legend(self):
        return False

    def label_map(self, luma):
        return np.repeat(((luma > 0.5).astype(np.uint8) * 255)[..., None], 3, axis=-1)

    def label_legend(self):
        return []


def run_colorize(argv, monkeypatch, capsys, model=None):
    """``deepcolor colorize -q ARGV`` in this process with ``model`` (default `Tint`, registered as a kind while
    the test runs); returns (exit status, stderr, whether the model was asked for)."""
    import deepcolor.apply as apply_module
    from deepcolor.models import registry

    model = model or Tint()
    asked = []
    if model.name not in registry.names():  # a kind for this test only (monkeypatch removes it)
        monkeypatch.setitem(registry.ENTRIES, model.name, registry.ModelEntry(model.name, type(model), "a test kind"))

    def fake(args):
        asked.append(True)
        return model

    monkeypatch.setattr(apply_module, "model_from_args", fake)
    code = apply_module.main(["-q", *map(str, argv)])
    return code, capsys.readouterr().err, bool(asked)


def pattern(i: int, w: int, h: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.clip(128 + 60 * np.sin((xs - i) / 3.0) * np.cos(ys / 4.0), 16, 235).astype(np.uint8)


def make_video(path: Path, frames: int = 3, w: int = 64, h: int = 48, *, codec: str = "libx264", rate: int = 15,
               rotation: int = 0, aspect: Fraction | None = None, luma=None) -> Path:
    """A small gray clip of any size (odd sides as 4:4:4 for x264), with a rotation tag and a sample aspect ratio."""
    import av

    fmt = "yuv444p" if (w % 2 or h % 2) and codec == "libx264" else "yuv420p"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, fmt
        stream.options = {"crf": "0"} if codec == "libx264" else {}
        if aspect:
            stream.codec_context.sample_aspect_ratio = aspect
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame(w, h, fmt)
            for k, plane in enumerate(frame.planes):
                rows = (luma or pattern)(i, w, h) if k == 0 else np.full((plane.height, plane.width), 128, np.uint8)
                padded = np.zeros((plane.buffer_size // plane.line_size, plane.line_size), np.uint8)
                padded[: rows.shape[0], : rows.shape[1]] = rows
                plane.update(padded.tobytes())
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
