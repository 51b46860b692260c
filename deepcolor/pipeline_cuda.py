"""The model-agnostic path on the GPU: the twin of `deepcolor.pipeline.colorize_luma` for ``device="cuda"``.

The luma goes to the device once; the model predicts the chroma there (its
``predict_chroma_cuda``), the joint bilateral refinement and the saturation
gain run there (the kernels seam, ``backend="cuda"``), and only the final
chroma comes back to the host, where it is merged with the host luma as on
the CPU. `deepcolor.pipeline` imports this module only for ``device="cuda"``,
so the CPU path never loads CuPy or numba.cuda.

Under numba's CUDA simulator the device arrays are numpy arrays and torch
runs on the CPU (`deepcolor.kernels.device.device_array_module`): the tests
run this very path on small images and compare it with the CPU path.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from deepcolor.kernels.device import device_array_module, to_host
from deepcolor.pipeline import Colorization

__all__ = ["colorize_luma_cuda"]

logger = logging.getLogger("deepcolor")
_CPU_ONLY_WARNED: set[str] = set()  # model names already said to predict on the CPU


def colorize_luma_cuda(luma: np.ndarray, model: Any, *, refine: bool = True, saturation: float = 1.0, **model_options: Any) -> Colorization:
    """Predict, refine and scale the chroma of a luma image on the GPU.

    Parameters and result as `deepcolor.pipeline.colorize_luma` (``luma`` on
    the host, float32 C-contiguous; the result on the host). A model without
    a ``predict_chroma_cuda`` method predicts on the CPU, with a one-line
    notice, and the rest of the path still runs on the device.
    """
    xp = device_array_module()
    # TILING CALL SITE: the whole image in one piece. deepcolor/tiling.py (issue 9) is not on main
    # yet; when it is, large images go through it here, as on the CPU (cluster choice once per image).
    return _colorize_whole(luma, xp.asarray(luma), model, refine=refine, saturation=saturation, **model_options)


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
