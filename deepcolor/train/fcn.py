"""Train the semantic FCN on gray images with per-pixel labels (CamVid layout).

Driven by an `FCNConfig` (``python -m deepcolor.fit semantic`` fills it). Images
are matched to label maps ``<stem>.png`` (uint8 class ids, ``VOID`` = 11
ignored) by `deepcolor.io.paths.match_pairs` and read by `deepcolor.io`. The net
sees only luma (`deepcolor.colorspace.rgb_to_luma`). Each epoch ends with a
validation pass (global pixel accuracy and class-average accuracy, void
excluded) and an atomic checkpoint (model, optimizer, epoch, RNG state, best
model so far) from which ``--resume`` continues. The best-on-validation model
is written, BatchNorm folded into the convolutions, with
`deepcolor.modelfile.save_model_file` (kind ``"fcn"``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepcolor.colorspace import rgb_to_luma
from deepcolor.errors import DeepcolorError
from deepcolor.features.semantic import (
    CAMVID_CLASSES,
    DEFAULT_ARCH,
    MAX_SIDE,
    N_CLASSES,
    VOID,
    SemanticFCN,
    semantic_probabilities,
    smooth_probabilities,
)
from deepcolor.io.paths import match_pairs
from deepcolor.modelfile import save_model_file
from deepcolor.train.checkpoint import save_checkpoint

__all__ = ["FCNConfig", "TrainError", "evaluate_fcn", "train", "train_fcn", "fold_batchnorm", "match_pairs"]

logger = logging.getLogger(__name__)

# Augmentation: a random crop covering CROP_FRACTION of each side (aspect
# jittered by ASPECT_JITTER) resized to CROP. The crops keep most of the scene
# so the pooled layout context sees whole scenes, as at inference. Luma
# photometric jitter keeps the net from depending on CamVid's camera.
CROP_FRACTION = (0.6, 1.0)
ASPECT_JITTER = 0.1
GAMMA_RANGE = (0.7, 1.4)
CONTRAST_RANGE = (0.75, 1.25)
BRIGHTNESS_RANGE = (-0.1, 0.1)
CROP = (240, 320)  # (H, W) of training samples, multiples of the net's stride
WARMUP_FRACTION = 0.03
WARMUP_STEPS = 100


class TrainError(DeepcolorError, ValueError):
    """Bad input for training (missing folders, unreadable files ...): reported as one line by `main`."""


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass
class FCNConfig:
    """Everything one FCN training run reads; ``python -m deepcolor.fit semantic`` fills it from its flags.

    Folders hold images ``<stem>.jpg`` and label maps ``<stem>.png``; ``command``
    is recorded in the model card. Checked on construction (`TrainError`).
    """

    images: str
    labels: str
    val_images: str
    val_labels: str
    out: str
    test_images: str | None = None
    test_labels: str | None = None
    epochs: int = 40
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
    crop: tuple[int, int] = CROP
    max_side: int = MAX_SIDE
    channels: list[int] | None = None
    ema: float = 0.99
    class_weights: str = "sqrt-median"
    checkpoint: str | None = None
    resume: bool = False
    time_budget: float | None = None
    command: str = ""

    def __post_init__(self) -> None:
        if (self.test_images is None) != (self.test_labels is None):
            raise TrainError("test_images and test_labels go together")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise TrainError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise TrainError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise TrainError(f"ema must lie in [0, 1), got {self.ema}")
        if self.weight_decay < 0:
            raise TrainError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.class_weights not in ("none", "median", "sqrt-median"):
            raise TrainError(f"class_weights must be none, median or sqrt-median, got {self.class_weights!r}")
        s = SemanticFCN.STRIDE
        if min(self.crop) < s or any(c % s for c in self.crop):
            raise TrainError(f"crop must be positive multiples of {s}, got {list(self.crop)}")
        if self.max_side < s:
            raise TrainError(f"max_side must be >= {s}, got {self.max_side}")
        if self.channels and min(self.channels) < 1:
            raise TrainError(f"channels must be positive, got {self.channels}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise TrainError(f"time_budget must be > 0 minutes, got {self.time_budget}")


def _read_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Luma (H, W) float32 in [0, 1] and labels (H, W) uint8 of one pair."""
    from PIL import Image

    from deepcolor.io import read_image

    try:
        pixels = read_image(image_path).pixels
        luma = rgb_to_luma(pixels) if pixels.ndim == 3 else pixels
        with Image.open(label_path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise TrainError(f"{label_path}: label maps must be single-channel class ids, got mode {im.mode}")
            labels = np.asarray(im)
    except TrainError:
        raise
    except Exception as exc:  # PIL raises many types for unreadable files
        raise TrainError(f"cannot read {image_path.name}/{label_path.name}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if labels.shape != luma.shape:
        raise TrainError(f"{label_path}: label size {labels.shape} differs from image size {luma.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > VOID):
        raise TrainError(f"{label_path}: label values must lie in 0..{VOID}, got up to {labels.max()}")
    return luma, labels.astype(np.uint8)


def _load_set(image_paths: Sequence[Path], label_paths: Sequence[Path]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    lumas, labels = [], []
    for ip, lp in zip(image_paths, label_paths):
        y, lab = _read_pair(Path(ip), Path(lp))
        lumas.append(torch.from_numpy(y.astype(np.float16)))
        labels.append(torch.from_numpy(lab))
    return lumas, labels


def _class_weights(labels: Sequence[torch.Tensor], mode: str) -> torch.Tensor | None:
    """Median-frequency balancing (Eigen & Fergus), or its square root, or None."""
    if mode == "none":
        return None
    counts = torch.zeros(VOID + 1, dtype=torch.float64)
    for lab in labels:
        counts += torch.bincount(lab.reshape(-1).long(), minlength=VOID + 1)[: VOID + 1].double()
    freq = counts[:N_CLASSES] / counts[:N_CLASSES].sum().clamp_min(1)
    present = freq > 0
    w = torch.ones(N_CLASSES, dtype=torch.float64)
    if present.any():
        w[present] = freq[present].median() / freq[present]
    if mode == "sqrt-median":
        w = w.sqrt()
    return w.float()


def _augment_batch(
    lumas: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], gen: torch.Generator, crop: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random resized crop, flip and luma jitter of a list of images -> (B,1,h,w), (B,h,w)."""
    ch, cw = crop
    xs, ys = [], []
    u = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=gen))  # noqa: E731
    for y, lab in zip(lumas, labels):
        h, w = y.shape
        f = u(*CROP_FRACTION)
        a = u(1 - ASPECT_JITTER, 1 + ASPECT_JITTER)
        sh, sw = max(1, min(h, round(h * f * a))), max(1, min(w, round(w * f / a)))
        top = int(torch.randint(0, h - sh + 1, (), generator=gen))
        left = int(torch.randint(0, w - sw + 1, (), generator=gen))
        img = y[top : top + sh, left : left + sw].float()
        lab = lab[top : top + sh, left : left + sw]
        antialias = sh > ch or sw > cw
        img = F.interpolate(img[None, None], size=(ch, cw), mode="bilinear", align_corners=False, antialias=antialias)[0, 0]
        lab = F.interpolate(lab[None, None].float(), size=(ch, cw), mode="nearest")[0, 0].to(torch.uint8)
        if float(torch.rand((), generator=gen)) < 0.5:
            img, lab = img.flip(-1), lab.flip(-1)
        img = img.clamp(0, 1) ** u(*GAMMA_RANGE)
        img = ((img - 0.5) * u(*CONTRAST_RANGE) + 0.5 + u(*BRIGHTNESS_RANGE)).clamp(0, 1)
        xs.append(img)
        ys.append(lab)
    return torch.stack(xs)[:, None].contiguous(), torch.stack(ys).long()


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def _metrics_from_confusion(conf: np.ndarray) -> dict[str, Any]:
    total = conf.sum()
    rows = conf.sum(axis=1)
    diag = np.diag(conf)
    present = rows > 0
    per_class = np.where(present, diag / np.maximum(rows, 1), np.nan)
    union = rows + conf.sum(axis=0) - diag
    iou = np.where(present, diag / np.maximum(union, 1), np.nan)
    return {
        "pixel_accuracy": float(diag.sum() / total) if total else float("nan"),
        "class_average_accuracy": float(np.nanmean(per_class)) if present.any() else float("nan"),
        "mean_iou": float(np.nanmean(iou)) if present.any() else float("nan"),
        "per_class": {name: (None if np.isnan(a) else float(a)) for name, a in zip(CAMVID_CLASSES, per_class)},
        "pixels": int(total),
    }


def evaluate_fcn(
    fcn: SemanticFCN,
    image_paths: Sequence[str | Path],
    label_paths: Sequence[str | Path],
    *,
    max_side: int | None = None,
    smooth: bool = False,
) -> dict[str, Any]:
    """Accuracy of an FCN on gray versions of labelled images.

    Parameters
    ----------
    fcn : SemanticFCN
    image_paths, label_paths : sequences of path
        Same length; colour or gray images and their uint8 label maps.
    max_side : int, optional, keyword-only
        Passed to `semantic_probabilities` (default: the model's own).
    smooth : bool, keyword-only
        Score the domain-transform-smoothed probabilities instead of the raw ones.

    Returns
    -------
    dict
        ``pixel_accuracy`` (global, void excluded), ``class_average_accuracy``
        (mean of per-class recalls over classes present), ``mean_iou``,
        ``per_class`` (class name -> recall or None) and ``pixels``.
    """
    if len(image_paths) != len(label_paths) or not len(image_paths):
        raise ValueError(f"need equally many (>= 1) images and labels, got {len(image_paths)} and {len(label_paths)}")
    conf = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    for ip, lp in zip(image_paths, label_paths):
        luma, lab = _read_pair(Path(ip), Path(lp))
        probs = semantic_probabilities(luma, fcn, max_side=max_side)
        if smooth:
            probs = smooth_probabilities(probs, luma)
        pred = probs.argmax(axis=-1)
        keep = lab != VOID
        conf += np.bincount(lab[keep].astype(np.int64) * N_CLASSES + pred[keep], minlength=N_CLASSES**2).reshape(N_CLASSES, N_CLASSES)
    return _metrics_from_confusion(conf)


# ---------------------------------------------------------------------------
# Model export
# ---------------------------------------------------------------------------


def fold_batchnorm(model: SemanticFCN) -> SemanticFCN:
    """Copy of ``model`` with every BatchNorm folded into its convolution.

    The result has ``batchnorm=False`` and computes the same function as
    ``model.eval()``.
    """
    cfg = dict(model.config)
    if not cfg["batchnorm"]:
        folded = SemanticFCN(**cfg, input_mean=float(model.input_mean), input_std=float(model.input_std), max_side=model.max_side)
        folded.load_state_dict(model.state_dict())
        return folded.eval()
    cfg["batchnorm"] = False
    folded = SemanticFCN(**cfg, input_mean=float(model.input_mean), input_std=float(model.input_std), max_side=model.max_side)
    src = dict(model.named_modules())
    with torch.no_grad():
        for name, mod in folded.named_modules():
            if name not in src:
                continue
            ref = src[name]
            if isinstance(mod, torch.nn.Conv2d) and name.endswith(".conv"):
                bn = src[name[: -len("conv")] + "bn"]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                mod.weight.copy_(ref.weight * scale[:, None, None, None])
                mod.bias.copy_(bn.bias - bn.running_mean * scale)
            elif isinstance(mod, torch.nn.Conv2d):
                mod.weight.copy_(ref.weight)
                if mod.bias is not None:
                    mod.bias.copy_(ref.bias)
    return folded.eval()


def _export(model: SemanticFCN, out: Path, extra: dict[str, Any]) -> Path:
    folded = fold_batchnorm(model)
    tensors = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in folded.state_dict().items()}
    config = {
        "architecture": folded.config,
        "normalization": {"mean": float(folded.input_mean), "std": float(folded.input_std)},
        "classes": list(CAMVID_CLASSES),
        "void": VOID,
        "input": "BT.601 luma in [0, 1], shape (B, 1, H, W)",
        "max_side": folded.max_side,
        "training": extra,
    }
    return save_model_file(out, tensors, kind="fcn", config=config)


def _lr_at(step: int, progress: float, total: int, base: float) -> float:
    """Linear warm-up over the first steps, times a cosine decay to 1% of ``base`` over ``progress`` in [0, 1]."""
    warm = max(1, min(WARMUP_STEPS, int(WARMUP_FRACTION * total)))
    t = min(1.0, max(0.0, progress))
    return base * min(1.0, (step + 1) / warm) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def _ema_update(ema: SemanticFCN, model: SemanticFCN, decay: float) -> None:
    """Exponential moving average of weights and BatchNorm statistics."""
    msd = model.state_dict()
    for k, v in ema.state_dict().items():
        if v.dtype.is_floating_point:
            v.mul_(decay).add_(msd[k].detach(), alpha=1 - decay)
        else:
            v.copy_(msd[k])


def train_fcn(config: FCNConfig) -> dict[str, Any]:
    """Run one training as ``config`` describes, export the model file ``config.out``; returns the final report."""
    model, report = train(config)
    out = Path(config.out)
    _export(model, out, report)
    logger.info("wrote %s (best epoch %s, val pixel %.4f class-avg %.4f)", out, report["best_epoch"], report["val"]["pixel_accuracy"],
                report["val"]["class_average_accuracy"])
    return report


def train(config: FCNConfig) -> tuple[SemanticFCN, dict[str, Any]]:
    """Train the FCN as ``config`` describes: ``(the best epoch's EMA model, with BatchNorm, in eval mode; the report)``."""
    torch.set_num_threads(config.threads)
    train_imgs, train_labs = match_pairs(config.images, config.labels)
    val_imgs, val_labs = match_pairs(config.val_images, config.val_labels)
    test_pairs = match_pairs(config.test_images, config.test_labels) if config.test_images else None
    logger.info("train %d, val %d%s images", len(train_imgs), len(val_imgs), f", test {len(test_pairs[0])}" if test_pairs else "")
    lumas, labels = _load_set(train_imgs, train_labs)
    _load_set(val_imgs[:1], val_labs[:1])  # fail early on an unreadable validation set

    flat = torch.cat([y.reshape(-1).float() for y in lumas])
    mean, std = float(flat.mean()), float(flat.std().clamp_min(1e-3))
    del flat
    weights = _class_weights(labels, config.class_weights)
    arch = dict(DEFAULT_ARCH, batchnorm=True)
    if config.channels:
        arch["channels"] = config.channels
    torch.manual_seed(config.seed)
    model = SemanticFCN(**arch, input_mean=mean, input_std=std, max_side=config.max_side)
    run = {
        "model": model,
        "optimizer": torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay),
        "ema": copy.deepcopy(model),  # validation and export use an EMA of the weights: steadier than the last step's
        "rng": torch.Generator().manual_seed(config.seed),
        "epoch": 0, "best_score": -1.0, "best_model": None, "history": [], "elapsed_s": 0.0,
    }
    ckpt_path = Path(config.checkpoint) if config.checkpoint else Path(str(config.out) + ".ckpt")
    if config.resume:
        _resume(ckpt_path, run)
    logger.info("FCN %s, %d parameters, luma mean %.4f std %.4f, class weights %s", arch["channels"],
                sum(p.numel() for p in model.parameters()), mean, std, config.class_weights)
    run["t0"], run["elapsed_before"], start_epoch = time.monotonic(), run["elapsed_s"], run["epoch"]
    for epoch in range(start_epoch, config.epochs):
        ep_t0 = time.monotonic()
        run_loss = _train_epoch(run, config, lumas, labels, weights, epoch=epoch)
        _end_epoch(run, config, run_loss, val_imgs, val_labs, epoch=epoch, ep_t0=ep_t0)
        save_checkpoint(ckpt_path, _checkpoint_state(run))
        if config.time_budget is not None and epoch + 1 < config.epochs:
            per_epoch = (time.monotonic() - run["t0"]) / (epoch + 1 - start_epoch)
            if run["elapsed_s"] + per_epoch > config.time_budget * 60:
                logger.warning("stopping after epoch %d: time budget of %.1f min would be exceeded", epoch + 1, config.time_budget)
                break
    model.load_state_dict(run["best_model"] if run["best_model"] is not None else run["ema"].state_dict())
    model.eval()
    return model, _report(config, model, run, len(train_imgs), (val_imgs, val_labs), test_pairs)


def _resume(ckpt_path: Path, run: dict[str, Any]) -> None:
    """Load the training state of a checkpoint into ``run`` (`TrainError` when there is none or it is unusable)."""
    if not ckpt_path.is_file():
        raise TrainError(f"resume: no checkpoint at {ckpt_path}")
    try:
        ck = torch.load(ckpt_path, weights_only=True, map_location="cpu")
        for name in ("model", "ema", "optimizer"):
            run[name].load_state_dict(ck[name])
        run["rng"].set_state(ck["rng"])
        run.update(epoch=int(ck["epoch"]), best_score=float(ck["best_score"]), best_model=ck["best_model"],
                   history=list(ck["history"]), elapsed_s=float(ck["elapsed_s"]))
    except Exception as exc:
        raise TrainError(f"resume: unusable checkpoint {ckpt_path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    logger.info("resuming from %s after epoch %d", ckpt_path, run["epoch"])


def _checkpoint_state(run: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint holds: the model, its EMA, the optimizer and generator states, and the run's record."""
    state = {name: run[name].state_dict() for name in ("model", "ema", "optimizer")}
    state["rng"] = run["rng"].get_state()
    state.update({name: run[name] for name in ("epoch", "best_score", "best_model", "history", "elapsed_s")})
    return state


def _train_epoch(run: dict[str, Any], config: FCNConfig, lumas: list, labels: list, weights, *, epoch: int) -> float:
    """One epoch of mini-batches on random crops; the sum of its batch losses."""
    from tqdm import tqdm

    model, opt, ema, gen = run["model"], run["optimizer"], run["ema"], run["rng"]
    n = len(lumas)
    bs = min(config.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    total_steps = steps_per_epoch * config.epochs
    t0, elapsed_before = run["t0"], run["elapsed_before"]
    model.train()
    perm = torch.randperm(n, generator=gen)
    run_loss = 0.0
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, mininterval=2.0, file=sys.stderr)
    for i in bar:
        step = epoch * steps_per_epoch + i
        progress = step / total_steps
        if config.time_budget is not None:
            # With a time budget the schedule anneals by the clock, so a slow
            # (shared) machine still ends at a low learning rate.
            progress = max(progress, (elapsed_before + time.monotonic() - t0) / (config.time_budget * 60))
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, progress, total_steps, config.lr)
        idx = perm[i * bs : (i + 1) * bs].tolist()
        x, y = _augment_batch([lumas[j] for j in idx], [labels[j] for j in idx], gen, (config.crop[0], config.crop[1]))
        loss = F.cross_entropy(model(x), y, weight=weights, ignore_index=VOID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _ema_update(ema, model, min(config.ema, (1 + step) / (10 + step)))
        run_loss += loss.item()
        bar.set_postfix(loss=f"{run_loss / (i + 1):.3f}")
    bar.close()
    run["steps_per_epoch"] = steps_per_epoch
    return run_loss


def _end_epoch(run: dict[str, Any], config: FCNConfig, run_loss: float, val_imgs, val_labs, *, epoch: int, ep_t0: float) -> None:
    """Validate the EMA model, keep it when it is the best so far, record and log the epoch."""
    val = evaluate_fcn(run["ema"], val_imgs, val_labs)
    score = val["pixel_accuracy"] + val["class_average_accuracy"]
    improved = score > run["best_score"]
    if improved:
        run["best_score"] = score
        run["best_model"] = {k: v.detach().clone() for k, v in run["ema"].state_dict().items()}
    loss = run_loss / run["steps_per_epoch"]
    run["history"].append({"epoch": epoch + 1, "loss": loss, "val_pixel_accuracy": val["pixel_accuracy"],
                           "val_class_average_accuracy": val["class_average_accuracy"], "val_mean_iou": val["mean_iou"]})
    run["epoch"] = epoch + 1
    run["elapsed_s"] = run["elapsed_before"] + time.monotonic() - run["t0"]
    logger.info(
        "epoch %d/%d loss %.4f val pixel %.4f class-avg %.4f mIoU %.4f%s (%.0f s, total %.1f min)",
        epoch + 1, config.epochs, loss, val["pixel_accuracy"], val["class_average_accuracy"],
        val["mean_iou"], " *best*" if improved else "", time.monotonic() - ep_t0, run["elapsed_s"] / 60,
    )


def _report(config: FCNConfig, model: SemanticFCN, run: dict[str, Any], n_train: int, val_pairs, test_pairs) -> dict[str, Any]:
    """The model card of a finished training: schedule, history, validation (and test) figures of ``model``."""
    history = run["history"]
    best_epoch = max(history, key=lambda h: h["val_pixel_accuracy"] + h["val_class_average_accuracy"])["epoch"] if history else None
    report: dict[str, Any] = {
        "command": config.command,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "seed": config.seed,
        "train_images": n_train,
        "val": {k: v for k, v in evaluate_fcn(model, *val_pairs).items() if k != "per_class"},
        "history": history,
        "elapsed_min": round((run["elapsed_before"] + time.monotonic() - run["t0"]) / 60, 2),
    }
    if test_pairs is not None:
        test = evaluate_fcn(model, *test_pairs)
        report["test"] = test
        logger.info(
            "test pixel %.4f class-avg %.4f mIoU %.4f; per class %s",
            test["pixel_accuracy"], test["class_average_accuracy"], test["mean_iou"],
            {k: (None if v is None else round(v, 3)) for k, v in test["per_class"].items()},
        )
    return report
