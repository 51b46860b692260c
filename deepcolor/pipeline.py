"""The model-agnostic path: luma -> a model's chroma -> refinement -> merge with the luma.

A model is anything with the `deepcolor.models.base.ChromaModel` shape; the
registry (`deepcolor.models.registry`) opens model files and the shipped
models (`load_model`). Model-specific options (Cheng's ``semantic``,
``clusters``) pass through `colorize` to the model untouched, and what the
model says about an image (Cheng's cluster, the global prior's scene) comes
back as ``info`` (``colorize(..., return_info=True)``).

One path for both devices (`colorize_tiles_on`): on ``"cuda"`` the arrays
are CuPy arrays (numpy under numba's CUDA simulator), the model predicts with
its ``prepare_cuda`` / ``predict_chroma_cuda`` (the same code as on the CPU,
written against the array module), the refinement runs the kernels' CUDA
twin, and only each tile's final chroma comes back to the host. The CPU path
never imports CuPy or numba.cuda.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload
from collections.abc import Callable

import numpy as np

from deepcolor.colorspace import check_gray_image, check_luma_kept, check_refine, check_saturation, merge_luma_chroma, quantize_rgb, rgb_to_luma
from deepcolor.io.common import DEFAULT_MAX_PIXELS, check_max_pixels
from deepcolor.kernels.device import array_module_for, resolve_device, to_host
from deepcolor.hints import checked_hints, propagate
from deepcolor.refine import refine_chroma
from deepcolor.models.base import ChromaModel, ChromaPrediction, capabilities
from deepcolor.models.registry import DEFAULT_METHOD, load_model, model_class
from deepcolor.tiling import DEFAULT_TILE, HALO, REFINE_HALO, Tile, needs_tiles, tile_grid
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
    "colorize_tiles_hinted",
    "quantize_rgb",
    "to_luma",
]

logger = logging.getLogger("deepcolor")
_CPU_ONLY_WARNED: set[str] = set()  # model names already said to predict on the CPU


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


def _check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    check_max_pixels(max_pixels)
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
    model: ChromaModel,
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
    one level. A model without the ``tiles`` capability (`ChengModel.prepare`) runs whole.

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
        See `colorize`. On the GPU the same tiles run on the device: each
        tile's luma goes there, its features, MLP and refinement run there
        (the model's ``prepare_cuda``, or ``predict_chroma_cuda`` for a whole
        image; a model without them predicts on the CPU, with a one-line
        notice), and only its core's chroma comes back. Under numba's CUDA
        simulator ``"cuda"`` runs this same path on numpy arrays (tests).

    Returns
    -------
    info, seconds : dict
        The model's account of its choice and per-stage timings.
    """
    device = resolve_device(device)
    return colorize_tiles_on(
        luma, model, emit, device=device, refine=refine, saturation=saturation, max_pixels=max_pixels, tile=tile, **model_options
    )


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
    check_saturation(saturation)
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    _check_pixels(luma.shape, max_pixels)
    prepare = _prepare_method(model, device)
    if not needs_tiles(luma.shape, tile=tile) or prepare is None:
        return _colorize_whole(luma, model, emit, device, refine=refine, saturation=saturation, options=model_options)
    xp = array_module_for(device)
    image = prepare(luma, **model_options)
    refine_s = 0.0
    for t, want, core_in_want in tile_windows(luma.shape, tile=tile, refine=refine):
        chroma = image.chroma(t.outer, want)
        t0 = time.perf_counter()
        if refine:
            chroma = refine_chroma(xp.asarray(np.ascontiguousarray(luma[want])), chroma, backend=device)
        core = chroma[core_in_want]
        if saturation != 1.0:
            core = core * xp.float32(saturation)
        core = np.ascontiguousarray(to_host(core))  # the tile's one device -> host copy
        refine_s += time.perf_counter() - t0
        emit(t, np.ascontiguousarray(core))
    return dict(image.info), dict(image.seconds, refinement=refine_s)


def _prepare_method(model: Any, device: str) -> Callable[..., Any] | None:
    """``prepare(luma, **options)`` of ``model`` on ``device`` (its ``prepare`` or ``prepare_cuda``), or None: it runs whole."""
    if "tiles" not in capabilities(model):
        return None
    if device == "cpu":
        return getattr(model, "prepare", None)
    if not hasattr(model, "prepare_cuda"):
        return None
    xp = array_module_for(device)
    return lambda luma, **options: model.prepare_cuda(luma, xp, **options)


def _predict_whole(luma: np.ndarray, model: Any, device: str, options: dict[str, Any]) -> ChromaPrediction:
    """The model's prediction of the whole image, its chroma on ``device``."""
    if device == "cpu":
        return model.predict_chroma(luma, **options)
    if hasattr(model, "predict_chroma_cuda"):
        return model.predict_chroma_cuda(luma, **options)
    if model.name not in _CPU_ONLY_WARNED:
        _CPU_ONLY_WARNED.add(model.name)
        logger.warning("the %s model has no GPU path: it predicts on the CPU, the refinement runs on the GPU", model.name)
    prediction = model.predict_chroma(luma, **options)
    return ChromaPrediction(array_module_for(device).asarray(prediction.chroma), prediction.info, prediction.seconds)


def _colorize_whole(
    luma: np.ndarray, model: Any, emit: Callable[[Tile, np.ndarray], None], device: str, *, refine: bool, saturation: float,
    options: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, float]]:
    """`colorize_tiles` of an image that is one tile: the model's whole-image prediction, refined on ``device``."""
    xp = array_module_for(device)
    prediction = _predict_whole(luma, model, device, options)
    chroma = prediction.chroma
    t0 = time.perf_counter()
    if refine:
        chroma = refine_chroma(xp.asarray(luma), chroma, backend=device)
    if saturation != 1.0:
        chroma = chroma * xp.float32(saturation)
    chroma = to_host(chroma)  # the one device -> host copy: (H, W, 2)
    refine_s = time.perf_counter() - t0
    emit(tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0], chroma)
    return dict(prediction.info), dict(prediction.seconds, refinement=refine_s)


def colorize_luma(
    luma: np.ndarray,
    model: ChromaModel,
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


def colorize_tiles_hinted(
    luma: np.ndarray, model: ChromaModel, emit: Callable[[Tile, np.ndarray], None], hints: Any = None, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, float]]:
    """`colorize_tiles`, with the user's hints (`deepcolor.hints`) spread into the finished chroma when there are any.

    With hints the whole image's chroma is kept (8 bytes a pixel more) and handed to ``emit`` as one
    tile: the hints' propagation (`deepcolor.hints.propagate`) runs after the model's chroma, its
    refinement and saturation, and before the merge with the luma, so nothing washes them out.
    """
    hints = checked_hints(hints, luma.shape)
    if not hints:
        return colorize_tiles(luma, model, emit, **kwargs)
    result = colorize_luma(luma, model, **kwargs)
    t0 = time.perf_counter()
    chroma = propagate(result.luma, result.chroma, hints)
    emit(tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0], chroma)
    return result.info, dict(result.seconds, hints=time.perf_counter() - t0)


@overload
def colorize(gray: np.ndarray, *, model: ChromaModel | str | Path | None = ..., method: str = ..., refine: bool = ...,
             saturation: float = ..., device: str = ..., max_pixels: int = ..., hints: Any = ...,
             return_info: Literal[False] = ..., **model_options: Any) -> np.ndarray: ...
@overload
def colorize(gray: np.ndarray, *, model: ChromaModel | str | Path | None = ..., method: str = ..., refine: bool = ...,
             saturation: float = ..., device: str = ..., max_pixels: int = ..., hints: Any = ...,
             return_info: Literal[True], **model_options: Any) -> tuple[np.ndarray, dict[str, Any]]: ...
def colorize(
    gray: np.ndarray,
    *,
    model: ChromaModel | str | Path | None = None,
    method: str = DEFAULT_METHOD,
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
    method : str
        Which shipped model when ``model`` is not given: ``"cheng"`` or ``"global-prior"``.
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
    check_saturation(saturation)
    check_refine(refine)
    check_gray_image(gray)
    check_model_argument(model)
    _check_pixels(np.shape(gray), max_pixels)
    hints = checked_hints(hints, np.shape(gray))
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, method=method)
    luma = to_luma(gray)
    out_dtype = dtype if (dtype := np.asarray(gray).dtype) in (np.uint8, np.uint16) else np.float32
    rgb = np.empty(luma.shape + (3,), out_dtype)

    def merge(t: Tile, chroma: np.ndarray) -> None:
        rgb[t.core] = check_luma_kept(luma[t.core], quantize_rgb(merge_luma_chroma(luma[t.core], chroma), out_dtype))

    info, _ = colorize_tiles_hinted(luma, model, merge, hints, refine=refine, saturation=saturation, max_pixels=max_pixels,
                                    device=device, **model_options)
    return (rgb, info) if return_info else rgb
