"""The model-agnostic path on the GPU: the twin of `deepcolor.pipeline.colorize_tiles` for ``device="cuda"``.

The luma goes to the device once (a tile's luma, for a tiled image); the
model predicts the chroma there (its ``predict_chroma_cuda``, or
``prepare_cuda`` and a chroma per tile), the joint bilateral refinement and
the saturation gain run there (the kernels seam, ``backend="cuda"``), and only
the final chroma comes back to the host, where it is merged with the host
luma as on the CPU. Large images go through the same tiles as on the CPU
(`deepcolor.tiling`, `deepcolor.pipeline.tile_windows`). `deepcolor.pipeline` imports this module only for ``device="cuda"``,
so the CPU path never loads CuPy or numba.cuda.

Under numba's CUDA simulator the device arrays are numpy arrays and torch
runs on the CPU (`deepcolor.kernels.device.device_array_module`): the tests
run this very path on small images and compare it with the CPU path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from deepcolor.kernels.device import device_array_module, to_host
from deepcolor.pipeline import Colorization, tile_windows
from deepcolor.tiling import Tile, needs_tiles, tile_grid

__all__ = ["colorize_luma_cuda"]

logger = logging.getLogger("deepcolor")
_CPU_ONLY_WARNED: set[str] = set()  # model names already said to predict on the CPU


def colorize_luma_cuda(luma: np.ndarray, model: Any, *, refine: bool = True, saturation: float = 1.0, **model_options: Any) -> Colorization:
    """Predict, refine and scale the chroma of a whole luma image on the GPU.

    Parameters and result as `deepcolor.pipeline.colorize_luma` (``luma`` on
    the host, float32 C-contiguous; the result on the host). A model without
    a ``predict_chroma_cuda`` method predicts on the CPU, with a one-line
    notice, and the rest of the path still runs on the device.
    """
    xp = device_array_module()
    return _colorize_whole(luma, xp.asarray(luma), model, refine=refine, saturation=saturation, **model_options)


def colorize_tiles_cuda(
    luma: np.ndarray, model: Any, emit: Callable[[Tile, np.ndarray], None], *, refine: bool, saturation: float, tile: int, **model_options: Any
) -> tuple[dict[str, Any], dict[str, float]]:
    """`deepcolor.pipeline.colorize_tiles` on the GPU: the same tiles, each on the device.

    The per-image part (FCN, gist, histogram, cluster choice) runs once
    (`ChengModel.prepare_cuda`); each tile's luma goes to the device, its
    features, MLP and refinement run there, and only its core's chroma comes
    back, to ``emit``. Device memory grows with the tile, not the image. An
    image no larger than ``tile``, or a model without ``prepare_cuda``, runs
    whole.
    """
    xp = device_array_module()
    if not needs_tiles(luma.shape, tile=tile) or not hasattr(model, "prepare_cuda"):
        result = colorize_luma_cuda(luma, model, refine=refine, saturation=saturation, **model_options)
        emit(tile_grid(luma.shape, tile=max(luma.shape), halo=0)[0], result.chroma)
        return result.info, result.seconds
    image = model.prepare_cuda(luma, xp, **model_options)
    refine_s = 0.0
    for t, want, core_in_want in tile_windows(luma.shape, tile=tile, refine=refine):
        chroma = image.chroma(t.outer, want)
        t0 = time.perf_counter()
        if refine:
            chroma = _refine_chroma(xp.asarray(np.ascontiguousarray(luma[want])), chroma)
        core = chroma[core_in_want]
        if saturation != 1.0:
            core = core * xp.float32(saturation)
        emit(t, np.ascontiguousarray(to_host(core)))
        refine_s += time.perf_counter() - t0
    return {"cluster": image.source}, dict(image.seconds, refinement=refine_s)


def _colorize_whole(luma: np.ndarray, luma_device: Any, model: Any, *, refine: bool, saturation: float, **model_options: Any) -> Colorization:
    xp = device_array_module()
    if hasattr(model, "predict_chroma_cuda"):
        prediction = model.predict_chroma_cuda(luma, luma_device, **model_options)
        chroma = prediction.chroma
    else:
        if model.name not in _CPU_ONLY_WARNED:
            _CPU_ONLY_WARNED.add(model.name)
            logger.warning("the %s model has no GPU path: it predicts on the CPU, the refinement runs on the GPU", model.name)
        prediction = model.predict_chroma(luma, **model_options)
        chroma = xp.asarray(prediction.chroma)
    t0 = time.perf_counter()
    if refine:
        chroma = _refine_chroma(luma_device, chroma)
    if saturation != 1.0:
        chroma = chroma * xp.float32(saturation)
    chroma = to_host(chroma)  # the one device -> host copy: (H, W, 2)
    seconds = dict(prediction.seconds, refinement=time.perf_counter() - t0)
    return Colorization(luma=luma, chroma=chroma, info=dict(prediction.info), seconds=seconds)


def _refine_chroma(luma_device: Any, chroma: Any):
    """`deepcolor.refine.refine_chroma` with its defaults, on the device: the seam's joint bilateral, ``backend="cuda"``."""
    from deepcolor import kernels
    from deepcolor.refine import DEFAULT_DIAMETER, DEFAULT_SIGMA_COLOR, DEFAULT_SIGMA_SPACE, _inverse_sigma, _spatial_kernel

    xp = device_array_module()
    radius = DEFAULT_DIAMETER // 2
    dy, dx, space = _spatial_kernel(radius, DEFAULT_SIGMA_SPACE)
    # Prepared as refine.joint_bilateral prepares them for the CPU kernel: reflect-101 padded, channel-first planes.
    guide_pad = xp.ascontiguousarray(xp.pad(luma_device, radius, mode="reflect"))
    planes_pad = xp.ascontiguousarray(xp.pad(xp.moveaxis(chroma, -1, 0), ((0, 0), (radius, radius), (radius, radius)), mode="reflect"))
    return kernels.joint_bilateral(guide_pad, planes_pad, dy, dx, space, _inverse_sigma(DEFAULT_SIGMA_COLOR), radius, backend="cuda")
