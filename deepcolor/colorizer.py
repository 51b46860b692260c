"""`Colorizer`: one object that turns a luma image into its chroma, built once from every setting.

Every caller (`deepcolor.colorize`, the file step `deepcolor.colorize_file`,
the video loop `deepcolor.video`, `deepcolor.evaluation` and, through the
file step, the batch workers) builds a `Colorizer` from the model, the
device, ``refine``, ``saturation``, ``max_pixels`` and the model's options,
then calls it on each luma image: a setting cannot be dropped on one path.

One path for both devices: on ``"cuda"`` the arrays are CuPy arrays (numpy
under numba's CUDA simulator), a `TiledModel` prepares on the device's array
module (``prepare(luma, xp)``), the refinement runs the kernels' CUDA twin,
and only each tile's final chroma comes back to the host. A model without
tiles predicts the whole image on the CPU (``predict_chroma``), with a
one-line notice on the GPU. The CPU path never imports CuPy or numba.cuda.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from deepcolor.colorspace import check_luma, check_refine, check_saturation
from deepcolor.errors import InputError
from deepcolor.io.common import DEFAULT_MAX_PIXELS, check_max_pixels
from deepcolor.kernels.device import array_module_for, resolve_device, to_host
from deepcolor.models.base import ChromaPrediction, ShotStateModel, TiledModel, validate_options
from deepcolor.refine import refine_chroma
from deepcolor.tiling import DEFAULT_TILE, HALO, REFINE_HALO, Tile, needs_tiles, tile_grid

__all__ = ["Colorizer", "check_pixels", "tile_windows"]

logger = logging.getLogger("deepcolor")
_CPU_ONLY_WARNED: set[str] = set()  # model names already said to predict on the CPU


def check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    """An `InputError` (one line, before any work) for an image of more than ``max_pixels`` pixels."""
    check_max_pixels(max_pixels)
    if len(shape) >= 2 and shape[0] * shape[1] > max_pixels:
        raise InputError(
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


class Colorizer:
    """A model with every setting of a colorization, checked once; ``colorizer(luma) -> chroma``.

    Parameters
    ----------
    model : ChromaModel
        E.g. ``deepcolor.load_model("cheng")``.
    device : {"auto", "cpu", "cuda"}, keyword-only
        Where the per-pixel work runs (`deepcolor.kernels.device.resolve_device`;
        ``"cuda"`` without a usable GPU is an `InputError`). Default ``"auto"``.
    refine : bool, keyword-only
        Joint bilateral refinement of the chroma, guided by the luma.
    saturation : float, keyword-only
        Chroma gain after refinement (1 = as predicted), finite and >= 0.
    max_pixels : int, keyword-only
        Largest H * W accepted (an `InputError` above it, before any work).
    tile : int, keyword-only
        Core side of a tile in pixels; a larger image is colorized tile by tile.
    resolved : bool, keyword-only
        ``device`` is already resolved (``"cpu"`` or ``"cuda"``): taken as is,
        which is how tests run ``"cuda"`` under numba's CUDA simulator.
    **model_options
        The model's own options (Cheng's ``semantic``, ``clusters``; the global
        prior's ``vividness``, ``style``), checked against it here.

    Attributes
    ----------
    info : dict
        The model's account of the last image (Cheng: ``{"cluster": key}``).
    seconds : dict
        Per-stage timings of the last image.
    """

    def __init__(self, model: Any, *, device: str = "auto", refine: bool = True, saturation: float = 1.0,
                 max_pixels: int = DEFAULT_MAX_PIXELS, tile: int = DEFAULT_TILE, resolved: bool = False,
                 **model_options: Any) -> None:
        check_saturation(saturation)
        check_refine(refine)
        check_max_pixels(max_pixels)
        validate_options(model, model_options)
        self.model = model
        self.device = device if resolved else resolve_device(device)
        self.refine = refine
        self.saturation = saturation
        self.max_pixels = max_pixels
        self.tile = tile
        self.options = dict(model_options)
        self.info: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"Colorizer({self.model.name}, device={self.device!r}, refine={self.refine}, saturation={self.saturation}, "
                f"max_pixels={self.max_pixels}, {self.options})")

    def check(self, luma: np.ndarray) -> np.ndarray:
        """The boundary check of a luma image, once per image: its size against ``max_pixels``, then (H, W)
        float32 in [0, 1], finite; the C-contiguous float32 array the model gets."""
        check_pixels(np.shape(luma), self.max_pixels)
        return np.ascontiguousarray(check_luma(luma, name="luma", range_tolerance=1e-6), dtype=np.float32)

    def __call__(self, luma: np.ndarray, *, state: Any = None, checked: bool = False, hints: Any = ()) -> np.ndarray:
        """(H, W, 2) float32 chroma of an (H, W) float32 luma in [0, 1], after refinement and saturation.

        ``state``: a `video_state` (the shot's decision) instead of this image's own; ``checked``: ``luma`` already
        passed `check`; ``hints``: the user's hints (`tiles`). Sets `info` and `seconds`.
        """
        if not checked:
            luma = self.check(luma)
        chroma = np.empty(luma.shape + (2,), np.float32)

        def keep(t: Tile, core: np.ndarray) -> None:
            chroma[t.core] = core

        self.tiles(luma, keep, state=state, checked=True, hints=hints)
        return chroma

    def video_state(self, frames: list[np.ndarray]) -> Any:
        """The model's decision for a video shot from a few of its frames' lumas (None: the model makes none)."""
        if not isinstance(self.model, ShotStateModel):
            return None
        return self.model.shot_state([self.check(f) for f in frames], **self.options)

    def tiles(self, luma: np.ndarray, emit: Callable[[Tile, np.ndarray], None], *, state: Any = None,
              checked: bool = False, hints: Any = ()) -> tuple[dict[str, Any], dict[str, float]]:
        """Colorize ``luma`` tile by tile, handing each tile's finished chroma to ``emit(tile, chroma)``.

        Memory grows with the tile, not the image. The per-image part (a
        `TiledModel`'s ``prepare``: Cheng's FCN, gist, cluster choice; the
        global prior's network) runs once; features, MLP and refinement run on
        each tile with a halo of `tiling.HALO` pixels. An image no larger than
        ``tile``, or a model without tiles, is one tile. The stitched chroma
        equals the whole-image chroma to about 1e-4 (the domain transform's
        long reach is the only inexact part), i.e. 8-bit RGB within one level.

        ``chroma`` is (rows, columns of ``tile.core``, 2) float32 U, V on the
        host, after refinement and saturation. ``checked``: ``luma`` already
        passed `check`. ``hints`` (`deepcolor.hints`: points or `Hint` s): the
        whole image's chroma is kept (8 bytes a pixel more), the hints are
        spread into it after refinement and saturation (nothing washes them
        out) and it is handed to ``emit`` as one tile. Returns (and keeps as
        `info`, `seconds`) the model's account and per-stage timings.
        """
        if not checked:
            luma = self.check(luma)
        hints = list(hints) if hints is not None else []
        if hints:
            return self._hinted(luma, emit, state, hints)
        options = self.options if state is None else dict(self.options, state=state)
        if not needs_tiles(luma.shape, tile=self.tile) or not isinstance(self.model, TiledModel):
            info, seconds = self._whole(luma, emit, options)
        else:
            info, seconds = self._tiled(luma, emit, options)
        self.info, self.seconds = info, seconds
        return info, seconds

    def _hinted(self, luma: np.ndarray, emit: Callable[[Tile, np.ndarray], None], state: Any,
                hints: Any) -> tuple[dict[str, Any], dict[str, float]]:
        """`tiles` with the user's hints spread into the finished chroma (`deepcolor.hints.propagate`)."""
        from deepcolor.hints import checked_hints, propagate

        hints = checked_hints(hints, luma.shape)
        chroma = self(luma, state=state, checked=True)
        t0 = time.perf_counter()
        chroma = propagate(luma, chroma, hints)
        self.seconds = dict(self.seconds, hints=time.perf_counter() - t0)
        emit(tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0], chroma)
        return self.info, self.seconds

    def _finish(self, luma: Any, chroma: Any, xp: Any) -> np.ndarray:
        """Refinement and saturation on the device, then the one device -> host copy."""
        if self.refine:
            chroma = refine_chroma(luma, chroma, device=self.device)
        if self.saturation != 1.0:
            chroma = chroma * xp.float32(self.saturation)
        return chroma

    def _tiled(self, luma: np.ndarray, emit: Callable[[Tile, np.ndarray], None],
               options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        xp = array_module_for(self.device)
        image = self.model.prepare(luma, xp, **options)
        refine_s = 0.0
        for t, want, core_in_want in tile_windows(luma.shape, tile=self.tile, refine=self.refine):
            chroma = image.chroma(t.outer, want)
            t0 = time.perf_counter()
            if self.refine:
                chroma = refine_chroma(xp.asarray(np.ascontiguousarray(luma[want])), chroma, device=self.device)
            core = chroma[core_in_want]
            if self.saturation != 1.0:
                core = core * xp.float32(self.saturation)
            core = np.ascontiguousarray(to_host(core))  # the tile's one device -> host copy
            refine_s += time.perf_counter() - t0
            emit(t, np.ascontiguousarray(core))
        return dict(image.info), dict(image.seconds, refinement=refine_s)

    def _whole(self, luma: np.ndarray, emit: Callable[[Tile, np.ndarray], None],
               options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        """An image that is one tile: the model's whole-image prediction, refined on the device."""
        xp = array_module_for(self.device)
        prediction = self._predict_whole(luma, xp, options)
        t0 = time.perf_counter()
        chroma = to_host(self._finish(xp.asarray(luma), prediction.chroma, xp))  # the one device -> host copy: (H, W, 2)
        refine_s = time.perf_counter() - t0
        emit(tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0], chroma)
        return dict(prediction.info), dict(prediction.seconds, refinement=refine_s)

    def _predict_whole(self, luma: np.ndarray, xp: Any, options: dict[str, Any]) -> ChromaPrediction:
        """The model's prediction of the whole image, its chroma on the device."""
        model = self.model
        if self.device == "cpu":
            return model.predict_chroma(luma, **options)
        if isinstance(model, TiledModel):
            image = model.prepare(luma, xp, **options)
            every = (slice(0, luma.shape[0]), slice(0, luma.shape[1]))
            return ChromaPrediction(image.chroma(every, every), dict(image.info), dict(image.seconds))
        if model.name not in _CPU_ONLY_WARNED:
            _CPU_ONLY_WARNED.add(model.name)
            logger.warning("the %s model has no GPU path: it predicts on the CPU, the refinement runs on the GPU", model.name)
        prediction = model.predict_chroma(luma, **options)
        return ChromaPrediction(xp.asarray(prediction.chroma), prediction.info, prediction.seconds)
