"""Real 25-30 fps clips for bench_video.py: decoding the colour originals, caching the model's chroma, scoring.

The gray input is the colour original's Y plane (its luma; `deepcolor.video`
reduces a colour clip to it). Two predictions per frame are cached (float16,
one .npz per clip), so that the stability rules can be scored without
running the model again: ``per-shot`` (the frame coloured on its own with its
shot's decision, what ``--per-frame`` writes) and ``own`` (the frame fully on
its own, its own cluster choice).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import _common

REAL = _common.SHARED_DATA / "video"
REAL_CLIPS = {"highway_traffic": 25.0, "asl_walk": 30.0}  # file stem -> frame rate


def decode_rgb(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """All frames of a colour clip: Y planes (N, H, W) uint8, RGB (N, H, W, 3) uint8, and its colour range."""
    from deepcolor.io.video import probe, read_luma
    import av

    info = probe(path)
    ys = np.stack([f.y for f in read_luma(info)])
    with av.open(str(path)) as container:
        rgb = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return ys, rgb, info.color_range


def cache_predictions(stem: str, model, cache: Path) -> Path:
    """Run the model on every frame of a shared clip (per-shot and own decision); cached as ``cache/STEM.npz``."""
    from deepcolor.io.video import luma_unit
    from deepcolor.pipeline import colorize_luma
    from deepcolor.video import colorize_video

    target = cache / f"{stem}.npz"
    if target.is_file():
        return target
    source = REAL / f"{stem}.mp4"
    ys, per_shot, own, clusters = [], [], [], []
    seconds = {"per-shot": 0.0, "own": 0.0}

    def observe(frame, prediction, chroma):
        ys.append(frame.y)
        per_shot.append(prediction.astype(np.float16))
        t0 = time.process_time()
        result = colorize_luma(luma_unit(frame.y, color_range), model)
        seconds["own"] += time.process_time() - t0
        own.append(result.chroma.astype(np.float16))
        clusters.append(str(result.info.get("cluster")))

    from deepcolor.io.video import probe
    color_range = probe(source).color_range
    t0 = time.process_time()
    result = colorize_video(source, cache / f"{stem}_per_frame.mp4", model=model, stable=False, observe=observe, overwrite=True)
    seconds["per-shot"] = time.process_time() - t0 - seconds["own"]
    tmp = cache / f".{stem}.tmp.npz"
    np.savez(tmp, y=np.stack(ys), per_shot=np.stack(per_shot), own=np.stack(own),
             meta=json.dumps({"decisions": result["decisions"], "shots": result["shots"], "own_clusters": clusters,
                              "cpu_s": seconds, "color_range": color_range}))
    tmp.rename(target)
    return target


def metric_flows(stem: str, ys: np.ndarray, cache: Path, metric_flow) -> tuple[np.ndarray, np.ndarray]:
    """The metric's backward flow (N-1, H, W, 2) float16 and trusted pixels (N-1, H, W) bool of each frame pair, cached."""
    target = cache / f"{stem}_metric.npz"
    if target.is_file():
        data = np.load(target)
        return data["backward"], data["valid"]
    pairs = [metric_flow(ys[t], ys[t - 1]) for t in range(1, len(ys))]
    backward = np.stack([b.astype(np.float16) for b, _ in pairs])
    valid = np.stack([v for _, v in pairs])
    tmp = cache / f".{stem}_metric.tmp.npz"
    np.savez(tmp, backward=backward, valid=valid)
    tmp.rename(target)
    return backward, valid


def score(ys: np.ndarray, rgb: np.ndarray, chroma: np.ndarray, color_range: int, flows: tuple[np.ndarray, np.ndarray],
          cuts: set[int] = frozenset(), *, psnr_stride: int = 1) -> dict:
    """Warping error (mean over pairs inside shots), PSNR gain over gray and colorfulness of a coloured clip.

    ``chroma`` (N, H, W, 2) U, V of every frame; ``rgb`` the colour originals; ``flows`` from `metric_flows`.
    Returns the means and the per-pair warping errors.
    """
    from deepcolor import temporal
    from deepcolor.colorspace import merge_luma_chroma, quantize_rgb
    from deepcolor.io.video import luma_unit
    from deepcolor.metrics import colorfulness, psnr

    warps = []
    for t in range(1, len(ys)):
        if t in cuts:
            continue
        warps.append(temporal.warping_error(chroma[t].astype(np.float32), chroma[t - 1].astype(np.float32),
                                            flows[0][t - 1].astype(np.float32), flows[1][t - 1]))
    gains, colour, colour_truth = [], [], []
    for t in range(0, len(ys), psnr_stride):
        luma = luma_unit(ys[t], color_range)
        out = quantize_rgb(merge_luma_chroma(luma, chroma[t].astype(np.float32)), np.uint8)
        gray = quantize_rgb(merge_luma_chroma(luma, np.zeros(luma.shape + (2,), np.float32)), np.uint8)
        gains.append(psnr(out, rgb[t]) - psnr(gray, rgb[t]))
        colour.append(colorfulness(out))
        colour_truth.append(colorfulness(rgb[t]))
    return {"warp": float(np.nanmean(warps)), "gain": float(np.mean(gains)), "colorfulness": float(np.mean(colour)),
            "colorfulness_original": float(np.mean(colour_truth)), "warp_pairs": [float(w) for w in warps]}
