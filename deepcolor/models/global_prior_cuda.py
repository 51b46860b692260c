"""The global-prior CNN's prediction on the GPU: the twin of `GlobalPriorModel.predict_chroma`.

The network runs on its CUDA copy (made once, `module_on`) on the luma that is
already on the device (edge padding, normalisation, the output's upsampling
and the unit -> U, V mapping all in torch there); the chroma goes back to CuPy
through DLPack, for the refinement. The global path's 224 x 224 input is made
on the host, as on the CPU (a per-image step on the luma or the style image).
Under numba's CUDA simulator the device arrays are numpy arrays and torch runs
on the CPU, so the tests compare this with the CPU prediction.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from deepcolor.kernels.cuda_host import array_module
from deepcolor.kernels.device import from_torch, module_on, synchronize, to_torch, torch_device
from deepcolor.models.global_prior import CHROMA_MAX, LUMA_MEAN, LUMA_STD, STRIDE, _check_luma, _normalize, global_input
from deepcolor.pipeline import ChromaPrediction

__all__ = ["predict_chroma_cuda"]


def predict_chroma_cuda(model: Any, luma: np.ndarray, luma_device: Any, *, style: np.ndarray | None = None) -> ChromaPrediction:
    """Chroma of a luma image from the global-prior CNN, computed on the device.

    Parameters
    ----------
    model : GlobalPriorModel
    luma : numpy.ndarray, shape (H, W), float32 in [0, 1]
        On the host (the global path's input is made from it).
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float32
        The same luma on the device.
    style : numpy.ndarray, shape (H', W'), float in [0, 1], optional
        As in `GlobalPriorModel.predict_chroma`.

    Returns
    -------
    ChromaPrediction
        ``chroma`` (H, W, 2) float32 U, V on the device; ``info`` as on the CPU.
    """
    import torch
    import torch.nn.functional as F

    luma = _check_luma(luma, "luma")
    glob_src = luma if style is None else _check_luma(style, "style")
    xp = array_module(luma_device)
    device = torch_device(xp)
    t0 = time.perf_counter()
    h, w = luma.shape
    local = to_torch(xp.ascontiguousarray(luma_device, dtype=xp.float32))[None, None]
    local = F.pad(local, (0, -w % STRIDE, 0, -h % STRIDE), mode="replicate")  # np.pad's "edge", as on the CPU
    mean, std = (torch.tensor(np.float32(v), device=device) for v in (LUMA_MEAN, LUMA_STD))
    with torch.inference_mode():
        unit, logits = module_on(model.net, device)((local - mean) / std, _normalize(global_input(glob_src)).to(device))
        unit = F.interpolate(unit, size=local.shape[-2:], mode="bilinear", align_corners=False)[0, :, :h, :w]
        chroma = ((unit.permute(1, 2, 0) * 2.0 - 1.0) * torch.from_numpy(CHROMA_MAX).to(device)).contiguous()
        probs = torch.softmax(logits[0], dim=0).cpu().numpy().astype(np.float32)
    chroma = from_torch(chroma, xp)
    synchronize(xp)
    top = int(np.argmax(probs))
    info = {"scene": model.classes[top], "scene_probability": float(probs[top]), "styled": style is not None}
    return ChromaPrediction(chroma=chroma, info=info, seconds={"network": time.perf_counter() - t0})
