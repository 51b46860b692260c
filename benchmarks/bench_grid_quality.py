"""Cheng's chroma on a subsampled grid against the per-pixel path: PSNR gain over gray and colorfulness.

For each image of the chosen splits, the shipped Cheng model colorizes its gray version (the
protocol of `deepcolor.evaluation.evaluate_paths`: refined, tiled above 1024 pixels a side) with
``dense=True`` (the paper: every pixel) and with the chroma predicted every s pixels
(`deepcolor.models.cheng.GRID_STEP` = s, s in ``--steps``), and records PSNR, gain over gray and
colorfulness. The grid's step is chosen on the select split only; the report sets say what it costs.

    python benchmarks/bench_grid_quality.py --sets select "photos test" "BSDS500 val" "CamVid test" \
        [--every N] [--steps 2 3 4] [--rows /work/cache/speed/grid_rows.jsonl]

``--every N`` keeps every N-th image of a split (a bounded, evenly spread subset). Finished images are
logged to ``--rows`` (outside git); a re-run resumes. Writes ``--out`` (markdown) with the medians.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import RESULTS, SPLITS, RowLog, need_shared, write_atomic

SETS = {"select": "select.txt", "photos test": "photos_test.txt", "BSDS500 val": "bsds500_val.txt", "CamVid test": "camvid_test.txt"}


def _variants(steps: list[int]) -> dict[str, dict]:
    return {"dense": {"dense": True}, **{f"s={s}": {"step": s} for s in steps}}


def _image_rows(path: Path, model, variants: dict[str, dict]) -> dict[str, dict] | None:
    from deepcolor.evaluation import gray_version, result_rgb8
    from deepcolor.io import read_image
    from deepcolor.metrics import colorfulness, psnr, to_uint8
    from deepcolor.models import cheng
    from deepcolor.pipeline import colorize_luma

    try:
        image = read_image(path)
    except (ValueError, OSError):
        return None
    if image.pixels.ndim != 3:
        return None
    original = to_uint8(image.pixels)
    luma, gray = gray_version(original)
    gray_psnr, c_orig = psnr(gray, original), colorfulness(original)
    rows = {}
    default_step = cheng.GRID_STEP
    for name, v in variants.items():
        cheng.GRID_STEP = v.get("step", default_step)
        try:
            t0 = time.process_time()
            out = result_rgb8(luma, colorize_luma(luma, model, dense=v.get("dense", False)).chroma)
            cpu = time.process_time() - t0
        finally:
            cheng.GRID_STEP = default_step
        value = psnr(out, original)
        rows[name] = {"psnr": value, "gray_psnr": gray_psnr, "gain": value - gray_psnr, "colorfulness": colorfulness(out),
                      "colorfulness_original": c_orig, "cpu_seconds": cpu, "pixels": int(luma.size)}
    return rows


def main() -> int:
    import numpy as np

    from deepcolor.evaluation import summarize_rows
    from deepcolor.io.paths import expand_inputs
    from deepcolor.pipeline import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--every", type=int, default=1, help="keep every N-th image of each split")
    parser.add_argument("--rows", type=Path, default=Path("/work/cache/speed/grid_rows.jsonl"))
    parser.add_argument("--out", type=Path, default=RESULTS / "grid_quality.md")
    args = parser.parse_args()
    need_shared()
    model = load_model()
    variants = _variants(args.steps)
    log = RowLog(args.rows)
    lines = ["# Cheng on a subsampled grid vs every pixel (shipped model, refined)", "",
             f"Command: `python benchmarks/bench_grid_quality.py --sets {' '.join(repr(s) for s in args.sets)} --every {args.every}`.",
             "Gain = median over images of PSNR - gray PSNR (dB); colorfulness = ratio of medians (result / original);",
             "CPU = median CPU seconds per image (whole colorization, single thread).", "",
             "| set | n | " + " | ".join(f"{v} gain | {v} colorf. | {v} CPU s" for v in variants) + " |",
             "|---|---|" + "---|---|---|" * len(variants)]
    for set_name in args.sets:
        paths = expand_inputs([str(SPLITS / SETS[set_name])])[:: args.every]
        for i, path in enumerate(paths):
            key = f"{set_name}:{path}"
            if key in log and all(v in log.rows[key]["rows"] for v in variants):
                continue
            rows = _image_rows(path, model, variants)
            if rows is not None:
                log.add(key, {"set": set_name, "rows": rows})
            if i % 20 == 0:
                print(f"{set_name}: {i + 1}/{len(paths)}", flush=True)
        done = [log.rows[f"{set_name}:{p}"]["rows"] for p in paths if f"{set_name}:{p}" in log]
        cells = []
        for v in variants:
            s = summarize_rows([r[v] for r in done if v in r])
            cpu = float(np.median([r[v]["cpu_seconds"] for r in done if v in r])) if done else float("nan")
            cells.append(f"{s.get('gain_median', float('nan')):+.3f} | {s.get('colorfulness_ratio', float('nan')):.3f} | {cpu:.2f}")
        lines.append(f"| {set_name} | {len(done)} | " + " | ".join(cells) + " |")
        write_atomic(args.out, "\n".join(lines) + "\n")
        print(lines[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
