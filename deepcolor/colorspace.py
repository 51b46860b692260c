"""RGB <-> YUV (ITU-R BT.601, analogue form), as used by Cheng et al.

All functions work on float arrays with RGB in [0, 1]. Luma ``Y`` lies in
[0, 1]; chroma ``U`` in [-0.436, 0.436] and ``V`` in [-0.615, 0.615].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepcolor.errors import InputError, ResultCheckError
from deepcolor.kernels.arrays import array_module

__all__ = [
    "RGB_TO_YUV",
    "YUV_TO_RGB",
    "rgb_to_yuv",
    "yuv_to_rgb",
    "rgb_to_luma",
    "split_luma_chroma",
    "merge_luma_chroma",
    "quantize_rgb",
    "quantize_luma",
    "check_luma",
]

# BT.601 luma weights; U = 0.492 (B - Y), V = 0.877 (R - Y).
_WR, _WG, _WB = 0.299, 0.587, 0.114
RGB_TO_YUV = np.array(
    [
        [_WR, _WG, _WB],
        [-0.492 * _WR, -0.492 * _WG, 0.492 * (1 - _WB)],
        [0.877 * (1 - _WR), -0.877 * _WG, -0.877 * _WB],
    ],
    dtype=np.float64,
)
YUV_TO_RGB = np.linalg.inv(RGB_TO_YUV)


def _check_channels(image: np.ndarray, name: str) -> None:
    if image.ndim < 1 or image.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got {image.shape}")


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB to YUV.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3), float
        RGB values in [0, 1].

    Returns
    -------
    yuv : ndarray, shape (..., 3), float32
    """
    _check_channels(rgb, "rgb")
    return (np.asarray(rgb, dtype=np.float32) @ RGB_TO_YUV.T.astype(np.float32)).astype(np.float32)


def yuv_to_rgb(yuv: np.ndarray) -> np.ndarray:
    """Convert YUV to RGB, without clipping.

    Parameters
    ----------
    yuv : ndarray, shape (..., 3), float

    Returns
    -------
    rgb : ndarray, shape (..., 3), float32
        May fall outside [0, 1] for out-of-gamut chroma; see `merge_luma_chroma`.
    """
    _check_channels(yuv, "yuv")
    return (np.asarray(yuv, dtype=np.float32) @ YUV_TO_RGB.T.astype(np.float32)).astype(np.float32)


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image: shape (..., 3) in [0, 1] -> (...,) float32 in [0, 1]."""
    _check_channels(rgb, "rgb")
    w = np.array([_WR, _WG, _WB], dtype=np.float32)
    return np.asarray(rgb, dtype=np.float32) @ w


def split_luma_chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split an RGB image into luma ``(H, W)`` and chroma ``(H, W, 2)`` (U, V), float32."""
    yuv = rgb_to_yuv(rgb)
    return np.ascontiguousarray(yuv[..., 0]), np.ascontiguousarray(yuv[..., 1:])


def merge_luma_chroma(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Rebuild RGB from luma and chroma, keeping luma exactly.

    Chroma that would leave the RGB cube is scaled towards zero per pixel
    (a gamut clamp along the chroma direction) instead of clipping RGB, because
    clipping changes the luma the user gave us.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float in [0, 1]
    chroma : ndarray, shape (H, W, 2), float

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), float32 in [0, 1]
    """
    luma = np.asarray(luma, dtype=np.float32)
    chroma = np.asarray(chroma, dtype=np.float32)
    if chroma.shape != luma.shape + (2,):
        raise ValueError(f"chroma must have shape {luma.shape + (2,)}, got {chroma.shape}")
    luma = np.clip(luma, 0.0, 1.0)
    m = YUV_TO_RGB[:, 1:].astype(np.float32)  # (3, 2): RGB offset per unit of chroma
    delta = chroma @ m.T  # (H, W, 3), RGB = luma + delta
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(delta > 0, (1.0 - luma[..., None]) / delta, np.inf)
        down = np.where(delta < 0, -luma[..., None] / delta, np.inf)
    scale = np.minimum(1.0, np.minimum(up, down).min(axis=-1))
    rgb = luma[..., None] + delta * scale[..., None]
    # Rounding can still step a hair outside; this clip moves luma by < 1e-6.
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def quantize_rgb(rgb: np.ndarray, dtype: Any) -> np.ndarray:
    """The one float-to-integer quantizer: RGB in [0, 1] -> uint8 or uint16, ``floor(top * x + 0.5)``
    (rounded half up) clipped to [0, top], computed in the input's float precision; float32 passes through."""
    if dtype == np.uint8:
        return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.floor(rgb * 65535.0 + 0.5), 0, 65535).astype(np.uint16)
    return rgb


def quantize_luma(luma: np.ndarray) -> np.ndarray:
    """The luma an 8-bit gray photograph holds: ``floor(255 Y + 0.5) / 255`` as float32.

    The one rounding rule for "the gray version of a colour photo", used by
    training and by the evaluation protocol alike.
    """
    return np.floor(np.asarray(luma) * 255.0 + 0.5).astype(np.float32) / 255.0  # quantize_rgb's rule, kept as float


def check_luma(luma: np.ndarray, *, min_size: int = 1, name: str = "luma", range_tolerance: float | None = None) -> np.ndarray:
    """The one luma validator of the dense stages: (H, W) float, finite, each side >= ``min_size``.

    With ``range_tolerance`` the values must also lie in [0, 1] give or take
    that much (float round-off; 0 for none). Returns the luma as a
    C-contiguous float32 array of its own array module (numpy, or CuPy for a
    CuPy luma; no copy when it already is one); raises a ValueError that
    names what is wrong (``name`` says which array).
    """
    xp = array_module(luma)
    luma = xp.asarray(luma)
    if luma.ndim != 2 or luma.size == 0:
        raise InputError(f"{name} must be a non-empty (H, W) array, got shape {luma.shape}")
    if min(luma.shape) < min_size:
        raise InputError(f"{name} must be at least {min_size}x{min_size}, got {luma.shape}")
    if not np.issubdtype(luma.dtype, np.floating):
        raise InputError(f"{name} must be a float array in [0, 1], got dtype {luma.dtype}")
    if not bool(xp.all(xp.isfinite(luma))):
        raise InputError(f"{name} must be finite, got NaN or inf values")
    if range_tolerance is not None:
        lo, hi = float(luma.min()), float(luma.max())
        if lo < -range_tolerance or hi > 1.0 + range_tolerance:
            raise InputError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] (uint8 images: divide by 255)")
    return xp.ascontiguousarray(luma, dtype=xp.float32)


# --------------------------------------------------------------------------- input checks of the public API

# Chroma gain limit. Predicted chroma of photographs is small (|U|, |V| mostly below 0.1, the
# gamut reaching 0.44 / 0.62), so at a gain of 10 all but near-gray pixels already sit on the gamut
# edge, where `merge_luma_chroma` clamps them: larger gains change nothing a user could want, and
# far larger ones (1e39) overflow float32 into inf/NaN, which used to write black images.
MAX_SATURATION = 10.0


def check_saturation(saturation: object) -> float:
    """``saturation`` as a float, or a ValueError: a real number in [0, `MAX_SATURATION`]."""
    if isinstance(saturation, bool) or not isinstance(saturation, (int, float, np.integer, np.floating)):
        raise InputError(f"saturation must be a number in [0, {MAX_SATURATION:g}], got {saturation!r}")
    if not 0.0 <= float(saturation) <= MAX_SATURATION:  # NaN fails too
        raise InputError(
            f"saturation must be in [0, {MAX_SATURATION:g}] (1 = as predicted; {MAX_SATURATION:g} already puts "
            f"most colours on the gamut edge), got {saturation!r}"
        )
    return float(saturation)


def check_refine(refine: object) -> bool:
    """``refine`` itself when it is a bool; a ValueError otherwise (``'no'`` is not False)."""
    if not isinstance(refine, (bool, np.bool_)):
        raise InputError(f"refine must be True or False, got {refine!r}")
    return bool(refine)


def check_gray_image(gray: object) -> np.ndarray:
    """The image `deepcolor.colorize` accepts, as an ndarray, or a ValueError naming what is wrong.

    Accepted: an ndarray of shape (H, W), (H, W, 1) or (H, W, 3), H, W > 0,
    uint8, uint16 or float (range checked later). Alpha (H, W, 4) is refused
    rather than silently dropped.
    """
    if not isinstance(gray, np.ndarray):
        raise InputError(f"gray must be a numpy array of shape (H, W) or (H, W, 3), got {type(gray).__name__}")
    if gray.ndim == 3 and gray.shape[2] == 4:
        raise InputError(
            f"gray has shape {gray.shape}: an alpha channel is not colorized; pass gray[..., :3] "
            "(or composite it first) and keep the alpha yourself"
        )
    if not (gray.ndim == 2 or (gray.ndim == 3 and gray.shape[2] in (1, 3))) or gray.size == 0:
        raise InputError(f"gray must be a non-empty array of shape (H, W) or (H, W, 3), got shape {gray.shape}")
    if not (gray.dtype in (np.uint8, np.uint16) or np.issubdtype(gray.dtype, np.floating)):
        raise InputError(f"gray must be uint8, uint16 or float in [0, 1], got dtype {gray.dtype}")
    return gray


# The largest luma change quantization can cause: each channel rounds by half a level, and the
# BT.601 weights sum to 1, so luma moves by at most half a level (plus float noise).
_LUMA_TOLERANCE_LEVELS = 0.5 + 1e-3


def check_luma_kept(luma: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` when its BT.601 luma equals ``luma`` to its quantization; else a ValueError.

    The last check before an output is encoded: the model predicts chroma
    only, so an output whose luma moved (an overflowing gain, a NaN) is a
    wrong result and must not be written as a success.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float in [0, 1]
        The input's luma.
    rgb : ndarray, shape (H, W, 3), uint8, uint16 or float in [0, 1]
        The output samples about to be written.

    Returns
    -------
    ndarray
        ``rgb``, unchanged.
    """
    top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(rgb.dtype)
    samples = rgb.astype(np.float32) / np.float32(top) if top else np.asarray(rgb, np.float32)
    tolerance = _LUMA_TOLERANCE_LEVELS / top if top else 1e-4
    drift = np.abs(rgb_to_luma(samples) - np.asarray(luma, np.float32))
    worst = float(np.max(drift, initial=0.0)) if np.isfinite(drift).all() else float("inf")
    if worst > tolerance:
        shown = f"{worst * top:.3g} levels" if top else f"{worst:.3g}"
        raise ResultCheckError(f"the colorized result lost the input's luma (off by up to {shown}); nothing written")
    return rgb
