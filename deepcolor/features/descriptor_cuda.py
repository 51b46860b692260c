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

__all__ = ["feature_maps_cuda", "host_feature_maps_cuda", "descriptor_at_cuda"]

_PATCH_HALO = PATCH_SIZE // 2


def feature_maps_cuda(luma: np.ndarray, luma_device: Any, *, fcn=None, small: Any = None, region: tuple[slice, slice] | None = None) -> FeatureMaps:
    """The dense maps of one image, or of one region of it, on the device: the twin of `feature_maps` / `region_maps`.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] on the host (the FCN's downscaled input is made from it).
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float
        The same luma on the device (with ``region``: that region's luma).
    fcn : SemanticFCN, optional
        Without it the maps carry no semantics (81-d descriptor).
    small : device array (h, w, 11), optional
        The FCN's map of the whole image when already computed (see
        `deepcolor.features.semantic_cuda.semantic_small_cuda`); with it the
        maps carry semantics, without ``fcn``.
    region : (rows, columns) slices, optional
        The region of ``luma`` that ``luma_device`` holds (default: all of it).

    Returns
    -------
    FeatureMaps
        The CPU's container, holding arrays of ``luma_device``'s module: luma,
        padded (H + 6, W + 6), daisy (H, W, 32), semantic (H, W, 11) or None.
    """
    xp, luma_device = check_float_array(luma_device, "luma_device", (2,))
    h, w = luma_device.shape
    semantic = None
    if fcn is not None or small is not None:
        from deepcolor.features.semantic_cuda import semantic_features_cuda

        semantic = semantic_features_cuda(luma, luma_device, fcn, small=small, region=region)
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


def descriptor_at_cuda(maps: FeatureMaps, flat_index: Any, *, semantic: bool = True):
    """Descriptors of chosen pixels on the device: the twin of `descriptor_at`.

    Parameters
    ----------
    maps : FeatureMaps
        Holding device arrays (`feature_maps_cuda`).
    flat_index : device array, shape (N,), int64
        Row-major pixel indices in ``[0, H * W)`` of the maps.

    Returns
    -------
    descriptor : array of the maps' module, shape (N, 92 or 81), float32, C-contiguous
    """
    if semantic and maps.semantic is None:
        raise ValueError("semantic=True needs feature maps computed with an FCN")
    xp = array_module(maps.luma)
    w = maps.shape[1]
    flat_index = xp.ascontiguousarray(flat_index, dtype=xp.int64)
    out = xp.empty((flat_index.shape[0], descriptor_dim(semantic=semantic)), dtype=xp.float32)
    kernels.gather_patches(maps.padded, w, flat_index, size=PATCH_SIZE, out=out, backend="cuda")
    out[:, PATCH_DIM : PATCH_DIM + DAISY_DIM] = maps.daisy.reshape(-1, DAISY_DIM)[flat_index]
    if semantic:
        out[:, PATCH_DIM + DAISY_DIM :] = maps.semantic.reshape(-1, SEMANTIC_DIM)[flat_index]
    return out
