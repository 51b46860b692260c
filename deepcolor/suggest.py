"""Suggested colours at a point: what the model thinks likely there, so the user picks rather than guesses.

Zhang, Zhu et al. (SIGGRAPH 2017) show the network's own colour distribution at a clicked point. Where
the model has one (the global-prior CNN on the encoder: its class head over chroma bins, Zhang et al.
2016), the suggestions are the distribution's modes at that point: the head's probabilities averaged
over the 3 x 3 cells around it (stride 4 of the working resolution), then neighbouring bins merged
greedily (the most likely bin takes every bin within `MERGE_RADIUS` of it, their chroma averaged by
probability), so that one broad colour is one suggestion. Any other model (Cheng's): a local
estimate, the same modes taken from the model's chroma of the pixels around the point whose luma is
close to the point's (their share of the window is the "probability"). Each suggestion's colour is
shown at the point's luma (in gamut there), as the result would show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor.colorspace import merge_luma_chroma
from deepcolor.metrics import to_uint8

__all__ = ["Suggestion", "MERGE_RADIUS", "class_distribution", "suggest_colours", "suggest_at"]

MERGE_RADIUS = 0.06  # U, V distance within which bins are one suggestion (1.5 bins of the 0.04 grid)
LOCAL_GRID = 0.04  # the local estimate counts chroma on the class head's grid
LOCAL_LUMA = 0.08  # ... of the window's pixels within this luma of the point's


@dataclass(frozen=True)
class Suggestion:
    """A colour likely at a point: 8-bit ``rgb`` at the point's luma, its ``probability``, and its ``source``
    (``"class head"``: the model's distribution; ``"local"``: the model's chroma around the point)."""

    rgb: tuple[int, int, int]
    probability: float
    source: str

    @property
    def hex(self) -> str:
        return "#%02x%02x%02x" % self.rgb


def class_distribution(model: Any, luma: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(probabilities (h, w, n_bins), centres (n_bins, 2))`` of the model's class head on this image, or None
    for a model without one (only the encoder-based global-prior CNN has one). Computed once per photo."""
    if getattr(model, "name", None) != "global-prior" or not getattr(model, "encoder_based", False):
        return None
    from deepcolor.models.prior_encoder import bin_probabilities

    probabilities = bin_probabilities(model.net, np.asarray(luma, np.float32), working_size=int(model.config["working_size"]))
    return probabilities, model.net.centres.cpu().numpy().astype(np.float32)


def _modes(centres: np.ndarray, weights: np.ndarray, count: int) -> list[tuple[np.ndarray, float]]:
    """Greedy modes of a weighted set of chroma points: the heaviest takes all within MERGE_RADIUS; ``count`` at most."""
    centres, weights = np.asarray(centres, np.float64), np.asarray(weights, np.float64).copy()
    total = weights.sum()
    modes = []
    while len(modes) < count and total > 0 and weights.max() > 1e-3 * total:
        near = np.linalg.norm(centres - centres[int(np.argmax(weights))], axis=1) <= MERGE_RADIUS
        mass = weights[near].sum()
        modes.append(((weights[near, None] * centres[near]).sum(axis=0) / mass, float(mass / total)))
        weights[near] = 0.0
    return sorted(modes, key=lambda mode: -mode[1])


def _shown(point_luma: float, chroma: np.ndarray) -> tuple[int, int, int]:
    rgb = to_uint8(merge_luma_chroma(np.full((1, 1), point_luma, np.float32), chroma.reshape(1, 1, 2).astype(np.float32)))
    r, g, b = (int(v) for v in rgb[0, 0])
    return r, g, b


def suggest_colours(
    luma: np.ndarray,
    chroma: np.ndarray,
    x: float,
    y: float,
    *,
    distribution: tuple[np.ndarray, np.ndarray] | None = None,
    count: int = 5,
) -> list[Suggestion]:
    """The likely colours at pixel (x, y), most likely first.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float32 in [0, 1]
    chroma : ndarray, shape (H, W, 2), float32
        The model's chroma (the local estimate reads it).
    x, y : float
        Column and row, inside the image (ValueError otherwise).
    distribution : (probabilities (h, w, n_bins), centres (n_bins, 2)), optional
        `class_distribution`'s; without it, the local estimate.
    count : int
        At most this many suggestions.

    Returns
    -------
    list of Suggestion
        Distinct colours (at least MERGE_RADIUS apart in U, V), probabilities summing to at most 1.
    """
    height, width = luma.shape
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"point x={x:g}, y={y:g} lies outside the {width}x{height} image")
    row, col = int(y), int(x)
    point_luma = float(luma[row, col])
    if distribution is not None:
        probabilities, centres = distribution
        h, w = probabilities.shape[:2]
        r = min(h - 1, max(0, int((row + 0.5) * h / height)))
        c = min(w - 1, max(0, int((col + 0.5) * w / width)))
        weights = probabilities[max(0, r - 1):r + 2, max(0, c - 1):c + 2].reshape(-1, len(centres)).mean(axis=0)
        modes, source = _modes(centres, weights, count), "class head"
    else:
        radius = max(8, max(height, width) // 16)
        window = (slice(max(0, row - radius), row + radius + 1), slice(max(0, col - radius), col + radius + 1))
        alike = np.abs(luma[window] - point_luma) <= LOCAL_LUMA
        samples = chroma[window][alike].astype(np.float64)  # the point itself is always among them
        _, cell, counts = np.unique(np.round(samples / LOCAL_GRID).astype(np.int64), axis=0, return_inverse=True,
                                    return_counts=True)
        means = np.stack([np.bincount(cell.ravel(), samples[:, k]) for k in range(2)], axis=1) / counts[:, None]
        modes, source = _modes(means, counts, count), "local"
    return [Suggestion(_shown(point_luma, uv), round(p, 4), source) for uv, p in modes]


def suggest_at(gray: np.ndarray, x: float, y: float, *, model: Any = None, method: str | None = None, count: int = 5,
               **colorize_options: Any) -> list[Suggestion]:
    """`suggest_colours` of a gray image in one call (the model runs on the whole image; a page keeps its results).

    >>> [s.hex for s in suggest_at(gray, 120, 80, method="global-prior")]   # doctest: +SKIP
    """
    from deepcolor.models.registry import DEFAULT_METHOD
    from deepcolor.pipeline import colorize_luma, load_model, to_luma

    if model is None or isinstance(model, str):
        model = load_model(model, method=method or DEFAULT_METHOD)
    luma = to_luma(gray)
    distribution = class_distribution(model, luma)
    chroma = colorize_luma(luma, model, device="cpu", **colorize_options).chroma
    return suggest_colours(luma, chroma, x, y, distribution=distribution, count=count)
