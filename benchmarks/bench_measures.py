"""Measures beyond PSNR for gray and both shipped methods, on the report sets, in one run.

Per set (``photos_test``, ``bsds500_val``, optionally ``camvid_test``) and per method (gray,
Cheng refined, global-prior CNN refined, as `colorize` runs them): the median per-image PSNR
gain over gray, the colorfulness ratio (median colorfulness of the results / of the
originals), the Frechet distance between the EfficientNet-Lite0 pooled features of the
originals and of the results (FID's recipe; gray is the baseline to beat), and Zhang et al.'s
semantic interpretability: the ImageNet classifier's top-1 accuracy on the photos that carry an
ImageNet class (the ``imagenet_sample`` photos of ``photos_test``) and, on every set, how often
the result's top-1 class agrees with the original's.

The measuring network is the same EfficientNet-Lite0 that new models use as their encoder, so a
model built on it may be favoured by these measures: the gallery stays the judge of last resort.

    python benchmarks/bench_measures.py [--sets photos_test bsds500_val camvid_test] [--limit N] [--fresh]

Writes ``benchmarks/results/measures.md`` and ``measures_summary.json``. Finished images (with
their 4 x 1280 features) are logged to ``--rows`` (default ``benchmarks/results/measures_rows.work/``,
not committed) so a re-run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, SPLITS, RowLog, need_shared, protocol_images, write_atomic

SETS = {"photos_test": "photos test", "bsds500_val": "BSDS500 val", "camvid_test": "CamVid test"}
VERSIONS = ("original", "gray", "cheng", "global-prior")
CLASSES = SPLITS.parent / "imagenet_classes.txt"


def imagenet_label(path: Path, index: dict[str, int]) -> int | None:
    """The ImageNet class of an ``imagenet_sample`` photo (from its wnid), else None."""
    if path.parent.name != "imagenet_sample":
        return None
    return index.get(path.name.split("_")[0])


def _manifest(name: str, limit: int | None) -> list[Path]:
    listing = SPLITS / f"{name}.txt"
    paths = [(listing.parent / s.strip()).resolve() for s in listing.read_text().splitlines() if s.strip()]
    if limit and len(paths) > limit:
        paths = paths[:: int(np.ceil(len(paths) / limit))]  # evenly spread, every folder represented
    return paths


def _measure_set(name: str, paths: list[Path], methods, encoder, index: dict[str, int], log: RowLog) -> list[dict]:
    from tqdm.auto import tqdm

    from deepcolor.features.encoder import imagenet_feature_and_class
    from deepcolor.metrics import colorfulness, psnr

    rows = []
    for path in tqdm(paths, desc=name, unit="img"):
        key = f"{methods.tags['cheng']}:{methods.tags['global-prior']}:{name}:{path.name}"
        if key not in log:
            images = protocol_images(path)
            if images is None:
                continue
            original, luma, gray, gray_psnr = images
            images = {"original": original, "gray": gray,
                      "cheng": methods.run(luma, "cheng")["cheng"][0],
                      "global-prior": methods.run(luma, "global-prior")["global-prior"][0]}
            row = {"set": name, "image": str(path), "label": imagenet_label(path, index)}
            for version, rgb in images.items():
                feature, top1 = imagenet_feature_and_class(encoder, rgb)
                row[version] = {"gain": psnr(rgb, original) - gray_psnr if version != "original" else None,
                                "colorfulness": colorfulness(rgb), "top1": top1,
                                "feature": np.round(feature, 5).tolist()}
            log.add(key, row)
        rows.append(log.rows[key])
    return rows


def _summary(rows: list[dict]) -> dict:
    from deepcolor.metrics import frechet_distance, top1_accuracy, top1_agreement

    originals = np.array([r["original"]["feature"] for r in rows])
    reference = np.array([r["original"]["top1"] for r in rows])
    labelled = [r for r in rows if r["label"] is not None]
    labels = np.array([r["label"] for r in labelled])
    co = np.median([r["original"]["colorfulness"] for r in rows])
    out = {"n": len(rows), "n_labelled": len(labelled)}
    for v in VERSIONS:
        s = {"accuracy": top1_accuracy(np.array([r[v]["top1"] for r in labelled]), labels) if labelled else None}
        if v != "original":
            s["gain"] = float(np.median([r[v]["gain"] for r in rows]))
            s["colorfulness_ratio"] = float(np.median([r[v]["colorfulness"] for r in rows]) / co)
            s["frechet"] = frechet_distance(originals, np.array([r[v]["feature"] for r in rows]))
            s["agreement"] = top1_agreement(np.array([r[v]["top1"] for r in rows]), reference)
        out[v] = s
    return out


def _table(summaries: dict[str, dict], limit: int | None, seconds: float) -> str:
    pct = lambda x: "-" if x is None else f"{100 * x:.0f}%"  # noqa: E731
    lines = [
        "# Measures beyond PSNR: gray vs the shipped models (report sets)",
        "",
        "Written by `python benchmarks/bench_measures.py" + (f" --limit {limit}`" if limit else "`")
        + f" ({seconds / 60:.0f} min on the shared 2-core CPU). README protocol (8-bit rounded BT.601 luma in,",
        "8-bit RGB out with the luma kept); Cheng and global prior (GP) = the shipped models, refined, as `colorize` runs them.",
        "Gain: median per-image PSNR gain over gray. Colorfulness: median of the results / median of the originals.",
        "Frechet: FID's recipe on the pooled 1280-d EfficientNet-Lite0 features (224 x 224 centre crop) of the",
        "originals vs the results (lower is closer; only comparable within a row, the value depends on n).",
        "Accuracy: the ImageNet classifier's top-1 on the photos with an ImageNet class (`imagenet_sample`),",
        "agreement: how often its top-1 on the result is its top-1 on the original.",
        "",
        "**The measuring network is also the encoder** of the encoder-based models (`deepcolor/features/encoder.py`):",
        "those models may be favoured by the Frechet distance and the classifier measures; the gallery is the judge of last resort.",
        "",
        "| set | n | method | gain | colorfulness | Frechet | top-1 agreement | top-1 accuracy (n) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        acc_n = f" ({s['n_labelled']})" if s["n_labelled"] else ""
        lines.append(f"| {SETS[name]} | {s['n']} | original | | 1.00 | 0 | 100% | {pct(s['original']['accuracy'])}{acc_n} |")
        for v, label in (("gray", "gray"), ("cheng", "Cheng"), ("global-prior", "GP")):
            m = s[v]
            lines.append(f"| | | {label} | {m['gain']:+.2f} | {m['colorfulness_ratio']:.2f} | {m['frechet']:.1f} | "
                         f"{pct(m['agreement'])} | {pct(m['accuracy'])}{acc_n} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from deepcolor.features.encoder import load_pretrained_encoder
    from deepcolor.modelfile import default_weights_path

    from bench_methods import _Methods

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["photos_test", "bsds500_val"], choices=list(SETS))
    parser.add_argument("--model", default=str(default_weights_path("colorizer")))
    parser.add_argument("--global-prior", default=str(default_weights_path("global_prior")))
    parser.add_argument("--limit", type=int, default=None, help="at most N images a set, evenly spread")
    parser.add_argument("--rows", default=str(RESULTS / "measures_rows.work" / "rows.jsonl"))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    need_shared()
    t0 = time.perf_counter()
    methods = _Methods(Path(args.model), Path(args.global_prior))
    encoder = load_pretrained_encoder()
    index = {line.split()[0]: int(line.split()[1]) for line in CLASSES.read_text().splitlines() if not line.startswith("#")}
    log = RowLog(Path(args.rows), fresh=args.fresh)
    summaries = {}
    for name in args.sets:
        rows = _measure_set(name, _manifest(name, args.limit), methods, encoder, index, log)
        summaries[name] = _summary(rows)
        write_atomic(RESULTS / "measures.md", _table(summaries, args.limit, time.perf_counter() - t0))
        write_atomic(RESULTS / "measures_summary.json", json.dumps(summaries, indent=1) + "\n")
    print((RESULTS / "measures.md").read_text())


if __name__ == "__main__":
    main()
