"""Benchmark of the shipped semantic FCN: CamVid test accuracy (gray input) and speed.

Usage::

    python benchmarks/bench_semantic.py [--model FCN] [--data ../shared/data] [--threads 2]

Writes a markdown table to ``benchmarks/results/semantic.md`` (atomically).
Without the CamVid data only the timings are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, SHARED_DATA, write_atomic

import torch

from deepcolor.features.semantic import (
    CAMVID_CLASSES,
    load_fcn,
    semantic_features,
    semantic_probabilities,
)
from deepcolor.io.paths import match_pairs
from deepcolor.train.fcn import evaluate_fcn
from deepcolor.modelfile import default_weights_path, load_model_file

OUT = RESULTS / "semantic.md"
# Published anchors: (method, input, global pixel acc, class-average acc).
ANCHORS = [
    ("SegNet (Badrinarayanan et al. 2017), CamVid 11 classes", "colour", "~90%", "~71%"),
    ("FCN-16s (Long et al. 2015), SIFT Flow 33 classes", "gray", "78.9%", "-"),
]


def _timing(fcn, size: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of semantic_probabilities and semantic_features on a size x size real-looking image."""
    from skimage import data as skdata
    from skimage.transform import resize

    luma = resize(skdata.camera().astype(np.float32) / 255.0, (size, size), anti_aliasing=True).astype(np.float32)
    semantic_features(luma, fcn)  # warm-up
    probs_t, feats_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        semantic_probabilities(luma, fcn)
        probs_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        semantic_features(luma, fcn)
        feats_t.append(time.perf_counter() - t)
    return statistics.median(probs_t), statistics.median(feats_t)


def _timings_in_subprocess(args: argparse.Namespace, wait_policy: str | None) -> dict[str, list[float]]:
    """Run the timing part in a fresh process (OpenMP reads its settings at start-up)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    cmd = [sys.executable, __file__, "--timing-only", "--model", args.model, "--threads", str(args.threads)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(default_weights_path("fcn")))
    p.add_argument("--data", default=str(SHARED_DATA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    fcn = load_fcn(args.model)
    if args.timing_only:
        print(json.dumps({str(size): _timing(fcn, size) for size in (256, 1024)}))
        return 0
    _, config = load_model_file(args.model, kind="fcn")
    n_params = sum(v.numel() for v in fcn.state_dict().values())
    lines = [
        "# Semantic FCN (gray CamVid)",
        "",
        f"Model `{Path(args.model).name}`: channels {fcn.config['channels']}, {n_params:,} parameters, "
        f"{Path(args.model).stat().st_size / 1e6:.2f} MB; net runs with longest side <= {fcn.max_side}.",
        f"Machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} logical CPUs (shared; timings are upper bounds under load).",
        "",
    ]
    camvid = Path(args.data) / "camvid"
    if camvid.is_dir():
        pairs = match_pairs(camvid / "images" / "test", camvid / "labels" / "test")
        raw = evaluate_fcn(fcn, *pairs)
        smooth = evaluate_fcn(fcn, *pairs, smooth=True)
        lines += [
            f"## Accuracy on CamVid test ({len(pairs[0])} frames, 480x360, luma only, void excluded)",
            "",
            "| method | input | global pixel acc. | class-average acc. | mean IoU |",
            "|---|---|---|---|---|",
            f"| deepcolor FCN, raw probabilities | gray | {raw['pixel_accuracy']:.1%} | {raw['class_average_accuracy']:.1%} | {raw['mean_iou']:.1%} |",
            f"| deepcolor FCN, domain-transform smoothed | gray | {smooth['pixel_accuracy']:.1%} | {smooth['class_average_accuracy']:.1%} | {smooth['mean_iou']:.1%} |",
        ]
        lines += [f"| {name} (anchor) | {inp} | {g} | {c} | - |" for name, inp, g, c in ANCHORS]
        lines += ["", "Per-class accuracy (raw): " + ", ".join(f"{k} {raw['per_class'][k]:.0%}" for k in CAMVID_CLASSES), ""]
        training = config.get("training", {})
        if "val" in training:
            lines += [
                f"Training record: val pixel {training['val']['pixel_accuracy']:.1%}, class-average "
                f"{training['val']['class_average_accuracy']:.1%}; best epoch {training.get('best_epoch')} of "
                f"{training.get('epochs_run')}, {training.get('elapsed_min')} min.",
                "",
            ]
    else:
        lines += [f"CamVid not found at {camvid}: accuracy not measured.", ""]
    lines += [
        f"## Inference time (median of 5, torch threads {args.threads})",
        "",
        "The FCN runs on a copy with longest side <= max_side; smoothing runs at full size.",
        "On a busy machine, OpenMP's default spin-waiting can make 2-thread torch calls",
        "stall for hundreds of ms; OMP_WAIT_POLICY=PASSIVE (set before torch starts) avoids it.",
        "",
        "| image | OpenMP wait policy | semantic_probabilities | semantic_features (+ smoothing) |",
        "|---|---|---|---|",
    ]
    for policy in (None, "PASSIVE"):
        times = _timings_in_subprocess(args, policy)
        for size in (256, 1024):
            tp, tf = times[str(size)]
            lines.append(f"| {size}x{size} | {policy or 'default'} | {tp * 1000:.0f} ms | {tf * 1000:.0f} ms |")
    lines += ["", f"Load average while timing: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores, shared with other jobs)."]
    text = "\n".join(lines) + "\n"
    write_atomic(Path(args.out), text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
