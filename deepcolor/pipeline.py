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
from collections.abc import Callable

import numpy as np

from deepcolor.colorspace import check_gray_image, check_luma_kept, check_refine, check_saturation, merge_luma_chroma, rgb_to_luma
from deepcolor.io.common import DEFAULT_MAX_PIXELS
from deepcolor.tiling import DEFAULT_TILE, HALO, REFINE_HALO, Tile, needs_tiles, tile_grid
from deepcolor.modelfile import ModelFileError, check_model_argument, default_weights_path, kind_mismatch, read_model_kind

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
    "colorize_tiles",
    "quantize_rgb",
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
        kind = read_model_kind(path)
        if kind not in MODEL_KINDS:  # e.g. the FCN file: say what it is and what to pass
            raise ModelFileError(kind_mismatch(path, kind, sorted(MODEL_KINDS)))
        return model_class(kind).load(path)
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


def _check_saturation(saturation: float) -> None:
    check_saturation(saturation)


def _check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    if len(shape) >= 2 and shape[0] * shape[1] > max_pixels:
        raise ValueError(
            f"image is {shape[1]}x{shape[0]} = {shape[0] * shape[1]:,} pixels, over the limit of {max_pixels:,} "
            "(pass max_pixels= to raise it)"
        )


def tile_windows(shape: tuple[int, int], *, tile: int, refine: bool):
    """``(tile, want, core_in_want)`` for each tile: the pixels whose chroma the refinement of the
    core reads (``want``, image coordinates, inside ``tile.outer``) and the core within them."""
    reach = REFINE_HALO if refine else 0
    for t in tile_grid(shape, tile=tile, halo=HALO):
        want = tuple(slice(max(o.start, c.start - reach), min(o.stop, c.stop + reach)) for o, c in zip(t.outer, t.core))
        yield t, want, tuple(slice(c.start - w.start, c.stop - w.start) for c, w in zip(t.core, want))


def colorize_tiles(
    luma: np.ndarray,
    model: Any,
    emit: Callable[[Tile, np.ndarray], None],
    *,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    device: str = "cpu",
    **model_options: Any,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Colorize a luma image tile by tile, handing each tile's finished chroma to ``emit``.

    Memory grows with the tile, not the image. The per-image part (the FCN on
    the whole image downscaled, gist, semantic histogram, cluster choice) is
    computed once; features, MLP and refinement run on each tile with a halo
    of `tiling.HALO` pixels. An image no larger than ``tile`` is one tile, the
    plain whole-image path. The stitched chroma equals the whole-image chroma
    to about 1e-4 (measured 5e-5 at most on photographs; the domain
    transform's long reach is the only inexact part), i.e. 8-bit RGB within
    one level. A model without ``prepare`` (`ChengModel.prepare`) runs whole.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float32 in [0, 1]
    model : ChromaModel
    emit : callable
        ``emit(tile, chroma)``: ``chroma`` (rows, columns of ``tile.core``, 2)
        float32 U, V after refinement and saturation.
    refine, saturation, **model_options
        See `colorize`.
    max_pixels : int, keyword-only
        Largest H * W accepted (a ValueError above it, before any work).
    tile : int, keyword-only
        Core side of a tile in pixels.
    device : {"cpu", "cuda", "auto"}, keyword-only
        See `colorize`. On the GPU the same tiles run on the device
        (`deepcolor.pipeline_cuda.colorize_tiles_cuda`).

    Returns
    -------
    info, seconds : dict
        The model's account of its choice and per-stage timings.
    """
    _check_saturation(saturation)
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    _check_pixels(luma.shape, max_pixels)
    if device != "cpu":
        from deepcolor.kernels.device import resolve_device

        if resolve_device(device) == "cuda":
            from deepcolor.pipeline_cuda import colorize_tiles_cuda

            return colorize_tiles_cuda(luma, model, emit, refine=refine, saturation=saturation, tile=tile, **model_options)
    from deepcolor.refine import refine_chroma

    refine_s = 0.0
    if not needs_tiles(luma.shape, tile=tile) or not hasattr(model, "prepare"):
        prediction = model.predict_chroma(luma, **model_options)
        chroma, info, seconds = prediction.chroma, dict(prediction.info), dict(prediction.seconds)
        t0 = time.perf_counter()
        if refine:
            chroma = refine_chroma(luma, chroma)
        if saturation != 1.0:
            chroma = chroma * np.float32(saturation)
        refine_s = time.perf_counter() - t0
        whole = tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0]
        emit(whole, chroma)
        return info, dict(seconds, refinement=refine_s)
    image = model.prepare(luma, **model_options)
    for t, want, core_in_want in tile_windows(luma.shape, tile=tile, refine=refine):
        chroma = image.chroma(t.outer, want)
        t0 = time.perf_counter()
        if refine:
            chroma = refine_chroma(luma[want], chroma)
        core = chroma[core_in_want]
        if saturation != 1.0:
            core = core * np.float32(saturation)
        refine_s += time.perf_counter() - t0
        emit(t, np.ascontiguousarray(core))
    return {"cluster": image.source}, dict(image.seconds, refinement=refine_s)


def colorize_luma(
    luma: np.ndarray,
    model: Any,
    *,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    device: str = "cpu",
    **model_options: Any,
) -> Colorization:
    """Predict, refine and scale the chroma of a luma image (see `colorize` and `colorize_tiles`)."""
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    _check_pixels(luma.shape, max_pixels)
    chroma = np.empty(luma.shape + (2,), np.float32)

    def keep(t: Tile, core: np.ndarray) -> None:
        chroma[t.core] = core

    info, seconds = colorize_tiles(
        luma, model, keep, refine=refine, saturation=saturation, max_pixels=max_pixels, tile=tile, device=device, **model_options
    )
    return Colorization(luma=luma, chroma=chroma, info=info, seconds=seconds)


def quantize_rgb(rgb: np.ndarray, dtype: Any) -> np.ndarray:
    """Float RGB in [0, 1] -> uint8 or uint16, rounded half up (float32 passes through)."""
    if dtype == np.uint8:
        return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.floor(rgb * 65535.0 + 0.5), 0, 65535).astype(np.uint16)
    return rgb


def colorize(
    gray: np.ndarray,
    *,
    model: Any = None,
    method: str = "cheng",
    refine: bool = True,
    saturation: float = 1.0,
    device: str = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
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
        Chroma gain applied after refinement (1 = as predicted), finite and >= 0.
    max_pixels : int
        Largest H * W accepted, 100 million by default as for the command
        line; raise it for larger images. Images above 1024 pixels a side are
        colorized in tiles (`colorize_tiles`), so memory grows with the
        output (3 bytes a pixel for uint8) plus the luma (4), not more.
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

    Raises
    ------
    ValueError
        A bad argument, or an image over ``max_pixels`` (before any work).
    """
    _check_saturation(saturation)
    check_refine(refine)
    check_gray_image(gray)
    check_model_argument(model)
    _check_pixels(np.shape(gray), max_pixels)
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, method=method)
    dtype = np.asarray(gray).dtype
    luma = to_luma(gray)
    out_dtype = dtype if dtype in (np.uint8, np.uint16) else np.float32
    rgb = np.empty(luma.shape + (3,), out_dtype)

    def merge(t: Tile, chroma: np.ndarray) -> None:
        rgb[t.core] = check_luma_kept(luma[t.core], quantize_rgb(merge_luma_chroma(luma[t.core], chroma), out_dtype))

    colorize_tiles(luma, model, merge, refine=refine, saturation=saturation, max_pixels=max_pixels, device=device, **model_options)
    return rgb
