"""Feature maps of one region of an image, for tiled colorization (`deepcolor.tiling`).

The FCN runs once per image on the whole image downscaled (`semantic_small`);
a region's semantic feature is that small map bilinearly upsampled over the
region only (`upsample_region`), then smoothed by the domain transform
guided by the region's own luma. Upsampling a region this way gives exactly
the pixels that upsampling the whole map and cropping gives (cv2.resize's
INTER_LINEAR pixel-centre convention, to float32 rounding: at most about
2e-6); the smoothing differs from the whole image's only within its reach of
the region's border, which the tile halo (`tiling.SEMANTIC_HALO`) keeps away
from the pixels that are used. The work itself is
`deepcolor.features.descriptor.feature_maps` with a ``region``.
"""

from __future__ import annotations

import numpy as np

from deepcolor.features.descriptor import FeatureMaps, feature_maps
from deepcolor.features.semantic import small_probabilities, upsample_region

__all__ = ["semantic_small", "upsample_region", "region_maps"]


def semantic_small(luma: np.ndarray, fcn) -> np.ndarray:
    """The FCN's class probabilities of the whole image at the scale it runs at: (h, w, 11) float32,
    longest side at most ``fcn.max_side`` (the image is downscaled first, never upscaled)."""
    return small_probabilities(luma, fcn)


def region_maps(luma: np.ndarray, region: tuple[slice, slice], *, small: np.ndarray | None) -> FeatureMaps:
    """The dense maps of ``luma[region]``, as `feature_maps` computes them for that crop,
    except that the semantic map comes from ``small``, the FCN's probabilities of the whole image."""
    return feature_maps(luma, small=small, region=region)
