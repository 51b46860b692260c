"""The encoder-based global-prior trainer: training crops, cached batches and flips, the loss learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepcolor.train.chroma_bins import SoftEncoder, rebalance_weights
from deepcolor.models.prior_encoder import PriorDecoder
from deepcolor.train.prior_cache import CROP, training_crop
from deepcolor.train.prior_encoder import EncoderPriorConfig, batch_tensors, prior_losses


def _fake_cache(n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = CROP
    return {"s4": rng.standard_normal((n, 24, c // 4, c // 4)).astype(np.float16),
            "s8": rng.standard_normal((n, 40, c // 8, c // 8)).astype(np.float16),
            "s16": rng.standard_normal((n, 112, c // 16, c // 16)).astype(np.float16),
            "s32": rng.standard_normal((n, 320, c // 32, c // 32)).astype(np.float16),
            "pooled": rng.random((n, 1280)).astype(np.float16),
            "rgb": rng.integers(0, 256, (n, c, c, 3), dtype=np.uint8)}


def test_training_crop_is_a_centre_crop_of_the_short_side():
    """Short side to 176, centre crop 160 x 160; a crop above the short side is refused."""
    image = np.zeros((300, 500, 3), np.uint8)
    image[:, 250:] = 200  # the right half bright: the crop's centre column sits on the edge
    crop = training_crop(image)
    assert crop.shape == (CROP, CROP, 3) and crop.dtype == np.uint8
    assert crop[:, : CROP // 2 - 2].max() == 0 and crop[:, CROP // 2 + 2 :].min() == 200
    with pytest.raises(ValueError, match="larger"):
        training_crop(image, short_side=100, crop=160)


def test_flipped_batch_mirrors_maps_luma_and_chroma():
    """A flipped sample is the unflipped one mirrored left-right, in every cached tensor but the pooled feature."""
    data = _fake_cache()
    index = np.array([0, 2])
    plain = batch_tensors(data, index, np.array([False, False]))
    flipped = batch_tensors(data, index, np.array([True, False]))
    for a, b in zip(plain[0], flipped[0]):
        assert torch.equal(a[0].flip(-1), b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(plain[2][0].flip(-1), flipped[2][0]) and torch.equal(plain[3][0].flip(-1), flipped[3][0])
    assert torch.equal(plain[1], flipped[1])


def test_losses_fall_on_a_tiny_set():
    """A few AdamW steps on four cached samples lower the MSE and the rebalanced cross-entropy."""
    torch.manual_seed(0)
    data = _fake_cache()
    u, v = np.meshgrid(np.arange(-4, 5), np.arange(-4, 5), indexing="ij")
    centres = torch.from_numpy((np.stack([u.ravel(), v.ravel()], 1) * 0.04).astype(np.float32))
    decoder = PriorDecoder(len(centres), 2).train()
    config = EncoderPriorConfig(images=[Path("x")], cache=Path("unused"), class_weight=0.01)
    weights = rebalance_weights(torch.full((len(centres),), 1.0 / len(centres)))
    opt = torch.optim.AdamW(decoder.parameters(), lr=3e-3)
    batch = batch_tensors(data, np.arange(4), np.zeros(4, bool))
    history = []
    for _ in range(12):
        loss, parts = prior_losses(decoder, batch, torch.tensor([0, 1, -100, 0]), SoftEncoder(centres), weights, config)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(parts)
    assert history[-1]["mse"] < history[0]["mse"] and history[-1]["ce"] < history[0]["ce"], history
    assert history[-1]["scene_ce"] < history[0]["scene_ce"]
