"""The gray-patch feature: the 7x7 luma neighbourhood of every pixel (49-d).

The kernel `deepcolor.kernels.gather_patches` writes patches for a list of flat pixel
indices, so one kernel serves training (a random sample of pixels) and
inference (contiguous runs of rows). Its reference is
``numpy.lib.stride_tricks.sliding_window_view`` over the reflect-padded luma,
used in ``tests/test_patch.py``.
"""

from __future__ import annotations

import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.kernels.arrays import array_module
from deepcolor.kernels.params import PATCH_DIM, PATCH_SIZE

__all__ = ["PATCH_SIZE", "PATCH_DIM", "pad_luma", "patch_features", "gather_patches"]

_HALF = PATCH_SIZE // 2


def pad_luma(luma: np.ndarray, half: int = _HALF) -> np.ndarray:
    """Reflect-pad (``d c b | a b c d``, numpy ``reflect``) a luma image by ``half`` pixels, float32 C-contiguous.

    numpy reflects repeatedly when ``half`` exceeds the image, so any size >= 1 works. A CuPy
    luma is padded on its device.
    """
    xp = array_module(luma)
    return xp.ascontiguousarray(xp.pad(xp.asarray(luma, dtype=xp.float32), half, mode="reflect"))


def gather_patches(luma: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """Patches at chosen pixels.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    flat_index : ndarray, shape (N,), int
        Row-major pixel indices ``y * W + x`` in ``[0, H * W)``.

    Returns
    -------
    patches : ndarray, shape (N, 49), float32
        Row-major 7x7 neighbourhoods, reflect-padded at the border.
    """
    luma = check_luma(luma)
    flat_index = np.ascontiguousarray(flat_index, dtype=np.int64)
    if flat_index.size and (flat_index.min() < 0 or flat_index.max() >= luma.size):
        raise ValueError(f"flat_index must lie in [0, {luma.size}), got [{flat_index.min()}, {flat_index.max()}]")
    return kernels.gather_patches(pad_luma(luma), luma.shape[1], flat_index, size=PATCH_SIZE)


def patch_features(luma: np.ndarray) -> np.ndarray:
    """Dense 7x7 patch feature of every pixel.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].

    Returns
    -------
    patches : ndarray, shape (H, W, 49), float32
        ``patches[y, x, 7 * dy + dx] = padded[y + dy, x + dx]`` with the luma
        reflect-padded by 3 pixels.
    """
    luma = check_luma(luma)
    h, w = luma.shape
    return gather_patches(luma, np.arange(h * w, dtype=np.int64)).reshape(h, w, PATCH_DIM)
