"""GPU twin of the semantic stage (`deepcolor.features.semantic`): FCN on torch CUDA, smoothing on CuPy.

The CPU stage runs the FCN on a copy of the luma downscaled to at most
``fcn.max_side`` pixels a side, upsamples the softmax bilinearly to (H, W)
(OpenCV), smooths it with OpenCV's domain-transform filter guided by the
luma, then clips at 0 and renormalises each pixel to sum 1. Here:

- the downscale of the FCN's input stays on the host (OpenCV's area
  interpolation, exactly as on the CPU: a per-image step on a copy of at most
  400 pixels a side, like gist's);
- the FCN, the softmax and the bilinear upsampling run in torch on the
  model's CUDA copy (``F.interpolate``, half-pixel centres and clamped borders
  as ``cv2.INTER_LINEAR``), handed to CuPy through DLPack;
- the smoothing is `domain_transform_cuda` (the twin of OpenCV's ``DTF_RF``)
  on all 11 maps at once, then `clip_renormalise` in CuPy.

Parity with the CPU stage: the smoothed maps agree within ``PARITY_ATOL =
1e-5`` absolute (the domain transform's bound; the clip-and-renormalise and
the upsampling add float32 rounding only). Checked under numba's CUDA
simulator, where every function here takes numpy arrays and runs torch on the
CPU (``tests/cudasim_parity.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepcolor.colorspace import check_luma
from deepcolor.features.semantic import _DT_ITERS, N_CLASSES, SIGMA_COLOR, SIGMA_SPATIAL, _check_sigmas, _fcn_input
from deepcolor.kernels.cuda_host import array_module, check_float_array
from deepcolor.kernels.device import from_torch, module_on, to_host, torch_device
from deepcolor.kernels.domain_transform_cuda import domain_transform_cuda
from deepcolor.kernels.upsample_cuda import clip_renormalise

__all__ = [
    "PARITY_ATOL",
    "FEATURES_ATOL",
    "smooth_probabilities_cuda",
    "semantic_features_cuda",
    "semantic_histogram_cuda",
]

PARITY_ATOL = 1e-5
# torch's bilinear upsampling computes its source coordinates in float64, OpenCV's in float32:
# up to about 3e-5 apart on a 300x400 -> 1024x1365 map, before the smoothing averages it down.
FEATURES_ATOL = 1e-4


def smooth_probabilities_cuda(probs: Any, luma: Any, *, sigma_spatial: float = SIGMA_SPATIAL, sigma_color: float = SIGMA_COLOR):
    """Edge-preserving smoothing of probability maps guided by the luma, on the GPU.

    The twin of `deepcolor.features.semantic.smooth_probabilities`: the
    domain transform (recursive, 2 iterations) of all 11 maps guided by
    ``luma``, then `clip_renormalise`.

    Parameters
    ----------
    probs : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W, 11), float
    luma : array of the same module, shape (H, W), float
        Guide, in [0, 1].
    sigma_spatial, sigma_color : float, keyword-only
        As in `smooth_probabilities` (> 0).

    Returns
    -------
    smoothed : array of the input's module, shape (H, W, 11), float32
        Non-negative, summing to 1 per pixel.

    Raises
    ------
    ValueError
        On a wrong shape, non-float or non-finite input, or a non-positive sigma.
    """
    _, probs = check_float_array(probs, "probs", (3,))
    if probs.shape[-1] != N_CLASSES:
        raise ValueError(f"probs must have shape (H, W, {N_CLASSES}), got {probs.shape}")
    _check_sigmas(sigma_spatial, sigma_color)
    smoothed = domain_transform_cuda(probs, luma, sigma_spatial=sigma_spatial, sigma_color=sigma_color, iterations=_DT_ITERS)
    return clip_renormalise(smoothed)


def semantic_features_cuda(luma: np.ndarray, luma_device: Any, fcn: Any, *, max_side: int | None = None):
    """The 11-d semantic part of the descriptor, on the GPU: the twin of `semantic_features`.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] on the host: only its downscaled copy for the FCN is
        read there.
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float32
        The same luma on the device: the guide of the smoothing.
    fcn : SemanticFCN
        Run on its copy on the device (made once, see `module_on`).
    max_side : int, optional, keyword-only
        As in `semantic_features`.

    Returns
    -------
    features : array of ``luma_device``'s module, shape (H, W, 11), float32
        Smoothed class probabilities, non-negative, summing to 1 per pixel;
        within `FEATURES_ATOL` of `semantic_features`.
    """
    import torch
    import torch.nn.functional as F

    luma = check_luma(luma)
    if tuple(luma_device.shape) != luma.shape:
        raise ValueError(f"luma_device must have the luma's shape {luma.shape}, got {tuple(luma_device.shape)}")
    xp = array_module(luma_device)
    device = torch_device(xp)
    x = torch.from_numpy(_fcn_input(luma, fcn, max_side))[None, None].to(device)
    with torch.inference_mode():
        probs = torch.softmax(module_on(fcn, device)(x), dim=1)
        if tuple(probs.shape[2:]) != luma.shape:
            probs = F.interpolate(probs, size=luma.shape, mode="bilinear", align_corners=False)
        probs = probs[0].permute(1, 2, 0).contiguous()
    return smooth_probabilities_cuda(from_torch(probs, xp), luma_device)


def semantic_histogram_cuda(probs: Any) -> np.ndarray:
    """Share of the image taken by each class, from maps on the device; the only result that leaves it.

    The twin of `deepcolor.features.semantic.semantic_histogram`: the mean of
    the maps in float64, clipped at 0 and normalised.

    Parameters
    ----------
    probs : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W, 11), float

    Returns
    -------
    hist : numpy.ndarray, shape (11,), float32
        On the host; non-negative, sums to 1.
    """
    xp = array_module(probs)
    if probs.ndim != 3 or probs.shape[-1] != N_CLASSES or probs.size == 0:
        raise ValueError(f"probs must have shape (H, W, {N_CLASSES}), got {probs.shape}")
    mean = probs.reshape(-1, N_CLASSES).mean(axis=0, dtype=xp.float64)
    hist = np.maximum(to_host(mean).astype(np.float64), 0.0)
    total = hist.sum()
    if not total > 0:
        raise ValueError("probs carry no probability mass")
    return (hist / total).astype(np.float32)
