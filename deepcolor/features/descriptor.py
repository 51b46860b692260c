"""The per-pixel descriptor: gray patch (49) + DAISY (32) + semantics (11) = 92-d.

Dense maps are computed once per image (`feature_maps`); the descriptor of any
set of pixels is then gathered from them (`descriptor_at`), so training samples
a few thousand pixels per image and inference walks the image in row chunks
without ever holding the full (H, W, 92) array.

Column layout: ``[0:49]`` the 7x7 patch (row-major), ``[49:81]`` DAISY (centre
histogram then the three ring histograms, 8 orientations each), ``[81:92]`` the
smoothed class probabilities in `CAMVID_CLASSES` order. Without semantics the
descriptor stops at 81.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.features.daisy import DAISY_DIM, daisy_features
from deepcolor.features.patch import PATCH_DIM, PATCH_SIZE, pad_luma
from deepcolor.features.semantic import N_CLASSES as SEMANTIC_DIM  # the FCN's class probabilities

__all__ = ["DAISY_DIM", "SEMANTIC_DIM", "FeatureMaps", "feature_maps", "descriptor_at", "descriptor_rows", "descriptor_dim"]


def descriptor_dim(*, semantic: bool) -> int:
    """Width of the descriptor: 92 with semantics, 81 without."""
    return PATCH_DIM + DAISY_DIM + (SEMANTIC_DIM if semantic else 0)


@dataclass
class FeatureMaps:
    """Dense per-image feature maps, all float32.

    Attributes
    ----------
    luma : (H, W) luma in [0, 1].
    padded : (H + 6, W + 6) reflect-padded luma, for the patches.
    daisy : (H, W, 32) DAISY.
    semantic : (H, W, 11) smoothed class probabilities, or None.
    """

    luma: np.ndarray
    padded: np.ndarray
    daisy: np.ndarray
    semantic: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.luma.shape  # type: ignore[return-value]


def feature_maps(luma: np.ndarray, *, fcn=None) -> FeatureMaps:
    """Compute the dense maps of one image.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    fcn : SemanticFCN, optional
        The semantic network; without it the maps carry no semantics (81-d).
    """
    luma = check_luma(luma)
    semantic = None
    if fcn is not None:
        from deepcolor.features.semantic import semantic_features

        semantic = semantic_features(luma, fcn)
    return FeatureMaps(luma=luma, padded=pad_luma(luma), daisy=daisy_features(luma), semantic=semantic)


def descriptor_at(maps: FeatureMaps, flat_index: np.ndarray, *, semantic: bool = True) -> np.ndarray:
    """Descriptors of chosen pixels.

    Parameters
    ----------
    maps : FeatureMaps
    flat_index : ndarray, shape (N,), int
        Row-major pixel indices in ``[0, H * W)``.
    semantic : bool
        Include the 11 semantic columns (needs ``maps.semantic``).

    Returns
    -------
    descriptor : ndarray, shape (N, 92) or (N, 81), float32
    """
    if semantic and maps.semantic is None:
        raise ValueError("semantic=True needs feature maps computed with an FCN")
    h, w = maps.shape
    flat_index = np.ascontiguousarray(flat_index, dtype=np.int64)
    if flat_index.size and (flat_index.min() < 0 or flat_index.max() >= h * w):
        raise ValueError(f"flat_index must lie in [0, {h * w}), got [{flat_index.min()}, {flat_index.max()}]")
    out = np.empty((flat_index.shape[0], descriptor_dim(semantic=semantic)), dtype=np.float32)
    kernels.gather_patches(maps.padded, w, flat_index, size=PATCH_SIZE, out=out)
    out[:, PATCH_DIM : PATCH_DIM + DAISY_DIM] = maps.daisy.reshape(-1, DAISY_DIM)[flat_index]
    if semantic:
        out[:, PATCH_DIM + DAISY_DIM :] = maps.semantic.reshape(-1, SEMANTIC_DIM)[flat_index]  # type: ignore[union-attr]
    return out


def descriptor_rows(maps: FeatureMaps, start: int, stop: int, *, semantic: bool = True) -> np.ndarray:
    """Descriptors of rows ``start:stop``, shape ``((stop - start) * W, D)``, float32."""
    w = maps.shape[1]
    return descriptor_at(maps, np.arange(start * w, stop * w, dtype=np.int64), semantic=semantic)
