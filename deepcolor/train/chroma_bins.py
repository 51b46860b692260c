"""The training part of the quantized chroma of a classification head (Zhang, Isola & Efros 2016).

The bins and their decoding are `deepcolor.models.chroma_bins` (what inference needs); here are the
bins' fitting on training photos (`fit_bins`), the soft encoding of a target colour on its
`NEIGHBOURS` nearest kept centres (`soft_encode`, `SoftEncoder`), the bin prior and Zhang's
rebalancing weights (`bin_prior`, `rebalance_weights`) and the loss (`soft_cross_entropy`).
Everything takes and returns torch tensors, except `fit_bins`, which counts numpy samples.
"""

from __future__ import annotations

import numpy as np
import torch

from deepcolor.models.chroma_bins import GRID, HALF_CELLS, NEIGHBOURS

__all__ = ["fit_bins", "soft_encode", "SoftEncoder", "bin_prior", "rebalance_weights", "soft_cross_entropy"]


def fit_bins(chroma: np.ndarray, *, min_count: int = 20, grid: float = GRID) -> tuple[np.ndarray, np.ndarray]:
    """The grid cells that training chroma occupies.

    Parameters
    ----------
    chroma : ndarray, shape (N, 2), float
        BT.601 U, V samples (e.g. every pixel of the training targets).
    min_count : int, keyword-only
        A cell is kept when at least this many samples fall in it.
    grid : float, keyword-only

    Returns
    -------
    centres : ndarray, shape (Q, 2), float32
        Kept cell centres (multiples of ``grid``), in raster order of (U, V).
    counts : ndarray, shape (Q,), int64
        Samples in each kept cell.
    """
    chroma = np.asarray(chroma, np.float64).reshape(-1, 2)
    if min_count < 1 or grid <= 0:
        raise ValueError(f"min_count must be >= 1 and grid > 0, got {min_count}, {grid}")
    cells = np.round(chroma / grid).astype(np.int64)
    iu, iv = cells[:, 0] + HALF_CELLS[0], cells[:, 1] + HALF_CELLS[1]
    side_v = 2 * HALF_CELLS[1] + 1
    ok = (iu >= 0) & (iu <= 2 * HALF_CELLS[0]) & (iv >= 0) & (iv < side_v)
    counts = np.bincount(iu[ok] * side_v + iv[ok], minlength=(2 * HALF_CELLS[0] + 1) * side_v)
    kept = np.flatnonzero(counts >= min_count)
    if kept.size < NEIGHBOURS:
        raise ValueError(f"only {kept.size} chroma bins have {min_count} samples; need at least {NEIGHBOURS}")
    centres = np.stack([kept // side_v - HALF_CELLS[0], kept % side_v - HALF_CELLS[1]], axis=1) * grid
    return centres.astype(np.float32), counts[kept].astype(np.int64)


def soft_encode(chroma: torch.Tensor, centres: torch.Tensor, *, sigma: float = GRID, k: int = NEIGHBOURS) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets: each colour spread on its ``k`` nearest bins with Gaussian weights summing to 1.

    Parameters
    ----------
    chroma : Tensor, shape (N, 2), float32
    centres : Tensor, shape (Q, 2), float32
    sigma : float, keyword-only
        Gaussian width in U, V units (default one grid step).
    k : int, keyword-only

    Returns
    -------
    index : Tensor, shape (N, k), int64
        The nearest bins, nearest first.
    weight : Tensor, shape (N, k), float32
        Their weights; each row sums to 1.
    """
    if chroma.ndim != 2 or chroma.shape[1] != 2:
        raise ValueError(f"soft_encode needs (N, 2) chroma, got {tuple(chroma.shape)}")
    d2 = torch.cdist(chroma, centres).square()
    near_d2, index = torch.topk(d2, k, dim=1, largest=False)
    weight = torch.softmax(-near_d2 / (2.0 * sigma * sigma), dim=1)  # exp(-d^2 / 2 sigma^2), normalized
    return index, weight


class SoftEncoder:
    """`soft_encode` by table look-up: targets rounded to a fine ``step`` grid first (training speed).

    The k nearest bins and their weights are computed once for every point of a ``step`` grid
    over the U, V ranges; a colour takes those of its nearest grid point, so the result equals
    `soft_encode` of the colour moved by at most ``step / sqrt(2)`` (0.0035 for the default).
    """

    def __init__(self, centres: torch.Tensor, *, sigma: float = GRID, k: int = NEIGHBOURS, step: float = 0.005) -> None:
        self.step = float(step)
        self.half = torch.tensor([round(0.436 / step) + 1, round(0.615 / step) + 1])
        us = torch.arange(-int(self.half[0]), int(self.half[0]) + 1, dtype=torch.float32) * step
        vs = torch.arange(-int(self.half[1]), int(self.half[1]) + 1, dtype=torch.float32) * step
        grid = torch.stack(torch.meshgrid(us, vs, indexing="ij"), dim=-1).reshape(-1, 2)
        self.index, self.weight = soft_encode(grid, centres, sigma=sigma, k=k)
        self.columns = vs.numel()

    def __call__(self, chroma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 2) U, V -> (index (N, k), weight (N, k)), as `soft_encode`."""
        cell = torch.round(chroma / self.step).long()
        iu = (cell[:, 0] + self.half[0]).clamp(0, 2 * int(self.half[0]))
        iv = (cell[:, 1] + self.half[1]).clamp(0, 2 * int(self.half[1]))
        row = iu * self.columns + iv
        return self.index[row], self.weight[row]


def bin_prior(index: torch.Tensor, weight: torch.Tensor, n_bins: int) -> torch.Tensor:
    """The empirical distribution (Q,) of soft-encoded training targets (sums to 1)."""
    prior = torch.zeros(n_bins, dtype=torch.float64)
    prior.index_add_(0, index.reshape(-1), weight.reshape(-1).double())
    return (prior / prior.sum()).float()


def rebalance_weights(prior: torch.Tensor, *, lam: float = 0.5) -> torch.Tensor:
    """Zhang's class rebalancing: w ∝ 1 / ((1 - lam) p + lam / Q), scaled so that sum_q p_q w_q = 1.

    Parameters
    ----------
    prior : Tensor, shape (Q,)
        Bin probabilities (sum 1).
    lam : float, keyword-only
        Mixing with the uniform distribution, in [0, 1]: 0 weights by 1 / p (fully rebalanced),
        1 weights every bin alike (no rebalancing).

    Returns
    -------
    Tensor, shape (Q,), float32
        The weight of a pixel whose nearest bin is q; its expectation under ``prior`` is 1.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")
    prior = prior.double()
    w = 1.0 / ((1.0 - lam) * prior + lam / prior.numel()).clamp_min(1e-12)
    return (w / (prior * w).sum()).float()


def soft_cross_entropy(logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels of ``-pixel_weight * sum_k weight_k log softmax(logits)[index_k]``.

    ``logits`` (N, Q); ``index``, ``weight`` (N, k) from `soft_encode`; ``pixel_weight`` (N,) or None.
    """
    log_p = torch.log_softmax(logits, dim=1).gather(1, index)
    per_pixel = -(weight * log_p).sum(dim=1)
    if pixel_weight is not None:
        per_pixel = per_pixel * pixel_weight
    return per_pixel.mean()
