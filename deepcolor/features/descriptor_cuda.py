"""GPU twin of the per-pixel descriptor (`deepcolor.features.descriptor`): dense maps that stay on the device.

Same column layout as the CPU descriptor: ``[0:49]`` the 7x7 patch,
``[49:81]`` DAISY, ``[81:92]`` the smoothed class probabilities (without
semantics it stops at 81). DAISY and the semantic maps are computed once per
image on the device; the patches are not stored for the whole image (49
floats a pixel): each band of rows computes its own, from the luma rows it
needs (3 above and below), which gives exactly the whole-image patches
because the reflection happens only at the image's own border.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor.features.descriptor import FeatureMaps
from deepcolor.features.patch import PATCH_SIZE, pad_luma
from deepcolor.kernels.cuda_host import array_module, check_float_array
from deepcolor.kernels.daisy_cuda import daisy_features_cuda
from deepcolor.kernels.patch_cuda import patch_features_cuda

__all__ = ["DeviceFeatureMaps", "feature_maps_cuda", "host_feature_maps_cuda", "descriptor_rows_cuda"]

_PATCH_HALO = PATCH_SIZE // 2


@dataclass
class DeviceFeatureMaps:
    """Dense per-image maps on the device (CuPy; numpy under the simulator), all float32.

    Attributes
    ----------
    luma : (H, W) luma in [0, 1].
    daisy : (H, W, 32) DAISY.
    semantic : (H, W, 11) smoothed class probabilities, or None.
    """

    luma: Any
    daisy: Any
    semantic: Any | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.luma.shape)  # type: ignore[return-value]


def feature_maps_cuda(luma: np.ndarray, luma_device: Any, *, fcn=None) -> DeviceFeatureMaps:
    """The dense maps of one image on the device: the twin of `feature_maps`.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] on the host (the FCN's downscaled input is made from it).
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float
        The same luma on the device.
    fcn : SemanticFCN, optional
        Without it the maps carry no semantics (81-d descriptor).
    """
    _, luma_device = check_float_array(luma_device, "luma_device", (2,))
    semantic = None
    if fcn is not None:
        from deepcolor.features.semantic_cuda import semantic_features_cuda

        semantic = semantic_features_cuda(luma, luma_device, fcn)
    return DeviceFeatureMaps(luma=luma_device, daisy=daisy_features_cuda(luma_device), semantic=semantic)


def host_feature_maps_cuda(luma: np.ndarray, *, fcn=None) -> FeatureMaps:
    """The CPU's `FeatureMaps` of one image, computed on the device (training samples their pixels on the host).

    Parameters and result as `deepcolor.features.descriptor.feature_maps`.
    """
    from deepcolor.kernels.device import device_array_module, to_host

    luma = np.ascontiguousarray(luma, dtype=np.float32)
    maps = feature_maps_cuda(luma, device_array_module().asarray(luma), fcn=fcn)
    semantic = None if maps.semantic is None else to_host(maps.semantic)
    return FeatureMaps(luma=luma, padded=pad_luma(luma), daisy=to_host(maps.daisy), semantic=semantic)


def descriptor_rows_cuda(maps: DeviceFeatureMaps, start: int, stop: int, *, semantic: bool = True):
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
    top, bottom = max(0, start - _PATCH_HALO), min(h, stop + _PATCH_HALO)
    patches = patch_features_cuda(maps.luma[top:bottom])[start - top : stop - top]
    parts = [patches, maps.daisy[start:stop]] + ([maps.semantic[start:stop]] if semantic else [])
    return xp.ascontiguousarray(xp.concatenate(parts, axis=2).reshape((stop - start) * w, -1))
