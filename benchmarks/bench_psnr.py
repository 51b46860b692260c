"""PSNR distributions of the pipeline and its ablations (Cheng et al. Fig. 8 style).

On CamVid ``test`` and BSDS500 ``val`` (never trained or selected on), in one
run, per image: the gray baseline, the full model without and with refinement,
and the ablations without semantics and without clusters. Writes overlaid
histograms (PNG) and a markdown table of medians, quartiles and median per-image
gains, with CamVid ``test`` also split by sequence (0001TP is also in
``train``; Seq05VD never is).

    python benchmarks/bench_psnr.py [--model M] [--limit N] [--fresh]

Finished images are logged to ``benchmarks/results/psnr_rows.jsonl``; a re-run
resumes (``--fresh`` starts over). Progress bar per set.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from _common import RESULTS, SPLITS, RowLog, need_shared, write_atomic

SETTINGS = {
    "full, no refine": {"semantic": True, "clusters": True, "refine": False},
    "full": {"semantic": True, "clusters": True, "refine": True},
    "no clusters": {"semantic": True, "clusters": False, "refine": True},
    "no semantic": {"semantic": False, "clusters": True, "refine": True},
    "no semantic, no clusters": {"semantic": False, "clusters": False, "refine": True},
}
SETS = {"CamVid test": "camvid_test.txt", "BSDS500 val": "bsds500_val.txt"}


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def main() -> int:
    from deepcolor.evaluation import evaluate_paths, summarize_rows
    from deepcolor.io.paths import expand_inputs
    from deepcolor.pipeline import load_model
    from deepcolor.modelfile import default_weights_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    parser.add_argument("--fresh", action="store_true", help="ignore finished rows from an earlier run")
    parser.add_argument("--out", default=str(RESULTS / "psnr"))
    args = parser.parse_args()
    need_shared()
    model_path = Path(args.model) if args.model else default_weights_path("colorizer")
    model = load_model(args.model)
    tag = _file_hash(model_path)
    settings = {k: v for k, v in SETTINGS.items() if v["semantic"] is False or model.fcn is not None}
    if not model.clusters:
        settings = {k: v for k, v in settings.items() if not v["clusters"]}
    log = RowLog(RESULTS / "psnr_rows.jsonl", fresh=args.fresh)

    per_set: dict[str, list[dict]] = {}
    for set_name, manifest in SETS.items():
        paths = expand_inputs([str(SPLITS / manifest)])
        if args.limit:
            paths = paths[: args.limit]
        key = lambda p: f"{tag}:{set_name}:{p.name}"  # noqa: E731

        def record(path, rows):
            log.add(key(path), {"set": set_name, "image": path.name, "rows": rows})

        evaluate_paths(paths, model, settings=settings, on_image=record, skip=lambda p: key(p) in log, progress=True)
        per_set[set_name] = [log.rows[key(p)] for p in paths if key(p) in log]

    lines = [
        "# PSNR distribution (8-bit RGB, peak 255, native resolution)",
        "",
        f"Model: `{model_path.name}` (sha1 {tag}). Command: `python benchmarks/bench_psnr.py`.",
        "Gain = median over images of (PSNR - gray-baseline PSNR) of the same image.",
        "",
        "| set | setting | n | median PSNR | Q1 | Q3 | median gain | colorfulness ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    figure_data = {}
    for set_name, items in per_set.items():
        groups = {set_name: items}
        if set_name.startswith("CamVid"):
            for seq in ("0001TP", "Seq05VD"):
                groups[f"{set_name} {seq}"] = [r for r in items if r["image"].startswith(seq)]
        for group, rows in groups.items():
            if not rows:
                continue
            summaries = {name: summarize_rows([r["rows"][name] for r in rows]) for name in settings}
            first = next(iter(summaries.values()))
            lines.append(
                f"| {group} | gray baseline | {first['n']} | {first['gray_psnr_median']:.2f} | {first['gray_psnr_q1']:.2f} | "
                f"{first['gray_psnr_q3']:.2f} | +0.00 | 0 |"
            )
            for name, m in summaries.items():
                lines.append(
                    f"| {group} | {name} | {m['n']} | {m['psnr_median']:.2f} | {m['psnr_q1']:.2f} | {m['psnr_q3']:.2f} | "
                    f"{m['gain_median']:+.2f} | {m['colorfulness_ratio']:.2f} |"
                )
        figure_data[set_name] = {
            "gray baseline": [r["rows"][next(iter(settings))]["gray_psnr"] for r in items],
            **{name: [r["rows"][name]["psnr"] for r in items] for name in settings},
        }
    out = Path(args.out)
    write_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")
    _plot(figure_data, out.with_suffix(".png"))
    print("\n".join(lines))
    return 0


def _plot(data: dict[str, dict[str, list[float]]], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(6 * len(data), 4), squeeze=False)
    for ax, (set_name, series) in zip(axes[0], data.items()):
        finite = np.concatenate([np.asarray(v)[np.isfinite(v)] for v in series.values() if len(v)])
        bins = np.linspace(np.floor(finite.min()), np.ceil(finite.max()), 40)
        for name, values in series.items():
            if name in ("gray baseline", "full, no refine", "full", "no clusters", "no semantic"):
                ax.hist(np.asarray(values)[np.isfinite(values)], bins=bins, histtype="step", label=name, linewidth=1.5)
        ax.set_title(f"{set_name} (n = {len(next(iter(series.values())))})")
        ax.set_xlabel("PSNR (dB)")
        ax.set_ylabel("images")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
