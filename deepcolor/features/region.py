"""Feature maps of one region of an image, for tiled colorization (`deepcolor.tiling`).

The FCN runs once per image on the whole image downscaled (`semantic_small`);
a region's semantic feature is that small map bilinearly upsampled over the
region only, then smoothed by the domain transform guided by the region's own
luma. Upsampling a region this way gives exactly the pixels that upsampling
the whole map and cropping gives (cv2.resize's INTER_LINEAR pixel-centre
convention, to float32 rounding: at most about 2e-6); the smoothing differs from the
whole image's only within its reach of the region's border, which the tile
halo (`tiling.SEMANTIC_HALO`) keeps away from the pixels that are used.
"""

from __future__ import annotations

import numpy as np

from deepcolor.features.daisy import daisy_features
from deepcolor.features.descriptor import FeatureMaps
from deepcolor.features.patch import pad_luma

__all__ = ["semantic_small", "upsample_region", "region_maps"]


def semantic_small(luma: np.ndarray, fcn) -> np.ndarray:
    """The FCN's class probabilities of the whole image at the scale it runs at: (h, w, 11) float32,
    longest side at most ``fcn.max_side`` (the image is downscaled first, never upscaled)."""
    from deepcolor.colorspace import check_luma
    from deepcolor.features.semantic import _small_probabilities

    return _small_probabilities(check_luma(luma), fcn, None)


def _axis(n_small: int, n_full: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of full-size positions start..stop-1 (OpenCV's INTER_LINEAR convention)."""
    pos = (np.arange(start, stop, dtype=np.float64) + 0.5) * (n_small / n_full) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    before = lo < 0
    frac[before], lo[before] = 0.0, 0
    after = lo >= n_small - 1
    frac[after], lo[after] = 0.0, n_small - 1
    return lo, np.minimum(lo + 1, n_small - 1), frac.astype(np.float32)


def upsample_region(small: np.ndarray, shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    """The region ``[rows, cols]`` of ``small`` (h, w, C) bilinearly resized to ``shape`` (H, W).

    Returns
    -------
    ndarray, shape (rows, cols, C), float32
        Equal to ``cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)[rows, cols]``;
        a CuPy ``small`` gives a CuPy result, computed on the GPU.
    """
    from deepcolor.kernels.cuda_host import array_module

    xp = array_module(small)
    small = xp.asarray(small, dtype=xp.float32)
    if small.ndim != 3 or len(shape) != 2:
        raise ValueError(f"small must be (h, w, C) and shape (H, W), got {small.shape} and {shape}")
    if xp is np and (rows.start, rows.stop, cols.start, cols.stop) == (0, shape[0], 0, shape[1]):
        from deepcolor.features.semantic import _upsampled_groups

        return np.concatenate(_upsampled_groups(small, *shape), axis=-1)  # the whole image: OpenCV's own resize
    y0, y1, fy = (xp.asarray(a) for a in _axis(small.shape[0], shape[0], rows.start, rows.stop))
    x0, x1, fx = (xp.asarray(a) for a in _axis(small.shape[1], shape[1], cols.start, cols.stop))
    fy, fx = fy[:, None, None], fx[None, :, None]
    vertical = small[y0] * (1 - fy) + small[y1] * fy
    return xp.ascontiguousarray(vertical[:, x0] * (1 - fx) + vertical[:, x1] * fx, dtype=xp.float32)


def region_maps(luma: np.ndarray, region: tuple[slice, slice], *, small: np.ndarray | None) -> FeatureMaps:
    """The dense maps of ``luma[region]``, as `feature_maps` computes them for that crop,
    except that the semantic map comes from ``small``, the FCN's probabilities of the whole image."""
    crop = np.ascontiguousarray(luma[region], dtype=np.float32)
    semantic = None
    if small is not None:
        from deepcolor.features.semantic import smooth_probabilities

        semantic = smooth_probabilities(upsample_region(small, luma.shape, *region), crop)
    return FeatureMaps(luma=crop, padded=pad_luma(crop), daisy=daisy_features(crop), semantic=semantic)
