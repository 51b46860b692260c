"""Train the semantic FCN on gray images with per-pixel labels (CamVid layout).

Command line (wired as ``python -m deepcolor.fit semantic``)::

    python -m deepcolor.fit semantic --images DIR --labels DIR \\
        --val-images DIR --val-labels DIR [--test-images DIR --test-labels DIR] \\
        --out fcn.safetensors [--epochs N --batch-size B --lr LR --seed S ...]

Images ``<stem>.jpg`` (or .png/.jpeg) are matched to label maps
``<stem>.png`` (uint8 class ids, ``VOID`` = 11 ignored) by file stem. The net
sees only luma (`deepcolor.colorspace.rgb_to_luma`). Each epoch ends with a
validation pass (global pixel accuracy and class-average accuracy, void
excluded) and an atomic checkpoint (model, optimizer, epoch, RNG state, best
model so far) from which ``--resume`` continues. The best-on-validation model
is written, BatchNorm folded into the convolutions, with
`deepcolor.modelfile.save_model_file` (kind ``"fcn"``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepcolor._atomic import atomic_open
from deepcolor.colorspace import rgb_to_luma
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
from deepcolor.modelfile import save_model_file

__all__ = ["evaluate_fcn", "train_fcn", "fold_batchnorm", "match_pairs", "main"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
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


class TrainError(ValueError):
    """Bad input for training (missing folders, unreadable files ...): reported as one line by `main`."""


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def match_pairs(images_dir: str | Path, labels_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Image and label files matched by stem, sorted by stem.

    Parameters
    ----------
    images_dir, labels_dir : path
        ``images_dir/<stem>.{jpg,jpeg,png}`` pairs with ``labels_dir/<stem>.png``.

    Returns
    -------
    image_paths, label_paths : list of Path
        Same length, at least 1.

    Raises
    ------
    TrainError
        A folder is missing or no stem matches.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise TrainError(f"not a folder: {d}")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    labels = {p.stem: p for p in sorted(labels_dir.iterdir()) if p.suffix.lower() == ".png" and p.is_file()}
    stems = sorted(set(images) & set(labels))
    if not stems:
        raise TrainError(f"no image in {images_dir} has a label <stem>.png in {labels_dir}")
    unmatched = len(images) - len(stems)
    if unmatched:
        logger.warning("%d images in %s have no label and are skipped", unmatched, images_dir)
    return [images[s] for s in stems], [labels[s] for s in stems]


def _read_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Luma (H, W) float32 in [0, 1] and labels (H, W) uint8 of one pair."""
    from PIL import Image

    try:
        with Image.open(image_path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        with Image.open(label_path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise TrainError(f"{label_path}: label maps must be single-channel class ids, got mode {im.mode}")
            labels = np.asarray(im)
    except TrainError:
        raise
    except Exception as exc:  # PIL raises many types for unreadable files
        raise TrainError(f"cannot read {image_path.name}/{label_path.name}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if labels.shape != rgb.shape[:2]:
        raise TrainError(f"{label_path}: label size {labels.shape} differs from image size {rgb.shape[:2]}")
    if labels.size and (labels.min() < 0 or labels.max() > VOID):
        raise TrainError(f"{label_path}: label values must lie in 0..{VOID}, got up to {labels.max()}")
    return rgb_to_luma(rgb), labels.astype(np.uint8)


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


# ---------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save of a plain dict of tensors/numbers, atomically (readable with weights_only=True)."""
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


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


def train_fcn(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run training as described by the parsed command line; returns the final report."""
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    ckpt_path = Path(args.checkpoint) if args.checkpoint else Path(str(out) + ".ckpt")

    train_imgs, train_labs = match_pairs(args.images, args.labels)
    val_imgs, val_labs = match_pairs(args.val_images, args.val_labels)
    test_pairs = match_pairs(args.test_images, args.test_labels) if args.test_images else None
    logger.info("train %d, val %d%s images", len(train_imgs), len(val_imgs), f", test {len(test_pairs[0])}" if test_pairs else "")
    lumas, labels = _load_set(train_imgs, train_labs)
    _load_set(val_imgs[:1], val_labs[:1])  # fail early on an unreadable validation set

    flat = torch.cat([y.reshape(-1).float() for y in lumas])
    mean, std = float(flat.mean()), float(flat.std().clamp_min(1e-3))
    del flat
    weights = _class_weights(labels, args.class_weights)

    arch = dict(DEFAULT_ARCH, batchnorm=True)
    if args.channels:
        arch["channels"] = args.channels
    torch.manual_seed(args.seed)
    model = SemanticFCN(**arch, input_mean=mean, input_std=std, max_side=args.max_side)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # Validation and export use an EMA of the weights: steadier than the last step's.
    ema = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(args.seed)
    crop = (args.crop[0], args.crop[1])
    n = len(lumas)
    bs = min(args.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    total_steps = steps_per_epoch * args.epochs

    start_epoch, best_score, best_state, history, elapsed_before = 0, -1.0, None, [], 0.0
    if args.resume:
        if not ckpt_path.is_file():
            raise TrainError(f"--resume: no checkpoint at {ckpt_path}")
        try:
            ck = torch.load(ckpt_path, weights_only=True, map_location="cpu")
            model.load_state_dict(ck["model"])
            ema.load_state_dict(ck["ema"])
            opt.load_state_dict(ck["optimizer"])
            gen.set_state(ck["rng"])
            start_epoch = int(ck["epoch"])
            best_score = float(ck["best_score"])
            best_state = ck["best_model"]
            history = list(ck["history"])
            elapsed_before = float(ck["elapsed_s"])
        except TrainError:
            raise
        except Exception as exc:
            raise TrainError(f"--resume: unusable checkpoint {ckpt_path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        logger.info("resuming from %s after epoch %d", ckpt_path, start_epoch)

    n_params = sum(p.numel() for p in model.parameters())
    logger.info("FCN %s, %d parameters, luma mean %.4f std %.4f, class weights %s", arch["channels"], n_params, mean, std, args.class_weights)
    budget_s = None if args.time_budget is None else args.time_budget * 60
    t0 = time.monotonic()
    for epoch in range(start_epoch, args.epochs):
        ep_t0 = time.monotonic()
        model.train()
        perm = torch.randperm(n, generator=gen)
        run_loss = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, mininterval=2.0, file=sys.stderr)
        for i in bar:
            step = epoch * steps_per_epoch + i
            progress = step / total_steps
            if budget_s is not None:
                # With a time budget the schedule anneals by the clock, so a slow
                # (shared) machine still ends at a low learning rate.
                progress = max(progress, (elapsed_before + time.monotonic() - t0) / budget_s)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, progress, total_steps, args.lr)
            idx = perm[i * bs : (i + 1) * bs].tolist()
            x, y = _augment_batch([lumas[j] for j in idx], [labels[j] for j in idx], gen, crop)
            loss = F.cross_entropy(model(x), y, weight=weights, ignore_index=VOID)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _ema_update(ema, model, min(args.ema, (1 + step) / (10 + step)))
            run_loss += loss.item()
            bar.set_postfix(loss=f"{run_loss / (i + 1):.3f}")
        bar.close()
        val = evaluate_fcn(ema, val_imgs, val_labs)
        score = val["pixel_accuracy"] + val["class_average_accuracy"]
        improved = score > best_score
        if improved:
            best_score = score
            best_state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
        history.append(
            {
                "epoch": epoch + 1,
                "loss": run_loss / steps_per_epoch,
                "val_pixel_accuracy": val["pixel_accuracy"],
                "val_class_average_accuracy": val["class_average_accuracy"],
                "val_mean_iou": val["mean_iou"],
            }
        )
        elapsed = elapsed_before + time.monotonic() - t0
        logger.info(
            "epoch %d/%d loss %.4f val pixel %.4f class-avg %.4f mIoU %.4f%s (%.0f s, total %.1f min)",
            epoch + 1, args.epochs, run_loss / steps_per_epoch, val["pixel_accuracy"], val["class_average_accuracy"],
            val["mean_iou"], " *best*" if improved else "", time.monotonic() - ep_t0, elapsed / 60,
        )
        _save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": gen.get_state(),
                "epoch": epoch + 1,
                "best_score": best_score,
                "best_model": best_state,
                "history": history,
                "elapsed_s": elapsed,
            },
        )
        if args.time_budget is not None and epoch + 1 < args.epochs:
            per_epoch = (time.monotonic() - t0) / (epoch + 1 - start_epoch)
            if elapsed + per_epoch > budget_s:
                logger.warning("stopping after epoch %d: time budget of %.1f min would be exceeded", epoch + 1, args.time_budget)
                break

    if best_state is None:  # resumed a finished run with no best recorded
        best_state = ema.state_dict()
    model.load_state_dict(best_state)
    model.eval()
    best_epoch = max(history, key=lambda h: h["val_pixel_accuracy"] + h["val_class_average_accuracy"])["epoch"] if history else None
    report: dict[str, Any] = {
        "command": "python -m deepcolor.fit semantic " + " ".join(shlex.quote(a) for a in argv),
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "seed": args.seed,
        "train_images": len(train_imgs),
        "val": {k: v for k, v in evaluate_fcn(model, val_imgs, val_labs).items() if k != "per_class"},
        "history": history,
        "elapsed_min": round((elapsed_before + time.monotonic() - t0) / 60, 2),
    }
    if test_pairs is not None:
        test = evaluate_fcn(model, *test_pairs)
        report["test"] = test
        logger.info(
            "test pixel %.4f class-avg %.4f mIoU %.4f; per class %s",
            test["pixel_accuracy"], test["class_average_accuracy"], test["mean_iou"],
            {k: (None if v is None else round(v, 3)) for k, v in test["per_class"].items()},
        )
    _export(model, out, report)
    logger.info("wrote %s (best epoch %s, val pixel %.4f class-avg %.4f)", out, best_epoch, report["val"]["pixel_accuracy"], report["val"]["class_average_accuracy"])
    return report


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deepcolor.fit semantic",
        description="Train the gray-image semantic FCN on per-pixel labels (CamVid layout, void = 11).",
    )
    p.add_argument("--images", required=True, metavar="DIR", help="training images <stem>.jpg")
    p.add_argument("--labels", required=True, metavar="DIR", help="training label maps <stem>.png")
    p.add_argument("--val-images", required=True, metavar="DIR")
    p.add_argument("--val-labels", required=True, metavar="DIR")
    p.add_argument("--test-images", metavar="DIR", help="optional test set, scored once at the end")
    p.add_argument("--test-labels", metavar="DIR")
    p.add_argument("--out", required=True, metavar="FCN", help="output model file (.safetensors)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--crop", type=int, nargs=2, default=list(CROP), metavar=("H", "W"), help="training crop size")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, metavar="PX",
                   help="longest side the net runs at for validation and inference (stored in the model file)")
    p.add_argument("--channels", type=int, nargs=4, metavar="C", help="encoder widths (default %s)" % DEFAULT_ARCH["channels"])
    p.add_argument("--ema", type=float, default=0.99, metavar="DECAY", help="per-step decay of the weight average that is validated and shipped")
    p.add_argument("--class-weights", choices=("none", "median", "sqrt-median"), default="sqrt-median")
    p.add_argument("--checkpoint", metavar="PATH", help="default: OUT + '.ckpt'")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument(
        "--time-budget", type=float, metavar="MIN",
        help="wall-clock budget: the learning rate anneals by the clock as well as by epoch, and training "
        "stops before the epoch that would overrun it (the run is then not bit-reproducible)",
    )
    return p


def _check_args(args: argparse.Namespace) -> None:
    if (args.test_images is None) != (args.test_labels is None):
        raise TrainError("--test-images and --test-labels go together")
    for name in ("epochs", "batch_size", "threads"):
        if getattr(args, name) < 1:
            raise TrainError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise TrainError(f"--lr must be > 0, got {args.lr}")
    if not 0 <= args.ema < 1:
        raise TrainError(f"--ema must lie in [0, 1), got {args.ema}")
    if args.weight_decay < 0:
        raise TrainError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    s = SemanticFCN.STRIDE
    if min(args.crop) < s or any(c % s for c in args.crop):
        raise TrainError(f"--crop must be positive multiples of {s}, got {args.crop}")
    if args.max_side < s:
        raise TrainError(f"--max-side must be >= {s}, got {args.max_side}")
    if args.channels and min(args.channels) < 1:
        raise TrainError(f"--channels must be positive, got {args.channels}")
    if args.time_budget is not None and not args.time_budget > 0:
        raise TrainError(f"--time-budget must be > 0 minutes, got {args.time_budget}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m deepcolor.fit semantic``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        _check_args(args)
        train_fcn(args, argv)
    except (TrainError, OSError) as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun with --resume to continue from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
