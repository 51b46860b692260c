"""The per-pixel descriptor: gray patch (49) + DAISY (32) + semantics (11 or 24) = 92-d or 105-d, on any device.

Dense maps are computed once per image, or per region of it for a tile
(`feature_maps`); the descriptor of any set of pixels is then gathered from
them (`descriptor_at`), so training samples a few thousand pixels per image
and inference walks the image in row chunks without ever holding the full
(H, W, 92) array.

Column layout: ``[0:49]`` the 7x7 patch (row-major), ``[49:81]`` DAISY (centre
histogram then the three ring histograms, 8 orientations each), ``[81:]`` the
smoothed class probabilities of the semantic network: the 11 of `CAMVID_CLASSES`
(92-d; the FCN of `deepcolor.features.semantic_net`) or the 24 of
`deepcolor.features.scene.SCENE_CLASSES` (105-d; the general-scene FCN), in its
class order. Without semantics the descriptor stops at 81 (`PLAIN_DIM`).

Written once for both devices: with ``device="cuda"`` the maps are CuPy
arrays (numpy under numba's CUDA simulator) made by the kernels' CUDA twins
(``backend="cuda"`` of `deepcolor.kernels`), and stay on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.features.daisy import DAISY_DIM, daisy_features
from deepcolor.features.patch import PATCH_DIM, PATCH_SIZE, pad_luma
from deepcolor.features.semantic import N_CLASSES as SEMANTIC_DIM  # the FCN's class probabilities
from deepcolor.features.semantic import semantic_features
from deepcolor.kernels.cuda_host import array_module
from deepcolor.kernels.device import array_module_for, to_host

__all__ = [
    "DAISY_DIM", "SEMANTIC_DIM", "PLAIN_DIM", "FeatureMaps", "feature_maps", "descriptor_at", "descriptor_rows", "descriptor_dim",
    "assemble_descriptors",
]

PLAIN_DIM = PATCH_DIM + DAISY_DIM  # 81: the descriptor without semantics


def descriptor_dim(*, semantic: bool, semantic_dim: int = SEMANTIC_DIM) -> int:
    """Width of the descriptor: 81 + ``semantic_dim`` with semantics (92 for the 11-class FCN, 105 for the
    24-class scene FCN), 81 without."""
    if semantic_dim < 1:
        raise ValueError(f"semantic_dim must be >= 1, got {semantic_dim}")
    return PLAIN_DIM + (semantic_dim if semantic else 0)


@dataclass
class FeatureMaps:
    """Dense per-image (or per-region) feature maps, all float32, of one device's array module.

    Attributes
    ----------
    luma : (H, W) luma in [0, 1].
    padded : (H + 6, W + 6) reflect-padded luma, for the patches.
    daisy : (H, W, 32) DAISY.
    semantic : (H, W, C) smoothed class probabilities (C = 11 or 24), or None.
    device : "cpu" (numpy arrays) or "cuda" (device arrays).
    """

    luma: Any
    padded: Any
    daisy: Any
    semantic: Any | None
    device: str = "cpu"

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.luma.shape)  # type: ignore[return-value]

    def on_host(self) -> "FeatureMaps":
        """The same maps as numpy arrays on the host (``self`` when they are there already)."""
        if self.device == "cpu":
            return self
        semantic = None if self.semantic is None else to_host(self.semantic)
        return FeatureMaps(luma=to_host(self.luma), padded=to_host(self.padded), daisy=to_host(self.daisy), semantic=semantic)


def feature_maps(
    luma: np.ndarray, *, fcn=None, small: Any = None, region: tuple[slice, slice] | None = None, device: str = "cpu"
) -> FeatureMaps:
    """Compute the dense maps of one image, or of one region of it.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] of the whole image, on the host.
    fcn : SemanticFCN or SceneFCN, optional
        The semantic network; without it (and without ``small``) the maps
        carry no semantics (81-d descriptor).
    small : array (h, w, C), optional
        The FCN's probabilities of the whole image when already computed
        (`deepcolor.features.semantic.small_probabilities`, of the device's
        array module); with it the maps carry semantics, without ``fcn``.
    region : (rows, columns) slices, optional
        The region (a tile) whose maps are wanted, as `feature_maps` of that
        crop except that its semantics come from the whole image's FCN map.
    device : {"cpu", "cuda"}
        Where the maps are computed and kept.
    """
    if region is None:
        luma = check_luma(luma)
        crop = luma
    else:
        crop = np.ascontiguousarray(luma[region], dtype=np.float32)
    crop = array_module_for(device).asarray(crop)  # the one host -> device copy of the luma
    semantic = None
    if fcn is not None or small is not None:
        semantic = semantic_features(luma, fcn, small=small, region=region, guide=crop, device=device)
    return FeatureMaps(luma=crop, padded=pad_luma(crop), daisy=daisy_features(crop, backend=device), semantic=semantic, device=device)


def descriptor_at(maps: FeatureMaps, flat_index: Any, *, semantic: bool = True):
    """Descriptors of chosen pixels.

    Parameters
    ----------
    maps : FeatureMaps
    flat_index : ndarray, shape (N,), int
        Row-major pixel indices in ``[0, H * W)``, of the maps' array module.
    semantic : bool
        Include the C semantic columns (needs ``maps.semantic``; C = 11 or 24).

    Returns
    -------
    descriptor : ndarray, shape (N, 81 + C) or (N, 81), float32
        Of the maps' array module (on their device), C-contiguous.
    """
    if semantic and maps.semantic is None:
        raise ValueError("semantic=True needs feature maps computed with an FCN")
    xp = array_module(maps.luma)
    h, w = maps.shape
    flat_index = xp.ascontiguousarray(flat_index, dtype=xp.int64)
    # Checked on the host only: on a GPU the bounds would cost a device sync per chunk.
    if xp is np and flat_index.size and (flat_index.min() < 0 or flat_index.max() >= h * w):
        raise ValueError(f"flat_index must lie in [0, {h * w}), got [{flat_index.min()}, {flat_index.max()}]")
    daisy = maps.daisy.reshape(-1, DAISY_DIM)[flat_index]
    probs = maps.semantic.reshape(-1, maps.semantic.shape[-1])[flat_index] if semantic else None  # type: ignore[union-attr]
    return assemble_descriptors(maps.padded, w, flat_index, daisy, probs, device=maps.device)


def assemble_descriptors(padded: Any, width: int, patch_index: Any, daisy: Any, semantic: Any | None, *, device: str = "cpu"):
    """Descriptor rows from their parts: the patches gathered at ``patch_index``, then the given DAISY and semantic rows.

    Parameters
    ----------
    padded : array, shape (H + 6, W + 6), float32
        Reflect-padded luma (`features.patch.pad_luma`) of an (H, W) image or region.
    width : int
        W.
    patch_index : array, shape (N,), int64
        Row-major pixel indices in ``[0, H * W)`` whose 7x7 patches start each row.
    daisy : array, shape (N, 32), float32
    semantic : array, shape (N, C), float32, or None (the 81-d descriptor)
    device : {"cpu", "cuda"}, keyword-only
        The arrays' device.

    Returns
    -------
    ndarray, shape (N, 81 + C) or (N, 81), float32
    """
    xp = array_module(padded)
    width_c = SEMANTIC_DIM if semantic is None else semantic.shape[-1]
    out = xp.empty((patch_index.shape[0], descriptor_dim(semantic=semantic is not None, semantic_dim=width_c)), dtype=xp.float32)
    kernels.gather_patches(padded, width, patch_index, size=PATCH_SIZE, out=out, backend=device)
    out[:, PATCH_DIM:PLAIN_DIM] = daisy
    if semantic is not None:
        out[:, PLAIN_DIM:] = semantic
    return out


def descriptor_rows(maps: FeatureMaps, start: int, stop: int, *, semantic: bool = True) -> np.ndarray:
    """Descriptors of rows ``start:stop``, shape ``((stop - start) * W, D)``, float32."""
    w = maps.shape[1]
    xp = array_module(maps.luma)
    return descriptor_at(maps, xp.arange(start * w, stop * w, dtype=xp.int64), semantic=semantic)
