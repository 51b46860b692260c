"""One photo on the page: its luma, and per method and vividness the model's chroma and class distribution,
computed once and kept, so that a new hint only re-runs the propagation (`deepcolor.hints.propagate`)."""

from __future__ import annotations

import io as stdio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.errors import InputError
from deepcolor.hints import checked_hints, propagate
from deepcolor.evaluation import result_rgb8
from deepcolor.suggest import Suggestion, class_distribution, suggest_colours

__all__ = ["UploadError", "PhotoSession", "Models", "read_upload", "example_luma", "png_bytes"]

METHODS = ("global-prior", "cheng")


class UploadError(InputError):
    """A photo the page cannot take: one line, shown on the page."""


def read_upload(data: bytes, name: str, *, max_pixels: int) -> np.ndarray:
    """An uploaded image file's bytes -> (H, W) float32 luma in [0, 1], read as the command reads files.

    Raises
    ------
    UploadError
        Not an image of a supported type, unreadable, empty or over ``max_pixels`` (one line naming ``name``).
    """
    import tempfile

    from deepcolor import io
    from deepcolor.colorspace import rgb_to_luma

    suffix = Path(name).suffix.lower()
    if suffix not in io.SUPPORTED_EXTENSIONS:
        raise UploadError(f"{name}: unsupported file type (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="deepcolor-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            image = io.read_image(path, max_pixels=max_pixels)
        except io.ImageReadError as exc:
            raise UploadError(f"{name}: {exc.reason}") from None
    return rgb_to_luma(image.pixels) if image.pixels.ndim == 3 else image.pixels


def example_luma() -> np.ndarray:
    """The built-in example: scikit-image's astronaut made gray (the one ``deepcolor colorize --example`` uses)."""
    from skimage import data

    from deepcolor.colorspace import quantize_luma, rgb_to_luma

    return quantize_luma(rgb_to_luma(data.astronaut().astype(np.float32) / 255.0))


def png_bytes(rgb8: np.ndarray) -> bytes:
    from PIL import Image

    buffer = stdio.BytesIO()
    Image.fromarray(rgb8).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class Models:
    """The shipped models, loaded on first use, and one lock: the machine runs one model at a time."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self.lock = threading.Lock()

    def get(self, method: str) -> Any:
        if method not in METHODS:
            raise UploadError(f"unknown method {method!r} (use {' or '.join(METHODS)})")
        if method not in self._models:
            from deepcolor.models.registry import load_model

            self._models[method] = load_model(method)
        return self._models[method]


def check_vividness(value: Any) -> float:
    """The global-prior model's own check of a vividness, as an UploadError (a line on the page)."""
    from deepcolor.models.global_prior import check_vividness as model_check

    try:
        if isinstance(value, str):  # a query string's value; the model's own check takes numbers only
            value = float(value)
        return model_check(value)
    except ValueError as exc:
        raise UploadError(str(exc).splitlines()[0]) from None


@dataclass
class PhotoSession:
    """A photo's luma and, per (method, vividness), its automatic chroma and class distribution."""

    luma: np.ndarray  # (H, W) float32 in [0, 1]
    name: str
    automatic: dict[tuple[str, float], tuple[np.ndarray, Any]] = field(default_factory=dict)
    used: float = field(default_factory=time.monotonic)

    def model_chroma(self, models: Models, method: str, vividness: float) -> tuple[np.ndarray, Any]:
        """(chroma (H, W, 2), class distribution or None) of the method at this vividness: computed once."""
        from deepcolor.pipeline import colorize_luma

        key = (method, vividness if method == "global-prior" else 0.0)
        if key not in self.automatic:
            model = models.get(method)
            options = {"vividness": vividness} if method == "global-prior" else {}
            with models.lock:
                chroma = colorize_luma(self.luma, model, device="cpu", **options).chroma
                distribution = class_distribution(model, self.luma)
            self.automatic[key] = (chroma, distribution)
        self.used = time.monotonic()
        return self.automatic[key]

    def render(self, models: Models, method: str, vividness: float, hints: Any, *, global_fit: float = 0.0) -> np.ndarray:
        """(H, W, 3) uint8: the automatic chroma with the hints spread, merged with the luma (kept exactly)."""
        hints = checked_hints(hints, self.luma.shape)
        chroma, _ = self.model_chroma(models, method, vividness)
        return result_rgb8(self.luma, propagate(self.luma, chroma, hints, global_fit=global_fit) if hints else chroma)

    def suggest(self, models: Models, method: str, vividness: float, x: float, y: float) -> list[Suggestion]:
        chroma, distribution = self.model_chroma(models, method, vividness)
        return suggest_colours(self.luma, chroma, x, y, distribution=distribution)

    def gray_png(self) -> bytes:
        return png_bytes(result_rgb8(self.luma, np.zeros(self.luma.shape + (2,), np.float32)))

