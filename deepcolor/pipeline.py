"""The model-agnostic path: luma -> a model's chroma -> refinement -> merge with the luma.

A model is anything with the `ChromaModel` shape: a ``name`` (the ``--method``),
the ``kind`` written in its model file, ``predict_chroma(luma, **options)`` and
``load(path)``. `MODEL_KINDS` maps a model file's kind to its class, imported
only when a file of that kind is opened, so `load_model` opens any kind and a
new model is a new file under ``deepcolor/models/`` plus one line here.
Model-specific options (Cheng's ``semantic``, ``clusters``) pass through
`colorize` to the model untouched.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from deepcolor.colorspace import merge_luma_chroma, rgb_to_luma
from deepcolor.modelfile import ModelFileError, default_weights_path, read_model_kind

__all__ = [
    "ChromaModel",
    "ChromaPrediction",
    "Colorization",
    "MODEL_KINDS",
    "METHODS",
    "model_class",
    "load_model",
    "colorize",
    "colorize_luma",
    "to_luma",
]

logger = logging.getLogger("deepcolor")

# A model file's kind -> "module:Class", imported lazily.
MODEL_KINDS = {
    "colorizer": "deepcolor.models.cheng:ChengModel",
    "global_prior": "deepcolor.models.global_prior:GlobalPriorModel",
}
# --method -> the kind (and shipped file name) of its model.
METHODS = {"cheng": "colorizer", "global-prior": "global_prior"}


@dataclass
class ChromaPrediction:
    """What a model predicts for one luma image."""

    chroma: np.ndarray  # (H, W, 2) float32 BT.601 U, V (before refinement and saturation)
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"cluster": "L0C03"}
    seconds: dict[str, float] = field(default_factory=dict)  # per-stage timings


@runtime_checkable
class ChromaModel(Protocol):
    """What a colorization model offers the pipeline."""

    name: ClassVar[str]
    kind: ClassVar[str]

    def predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """(H, W) float32 luma in [0, 1] -> prediction; unknown options raise ValueError naming them."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> "ChromaModel": ...


def model_class(kind: str) -> type:
    """The class that opens model files of ``kind`` (imported on first use)."""
    if kind not in MODEL_KINDS:
        raise ModelFileError(f"no model class for kind {kind!r} (known: {', '.join(sorted(MODEL_KINDS))})")
    module_name, class_name = MODEL_KINDS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        raise ModelFileError(f"model kind {kind!r} needs {module_name}, which this installation does not have") from None
    return getattr(module, class_name)


_DEFAULT_MODELS: dict[str, Any] = {}


def load_model(path: str | Path | None = None, *, method: str = "cheng") -> Any:
    """Open a model file of any known kind; without a path, the model of ``method`` shipped in the package (cached)."""
    if path is not None:
        path = Path(path)
        return model_class(read_model_kind(path)).load(path)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (use one of {', '.join(METHODS)})")
    if method not in _DEFAULT_MODELS:
        kind = METHODS[method]
        _DEFAULT_MODELS[method] = model_class(kind).load(default_weights_path(kind))
    return _DEFAULT_MODELS[method]


@dataclass
class Colorization:
    """A colorization result: chroma plus what produced it."""

    luma: np.ndarray  # (H, W) float32 in [0, 1]
    chroma: np.ndarray  # (H, W, 2) float32, after refinement and saturation
    info: dict[str, Any]  # the model's account of its choice, e.g. {"cluster": "L0C03"}
    seconds: dict[str, float]

    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1] with the luma kept."""
        return merge_luma_chroma(self.luma, self.chroma)


def to_luma(image: np.ndarray) -> np.ndarray:
    """Any gray or RGB array -> (H, W) float32 luma in [0, 1].

    uint8 and uint16 are scaled by their maximum; floats must already lie in
    [0, 1]. RGB input is reduced to its BT.601 luma with a one-line notice.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        logger.warning("colour input converted to gray (BT.601 luma) before colorization")
        image = image[..., :3]
        scaled = _scale(image)
        return rgb_to_luma(scaled)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"gray must be a non-empty (H, W) or (H, W, 3) array, got shape {image.shape}")
    return _scale(image)


def _scale(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("gray must be finite")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float gray must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]")
        return image.astype(np.float32)
    raise ValueError(f"unsupported dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")


def colorize_luma(
    luma: np.ndarray, model: Any, *, refine: bool = True, saturation: float = 1.0, device: str = "cpu", **model_options: Any
) -> Colorization:
    """Predict, refine and scale the chroma of a luma image (see `colorize` for the parameters)."""
    if not saturation >= 0:
        raise ValueError(f"saturation must be >= 0, got {saturation}")
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    if device != "cpu":
        from deepcolor.kernels.device import resolve_device

        if resolve_device(device) == "cuda":
            from deepcolor.pipeline_cuda import colorize_luma_cuda

            return colorize_luma_cuda(luma, model, refine=refine, saturation=saturation, **model_options)
    prediction = model.predict_chroma(luma, **model_options)
    chroma = prediction.chroma
    t0 = time.perf_counter()
    if refine:
        from deepcolor.refine import refine_chroma

        chroma = refine_chroma(luma, chroma)
    if saturation != 1.0:
        chroma = chroma * np.float32(saturation)
    seconds = dict(prediction.seconds, refinement=time.perf_counter() - t0)
    return Colorization(luma=luma, chroma=chroma, info=dict(prediction.info), seconds=seconds)


def colorize(
    gray: np.ndarray,
    *,
    model: Any = None,
    method: str = "cheng",
    refine: bool = True,
    saturation: float = 1.0,
    device: str = "cpu",
    **model_options: Any,
) -> np.ndarray:
    """Colorize a grayscale image.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        uint8, uint16, or float in [0, 1]. An (H, W, 3) colour image is
        reduced to its luma first, with a notice.
    model : ChromaModel or path, optional
        Default: the model of ``method`` shipped in the package.
    method : str
        Which shipped model when ``model`` is not given: ``"cheng"``.
    refine : bool
        Joint bilateral refinement of the chroma, guided by the gray image.
    saturation : float
        Chroma gain applied after refinement (1 = as predicted).
    device : {"cpu", "cuda", "auto"}
        Where the per-pixel work runs: ``cuda`` (raises ValueError without a
        usable GPU), ``auto`` (the GPU when one works, else the CPU) or
        ``cpu``, which never imports CuPy or numba.cuda.
    **model_options
        Passed to the model's ``predict_chroma``; Cheng's: ``semantic``
        (False: the 81-d descriptor without FCN semantics) and ``clusters``
        (False: the global MLP instead of the cluster hierarchy).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3)
        Same dtype family as the input: uint8 -> uint8, uint16 -> uint16,
        float -> float32 in [0, 1]. Its BT.601 luma equals the input (to
        rounding): only U, V are predicted.
    """
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, method=method)
    luma = to_luma(gray)
    rgb = colorize_luma(luma, model, refine=refine, saturation=saturation, device=device, **model_options).rgb()
    dtype = np.asarray(gray).dtype
    if dtype == np.uint8:
        return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.floor(rgb * 65535.0 + 0.5), 0, 65535).astype(np.uint16)
    return rgb
