"""GPU twin of the per-pixel descriptor (`deepcolor.features.descriptor`): dense maps that stay on the device.

Same column layout and the same kernels seam as the CPU descriptor, with
``backend="cuda"``: ``[0:49]`` the 7x7 patch (`deepcolor.kernels.gather_patches`
from the reflect-padded luma), ``[49:81]`` DAISY (`deepcolor.kernels.dense_daisy`),
``[81:92]`` the smoothed class probabilities (without semantics it stops at
81). DAISY and the semantic maps are computed once per image on the device;
descriptor rows are gathered from them a band of rows at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepcolor import kernels
from deepcolor.features.daisy import _COS, _KAPPA, _SIN, _TAPS, DAISY_DIM, DAISY_RADIUS, DAISY_RING_OFFSETS
from deepcolor.features.descriptor import SEMANTIC_DIM, FeatureMaps, descriptor_dim
from deepcolor.features.patch import PATCH_DIM, PATCH_SIZE, pad_luma
from deepcolor.kernels.cuda_host import array_module, check_float_array

__all__ = ["feature_maps_cuda", "host_feature_maps_cuda", "descriptor_rows_cuda"]

_PATCH_HALO = PATCH_SIZE // 2


def feature_maps_cuda(luma: np.ndarray, luma_device: Any, *, fcn=None) -> FeatureMaps:
    """The dense maps of one image on the device: the twin of `feature_maps`.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] on the host (the FCN's downscaled input is made from it).
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float
        The same luma on the device.
    fcn : SemanticFCN, optional
        Without it the maps carry no semantics (81-d descriptor).

    Returns
    -------
    FeatureMaps
        The CPU's container, holding arrays of ``luma_device``'s module: luma,
        padded (H + 6, W + 6), daisy (H, W, 32), semantic (H, W, 11) or None.
    """
    xp, luma_device = check_float_array(luma_device, "luma_device", (2,))
    h, w = luma_device.shape
    semantic = None
    if fcn is not None:
        from deepcolor.features.semantic_cuda import semantic_features_cuda

        semantic = semantic_features_cuda(luma, luma_device, fcn)
    daisy = kernels.dense_daisy(
        _pad(luma_device, DAISY_RADIUS), h, w, taps=_TAPS, cos=_COS, sin=_SIN, kappa=_KAPPA,
        ring_offsets=DAISY_RING_OFFSETS, margin=DAISY_RADIUS, backend="cuda",
    ).reshape(h, w, DAISY_DIM)
    return FeatureMaps(luma=luma_device, padded=_pad(luma_device, _PATCH_HALO), daisy=daisy, semantic=semantic)


def _pad(luma: Any, margin: int):
    # numpy's "reflect" (reflect-101), repeated for images narrower than the margin, as on the CPU.
    return array_module(luma).ascontiguousarray(array_module(luma).pad(luma, margin, mode="reflect"))


def host_feature_maps_cuda(luma: np.ndarray, *, fcn=None) -> FeatureMaps:
    """The CPU's `FeatureMaps` of one image, computed on the device (training samples their pixels on the host).

    Parameters and result as `deepcolor.features.descriptor.feature_maps`.
    """
    from deepcolor.kernels.device import device_array_module, to_host

    luma = np.ascontiguousarray(luma, dtype=np.float32)
    maps = feature_maps_cuda(luma, device_array_module().asarray(luma), fcn=fcn)
    semantic = None if maps.semantic is None else to_host(maps.semantic)
    return FeatureMaps(luma=luma, padded=pad_luma(luma), daisy=to_host(maps.daisy), semantic=semantic)


def descriptor_rows_cuda(maps: FeatureMaps, start: int, stop: int, *, semantic: bool = True):
    """Descriptors of rows ``start:stop`` on the device: the twin of `descriptor_rows`.

    Returns
    -------
    descriptor : array of the maps' module, shape ((stop - start) * W, 92 or 81), float32, C-contiguous
    """
    if semantic and maps.semantic is None:
        raise ValueError("semantic=True needs feature maps computed with an FCN")
    h, w = maps.shape
    if not 0 <= start < stop <= h:
        raise ValueError(f"rows must satisfy 0 <= start < stop <= {h}, got {start}:{stop}")
    xp = array_module(maps.luma)
    n = (stop - start) * w
    out = xp.empty((n, descriptor_dim(semantic=semantic)), dtype=xp.float32)
    flat_index = xp.arange(start * w, stop * w, dtype=xp.int64)
    kernels.gather_patches(maps.padded, w, flat_index, size=PATCH_SIZE, out=out, backend="cuda")
    out[:, PATCH_DIM : PATCH_DIM + DAISY_DIM] = maps.daisy[start:stop].reshape(n, DAISY_DIM)
    if semantic:
        out[:, PATCH_DIM + DAISY_DIM :] = maps.semantic[start:stop].reshape(n, SEMANTIC_DIM)
    return out
