"""Apply time and peak memory by image size, beside Cheng et al.'s Table II.

Each size runs in a fresh subprocess so its peak resident memory is its own:
load the shipped model, warm up (numba compile, torch init) on a small image,
then time `colorize_luma` (features, FCN, cluster choice, MLP, refinement) on a
real photograph resized to N x N, median of ``--repeats`` runs, with the time
of each stage. The reference measured in the same run is the gray baseline's
cost (read + luma + write-back), so the ratio says what colorization adds.

    python benchmarks/bench_apply.py [--sizes 256 512 1024 2048] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from _common import RESULTS, ROOT, SHARED_DATA, write_atomic

CHENG_TABLE_II = {256: 6.78, 512: 17.4, 1024: 63.1}  # seconds, Matlab, Cheng et al. TIP Table II


def _photo(size: int) -> np.ndarray:
    import cv2

    candidates = sorted((SHARED_DATA / "bsds500" / "images" / "val").glob("*.jpg"))
    if candidates:
        bgr = cv2.imread(str(candidates[0]), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    else:
        from skimage.data import camera

        gray = camera()
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0


def _child(size: int, repeats: int) -> None:
    import resource

    from deepcolor.pipeline import colorize_luma, load_model
    from deepcolor.colorspace import merge_luma_chroma

    model = load_model()
    colorize_luma(_photo(64), model)  # compile and warm up
    luma = _photo(size)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, stages, ref = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = colorize_luma(luma, model)
        result.rgb()
        times.append(time.perf_counter() - t0)
        stages.append(result.seconds)
        t0 = time.perf_counter()
        merge_luma_chroma(luma, np.zeros(luma.shape + (2,), np.float32))
        ref.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    median_stage = {k: float(np.median([s[k] for s in stages])) for k in stages[0]}
    print(json.dumps({"size": size, "median_s": float(np.median(times)), "gray_s": float(np.median(ref)),
                      "stages": median_stage, "peak_mb": peak / 1024, "extra_mb": (peak - base_rss) / 1024}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.repeats)
        return 0
    from tqdm import tqdm

    rows = []
    for size in tqdm(args.sizes, desc="sizes"):
        out = subprocess.run([sys.executable, __file__, "--child", str(size), "--repeats", str(args.repeats)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    lines = [
        "# Apply time by size (median of %d runs, 2-core CPU)" % args.repeats,
        "",
        "`colorize_luma` on a real photograph resized to N x N; stages: features (DAISY, patches, FCN + smoothing),",
        "cluster choice (gist + semantic histogram), regression (descriptor assembly + MLP), refinement.",
        "Peak = peak resident memory of the process; extra = its growth during the timed runs.",
        "",
        "| size | deepcolor (s) | features | choice | regression | refinement | Cheng Table II (s) | speed-up | peak MB | extra MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cheng = CHENG_TABLE_II.get(r["size"])
        s = r["stages"]
        speedup = f"{cheng / r['median_s']:.0f}x" if cheng else "-"
        lines.append(
            f"| {r['size']}^2 | {r['median_s']:.3f} | {s['features']:.3f} | {s['choice']:.3f} | {s['regression']:.3f} | {s['refinement']:.3f} | "
            f"{cheng if cheng else '-'} | {speedup} | {r['peak_mb']:.0f} | {r['extra_mb']:.0f} |"
        )
    write_atomic(RESULTS / "apply_time.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
