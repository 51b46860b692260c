"""Quantized chroma for a classification head (Zhang, Isola & Efros, Colorful Image Colorization, 2016).

Zhang et al. quantize the a*b* plane on a grid of 10 and keep the 313 cells that occur in
ImageNet; here the plane is BT.601 U, V (`deepcolor.colorspace`) on a grid of `GRID` = 0.04
(cell centres at multiples of 0.04), keeping the cells seen at least ``min_count`` times in the
training photos (`fit_bins`). A target colour is soft-encoded on its `NEIGHBOURS` nearest kept
centres with Gaussian weights (sigma one grid step, `soft_encode`); rare colours are up-weighted
by `rebalance_weights` (Zhang's lambda mixing of the bin prior with the uniform distribution);
a predicted distribution is decoded by the annealed mean (`annealed_mean`): temperature 1 is the
distribution's mean, T -> 0 its mode.

This module is what inference needs (the bins' constants and `annealed_mean`); the training part
(`fit_bins`, `soft_encode`, `SoftEncoder`, `bin_prior`, `rebalance_weights`, `soft_cross_entropy`)
is `deepcolor.train.chroma_bins`. Everything takes and returns torch tensors.
"""

from __future__ import annotations

import torch

__all__ = ["GRID", "NEIGHBOURS", "HALF_CELLS", "annealed_mean"]

GRID = 0.04  # cell side in BT.601 U, V (|U| <= 0.436, |V| <= 0.615: 23 x 31 cells in all)
NEIGHBOURS = 5  # a target is spread over this many nearest bins (Zhang's choice)
HALF_CELLS = (11, 16)  # cells from the centre to the edge of the U and V ranges (with margin)


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float, *, dim: int = 1) -> torch.Tensor:
    """Decode a distribution over bins: the mean of the bin centres under softmax(logits / T).

    Parameters
    ----------
    logits : Tensor, bins along ``dim`` (e.g. (N, Q, h, w))
    centres : Tensor, shape (Q, 2)
    temperature : float
        In (0, 1] usually: 1 is the distribution's mean, T -> 0 its mode (Zhang used 0.38).

    Returns
    -------
    Tensor, ``logits``' shape with the bins axis replaced by 2 (U, V).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    p = torch.softmax(logits / temperature, dim=dim)
    p = p.movedim(dim, -1)
    return (p @ centres.to(p.dtype)).movedim(-1, dim)
