"""What the per-MLP chroma-gain calibration does on the report sets (CamVid test by sequence, BSDS500 val).

The shipped model with and without its calibrated gains, and with a global
chroma gain of 0.5 (how far Seq05VD, a nearly gray unseen sequence, is from
gray), full pipeline with refinement.

    python benchmarks/bench_calibration.py [--limit N]

Writes ``benchmarks/results/calibration.md``.
"""

from __future__ import annotations

import argparse


from _common import RESULTS, SPLITS, write_atomic


def main() -> int:
    from deepcolor.evaluation import evaluate_paths, summarize_rows
    from deepcolor.io.paths import expand_inputs
    from deepcolor.pipeline import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    calibrated = load_model()
    uncalibrated = load_model(calibrated.path)
    uncalibrated.global_scale = {}
    for head in uncalibrated.clusters:
        head.chroma_scale = {}
    halved = load_model(calibrated.path)
    halved.global_scale = {k: 0.5 * v for k, v in halved.global_scale.items()}
    for head in halved.clusters:
        head.chroma_scale = {k: 0.5 * v for k, v in head.chroma_scale.items()}
    full = {"full": {"semantic": True, "clusters": True}}
    lines = [
        "# Chroma-gain calibration on the report sets (full pipeline, refined)",
        "",
        "Median per-image gain over gray (dB); colorfulness ratio in brackets.",
        "",
        "| set | n | uncalibrated | calibrated (shipped) | calibrated x 0.5 |",
        "|---|---|---|---|---|",
    ]
    for set_name, manifest in (("CamVid test", "camvid_test.txt"), ("BSDS500 val", "bsds500_val.txt")):
        paths = expand_inputs([str(SPLITS / manifest)])
        if args.limit:
            paths = paths[: args.limit]
        results = {}
        for name, model in (("uncalibrated", uncalibrated), ("calibrated", calibrated), ("halved", halved)):
            rows, _ = evaluate_paths(paths, model, settings=full)
            results[name] = rows["full"]
        groups = {set_name: lambda r: True}
        if set_name.startswith("CamVid"):
            groups.update({f"{set_name} 0001TP": lambda r: "0001TP" in r["image"], f"{set_name} Seq05VD": lambda r: "Seq05VD" in r["image"]})
        for group, keep in groups.items():
            cells = []
            if not any(keep(r) for r in results["calibrated"]):
                continue
            for name in ("uncalibrated", "calibrated", "halved"):
                m = summarize_rows([r for r in results[name] if keep(r)])
                cells.append(f"{m['gain_median']:+.2f} ({m['colorfulness_ratio']:.2f})")
            lines.append(f"| {group} | {m['n']} | " + " | ".join(cells) + " |")
    write_atomic(RESULTS / "calibration.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
