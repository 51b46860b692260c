"""The two numba CPU kernels against their library references, timed in the same run.

- DAISY: `deepcolor.features.daisy.daisy_features` vs
  ``skimage.feature.daisy(np.pad(luma, 7, mode="reflect"), step=1, radius=7,
  rings=1, histograms=3, orientations=8)`` (the same 32-d descriptor at every pixel).
- Joint bilateral: `deepcolor.refine.refine_chroma` on (H, W, 2) chroma vs
  ``cv2.ximgproc.jointBilateralFilter`` on the 3-channel float32 stack (OpenCV
  has no 2-channel path), d = 9, sigma_color = 0.05, sigma_space = 3.

Input: skimage's bundled ``camera`` photo resized to N x N as the luma, seeded
noisy chroma. Each kernel runs once at each size to warm up (numba compiles or
loads its cache); then ours and the reference alternate ``--repeats`` times so
background load hits both alike, and the table reports medians. The header
records the numba thread count and the load average, since the machine may be
shared.

    python benchmarks/bench_kernels.py [--sizes 256 512 1024] [--repeats 5] [--threads N]
                                       [--out benchmarks/results/kernels.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from _common import RESULTS, write_atomic

SIGMA_COLOR, SIGMA_SPACE, DIAMETER = 0.05, 3.0, 9


def _luma(size: int) -> np.ndarray:
    import cv2
    from skimage.data import camera

    return cv2.resize(camera(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _chroma(size: int) -> np.ndarray:
    return np.random.default_rng(size).normal(0.0, 0.1, (size, size, 2)).astype(np.float32)


def _cases(size: int):
    """(kernel, reference name, ours(), reference(), compare(ours_out, ref_out) -> max abs diff) per kernel."""
    import cv2
    from skimage.feature import daisy

    from deepcolor.features.daisy import daisy_features
    from deepcolor.refine import refine_chroma

    luma = _luma(size)
    chroma = _chroma(size)
    stacked = np.concatenate([chroma, np.zeros((size, size, 1), np.float32)], axis=2)
    yield (
        "DAISY (H, W, 32)",
        "skimage.feature.daisy",
        lambda: daisy_features(luma),
        lambda: daisy(np.pad(luma, 7, mode="reflect"), step=1, radius=7, rings=1, histograms=3, orientations=8),
        lambda a, b: float(np.abs(a - b).max()),
    )
    yield (
        "joint bilateral, 2-ch chroma, d=9",
        "cv2.ximgproc.jointBilateralFilter (3-ch)",
        lambda: refine_chroma(luma, chroma, diameter=DIAMETER, sigma_color=SIGMA_COLOR, sigma_space=SIGMA_SPACE),
        lambda: cv2.ximgproc.jointBilateralFilter(luma, stacked, DIAMETER, SIGMA_COLOR, SIGMA_SPACE),
        lambda a, b: float(np.abs(a - b[..., :2]).max()),
    )


def _time(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(sizes: list[int], repeats: int) -> list[dict]:
    rows = []
    jobs = [(size, case) for size in sizes for case in _cases(size)]
    for size, (kernel, ref_name, ours, ref, compare) in tqdm(jobs, desc="kernels", unit="case"):
        ours_out, ref_out = ours(), ref()  # warm-up: numba compile / cache load, first-touch allocations
        diff = compare(ours_out, ref_out)
        t_ours, t_ref = [], []
        for _ in range(repeats):
            t_ours.append(_time(ours)[0])
            t_ref.append(_time(ref)[0])
        rows.append(
            {
                "kernel": kernel,
                "size": size,
                "ours_ms": 1e3 * float(np.median(t_ours)),
                "reference": ref_name,
                "ref_ms": 1e3 * float(np.median(t_ref)),
                "max_abs_diff": diff,
            }
        )
    return rows


def to_markdown(rows: list[dict], *, repeats: int, threads: int, layer: str, load: tuple) -> str:
    lines = [
        "# Numba kernels vs their library references",
        "",
        f"Median of {repeats} runs after a warm-up, ours and the reference alternating. "
        f"numba: {threads} thread(s), threading layer {layer}; {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}); load average before/after: "
        f"{load[0]:.2f} / {load[1]:.2f}. Speed-up = reference ms / ours ms.",
        "",
        "| kernel | size | ours (ms) | reference | reference (ms) | speed-up | max abs diff |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['kernel']} | {r['size']}x{r['size']} | {r['ours_ms']:.1f} | {r['reference']} | "
            f"{r['ref_ms']:.1f} | {r['ref_ms'] / r['ours_ms']:.2f}x | {r['max_abs_diff']:.1e} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS / "kernels.md")
    args = parser.parse_args(argv)
    if args.repeats < 1 or any(s < 1 for s in args.sizes):
        parser.error("--repeats and --sizes must be >= 1")

    import numba

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    before = os.getloadavg()[0]
    rows = run(args.sizes, args.repeats)
    after = os.getloadavg()[0]
    text = to_markdown(
        rows, repeats=args.repeats, threads=numba.get_num_threads(), layer=numba.threading_layer(), load=(before, after)
    )
    print(text)
    write_atomic(args.out, text)


if __name__ == "__main__":
    main()
