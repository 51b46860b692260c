"""PSNR distributions of gray, the global model and the cluster ensemble (Cheng et al. Fig. 8 redone).

On the three report sets (CamVid ``test``, BSDS500 ``val``, the photo report
set; never trained or selected on), in one run, per image: the gray baseline,
the full model (cluster ensemble, refined) and ``--no-clusters`` (the global
MLP, refined); ``--ablations`` adds the model without refinement and without
semantics. Writes a markdown table per report set and per source (CamVid by
sequence, photos by folder and SUN scene), and the PSNR histograms of gray,
global model and ensemble, one panel per report set (PNG).

    python benchmarks/bench_psnr.py [--model M] [--sets S...] [--limit N] [--ablations] [--fresh]

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
    "full": {"semantic": True, "clusters": True, "refine": True},
    "no clusters": {"semantic": True, "clusters": False, "refine": True},
}
ABLATIONS = {
    "full, no refine": {"semantic": True, "clusters": True, "refine": False},
    "no semantic": {"semantic": False, "clusters": True, "refine": True},
}
SETS = {"CamVid test": "camvid_test.txt", "BSDS500 val": "bsds500_val.txt", "photos test": "photos_test.txt"}


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def source_of(set_name: str, image: str) -> str:
    """The source group of a report image: CamVid sequence, photo folder (SUN: its scene), or the set."""
    parts = Path(image).parts
    if set_name.startswith("CamVid"):
        return "CamVid " + Path(image).name.split("_")[0]
    if "photos" in parts:
        rest = parts[parts.index("photos") + 1 : -1]
        return "photos " + "/".join(rest)
    return set_name


def main() -> int:
    from deepcolor.evaluation import evaluate_paths, summarize_rows
    from deepcolor.io.paths import expand_inputs
    from deepcolor.modelfile import default_weights_path
    from deepcolor.pipeline import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    parser.add_argument("--ablations", action="store_true", help="also without refinement and without semantics")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS), help="report sets (default: all)")
    parser.add_argument("--fresh", action="store_true", help="ignore finished rows from an earlier run")
    parser.add_argument("--out", default=str(RESULTS / "psnr"))
    args = parser.parse_args()
    need_shared()
    model_path = Path(args.model) if args.model else default_weights_path("colorizer")
    model = load_model(args.model)
    tag = _file_hash(model_path)
    settings = dict(SETTINGS, **(ABLATIONS if args.ablations else {}))
    settings = {k: v for k, v in settings.items() if (v["semantic"] or "plain" in model.global_regressors) and (v["clusters"] is False or model.clusters)}
    log = RowLog(RESULTS / "psnr_rows.jsonl", fresh=args.fresh)

    per_set: dict[str, list[dict]] = {}
    for set_name in args.sets:
        manifest = SETS[set_name]
        paths = expand_inputs([str(SPLITS / manifest)])
        if args.limit:
            paths = paths[: args.limit]
        key = lambda p: f"{tag}:{set_name}:{p.name}"  # noqa: E731

        def record(path, rows):
            log.add(key(path), {"set": set_name, "image": str(path), "rows": rows})

        todo = {name: s for name, s in settings.items()}
        skip = lambda p: key(p) in log and all(n in log.rows[key(p)]["rows"] for n in todo)  # noqa: E731
        evaluate_paths(paths, model, settings=todo, on_image=record, skip=skip, progress=True)
        per_set[set_name] = [log.rows[key(p)] for p in paths if key(p) in log]

    head = "| {} | n | gray PSNR | full PSNR | gain | no clusters gain | full - no clusters | colorfulness full | colorfulness no clusters |"
    rule = "|---|---|---|---|---|---|---|---|---|"
    lines = [
        "# PSNR of the Cheng colorizer on the report sets (8-bit RGB, peak 255, native resolution)",
        "",
        f"Model: `{model_path.name}` (sha1 {tag}). Command: `python benchmarks/bench_psnr.py`.",
        "Medians over images; gain = median of per-image (PSNR - gray PSNR); full - no clusters = median of the",
        "per-image difference between the cluster ensemble and the global MLP; colorfulness = ratio of medians",
        "(result / original, Hasler & Suesstrunk).",
        "",
        head.format("set"),
        rule,
    ]
    groups_by_source: dict[str, list[dict]] = {}
    figure_data = {}
    for set_name, items in per_set.items():
        lines.append(_row(set_name, items, summarize_rows))
        for r in items:
            groups_by_source.setdefault(source_of(set_name, r["image"]), []).append(r)
        figure_data[set_name] = {
            "gray": [r["rows"]["full"]["gray_psnr"] for r in items],
            "global model (no clusters)": [r["rows"]["no clusters"]["psnr"] for r in items if "no clusters" in r["rows"]],
            "cluster ensemble (full)": [r["rows"]["full"]["psnr"] for r in items],
        }
    lines += ["", "## Per source", "", head.format("source"), rule]
    lines += [_row(name, groups_by_source[name], summarize_rows) for name in sorted(groups_by_source)]
    extra = [n for n in settings if n not in SETTINGS]
    if extra:
        lines += ["", "## Ablations (median gain)", "", "| set | " + " | ".join(extra) + " |", "|---" * (len(extra) + 1) + "|"]
        for set_name, items in per_set.items():
            cells = [f"{summarize_rows([r['rows'][n] for r in items if n in r['rows']]).get('gain_median', float('nan')):+.2f}" for n in extra]
            lines.append(f"| {set_name} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    write_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")
    _plot(figure_data, out.with_suffix(".png"))
    print("\n".join(lines))
    return 0


def _row(name: str, items: list[dict], summarize_rows) -> str:
    full = summarize_rows([r["rows"]["full"] for r in items])
    flat = summarize_rows([r["rows"]["no clusters"] for r in items if "no clusters" in r["rows"]])
    both = [r["rows"] for r in items if "no clusters" in r["rows"]]
    diff = float(np.median([b["full"]["psnr"] - b["no clusters"]["psnr"] for b in both])) if both else float("nan")
    return (
        f"| {name} | {full['n']} | {full['gray_psnr_median']:.2f} | {full['psnr_median']:.2f} | **{full['gain_median']:+.2f}** | "
        f"{flat.get('gain_median', float('nan')):+.2f} | {diff:+.2f} | {full['colorfulness_ratio']:.2f} | {flat.get('colorfulness_ratio', float('nan')):.2f} |"
    )


def _plot(data: dict[str, dict[str, list[float]]], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4), squeeze=False)
    for ax, (set_name, series) in zip(axes[0], data.items()):
        finite = np.concatenate([np.asarray(v)[np.isfinite(v)] for v in series.values() if len(v)])
        bins = np.linspace(np.floor(finite.min()), np.ceil(finite.max()), 40)
        for (name, values), colour in zip(series.items(), ("0.5", "tab:blue", "tab:red")):
            values = np.asarray(values)[np.isfinite(values)]
            ax.hist(values, bins=bins, histtype="step", label=f"{name}, median {np.median(values):.2f} dB", linewidth=1.6, color=colour)
        ax.set_title(f"{set_name} (n = {len(series['gray'])})")
        ax.set_xlabel("PSNR (dB)")
        ax.set_ylabel("images")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
