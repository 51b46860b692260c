"""The frozen encoder's outputs on the training photos, computed once and kept on disk (float16).

The encoder of the global-prior CNN (`deepcolor.features.encoder`) is frozen in training, so its
feature maps are a fixed function of each photo: computing them once turns a step into the
decoder's cost alone. For each photo the cache holds

- ``rgb``: the training crop, (CROP, CROP, 3) uint8: the photo resized (area) so its short side is
  `SHORT_SIDE`, centre-cropped to `CROP` (a multiple of 32, so every stride divides it); luma
  and U, V targets derive from it;
- ``s4 .. s32``: the encoder maps of the crop's gray version (luma replicated to three channels),
  (C, CROP / s, CROP / s) float16 for s = 4, 8, 16, 32 (stride 2 is left out: it would double
  the cache and the decoder reads the luma at stride 2 instead);
- ``pooled``: the encoder's pooled 1280-d feature of the whole photo's gray version squashed to
  224 x 224 (the global prior sees the whole image, as at inference), float16.

Shards of `SHARD` photos are written atomically (``shard_00012.npz``), so an interrupted run
resumes at the first missing shard. Horizontal flips are applied to the cached tensors in
training (a flip commutes with the encoder only approximately, through its "same" padding; the
error is a border effect of a pixel or two).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from deepcolor.colorspace import rgb_to_yuv
from deepcolor.features.encoder import EfficientNetLite0, to_encoder_input
from deepcolor.io.write import atomic_open

__all__ = ["SHORT_SIDE", "CROP", "SHARD", "MAP_NAMES", "training_crop", "gray_luma8", "encode_batch", "build_cache", "load_cache"]

logger = logging.getLogger("deepcolor")

SHORT_SIDE = 176  # training photos are resized so their short side is this ...
CROP = 160  # ... and centre-cropped to this square (a multiple of 32)
GLOBAL_SIZE = 224  # the whole photo, squashed, for the pooled feature
SHARD = 256  # photos per cache file
MAP_NAMES = ("s4", "s8", "s16", "s32")  # encoder maps kept (strides 4..32: indices 1..4 of the encoder's list)


def training_crop(rgb8: np.ndarray, *, short_side: int = SHORT_SIDE, crop: int = CROP) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (crop, crop, 3) uint8: short side resized to ``short_side`` (area), centre crop."""
    if rgb8.ndim != 3 or rgb8.shape[2] != 3 or rgb8.dtype != np.uint8:
        raise ValueError(f"training_crop needs an (H, W, 3) uint8 image, got {rgb8.shape} {rgb8.dtype}")
    if crop > short_side:
        raise ValueError(f"crop {crop} is larger than the short side {short_side}")
    h, w = rgb8.shape[:2]
    scale = short_side / min(h, w)
    size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb8, size, interpolation=interp)
    top, left = (size[1] - crop) // 2, (size[0] - crop) // 2
    return np.ascontiguousarray(resized[top : top + crop, left : left + crop])


def gray_luma8(rgb8: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 BT.601 luma rounded to 8 bits, in [0, 1] (the colorizer's input)."""
    luma = rgb_to_yuv(rgb8.astype(np.float32) / 255.0)[..., 0]
    return (np.round(np.clip(luma, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def encode_batch(encoder: EfficientNetLite0, crops: np.ndarray, wholes: np.ndarray) -> dict[str, np.ndarray]:
    """Encoder outputs of a batch: ``crops`` (N, CROP, CROP) and ``wholes`` (N, 224, 224) float32 luma in [0, 1].

    Returns ``{"s4": (N, 24, CROP/4, CROP/4), ..., "s32": (N, 320, CROP/32, CROP/32), "pooled": (N, 1280)}``, float16.
    """
    with torch.inference_mode():
        maps, _ = encoder(to_encoder_input(crops))
        _, pooled = encoder(to_encoder_input(wholes))
    out = {name: m.numpy().astype(np.float16) for name, m in zip(MAP_NAMES, maps[1:])}
    out["pooled"] = pooled.numpy().astype(np.float16)
    return out


def _encode_shard(encoder: EfficientNetLite0, paths: Sequence[Path], batch: int = 16) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    from deepcolor.train.common import read_colour

    rgbs, wholes, kept, failed = [], [], [], []
    for path in paths:
        try:
            original = read_colour(path)
        except (ValueError, OSError) as exc:
            failed.append(f"{path}\t{str(exc).splitlines()[0]}")
            continue
        rgbs.append(training_crop(original))
        luma = gray_luma8(original)
        interp = cv2.INTER_AREA if min(luma.shape) >= GLOBAL_SIZE else cv2.INTER_LINEAR
        wholes.append(cv2.resize(luma, (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=interp))
        kept.append(str(path))
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(rgbs), batch):
        crops = gray_luma8(np.stack(rgbs[start : start + batch]))
        for name, value in encode_batch(encoder, crops, np.stack(wholes[start : start + batch])).items():
            parts.setdefault(name, []).append(value)
    arrays = {name: np.concatenate(v) for name, v in parts.items()}
    arrays["rgb"] = np.stack(rgbs) if rgbs else np.zeros((0, CROP, CROP, 3), np.uint8)
    return arrays, kept, failed


def build_cache(paths: Sequence[Path], cache: Path, encoder: EfficientNetLite0, *, progress: bool = True) -> Path:
    """Encode every photo of ``paths`` into shards under ``cache/<key>/`` (resumable); returns that folder."""
    from tqdm.auto import tqdm

    key = hashlib.sha1(("\n".join(str(Path(p).resolve()) for p in paths) + f"|{SHORT_SIDE}|{CROP}").encode()).hexdigest()[:12]
    folder = Path(cache) / f"encoder_{key}"
    folder.mkdir(parents=True, exist_ok=True)
    n_shards = (len(paths) + SHARD - 1) // SHARD
    t0 = time.perf_counter()
    for i in tqdm(range(n_shards), desc="encode", unit="shard", disable=not progress):
        target = folder / f"shard_{i:05d}.npz"
        if target.is_file():
            continue
        arrays, kept, failed = _encode_shard(encoder, list(paths[i * SHARD : (i + 1) * SHARD]))
        with atomic_open(target, "wb") as fh:
            np.savez(fh, paths=np.array(kept), failed=np.array(failed), **arrays)
    with atomic_open(folder / "done.json", "w") as fh:
        json.dump({"photos": len(paths), "shards": n_shards, "seconds_this_run": round(time.perf_counter() - t0, 1)}, fh)
    return folder


def load_cache(folder: Path) -> tuple[dict[str, np.ndarray], list[Path], list[tuple[Path, str]]]:
    """All shards of a cache folder concatenated: (arrays by name, kept paths, failures (path, reason))."""
    shards = sorted(Path(folder).glob("shard_*.npz"))
    if not shards:
        raise ValueError(f"{folder}: no cache shards")
    parts: dict[str, list[np.ndarray]] = {}
    kept: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for shard in shards:
        with np.load(shard, allow_pickle=False) as data:
            failed += [(Path(line.split("\t")[0]), line.split("\t", 1)[-1]) for line in data["failed"]]
            if not len(data["paths"]):  # every photo of the shard failed (gray ones, say): it holds no maps
                continue
            for name in (*MAP_NAMES, "pooled", "rgb"):
                parts.setdefault(name, []).append(data[name])
            kept += [Path(p) for p in data["paths"]]
    if not kept:
        example = f": {failed[0][0].name}: {failed[0][1]}" if failed else ""
        raise ValueError(f"none of the {len(failed)} training photos can teach colour{example}")
    return {name: np.concatenate(v) for name, v in parts.items()}, kept, failed
