"""The fixed parameters the dense kernels are built for, shared by each CPU kernel and its CUDA twin.

The features (`deepcolor.features.patch`, `deepcolor.features.daisy`) and the
refinement (`deepcolor.refine`) re-export what their callers need; the kernels
read them here, so ``kernels/`` imports nothing above it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "PATCH_SIZE", "PATCH_DIM",
    "DAISY_RADIUS", "DAISY_HISTOGRAMS", "DAISY_ORIENTATIONS", "DAISY_DIM", "DAISY_SIGMA", "DAISY_RING_OFFSETS",
    "DAISY_GAUSS_RADIUS", "DAISY_TAPS", "DAISY_COS", "DAISY_SIN", "DAISY_KAPPA", "gaussian_taps",
    "BILATERAL_DIAMETER", "BILATERAL_SIGMA_COLOR", "BILATERAL_SIGMA_SPACE", "BILATERAL_CUTOFF_SIGMAS",
    "check_bilateral_params", "spatial_kernel", "inverse_sigma",
]

# -- the gray patch --------------------------------------------------------------------------------
PATCH_SIZE = 7
PATCH_DIM = PATCH_SIZE * PATCH_SIZE

# -- dense DAISY: step 1, radius 7, one ring of three histograms, eight orientations ----------------
DAISY_RADIUS = 7
DAISY_HISTOGRAMS = 3
DAISY_ORIENTATIONS = 8
DAISY_DIM = DAISY_ORIENTATIONS * (1 + DAISY_HISTOGRAMS)
# skimage: sigma = radius / (2 * rings), the same for the centre and the single ring.
DAISY_SIGMA = DAISY_RADIUS / 2.0
# scipy.ndimage.gaussian_filter's default truncate (what skimage.filters.gaussian passes).
_TRUNCATE = 4.0
DAISY_GAUSS_RADIUS = int(_TRUNCATE * DAISY_SIGMA + 0.5)

# (dy, dx) of the ring histograms at 0, 120, 240 degrees, rounded exactly as skimage does
# it: in floating point 7 cos(120 deg) = -3.4999... -> -3 but 7 cos(240 deg) = -3.5000...03 -> -4,
# so the ring is not mirror-symmetric: (0, 7), (6, -3), (-6, -4).
DAISY_RING_OFFSETS = np.array(
    [
        (
            int(round(DAISY_RADIUS * math.sin(2 * math.pi * j / DAISY_HISTOGRAMS))),
            int(round(DAISY_RADIUS * math.cos(2 * math.pi * j / DAISY_HISTOGRAMS))),
        )
        for j in range(DAISY_HISTOGRAMS)
    ],
    dtype=np.int64,
)


def gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    """Normalised taps ``w[0..radius]`` (centre first) of scipy.ndimage's Gaussian kernel, float32."""
    x = np.arange(radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / sigma**2 * x**2)
    return (phi / (2.0 * phi.sum() - phi[0])).astype(np.float32)


DAISY_TAPS = gaussian_taps(DAISY_SIGMA, DAISY_GAUSS_RADIUS)
# Orientation bin centres a_o = 2 pi o / 8 - pi; bins o and o + 4 point in opposite directions.
_ANGLES = 2.0 * np.pi * np.arange(DAISY_ORIENTATIONS) / DAISY_ORIENTATIONS - np.pi
DAISY_COS = np.cos(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
DAISY_SIN = np.sin(_ANGLES[: DAISY_ORIENTATIONS // 2]).astype(np.float32)
DAISY_KAPPA = np.float32(DAISY_ORIENTATIONS / np.pi)

# -- the joint bilateral refinement ------------------------------------------------------------------
# Defaults for luma in [0, 1]: a 9-pixel disc (radius 4); luma steps over ~0.1 (2 sigma,
# about 25 grey levels) cut a neighbour's weight below e^-2 = 0.14, so chroma stays on its
# side of object boundaries, while the spatial sigma of 3 px keeps the disc's outer ring
# (weight e^(-16/18) = 0.41) contributing.
BILATERAL_DIAMETER = 9
BILATERAL_SIGMA_COLOR = 0.05
BILATERAL_SIGMA_SPACE = 3.0
# Guide differences beyond this many sigma_color get weight exactly 0 (exp(-72) ~ 5e-32):
# it keeps float32 denormals, slow on x86, out of the inner loop.
BILATERAL_CUTOFF_SIGMAS = 12.0


def check_bilateral_params(diameter: int, sigma_color: float, sigma_space: float) -> None:
    """ValueError unless ``diameter`` is an odd integer >= 1 and both sigmas are finite and > 0."""
    if isinstance(diameter, bool) or not isinstance(diameter, (int, np.integer)) or diameter < 1 or diameter % 2 == 0:
        raise ValueError(f"diameter must be an odd integer >= 1, got {diameter!r}")
    for name, value in (("sigma_color", sigma_color), ("sigma_space", sigma_space)):
        if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def spatial_kernel(radius: int, sigma_space: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets ``(dy, dx)`` (K,) int64 of the disc ``dy^2 + dx^2 <= radius^2`` (OpenCV's row-major order) and their (K,) float32 weights."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    keep = (dy * dy + dx * dx) <= radius * radius
    dy, dx = dy[keep].astype(np.int64), dx[keep].astype(np.int64)
    # (distance / sigma)^2 rather than distance^2 / sigma^2: no 0 / 0 for a denormal-small sigma.
    with np.errstate(over="ignore"):
        weights = np.exp(-0.5 * (np.sqrt(dy * dy + dx * dx) / sigma_space) ** 2).astype(np.float32)
    return dy, dx, weights


def inverse_sigma(sigma_color: float) -> np.float32:
    """``1 / sigma_color`` as float32, clamped so a denormal-small sigma cannot turn 0 * (1 / sigma) into 0 * inf = NaN."""
    return np.float32(min(1.0 / float(sigma_color), float(np.finfo(np.float32).max)))
