"""Training of the encoder-based global-prior CNN (`deepcolor.models.prior_encoder`).

``python -m deepcolor.fit global-prior --images data/splits/train.txt --out global_prior.safetensors``

The encoder is frozen, so its outputs on every training photo are computed once and cached
(`deepcolor.train.prior_cache`: 160 x 160 centre crops of the photos resized to a 176-pixel
short side, the stride 4..32 maps, the pooled feature of the whole photo); a step trains only
the decoder on a batch of cached tensors, each flipped horizontally at random.

Loss: MSE of the regression head's U, V against the stride-2 target (the crop's chroma averaged
over 2 x 2), plus ``class_weight`` times the rebalanced soft cross-entropy of the class head at
stride 4 (`deepcolor.models.chroma_bins`: bins fitted on the training targets, soft-encoded on 5
neighbours, Zhang's lambda), plus ``scene_weight`` times the scene head's cross-entropy (labels
of `deepcolor.train.global_prior.real_labels`, masked where a photo has none).

AdamW; the learning rate warms up, then follows a cosine to zero by the elapsed step time over
``time_budget`` minutes. A checkpoint is written every few minutes; ``resume`` continues from it
(batch ``s`` is drawn from the seed and ``s``, so a resumed run draws what the first would have).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepcolor.colorspace import rgb_to_yuv
from deepcolor.features.encoder import load_pretrained_encoder
from deepcolor.train.chroma_bins import SoftEncoder, bin_prior, fit_bins, rebalance_weights, soft_cross_entropy, soft_encode
from deepcolor.models.global_prior import GlobalPriorModel
from deepcolor.models.prior_encoder import ARCHITECTURE, EncoderPriorNet, PriorDecoder
from deepcolor.train.checkpoint import save_checkpoint
from deepcolor.train.common import IGNORE, real_labels
from deepcolor.train.prior_cache import CROP, MAP_NAMES, SHORT_SIDE, build_cache, gray_luma8, load_cache

__all__ = ["EncoderPriorConfig", "train_encoder", "batch_tensors", "prior_losses", "bins_from_cache"]

logger = logging.getLogger("deepcolor")

CHECKPOINT_SECONDS = 180.0
WARMUP_FRACTION = 0.03
PRIOR_SAMPLES = 400_000  # stride-4 target pixels the bin prior is estimated from


@dataclass
class EncoderPriorConfig:
    """Everything that shapes a fit of the encoder-based global-prior CNN (the model file records it)."""

    images: Sequence[Path]
    cache: Path
    grid: float = 0.04
    min_count: int = 20
    lam: float = 0.5
    temperature: float = 0.38
    class_weight: float = 0.002
    scene_weight: float = 0.001
    working_size: int = 256
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    time_budget: float = 25.0
    seed: int = 0
    checkpoint: Path | None = None
    resume: bool = False
    progress: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.min_count < 1 or self.working_size < 32:
            raise ValueError(f"batch_size, min_count must be >= 1 and working_size >= 32, got {self.batch_size}, "
                             f"{self.min_count}, {self.working_size}")
        if not (self.time_budget > 0 and self.lr > 0 and self.grid > 0 and self.temperature > 0):
            raise ValueError("time_budget, lr, grid and temperature must be > 0")
        if not (0 <= self.lam <= 1 and self.class_weight >= 0 and self.scene_weight >= 0):
            raise ValueError(f"lambda must lie in [0, 1] and the loss weights be >= 0, got {self.lam}, {self.class_weight}, {self.scene_weight}")
        if not self.images:
            raise ValueError("no training images found")
        if self.checkpoint is not None and Path(self.checkpoint).is_file() and not self.resume:
            raise ValueError(f"checkpoint {self.checkpoint} exists: resume it (--resume), or delete it to start over")


def batch_tensors(data: dict[str, np.ndarray], index: np.ndarray, flip: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch of cached tensors: (maps s4..s32 float32, pooled (B, 1280), luma (B, 1, CROP, CROP), U, V (B, 2, CROP, CROP)).

    ``flip`` (B,) bool mirrors those samples left-right (maps, luma and chroma alike).
    """
    def mirrored(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[flip] = a[flip][..., ::-1]
        return a

    maps = [torch.from_numpy(mirrored(data[name][index]).astype(np.float32)) for name in MAP_NAMES]
    rgb = data["rgb"][index].copy()
    rgb[flip] = rgb[flip][:, :, ::-1]
    luma = torch.from_numpy(gray_luma8(rgb))[:, None]
    uv = torch.from_numpy(np.ascontiguousarray(rgb_to_yuv(rgb.astype(np.float32) / 255.0)[..., 1:])).permute(0, 3, 1, 2)
    pooled = torch.from_numpy(data["pooled"][index].astype(np.float32))
    return maps, pooled, luma, uv.contiguous()


def prior_losses(decoder: PriorDecoder, batch: tuple, scene: torch.Tensor, soft: SoftEncoder, weights: torch.Tensor,
                 config: EncoderPriorConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a batch (`batch_tensors`) and its parts: MSE, rebalanced soft cross-entropy, scene cross-entropy."""
    maps, pooled, luma, uv = batch
    chroma, bin_logits, scene_logits = decoder(maps, pooled, F.avg_pool2d(luma, 2))
    mse = F.mse_loss(chroma, F.avg_pool2d(uv, 2))
    target4 = F.avg_pool2d(uv, 4).permute(0, 2, 3, 1).reshape(-1, 2)
    index, weight = soft(target4)
    logits = bin_logits.permute(0, 2, 3, 1).reshape(-1, bin_logits.shape[1])
    ce = soft_cross_entropy(logits, index, weight, weights[index[:, 0]])
    scene_ce = torch.zeros(())
    if config.scene_weight > 0 and bool((scene != IGNORE).any()):
        scene_ce = F.cross_entropy(scene_logits, scene, ignore_index=IGNORE)
    loss = mse + config.class_weight * ce + config.scene_weight * scene_ce
    return loss, {"mse": float(mse.detach()), "ce": float(ce.detach()), "scene_ce": float(scene_ce.detach())}


def bins_from_cache(rgb: np.ndarray, config: EncoderPriorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chroma bins of the training targets (stride 4), their soft prior and rebalancing weights."""
    uv = rgb_to_yuv(rgb.astype(np.float32) / 255.0)[..., 1:]
    n, h, w, _ = uv.shape
    uv4 = uv.reshape(n, h // 4, 4, w // 4, 4, 2).mean(axis=(2, 4)).reshape(-1, 2)
    centres, _ = fit_bins(uv4, min_count=config.min_count, grid=config.grid)
    rng = np.random.default_rng(config.seed)
    sample = torch.from_numpy(uv4[rng.choice(len(uv4), min(PRIOR_SAMPLES, len(uv4)), replace=False)].astype(np.float32))
    index, weight = soft_encode(sample, torch.from_numpy(centres), sigma=config.grid)
    prior = bin_prior(index, weight, len(centres))
    return centres, prior.numpy(), rebalance_weights(prior, lam=config.lam).numpy()


def _lr_factor(fraction: float) -> float:
    if fraction < WARMUP_FRACTION:
        return max(fraction / WARMUP_FRACTION, 0.05)
    return 0.5 * (1.0 + math.cos(math.pi * min((fraction - WARMUP_FRACTION) / (1.0 - WARMUP_FRACTION), 1.0)))


def train_encoder(config: EncoderPriorConfig) -> tuple[GlobalPriorModel, dict]:
    """Cache the encoder's outputs, fit bins and decoder; the model (eval mode) and a report (``failed`` photos, record)."""
    t_start = time.perf_counter()
    encoder = load_pretrained_encoder()
    folder = build_cache(list(config.images), config.cache, encoder, progress=config.progress)
    data, kept, failed = load_cache(folder)
    cache_s = time.perf_counter() - t_start
    labels, classes = real_labels(kept)
    centres, prior, weights = bins_from_cache(data["rgb"], config)
    logger.info("%d training photos (%d with a scene label, %d classes), %d chroma bins; cache ready after %.1f min",
                len(kept), int((labels != IGNORE).sum()), len(classes), len(centres), cache_s / 60)
    decoder, record = _fit_decoder(data, labels, len(classes), centres, weights, config)
    model_config = {
        "architecture": ARCHITECTURE,
        "classes": list(classes) if classes else ["none"],
        "working_size": config.working_size,
        "global_size": 224,
        "bins": {"grid": config.grid, "min_count": config.min_count, "neighbours": 5, "sigma": config.grid, "lambda": config.lam,
                 "temperature": config.temperature, "centres": np.round(centres, 4).tolist(),
                 "prior": np.round(prior, 6).tolist()},
        "vividness_default": 0.0,
        "vividness_rule": "output = (1 - v) * regression + v * annealed mean (T = bins.temperature)",
        "loss": {"class_weight": config.class_weight, "scene_weight": config.scene_weight},
        "weights_dtype": "float16",
        "training": {"command": config.command, "images": len(kept), "labelled_images": int((labels != IGNORE).sum()),
                     "crop": CROP, "short_side": SHORT_SIDE, "parameters": sum(p.numel() for p in decoder.parameters()),
                     "cache_seconds": round(cache_s, 1), "wall_seconds": round(time.perf_counter() - t_start, 1), **record},
    }
    model = GlobalPriorModel(EncoderPriorNet(encoder, decoder.eval(), centres), model_config)
    return model, {"failed": failed, **record}


def _fit_decoder(data: dict[str, np.ndarray], labels: np.ndarray, n_classes: int, centres: np.ndarray, weights: np.ndarray,
                 config: EncoderPriorConfig) -> tuple[PriorDecoder, dict]:
    n = len(data["rgb"])
    if n < config.batch_size:
        raise ValueError(f"need at least batch-size ({config.batch_size}) training photos, got {n}")
    torch.manual_seed(config.seed)
    decoder = PriorDecoder(len(centres), max(1, n_classes))
    opt = torch.optim.AdamW(decoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = {"step": 0, "elapsed": 0.0, "log": []}
    if config.resume and config.checkpoint is not None and Path(config.checkpoint).is_file():
        ck = torch.load(config.checkpoint, weights_only=True)
        decoder.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        state = json.loads(ck["state"])
        logger.info("resumed from %s: step %d, %.1f min done", config.checkpoint, state["step"], state["elapsed"] / 60)
    soft, weights_t, labels_t = SoftEncoder(torch.from_numpy(centres), sigma=config.grid), torch.from_numpy(weights), torch.from_numpy(labels)
    budget_s, last_save, sums = config.time_budget * 60.0, time.perf_counter(), np.zeros(3)
    decoder.train()
    while state["elapsed"] < budget_s:
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, state["step"]])
        index = np.sort(rng.choice(n, config.batch_size, replace=False))
        batch = batch_tensors(data, index, rng.random(config.batch_size) < 0.5)
        for group in opt.param_groups:
            group["lr"] = config.lr * _lr_factor(state["elapsed"] / budget_s)
        loss, parts = prior_losses(decoder, batch, labels_t[index], soft, weights_t, config)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += (parts["mse"], parts["ce"], parts["scene_ce"])
        state["step"] += 1
        state["elapsed"] += time.perf_counter() - t0
        if state["step"] % 100 == 0:
            state["log"].append({"step": state["step"], "minutes": round(state["elapsed"] / 60, 2), "mse": round(sums[0] / 100, 6),
                                 "ce": round(sums[1] / 100, 4), "scene_ce": round(sums[2] / 100, 4)})
            logger.info("step %(step)d (%(minutes).1f min): mse %(mse).5f ce %(ce).3f scene %(scene_ce).3f", state["log"][-1])
            sums[:] = 0
        if config.checkpoint is not None and time.perf_counter() - last_save > CHECKPOINT_SECONDS:
            save_checkpoint(Path(config.checkpoint), {"net": decoder.state_dict(), "opt": opt.state_dict(), "state": json.dumps(state)})
            last_save = time.perf_counter()
    if config.checkpoint is not None:
        save_checkpoint(Path(config.checkpoint), {"net": decoder.state_dict(), "opt": opt.state_dict(), "state": json.dumps(state)})
    return decoder, {"steps": state["step"], "train_seconds": round(state["elapsed"], 1), "log": state["log"]}
