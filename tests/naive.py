"""Slow, obviously correct reference implementations for the tests (plain loops, float64).

Each function here spells out a definition pixel by pixel, with no padding
tricks or vectorisation, so a fast kernel can be checked against it on tiny
images.
"""

from __future__ import annotations

import math

import numpy as np


def reflect101(i: int, n: int) -> int:
    """Index ``i`` folded into ``[0, n)`` with reflect-101 borders (``c b | a b c``), repeated as often as needed."""
    if n == 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def naive_joint_bilateral(
    source: np.ndarray, guide: np.ndarray, diameter: int, sigma_color: float, sigma_space: float
) -> np.ndarray:
    """Joint bilateral filter by definition: (H, W[, C]) source, (H, W) guide -> float64, source's shape."""
    src = np.asarray(source, dtype=np.float64)
    planes = src[..., None] if src.ndim == 2 else src
    g = np.asarray(guide, dtype=np.float64)
    h, w = g.shape
    r = diameter // 2
    out = np.zeros(planes.shape, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            total = np.zeros(planes.shape[2])
            norm = 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if dy * dy + dx * dx > r * r:
                        continue
                    qy, qx = reflect101(y + dy, h), reflect101(x + dx, w)
                    weight = math.exp(-(dy * dy + dx * dx) / (2 * sigma_space**2)) * math.exp(
                        -((g[y, x] - g[qy, qx]) ** 2) / (2 * sigma_color**2)
                    )
                    total += weight * planes[qy, qx]
                    norm += weight
            out[y, x] = total / norm
    return out.reshape(src.shape)
