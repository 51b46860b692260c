"""Quality measures, with the protocol spelled out.

Protocol (``deepcolor.evaluate``): images at their native resolution (no
resizing); the gray input is the BT.601 luma of the 8-bit original, rounded to
8 bits as a real gray photograph would be; the result is rounded to 8-bit RGB;
PSNR is over all pixels and the three RGB channels, peak 255. The gray baseline
is the same luma with zero chroma (R = G = B = Y).
"""

from __future__ import annotations

import numpy as np

from deepcolor.colorspace import quantize_rgb

__all__ = ["psnr", "colorfulness", "to_uint8", "summarize"]


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] -> uint8, rounding half up (not truncating), in float64: `colorspace.quantize_rgb`."""
    return quantize_rgb(np.asarray(rgb, dtype=np.float64), np.uint8)


def psnr(result: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB between two 8-bit RGB images, peak 255.

    Parameters
    ----------
    result, reference : ndarray, shape (H, W, 3), uint8

    Returns
    -------
    float
        ``10 log10(255^2 / MSE)``; ``inf`` for identical images.
    """
    result = np.asarray(result)
    reference = np.asarray(reference)
    if result.shape != reference.shape or result.ndim != 3 or result.shape[2] != 3:
        raise ValueError(f"psnr needs two (H, W, 3) images of one shape, got {result.shape} and {reference.shape}")
    if result.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError(f"psnr compares 8-bit images, got {result.dtype} and {reference.dtype}")
    mse = np.mean((result.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colorfulness of an 8-bit RGB image.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``;
    ``C = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)``.
    0 for a gray image; about 20-60 for everyday photographs.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"colorfulness needs an (H, W, 3) image, got {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def summarize(values: np.ndarray) -> dict[str, float]:
    """Median and quartiles of a 1-d sample (NaN-free)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(values.size), "median": float(med), "q1": float(q1), "q3": float(q3)}
