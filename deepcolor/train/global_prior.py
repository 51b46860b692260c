"""Training of the global-prior CNN (`deepcolor.models.global_prior`).

``python -m deepcolor.fit global-prior --images data/splits/train.txt --val-images data/splits/select.txt
--out global_prior.safetensors --time-budget 55``

Data: every training photo is decoded once, squashed to 240 x 240 (area
averaging) and kept as 8-bit RGB in a cache file; a step takes random 224 x 224
crops with random horizontal flips. At 224 x 224 the local and the global path
see the same image, so the low-level features are computed once (as in the paper).

Loss: MSE between the predicted and true chroma, both in the sigmoid's [0, 1]
units, plus ``alpha`` (default 1/300, the paper's) times the cross-entropy of
the scene head, masked where an image has no label. Scene labels (``--labels``):

- ``real``: the SUN folder (8 scene categories), the ImageNet detection object
  class (200 classes, about 4 training photos each; an ``imagenet_sample``
  photo takes its class when a detection class has that name: one photo per
  class alone cannot teach a class), the CamVid sequence; BSDS500 and other
  ImageNet photos have none (masked). Classes with fewer than 2 training
  photos are dropped.
- ``gist``: k-means (``--gist-classes``) on the gist (`deepcolor.gist`) of the
  training photos; every image has a pseudo-class, and any new image gets
  one from the stored centres.
- ``none``: no classification loss.

Training stops after ``--epochs`` or ``--time-budget`` minutes, whichever
comes first; the learning rate warms up, then follows a cosine to zero over
the budget (by elapsed time, so a budget-limited run ends annealed).
A checkpoint is written every epoch and every few minutes; ``--resume``
continues from it exactly (the data order and crops derive from the seed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from deepcolor.colorspace import rgb_to_yuv
from deepcolor.io.write import atomic_open
from deepcolor.train.checkpoint import save_checkpoint
from deepcolor.train.common import IGNORE, read_colour, real_labels, scene_label  # noqa: F401 - their old home
from deepcolor.models.global_prior import GlobalPriorModel
from deepcolor.models.global_prior_scratch import (
    GLOBAL_SIZE,
    LUMA_MEAN,
    LUMA_STD,
    CHROMA_MAX,
    GlobalPriorNet,
    chroma_to_unit,
)

__all__ = [
    "LABELS", "GlobalPriorConfig", "read_colour", "scene_label", "real_labels", "gist_labels", "load_training_images", "train",
    "fit_network", "prior_loss", "validate", "spread",
]

logger = logging.getLogger("deepcolor")

STORE_SIZE = 240  # training photos are kept at this square size; crops of GLOBAL_SIZE are taken from it
CHECKPOINT_SECONDS = 180.0
LABELS = ("real", "gist", "none")  # where the scene labels come from (module docstring)
WARMUP_FRACTION = 0.03


# ------------------------------------------------------------------ labels
def gist_labels(lumas: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Pseudo-classes: k-means on the gist of the training lumas.

    Returns ``(labels (N,) int64, class names, centres (k, 512) float32)``.
    """
    from sklearn.cluster import KMeans

    from deepcolor.gist import gist_descriptors

    gists = gist_descriptors(list(lumas))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(gists)
    return km.labels_.astype(np.int64), [f"gist{i:02d}" for i in range(k)], km.cluster_centers_.astype(np.float32)


# -------------------------------------------------------------------- data
def load_training_images(paths: Sequence[Path], cache: Path | None, *, progress: bool = True) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Decode photos into an (N, 240, 240, 3) uint8 array (squashed, area-averaged), cached.

    Gray or unreadable photos are skipped and returned as failures.
    """
    from tqdm.auto import tqdm

    key = hashlib.sha1("\n".join(str(p.resolve()) for p in paths).encode()).hexdigest()[:12]
    if cache is not None:
        npz = cache / f"images_{STORE_SIZE}_{key}.npz"
        if npz.is_file():
            data = np.load(npz, allow_pickle=False)
            kept = [Path(p) for p in data["paths"]]
            failed = [(Path(p), str(r)) for p, r in zip(data["failed_paths"], data["failed_reasons"])]
            return data["images"], kept, failed
    images, kept, failed = [], [], []
    for path in tqdm(paths, desc="decode", unit="img", disable=not progress):
        try:
            original = read_colour(path)
        except (ValueError, OSError) as exc:
            failed.append((path, str(exc).splitlines()[0]))
            continue
        images.append(cv2.resize(original, (STORE_SIZE, STORE_SIZE), interpolation=cv2.INTER_AREA))
        kept.append(path)
    array = np.stack(images) if images else np.zeros((0, STORE_SIZE, STORE_SIZE, 3), np.uint8)
    if cache is not None:
        with atomic_open(npz) as fh:
            np.savez(fh, images=array, paths=np.array([str(p) for p in kept]),
                     failed_paths=np.array([str(p) for p, _ in failed]), failed_reasons=np.array([r for _, r in failed]))
    return array, kept, failed


def _batch(images: np.ndarray, index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 224 crops with flips -> (normalized luma (B,1,224,224), unit chroma (B,2,224,224))."""
    span = STORE_SIZE - GLOBAL_SIZE
    crops = []
    for i in index:
        y, x = rng.integers(0, span + 1, size=2)
        crop = images[i, y : y + GLOBAL_SIZE, x : x + GLOBAL_SIZE]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    yuv = rgb_to_yuv(np.stack(crops).astype(np.float32) / 255.0)
    luma = torch.from_numpy((yuv[..., 0] - np.float32(LUMA_MEAN)) / np.float32(LUMA_STD))[:, None]
    unit = chroma_to_unit(torch.from_numpy(np.ascontiguousarray(yuv[..., 1:])).permute(0, 3, 1, 2))
    return luma.contiguous(), unit.contiguous()


def prior_loss(net: GlobalPriorNet, luma: torch.Tensor, unit: torch.Tensor, labels: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float, float]:
    """The training loss of a batch: chroma MSE in sigmoid units plus ``alpha`` times the scene cross-entropy; with both parts."""
    pred, logits = net(luma)
    target = F.avg_pool2d(unit, 2)  # the net predicts at half resolution
    mse = F.mse_loss(pred, target)
    ce = torch.zeros(())
    if alpha > 0 and bool((labels != IGNORE).any()):
        ce = F.cross_entropy(logits, labels, ignore_index=IGNORE)
    return mse + alpha * ce, float(mse.detach()), float(ce.detach())


# -------------------------------------------------------------- validation
def _load_validation(paths: Sequence[Path]) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    from deepcolor.evaluation import gray_version

    out = []
    for p in paths:
        try:
            original = read_colour(p)
        except (ValueError, OSError) as exc:
            logger.warning("validation image skipped: %s", str(exc).splitlines()[0])
            continue
        out.append((p, original, gray_version(original)[0]))
    return out


def validate(model: GlobalPriorModel, val: Sequence[tuple[Path, np.ndarray, np.ndarray]], labels: dict[str, int] | None = None) -> dict:
    """Median PSNR / gain over gray (evaluation protocol, no refinement) and scene accuracy."""
    from deepcolor.evaluation import result_rgb8
    from deepcolor.metrics import colorfulness, psnr

    psnrs, gains, colour, colour_orig, hits = [], [], [], [], []
    for path, original, luma in val:
        pred = model.predict_chroma(luma)
        out = result_rgb8(luma, pred.chroma)
        value = psnr(out, original)
        psnrs.append(value)
        gains.append(value - psnr(result_rgb8(luma, np.zeros_like(pred.chroma)), original))
        colour.append(colorfulness(out))
        colour_orig.append(colorfulness(original))
        if labels is not None and str(path) in labels:
            hits.append(model.classes[labels[str(path)]] == pred.info["scene"])
    return {
        "n": len(psnrs),
        "psnr_median": float(np.median(psnrs)) if psnrs else float("nan"),
        "gain_median": float(np.median(gains)) if gains else float("nan"),
        "colorfulness_ratio": float(np.median(colour) / max(np.median(colour_orig), 1e-9)) if colour else float("nan"),
        "scene_accuracy": float(np.mean(hits)) if hits else None,
        "scene_n": len(hits),
    }


# ---------------------------------------------------------------- training
def _lr_factor(fraction: float) -> float:
    if fraction < WARMUP_FRACTION:
        return max(fraction / WARMUP_FRACTION, 0.05)
    f = (fraction - WARMUP_FRACTION) / (1.0 - WARMUP_FRACTION)
    return 0.5 * (1.0 + math.cos(math.pi * min(f, 1.0)))


@dataclass
class GlobalPriorConfig:
    """Everything that shapes a global-prior fit (the model file records it); validated in domain terms.

    ``images`` and ``val_images`` are the photos themselves (folders and
    manifests are expanded by the caller); ``time_budget`` is in minutes of
    training; ``checkpoint`` and ``cache`` (folder of decoded photos) are
    optional files of the run.
    """

    images: Sequence[Path]
    val_images: Sequence[Path] = ()
    width: float = 0.25
    labels: str = "gist"
    gist_classes: int = 24
    alpha: float = 1.0 / 300.0
    batch_size: int = 16
    lr: float = 1e-3
    epochs: int = 1000
    time_budget: float = 55.0
    seed: int = 0
    checkpoint: Path | None = None
    resume: bool = False
    cache: Path | None = None
    progress: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "gist_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.width <= 4):
            raise ValueError(f"width must lie in (0, 4], got {self.width}")
        if not (self.time_budget > 0 and self.lr > 0 and self.alpha >= 0):
            raise ValueError(f"time_budget and lr must be > 0 and alpha >= 0, got {self.time_budget}, {self.lr}, {self.alpha}")
        if self.labels not in LABELS:
            raise ValueError(f"labels must be one of {', '.join(LABELS)}, got {self.labels!r}")
        overlap = {Path(p).resolve() for p in self.images} & {Path(p).resolve() for p in self.val_images}
        if overlap:
            raise ValueError(f"{len(overlap)} image(s) are both training and validation images, e.g. {sorted(overlap)[0]}")
        if not self.images:
            raise ValueError("no training images found")
        if self.checkpoint is not None and Path(self.checkpoint).is_file() and not self.resume:
            raise ValueError(f"checkpoint {self.checkpoint} exists: resume it (--resume), or delete it to start over")


def train(config: GlobalPriorConfig) -> tuple[GlobalPriorModel, dict]:
    """Fit a global-prior model: decode the photos, label their scenes, train the network.

    Returns the model (eval mode; its config records the training, its
    ``label_tensors`` the gist centres with ``labels="gist"``) and a report:
    the training record and the photos that ``failed`` (path, reason).
    """
    t_start = time.perf_counter()
    images, kept, failed = load_training_images(list(config.images), config.cache, progress=config.progress)
    val = _load_validation(list(config.val_images))
    labels, classes, val_labels, label_tensors = _scene_labels(config, images, kept, val)
    logger.info("%d training photos (%d with a scene label, %d classes, labels=%s), %d validation photos",
                len(kept), int((labels != IGNORE).sum()), len(classes), config.labels, len(config.val_images))
    base_config = {
        "architecture": "iizuka2016",
        "width": config.width,
        "global_size": GLOBAL_SIZE,
        "normalization": {"luma_mean": LUMA_MEAN, "luma_std": LUMA_STD, "chroma_max": CHROMA_MAX.tolist(), "chroma_output": "sigmoid"},
        "labels": config.labels,
        "weights_dtype": "float16",
    }
    model, record = fit_network(images, labels, classes, config, val=val, val_labels=val_labels, base_config=base_config)
    model.label_tensors = label_tensors
    model.config["training"] = {
        "command": config.command,
        "images": len(kept),
        "labelled_images": int((labels != IGNORE).sum()),
        "parameters": sum(p.numel() for p in model.net.parameters()),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        **record,
    }
    return model, {"failed": failed, **record}


def _scene_labels(config: GlobalPriorConfig, images: np.ndarray, kept: list[Path], val: list) -> tuple:
    """``(labels (N,), classes, validation labels {path: class} or None, label tensors)`` of ``config.labels``."""
    label_tensors: dict[str, np.ndarray] = {}
    val_labels = None
    if config.labels == "real":
        labels, classes = real_labels(kept)
        index = {c: i for i, c in enumerate(classes)}
        val_labels = {str(p): index[scene_label(p)] for p in config.val_images if scene_label(p) in index}
    elif config.labels == "gist":
        lumas = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
        labels, classes, centres = gist_labels(lumas, config.gist_classes, config.seed)
        label_tensors["labels.gist_centres"] = centres
        if val:
            from deepcolor.gist import gist_descriptors

            g = gist_descriptors([luma for _, _, luma in val])
            nearest = ((g[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            val_labels = {str(p): int(c) for (p, _, _), c in zip(val, nearest)}
    else:
        labels, classes = np.full(len(kept), IGNORE, np.int64), []
    return labels, classes, val_labels, label_tensors


def _resume_state(net: GlobalPriorNet, opt: torch.optim.Optimizer, config: GlobalPriorConfig) -> dict:
    state = {"epoch": 0, "step": 0, "elapsed": 0.0, "history": [], "total_steps": 0}
    checkpoint = config.checkpoint
    if config.resume and checkpoint is not None and checkpoint.is_file():
        ck = torch.load(checkpoint, weights_only=True)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        state = json.loads(ck["state"])
        logger.info("resumed from %s: epoch %d, step %d, %.1f min done", checkpoint, state["epoch"] + 1, state["step"], state["elapsed"] / 60)
    return state


def _save_checkpoint(checkpoint: Path | None, net: GlobalPriorNet, opt: torch.optim.Optimizer, state: dict) -> None:
    if checkpoint is not None:
        save_checkpoint(checkpoint, {"net": net.state_dict(), "opt": opt.state_dict(), "state": json.dumps(state)})


def fit_network(
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    config: GlobalPriorConfig,
    *,
    val: Sequence[tuple[Path, np.ndarray, np.ndarray]] = (),
    val_labels: dict[str, int] | None = None,
    base_config: dict | None = None,
) -> tuple[GlobalPriorModel, dict]:
    """Fit the network on ``images`` (N, 240, 240, 3) uint8 with scene ``labels`` (N,) (`IGNORE` = none).

    Returns the model (eval mode) and a training record (epochs, steps, seconds, per-epoch validation).
    """
    n = len(images)
    if n < config.batch_size:
        raise ValueError(f"need at least batch-size ({config.batch_size}) training photos, got {n}")
    torch.manual_seed(config.seed)
    net = GlobalPriorNet(width=config.width, n_classes=max(1, len(classes)))
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    state = _resume_state(net, opt, config)
    model_config = dict(base_config or {}, classes=list(classes) if classes else ["none"])
    labels_t = torch.from_numpy(labels)
    out_of_time = state["elapsed"] >= config.time_budget * 60.0
    while state["epoch"] < config.epochs and not out_of_time:
        record, out_of_time = _run_epoch(net, opt, images, labels_t, state, config)
        if val:
            _validate_epoch(record, GlobalPriorModel(net.eval(), model_config), val, val_labels, state)
        state["history"].append(record)
        if not out_of_time:
            state["epoch"] += 1
            state["step"] = 0
        _save_checkpoint(config.checkpoint, net, opt, state)
    net.eval()
    record = {"epochs": len(state["history"]), "steps": state["total_steps"], "train_seconds": round(state["elapsed"], 1),
              "history": state["history"]}
    return GlobalPriorModel(net, model_config), record


def _run_epoch(
    net: GlobalPriorNet, opt: torch.optim.Optimizer, images: np.ndarray, labels_t: torch.Tensor, state: dict, config: GlobalPriorConfig
) -> tuple[dict, bool]:
    """Train the steps of ``state["epoch"]`` from ``state["step"]`` on; ``(the epoch's record, whether the budget ran out)``."""
    from tqdm.auto import tqdm

    seed, batch_size, budget_s = config.seed, config.batch_size, config.time_budget * 60.0
    epoch, steps_per_epoch = state["epoch"], len(images) // batch_size
    order = np.random.default_rng([seed, epoch]).permutation(len(images))
    net.train()
    bar = tqdm(total=steps_per_epoch, initial=state["step"], desc=f"epoch {epoch + 1}", unit="step", disable=not config.progress, leave=False)
    sums, count, out_of_time, last_save = np.zeros(2), 0, False, time.perf_counter()
    while state["step"] < steps_per_epoch:
        t0 = time.perf_counter()
        step = state["step"]
        index = order[step * batch_size : (step + 1) * batch_size]
        luma, unit = _batch(images, index, np.random.default_rng([seed, epoch, step]))
        for group in opt.param_groups:
            group["lr"] = config.lr * _lr_factor(state["elapsed"] / budget_s)
        loss, mse, ce = prior_loss(net, luma, unit, labels_t[index], config.alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += (mse, ce)
        count += 1
        state["step"] += 1
        state["total_steps"] += 1
        state["elapsed"] += time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(mse=f"{sums[0] / count:.5f}", ce=f"{sums[1] / count:.3f}", min=f"{state['elapsed'] / 60:.1f}")
        if time.perf_counter() - last_save > CHECKPOINT_SECONDS:
            _save_checkpoint(config.checkpoint, net, opt, state)
            last_save = time.perf_counter()
        if state["elapsed"] >= budget_s:
            out_of_time = True
            break
    bar.close()
    record = {"epoch": epoch + 1, "steps": count, "mse": sums[0] / max(count, 1), "ce": sums[1] / max(count, 1),
              "minutes": round(state["elapsed"] / 60, 2)}
    return record, out_of_time


def _validate_epoch(record: dict, model: GlobalPriorModel, val: Sequence, val_labels: dict[str, int] | None, state: dict) -> None:
    """Add the validation of the model after an epoch to its record, and log it."""
    t0 = time.perf_counter()
    record["validation"] = validate(model, val, val_labels)
    v = record["validation"]
    logger.info("epoch %d (%.1f min): train mse %.5f ce %.3f | validation n=%d median PSNR %.2f dB, gain %+.2f dB, "
                "colorfulness %.2f, scene acc %s", record["epoch"], state["elapsed"] / 60, record["mse"], record["ce"], v["n"],
                v["psnr_median"], v["gain_median"], v["colorfulness_ratio"],
                "-" if v["scene_accuracy"] is None else f"{v['scene_accuracy']:.2f}")
    record["validation_seconds"] = round(time.perf_counter() - t0, 1)


def spread(paths: list[Path], k: int) -> list[Path]:
    """``k`` of ``paths`` evenly spread over the list (all of them for ``k`` <= 0 or beyond its length)."""
    if k <= 0 or k >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, k).round().astype(int)]
