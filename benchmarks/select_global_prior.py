"""Settings of the encoder-based global-prior CNN, measured on the select split only.

For each photo of an evenly spread subset of ``data/splits/select.txt``: the network runs once
(per working size), then every vividness of the grid (the stated blend of the two heads), and a
plain saturation gain of the regression head's output (vividness 0) for a grid of gains, are
guided-upsampled, refined (the pipeline's joint bilateral filter) and scored as the README
protocol scores results: PSNR gain over gray, colorfulness, and the encoder's pooled feature of
the result for the Frechet distance to the originals' (the measuring network is also the
model's encoder: said beside the figures). Rows are kept in a resumable JSON-lines log.

``PYTHONPATH=. python benchmarks/select_global_prior.py --model M --limit 240``

Rule for the default vividness (README): the grid value whose colorfulness ratio (median of the
results' colorfulness over median of the originals', on the select photos, CamVid excluded) is
nearest 1.0.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, SPLITS, RowLog, need_shared, read_photo, write_atomic


def _versions(model, luma: np.ndarray, working_size: int, vividness: list[float], gains: list[float]) -> dict[str, np.ndarray]:
    from deepcolor.evaluation import result_rgb8
    from deepcolor.models.prior_encoder import CHROMA_MAX, network_heads
    from deepcolor.refine import refine_chroma
    from deepcolor.upsample import apply_coefficients, guide_coefficients

    regression, annealed, _ = network_heads(model.net, luma, luma, working_size=working_size,
                                            temperature=float(model.config["bins"]["temperature"]))
    out = {}

    def finish(small: np.ndarray) -> np.ndarray:
        full = apply_coefficients(luma, guide_coefficients(luma, small), luma.shape)
        return refine_chroma(luma, np.clip(full, -CHROMA_MAX, CHROMA_MAX))

    base = None
    for v in vividness:
        chroma = finish((1.0 - v) * regression + v * annealed)
        if v == 0:
            base = chroma
        out[f"S{working_size}_V{v:g}"] = result_rgb8(luma, chroma)
    if base is None:
        base = finish(regression)
    for s in gains:
        out[f"S{working_size}_V0_sat{s:g}"] = result_rgb8(luma, base * np.float32(s))
    return out


def _measure(paths: list[Path], model, encoder, args, log: RowLog) -> list[dict]:
    from tqdm.auto import tqdm

    from deepcolor.features.encoder import imagenet_feature_and_class
    from deepcolor.metrics import colorfulness, psnr

    rows = []
    for path in tqdm(paths, desc="select", unit="img"):
        key = f"{args.tag}:{path.name}"
        if key not in log:
            photo = read_photo(path)
            if photo is None:
                continue
            original, luma, gray = photo
            images = {"original": original, "gray": gray}
            for size in args.working_size:
                images.update(_versions(model, luma, size, args.vividness if size == args.working_size[0] else [0.0, 1.0],
                                        args.saturation if size == args.working_size[0] else []))
            gray_psnr = psnr(gray, original)
            row = {"image": str(path), "camvid": "camvid" in path.parts}
            for version, rgb in images.items():
                feature, _ = imagenet_feature_and_class(encoder, rgb)
                row[version] = {"gain": psnr(rgb, original) - gray_psnr, "colorfulness": colorfulness(rgb),
                                "feature": np.round(feature, 5).tolist()}
            log.add(key, row)
        rows.append(log.rows[key])
    return rows


def _summary(rows: list[dict]) -> dict[str, dict]:
    from deepcolor.metrics import frechet_distance

    out = {}
    versions = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    for group, chosen in (("photos", [r for r in rows if not r["camvid"]]), ("camvid", [r for r in rows if r["camvid"]])):
        if len(chosen) < 2:
            continue
        originals = np.array([r["original"]["feature"] for r in chosen])
        co = np.median([r["original"]["colorfulness"] for r in chosen])
        out[group] = {"n": len(chosen)}
        for v in versions:
            out[group][v] = {"gain": float(np.median([r[v]["gain"] for r in chosen])),
                             "colorfulness_ratio": float(np.median([r[v]["colorfulness"] for r in chosen]) / co),
                             # one 1280-d matrix square root per version: on the photos only (CamVid frames look alike)
                             "frechet": float(frechet_distance(originals, np.array([r[v]["feature"] for r in chosen])))
                             if group == "photos" else float("nan")}
    return out


def _table(summary: dict[str, dict], vividness: list[float], size: int) -> str:
    photos = summary["photos"]
    vivid = {v: photos[f"S{size}_V{v:g}"] for v in vividness}
    rule = min(vivid, key=lambda v: abs(vivid[v]["colorfulness_ratio"] - 1.0))
    lines = [f"Default vividness by the rule (colorfulness ratio nearest 1.0 on the select photos): **{rule:g}**", ""]
    for group, s in summary.items():
        lines += [f"### {group} (n = {s['n']})", "", "| version | gain over gray (dB) | colorfulness ratio | Frechet |", "|---|---|---|---|"]
        lines += [f"| {v} | {m['gain']:+.2f} | {m['colorfulness_ratio']:.2f} | {m['frechet']:.1f} |" for v, m in s.items() if v not in ('n', 'original')]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    need_shared()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="global-prior model file (encoder architecture)")
    p.add_argument("--limit", type=int, default=240, help="photos, evenly spread over select.txt")
    p.add_argument("--working-size", type=int, nargs="+", default=[256], help="first: full grids; others: V = 0 and 1 only")
    p.add_argument("--vividness", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--saturation", type=float, nargs="+", default=[1.2, 1.4, 1.6, 1.8, 2.0])
    p.add_argument("--tag", default="gp", help="row-log key prefix (a new tag for a new model)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    import torch

    from deepcolor.features.encoder import load_pretrained_encoder
    from deepcolor.io.paths import expand_inputs
    from deepcolor.models.global_prior import GlobalPriorModel

    torch.set_num_threads(args.threads)
    paths = expand_inputs([SPLITS / "select.txt"])
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.limit, len(paths))).round().astype(int)]
    model = GlobalPriorModel.load(args.model)
    t0 = time.perf_counter()
    rows = _measure(paths, model, load_pretrained_encoder(), args, RowLog(RESULTS / "global_prior_select_rows.jsonl"))
    summary = _summary(rows)
    write_atomic(RESULTS / "global_prior_select.json", json.dumps(summary, indent=1))
    table = _table(summary, args.vividness, args.working_size[0])
    write_atomic(RESULTS / "global_prior_select.md",
                 f"# Global-prior CNN settings on the select split\n\n`{' '.join(['python benchmarks/select_global_prior.py', '--model', args.model, '--limit', str(args.limit)])}` "
                 f"({time.perf_counter() - t0:.0f} s). Frechet: encoder pooled features (also the model's encoder).\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
