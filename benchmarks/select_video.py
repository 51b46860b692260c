"""Choose the chroma-carrying parameters on the two shared real clips (../shared/data/video) only.

Reads the cached per-shot predictions of `_video_real.cache_predictions` (run
``bench_video.py --real`` first, or this script runs the model once), runs
`deepcolor.temporal.ChromaCarrier` with each candidate setting over them, and
scores the result against the colour originals (warping error with the
metric's Farneback flow, PSNR gain over gray). Prints one JSON line per
setting and clip; writes ``CACHE/select.jsonl``.

Usage: ``PYTHONPATH=. python benchmarks/select_video.py --cache /work/cache/video [--grid NAME]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

import _common  # noqa: F401
import _video_real
from bench_video import metric_flow
from deepcolor import temporal


def carried(ys: np.ndarray, predictions: np.ndarray, cuts: set[int], settings: dict) -> np.ndarray:
    """The output chroma of every frame under ``settings`` (`ChromaCarrier` keywords), float16."""
    carrier = temporal.ChromaCarrier(**settings)
    out = np.empty_like(predictions)
    for t in range(len(ys)):
        if t in cuts:
            carrier.reset()
        out[t] = carrier.step(ys[t], predictions[t].astype(np.float32))
    return out


def load(stem: str, cache: Path) -> dict:
    if not (cache / f"{stem}.npz").is_file():
        raise SystemExit(f"{cache / stem}.npz: no cached predictions; run bench_video.py --real --cache {cache} first")
    data = np.load(cache / f"{stem}.npz")
    meta = json.loads(str(data["meta"]))
    ys = data["y"]
    _, rgb, color_range = _video_real.decode_rgb(_video_real.REAL / f"{stem}.mp4")
    cuts = {t for t in range(1, len(ys)) if temporal.is_cut(ys[t - 1], ys[t])}
    flows = _video_real.metric_flows(stem, ys, cache, metric_flow)
    return {"ys": ys, "rgb": rgb, "range": color_range, "cuts": cuts, "flows": flows, "per_shot": data["per_shot"],
            "own": data["own"], "meta": meta}


GRIDS = {
    "default": [{}],
    "side": [{"side": s} for s in (960, 480, 320, 160)],
    "carry": [{"side": s, "carry": c} for s, c in itertools.product((320, 160), (0.9, 0.95, 0.98))],
    "chosen": [{"side": 320, "carry": c} for c in (0.95, 0.98)],
}


def diagnose(clip: dict, settings: dict) -> dict:
    """Where the carrying leaves flicker: the metric's trusted pixels the method does not trust, and the worst pairs."""
    out = carried(clip["ys"], clip["per_shot"], clip["cuts"], settings)
    side = settings.get("side", temporal.CARRY_SIDE)
    untrusted, split, pairs = [], {"stable": [[], []], "per_shot": [[], []]}, []
    for t in range(1, len(out)):
        backward, valid = (clip["flows"][0][t - 1].astype(np.float32), clip["flows"][1][t - 1])
        small = [temporal.downscale(clip["ys"][i], side) for i in (t, t - 1)]
        _, trusted_small = temporal.consistent_flow(small[0], small[1])
        trusted = temporal.upscale(trusted_small.astype(np.float32), valid.shape) > 0.5
        untrusted.append(float((valid & ~trusted).sum() / max(1, valid.sum())))
        errors = {}
        for name, seq in (("stable", out), ("per_shot", clip["per_shot"])):
            warped, _ = temporal.warp(seq[t - 1].astype(np.float32), backward)
            error = np.sqrt(np.sum((seq[t].astype(np.float32) - warped) ** 2, axis=-1))
            split[name][0].append(float(error[valid & trusted].mean()) if (valid & trusted).any() else np.nan)
            split[name][1].append(float(error[valid & ~trusted].mean()) if (valid & ~trusted).any() else np.nan)
            errors[name] = float(error[valid].mean())
        pairs.append((errors["stable"] / errors["per_shot"], t))
    return {"metric-trusted pixels the method does not trust": float(np.mean(untrusted)),
            **{f"warp {n} on method-trusted / untrusted": [float(np.nanmean(v[0])), float(np.nanmean(v[1]))] for n, v in split.items()},
            "worst pairs (ratio, frame)": [(round(r, 2), t) for r, t in sorted(pairs)[-5:]],
            "best pairs (ratio, frame)": [(round(r, 2), t) for r, t in sorted(pairs)[:3]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--grid", nargs="+", default=["default"], help=f"of {', '.join(GRIDS)}")
    parser.add_argument("--clips", nargs="+", default=list(_video_real.REAL_CLIPS), choices=list(_video_real.REAL_CLIPS))
    parser.add_argument("--diagnose", action="store_true", help="where the default setting leaves flicker, per clip")
    args = parser.parse_args()
    log = args.cache / "select.jsonl"
    clips = {stem: load(stem, args.cache) for stem in args.clips}
    if args.diagnose:
        for stem, clip in clips.items():
            for settings in ({"side": 960, "carry": 0.9}, {}):  # the old rule, the default
                print(json.dumps({"clip": stem, "settings": settings or "default", **diagnose(clip, settings)}), flush=True)
        return
    for stem, clip in clips.items():
        for name in ("per_shot", "own"):
            s = _video_real.score(clip["ys"], clip["rgb"], clip[name], clip["range"], clip["flows"], clip["cuts"])
            clip[f"score {name}"] = s
            print(json.dumps({"clip": stem, "variant": name, "cuts": sorted(clip["cuts"]),
                              **{k: v for k, v in s.items() if k != "warp_pairs"}}), flush=True)
    for grid in args.grid:
        for settings in GRIDS[grid]:
            for stem, clip in clips.items():
                t0 = time.process_time()
                out = carried(clip["ys"], clip["per_shot"], clip["cuts"], settings)
                cpu = time.process_time() - t0
                s = _video_real.score(clip["ys"], clip["rgb"], out, clip["range"], clip["flows"], clip["cuts"])
                row = {"clip": stem, "settings": settings, "warp": s["warp"], "gain": s["gain"],
                       "ratio per-shot": s["warp"] / clip["score per_shot"]["warp"], "ratio own": s["warp"] / clip["score own"]["warp"],
                       "gain - per-shot": s["gain"] - clip["score per_shot"]["gain"], "colorfulness": s["colorfulness"],
                       "carry cpu s/frame": cpu / len(out)}
                print(json.dumps(row), flush=True)
                with open(log, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
