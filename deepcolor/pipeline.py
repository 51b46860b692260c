"""The model-agnostic path: luma -> a model's chroma -> refinement -> merge with the luma.

A model is anything with the `deepcolor.models.base.ChromaModel` shape; the
registry (`deepcolor.models.registry`) opens model files and the shipped
models (`load_model`). Model-specific options (Cheng's ``semantic``,
``clusters``) pass through `colorize` to the model untouched, and what the
model says about an image (Cheng's cluster, the global prior's scene) comes
back as ``info`` (``colorize(..., return_info=True)``).

Every path colorizes through one `deepcolor.colorizer.Colorizer`, built once
from the model and every setting (device, refine, saturation, max_pixels,
the model's options); the functions here are its thin public faces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload
from collections.abc import Callable

import numpy as np

from deepcolor.colorizer import Colorizer, check_pixels, tile_windows
from deepcolor.colorspace import check_gray_image, check_luma_kept, merge_luma_chroma, quantize_rgb, rgb_to_luma
from deepcolor.errors import InputError
from deepcolor.hints import checked_hints
from deepcolor.io.common import DEFAULT_MAX_PIXELS
from deepcolor.models.base import ChromaModel, ChromaPrediction
from deepcolor.models.registry import load_model, model_class
from deepcolor.tiling import DEFAULT_TILE, Tile
from deepcolor.modelfile import check_model_argument

__all__ = [
    "ChromaModel",
    "ChromaPrediction",
    "Colorization",
    "model_class",
    "load_model",
    "colorize",
    "colorize_luma",
    "colorize_tiles",
    "colorize_tiles_on",
    "Colorizer",
    "quantize_rgb",
    "tile_windows",
    "to_luma",
]

logger = logging.getLogger("deepcolor")


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
        raise InputError(f"gray must be a non-empty (H, W) or (H, W, 3) array, got shape {image.shape}")
    return _scale(image)


def _scale(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InputError("gray must be finite")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"float gray must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]")
        return image.astype(np.float32)
    raise InputError(f"unsupported dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")


_check_pixels = check_pixels  # the pixel limit, before any work (`deepcolor.colorizer.check_pixels`)


def colorize_tiles(
    luma: np.ndarray,
    model: ChromaModel,
    emit: Callable[[Tile, np.ndarray], None],
    *,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    device: str = "auto",
    **model_options: Any,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Colorize a luma image tile by tile, handing each tile's finished chroma to ``emit(tile, chroma)``:
    `Colorizer.tiles` of a `Colorizer` built from these settings (see there, and `colorize` for the settings).

    Returns
    -------
    info, seconds : dict
        The model's account of its choice and per-stage timings.
    """
    colorizer = Colorizer(model, device=device, refine=refine, saturation=saturation, max_pixels=max_pixels, tile=tile,
                          **model_options)
    return colorizer.tiles(luma, emit)


def colorize_tiles_on(
    luma: np.ndarray,
    model: Any,
    emit: Callable[[Tile, np.ndarray], None],
    *,
    device: str,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    **model_options: Any,
) -> tuple[dict[str, Any], dict[str, float]]:
    """`colorize_tiles` on a device already resolved (`deepcolor.kernels.device.resolve_device`): ``"cpu"`` or ``"cuda"``.

    Under numba's CUDA simulator (which `resolve_device` never picks)
    ``"cuda"`` runs the GPU path on numpy arrays: the tests' way in.
    """
    colorizer = Colorizer(model, device=device, resolved=True, refine=refine, saturation=saturation, max_pixels=max_pixels,
                          tile=tile, **model_options)
    return colorizer.tiles(luma, emit)


def colorize_luma(
    luma: np.ndarray,
    model: ChromaModel,
    *,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int = DEFAULT_TILE,
    device: str = "auto",
    **model_options: Any,
) -> Colorization:
    """Predict, refine and scale the chroma of a luma image (a `Colorizer` of these settings; see `colorize`)."""
    colorizer = Colorizer(model, device=device, refine=refine, saturation=saturation, max_pixels=max_pixels, tile=tile,
                          **model_options)
    luma = colorizer.check(luma)
    chroma = colorizer(luma, checked=True)
    return Colorization(luma=luma, chroma=chroma, info=colorizer.info, seconds=colorizer.seconds)


def _chosen_model(model: Any, method: str | None, return_info: object) -> Any:
    """`colorize`'s model: loaded when a name or path; a ``method`` that is not its kind and a ``return_info``
    that is not a bool are ValueErrors."""
    if not isinstance(return_info, (bool, np.bool_)):
        raise InputError(f"return_info must be True or False, got {return_info!r}")
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, method=method)
    if method is not None and getattr(model, "name", method) != method:
        raise InputError(f"method={method!r}, but the model given is a {model.name} model; give one or the other")
    return model


@overload
def colorize(gray: np.ndarray, *, model: ChromaModel | str | Path | None = ..., method: str | None = ..., refine: bool = ...,
             saturation: float = ..., device: str = ..., max_pixels: int = ..., hints: Any = ...,
             return_info: Literal[False] = ..., **model_options: Any) -> np.ndarray: ...
@overload
def colorize(gray: np.ndarray, *, model: ChromaModel | str | Path | None = ..., method: str | None = ..., refine: bool = ...,
             saturation: float = ..., device: str = ..., max_pixels: int = ..., hints: Any = ...,
             return_info: Literal[True], **model_options: Any) -> tuple[np.ndarray, dict[str, Any]]: ...
def colorize(
    gray: np.ndarray,
    *,
    model: ChromaModel | str | Path | None = None,
    method: str | None = None,
    refine: bool = True,
    saturation: float = 1.0,
    device: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    hints: Any = None,
    return_info: bool = False,
    **model_options: Any,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Colorize a grayscale image.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        uint8, uint16, or float in [0, 1]. An (H, W, 3) colour image is
        reduced to its luma first, with a notice.
    model : ChromaModel, str or path, optional
        A loaded model, a shipped model's name (`deepcolor.list_models`) or a
        model file. Default: the shipped model of ``method``.
    method : str, optional
        Which shipped model when ``model`` is not given: ``"both"`` (default: the two below averaged),
        ``"cheng"`` or ``"global-prior"``. Given with ``model``, it must be that model's kind.
    refine : bool
        Joint bilateral refinement of the chroma, guided by the gray image.
    saturation : float
        Chroma gain applied after refinement (1 = as predicted), finite and >= 0.
    max_pixels : int
        Largest H * W accepted, 100 million by default as for the command
        line; raise it for larger images. Images above 1024 pixels a side are
        colorized in tiles (`colorize_tiles`), so memory grows with the
        output (3 bytes a pixel for uint8) plus the luma (4), not more.
    device : {"auto", "cpu", "cuda"}
        Where the per-pixel work runs: ``auto`` (default: the GPU when one
        works, else the CPU, silently), ``cuda`` (raises ValueError without a
        usable GPU) or ``cpu``, which never imports CuPy or numba.cuda.
    hints : list of (x, y, (r, g, b) or "#rrggbb"), optional
        Colours held at those pixels (column, row), spread along the luma (`deepcolor.hints`; bad: HintError).
    return_info : bool
        Also return the model's account of the image (Cheng: ``{"cluster": key}``;
        the global prior: ``{"scene": ..., "scene_probability": ...}``).
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
    info : dict
        Only with ``return_info=True``: ``(rgb, info)``.

    Raises
    ------
    ValueError
        A bad argument, or an image over ``max_pixels`` (before any work).
    """
    check_gray_image(gray)
    check_model_argument(model)
    check_pixels(np.shape(gray), max_pixels)
    hints = checked_hints(hints, np.shape(gray))  # bad hints are one line before the model loads
    model = _chosen_model(model, method, return_info)
    colorizer = Colorizer(model, device=device, refine=refine, saturation=saturation, max_pixels=max_pixels, **model_options)
    dtype = np.asarray(gray).dtype
    luma = colorizer.check(to_luma(gray))
    out_dtype = dtype if dtype in (np.uint8, np.uint16) else np.float32
    rgb = np.empty(luma.shape + (3,), out_dtype)

    def merge(t: Tile, chroma: np.ndarray) -> None:
        rgb[t.core] = check_luma_kept(luma[t.core], quantize_rgb(merge_luma_chroma(luma[t.core], chroma), out_dtype))

    info, _ = colorizer.tiles(luma, merge, checked=True, hints=hints)
    return (rgb, info) if return_info else rgb
