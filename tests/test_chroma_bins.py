"""Chroma bins of the class head: bins kept, soft targets, rebalancing, annealed mean, guided upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepcolor.models.chroma_bins import GRID, annealed_mean
from deepcolor.train.chroma_bins import SoftEncoder, bin_prior, fit_bins, rebalance_weights, soft_cross_entropy, soft_encode
from deepcolor.upsample import apply_coefficients, bilinear_window, guide_coefficients, guided_upsample


def _grid_centres(n: int = 5) -> np.ndarray:
    u, v = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    return (np.stack([u.ravel(), v.ravel()], 1) * GRID).astype(np.float32)


def test_fit_bins_keeps_cells_seen_often_enough():
    """Cells with >= min_count samples are kept, centred on multiples of the grid; rarer ones dropped."""
    rng = np.random.default_rng(0)
    common = np.array([0.08, -0.04]) + rng.uniform(-0.019, 0.019, (30, 2))
    rare = np.array([0.2, 0.3]) + rng.uniform(-0.019, 0.019, (19, 2))
    other = np.array([-0.12, 0.0]) + rng.uniform(-0.019, 0.019, (25, 2))
    extra = np.array([[0.0, 0.0]] * 20 + [[0.04, 0.04]] * 20 + [[0.4, -0.6]] * 20)
    centres, counts = fit_bins(np.concatenate([common, rare, other, extra]), min_count=20)
    kept = {tuple(np.round(c / GRID).astype(int)) for c in centres}
    assert (2, -1) in kept and (-3, 0) in kept and (5, 8) not in kept
    assert (10, -15) in kept  # the range's corner is a cell too
    assert counts.min() >= 20
    np.testing.assert_allclose(centres / GRID, np.round(centres / GRID), atol=1e-5)


def test_soft_encode_weights_nearest_first_and_sum_to_one():
    """Five nearest bins, the nearest weighted most; a colour on a centre puts exp(0) : exp(-1/2) on it and its neighbours."""
    centres = torch.from_numpy(_grid_centres())
    chroma = torch.tensor([[0.0, 0.0], [0.013, -0.027]])
    index, weight = soft_encode(chroma, centres)
    np.testing.assert_allclose(weight.sum(1).numpy(), 1.0, atol=1e-6)
    assert torch.all(weight[:, :-1] >= weight[:, 1:] - 1e-7)
    assert torch.allclose(centres[index[0, 0]], torch.zeros(2))
    np.testing.assert_allclose(float(weight[0, 1] / weight[0, 0]), np.exp(-0.5), rtol=1e-5)  # one grid step = one sigma
    lut_index, lut_weight = SoftEncoder(centres)(chroma)
    assert torch.equal(lut_index[:, 0], index[:, 0])
    np.testing.assert_allclose(lut_weight.numpy(), weight.numpy(), atol=0.06)


def test_rebalanced_weights_have_expectation_one():
    """sum_q p_q w_q = 1; lambda = 1 weighs every bin 1; lambda = 0 weighs by 1 / p; rare bins weigh more."""
    prior = torch.tensor([0.6, 0.3, 0.08, 0.02])
    for lam in (0.0, 0.5, 1.0):
        w = rebalance_weights(prior, lam=lam)
        assert float((prior * w).sum()) == pytest.approx(1.0, abs=1e-5)
        assert torch.all(w[1:] >= w[:-1] - 1e-6)
    np.testing.assert_allclose(rebalance_weights(prior, lam=1.0).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(rebalance_weights(prior, lam=0.0).numpy(), (1 / prior / 4).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="lambda"):
        rebalance_weights(prior, lam=1.5)


def test_bin_prior_and_weighted_cross_entropy():
    """The prior of soft targets sums to 1; the cross-entropy is smallest for logits that match the target."""
    centres = torch.from_numpy(_grid_centres(2))
    chroma = torch.tensor([[0.0, 0.0], [0.04, 0.04]])
    index, weight = soft_encode(chroma, centres)
    prior = bin_prior(index, weight, len(centres))
    assert float(prior.sum()) == pytest.approx(1.0, abs=1e-6)
    good = torch.full((2, len(centres)), -5.0)
    good[0, index[0, 0]] = good[1, index[1, 0]] = 5.0
    bad = good.flip(0)
    assert soft_cross_entropy(good, index, weight) < soft_cross_entropy(bad, index, weight)
    doubled = soft_cross_entropy(good, index, weight, torch.tensor([2.0, 2.0]))
    assert float(doubled) == pytest.approx(2 * float(soft_cross_entropy(good, index, weight)), rel=1e-5)


def test_annealed_mean_spans_mean_to_mode():
    """T = 1 is the distribution's mean; T -> 0 its mode; a lower T moves from the mean toward the mode."""
    centres = torch.tensor([[0.0, 0.0], [0.2, 0.0], [0.0, 0.3]])
    p = torch.tensor([0.5, 0.3, 0.2])
    logits = p.log().view(1, 3, 1, 1)
    mean = annealed_mean(logits, centres, 1.0)[0, :, 0, 0]
    np.testing.assert_allclose(mean.numpy(), (p[:, None] * centres).sum(0).numpy(), atol=1e-6)
    mode = annealed_mean(logits, centres, 1e-3)[0, :, 0, 0]
    np.testing.assert_allclose(mode.numpy(), [0.0, 0.0], atol=1e-6)
    mid = annealed_mean(logits, centres, 0.38)[0, :, 0, 0]
    assert float(mid.norm()) < float(mean.norm())
    with pytest.raises(ValueError, match="temperature"):
        annealed_mean(logits, centres, 0.0)


def test_guided_upsampling_follows_an_edge_better_than_bilinear():
    """A coarse colour step upsampled 8x: guided by the gray step, its error at the edge is far below bilinear's; flat parts stay flat."""
    h = w = 128
    edge = 61  # not on the coarse grid
    luma = np.full((h, w), 0.2, np.float32)
    luma[:, edge:] = 0.8
    truth = np.zeros((h, w, 2), np.float32)
    truth[:, edge:, 0] = 0.2
    small = truth.reshape(16, 8, 16, 8, 2).mean(axis=(1, 3))
    luma = luma + np.random.default_rng(0).normal(0, 0.02, luma.shape).astype(np.float32)  # texture the guide must not print
    bilinear = guided_upsample(luma, small, radius=0)
    guided = guided_upsample(luma, small)
    band = slice(edge - 8, edge + 8)
    err_bilinear = np.abs(bilinear[:, band] - truth[:, band]).mean()
    err_guided = np.abs(guided[:, band] - truth[:, band]).mean()
    assert err_guided < 0.4 * err_bilinear, (err_guided, err_bilinear)
    assert np.abs(guided[:, :40] - truth[:, :40]).max() < 0.01


def test_bilinear_window_equals_the_whole_upsample():
    """Any window of the upsample is the same window of the whole one (tiles stitch exactly)."""
    rng = np.random.default_rng(1)
    small = rng.random((9, 13, 2)).astype(np.float32)
    whole = bilinear_window(small, (70, 101), (slice(0, 70), slice(0, 101)))
    part = bilinear_window(small, (70, 101), (slice(17, 50), slice(33, 99)))
    np.testing.assert_allclose(part, whole[17:50, 33:99], atol=1e-6)
    luma = rng.random((70, 101)).astype(np.float32)
    coefficients = guide_coefficients(luma, small)
    whole = apply_coefficients(luma, coefficients, (70, 101))
    part = apply_coefficients(luma[17:50, 33:99], coefficients, (70, 101), (slice(17, 50), slice(33, 99)))
    np.testing.assert_allclose(part, whole[17:50, 33:99], atol=1e-6)
    with pytest.raises(ValueError, match="window"):
        apply_coefficients(np.zeros((5, 5), np.float32), coefficients, (70, 101), (slice(0, 6), slice(0, 5)))
