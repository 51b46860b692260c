"""Cheng pipeline vs global-prior CNN vs gray baseline, side by side, in one run.

On the three report sets (CamVid ``test``, BSDS500 ``val``, the photo report
set; never trained or selected on), per image and under the README's
evaluation protocol: PSNR and gain over gray of the shipped Cheng model (with
refinement, as `colorize` runs it), of the global-prior CNN without and with
the same joint bilateral refinement, colorfulness, and the CNN's scene class
against the image's label (the real label, or for a gist pseudo-class model
the nearest gist centre). Also apply time at 256^2 and 1024^2 (median of
``--repeats``, both methods in this process, with their ratio), a PSNR-gain
distribution plot and a gallery of a dozen report images:
gray | Cheng | global prior | original, with each one's PSNR.

    python benchmarks/bench_methods.py [--global-prior M] [--model M] [--limit N] [--fresh]

Writes ``benchmarks/results/methods.md``, ``methods_psnr.png``,
``methods_gallery.png``; finished images are logged to ``methods_rows.jsonl``
so a re-run resumes (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, draw_panels, SPLITS, RowLog, need_shared, protocol_images, write_atomic

SETS = {"CamVid test": "camvid_test.txt", "BSDS500 val": "bsds500_val.txt", "photos test": "photos_test.txt"}
METHODS = ("cheng", "global-prior, no refine", "global-prior")
GALLERY_PER_SET = 4


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


class _Methods:
    """The two models and how each turns a luma into protocol 8-bit RGB."""

    def __init__(self, cheng_path: Path, gp_path: Path) -> None:
        from deepcolor.pipeline import load_model

        self.cheng = load_model(cheng_path, method="cheng")
        self.gp = load_model(gp_path, method="global-prior")
        self.gist_centres = self.gp.label_tensors.get("labels.gist_centres")
        # A row is tagged by the file that produced it, so each method's rows resume on their own.
        self.tags = {"cheng": _file_hash(cheng_path), "global-prior": _file_hash(gp_path)}

    def run(self, luma: np.ndarray, method: str) -> dict[str, tuple[np.ndarray, float, str | None]]:
        """``{variant: (rgb uint8, seconds, cluster or scene)}`` for "cheng" or "global-prior" (with and without refinement)."""
        from deepcolor.evaluation import result_rgb8
        from deepcolor.pipeline import colorize_luma
        from deepcolor.refine import refine_chroma

        t0 = time.perf_counter()
        if method == "cheng":
            result = colorize_luma(luma, self.cheng)
            return {"cheng": (result_rgb8(luma, result.chroma), time.perf_counter() - t0, result.info.get("cluster"))}
        # The CNN runs whole (no tiles), so its refined result is the raw one refined: one forward pass for both.
        raw = colorize_luma(luma, self.gp, refine=False)
        t1 = time.perf_counter()
        refined = refine_chroma(luma, raw.chroma)
        t2 = time.perf_counter()
        scene = raw.info["scene"]
        return {"global-prior, no refine": (result_rgb8(luma, raw.chroma), t1 - t0, scene),
                "global-prior": (result_rgb8(luma, refined), t2 - t0, scene)}

    def true_scene(self, path: Path, luma: np.ndarray) -> str | None:
        """The class the CNN should name: the path's real label, or the gist pseudo-class."""
        if self.gp.config.get("labels") == "gist" and self.gist_centres is not None:
            from deepcolor.gist import gist_descriptor

            g = gist_descriptor(luma)
            return self.gp.classes[int(((self.gist_centres - g) ** 2).sum(1).argmin())]
        if self.gp.config.get("labels") == "real":
            from deepcolor.train.global_prior import scene_label

            label = scene_label(path)
            return label if label in self.gp.classes else None
        return None


def _evaluate_set(name: str, paths: list[Path], methods: _Methods, log: RowLog, which: list[str]) -> list[dict]:
    """Per image: gray PSNR, colorfulness and each method's PSNR, gain, colorfulness, time, cluster/scene."""
    from tqdm.auto import tqdm

    from deepcolor.metrics import colorfulness, psnr

    rows = []
    for path in tqdm(paths, desc=name, unit="img"):
        keys = {m: f"{m}:{methods.tags[m]}:{name}:{path.name}" for m in which}
        todo = [m for m in which if keys[m] not in log]
        if todo:
            images = protocol_images(path)
            if images is None:
                continue
            original, luma, gray, gray_psnr = images
            for m in todo:
                row = {"set": name, "image": str(path), "gray_psnr": gray_psnr, "colorfulness_original": colorfulness(original)}
                if m == "global-prior":
                    row["true_scene"] = methods.true_scene(path, luma)
                for variant, (rgb, seconds, source) in methods.run(luma, m).items():
                    value = psnr(rgb, original)
                    row[variant] = {"psnr": value, "gain": value - gray_psnr, "colorfulness": colorfulness(rgb),
                                    "seconds": seconds, "source": source}
                log.add(keys[m], row)
        merged: dict = {}
        for m in which:
            merged.update(log.rows[keys[m]])
        rows.append(merged)
    return rows


def _summary(rows: list[dict]) -> dict:
    from deepcolor.metrics import summarize

    co = np.median([r["colorfulness_original"] for r in rows])
    s = {"n": len(rows), "gray": summarize([r["gray_psnr"] for r in rows])}
    for m in METHODS:
        s[m] = {
            "psnr": summarize([r[m]["psnr"] for r in rows]),
            "gain": summarize([r[m]["gain"] for r in rows]),
            "colorfulness_ratio": float(np.median([r[m]["colorfulness"] for r in rows]) / co),
            "wins_over_cheng": float(np.mean([r[m]["psnr"] > r["cheng"]["psnr"] for r in rows])),
        }
    scored = [r for r in rows if r["true_scene"] is not None]
    s["scene_accuracy"] = float(np.mean([r["global-prior"]["source"] == r["true_scene"] for r in scored])) if scored else None
    s["scene_n"] = len(scored)
    return s


def _timing(methods: _Methods, sizes: list[int], repeats: int) -> dict[int, dict[str, float]]:
    import cv2

    from deepcolor.train.global_prior import read_colour
    from deepcolor.evaluation import gray_version

    source = sorted((SPLITS.parent.parent.parent / "shared" / "data" / "bsds500" / "images" / "val").glob("*.jpg"))[0]
    base = gray_version(read_colour(source))[0]
    for m in ("cheng", "global-prior"):
        methods.run(cv2.resize(base, (64, 64)), m)  # compile and warm up
    out = {}
    for size in sizes:
        luma = np.clip(cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)
        times = {m: [] for m in ("cheng", "global-prior")}
        for _ in range(repeats):
            for m in times:
                times[m].append(methods.run(luma, m)[m][1])
        out[size] = {m: float(np.median(v)) for m, v in times.items()}
    return out


def _plot(per_set: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(per_set), figsize=(5 * len(per_set), 3.8))
    for ax, (name, rows) in zip(np.atleast_1d(axes), per_set.items()):
        data = [[r[m]["gain"] for r in rows] for m in ("cheng", "global-prior")]
        lo, hi = np.percentile(np.concatenate(data), [1, 99])
        bins = np.linspace(lo, hi, 40)
        for d, label in zip(data, ("Cheng", "global prior")):
            ax.hist(d, bins=bins, alpha=0.55, label=f"{label} (median {np.median(d):+.2f})")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"{name} (n={len(rows)})")
        ax.set_xlabel("PSNR gain over gray (dB)")
        ax.legend(fontsize=8)
    axes_list = np.atleast_1d(axes)
    axes_list[0].set_ylabel("images")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _gallery(per_set: dict[str, list[dict]], methods: _Methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepcolor.evaluation import gray_version
    from deepcolor.metrics import psnr
    from deepcolor.train.global_prior import read_colour

    picks = []
    for rows in per_set.values():  # evenly spread over each set: no cherry-picking
        picks += [rows[i] for i in np.linspace(0, len(rows) - 1, GALLERY_PER_SET + 2).round().astype(int)[1:-1]]
    fig, axes = plt.subplots(len(picks), 4, figsize=(12, 2.5 * len(picks)))
    for row_axes, row in zip(axes, picks):
        original = read_colour(Path(row["image"]))
        luma, gray = gray_version(original)
        results = {**methods.run(luma, "cheng"), **methods.run(luma, "global-prior")}
        panels = [(gray, f"gray {psnr(gray, original):.1f} dB"), (results["cheng"][0], f"Cheng {psnr(results['cheng'][0], original):.1f} dB"),
                  (results["global-prior"][0], f"global prior {psnr(results['global-prior'][0], original):.1f} dB ({results['global-prior'][2]})"),
                  (original, Path(row["image"]).name[:28])]
        draw_panels(row_axes, panels, side=320, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _table(summaries: dict[str, dict], timing: dict[int, dict[str, float]], gp_config: dict) -> str:
    lines = [
        "# Cheng pipeline vs global-prior CNN vs gray (report sets)",
        "",
        "Written by `python benchmarks/bench_methods.py`. README protocol: 8-bit rounded BT.601 luma as input, result rounded to",
        "8-bit RGB with the luma kept; gains are medians of per-image gains over gray; colorfulness ratio = median colorfulness of",
        "the results / median of the originals. Cheng = the shipped model with refinement; global prior = the shipped CNN",
        f"(width {gp_config.get('width')}, labels {gp_config.get('labels')}), with the same joint bilateral refinement unless 'no refine'.",
        "",
        "| set | n | gray PSNR | Cheng PSNR | Cheng gain [q1, q3] | GP PSNR | GP gain [q1, q3] | GP no refine gain | colorfulness Cheng / GP | GP beats Cheng on | scene acc. |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        c, g, gn = s["cheng"], s["global-prior"], s["global-prior, no refine"]
        acc = "-" if s["scene_accuracy"] is None else f"{100 * s['scene_accuracy']:.0f}% (n={s['scene_n']})"
        lines.append(
            f"| {name} | {s['n']} | {s['gray']['median']:.2f} | {c['psnr']['median']:.2f} | {c['gain']['median']:+.2f} "
            f"[{c['gain']['q1']:+.2f}, {c['gain']['q3']:+.2f}] | {g['psnr']['median']:.2f} | **{g['gain']['median']:+.2f}** "
            f"[{g['gain']['q1']:+.2f}, {g['gain']['q3']:+.2f}] | {gn['gain']['median']:+.2f} | "
            f"{c['colorfulness_ratio']:.2f} / {g['colorfulness_ratio']:.2f} | {100 * g['wins_over_cheng']:.0f}% | {acc} |"
        )
    lines += ["", "Apply time (one real photo resized, median of repeats, same process; Cheng = whole `colorize_luma`;",
              "GP = network + refinement):", "", "| size | Cheng | global prior | ratio GP / Cheng |", "|---|---|---|---|"]
    for size, t in timing.items():
        lines.append(f"| {size}^2 | {t['cheng']:.2f} s | {t['global-prior']:.2f} s | {t['global-prior'] / t['cheng']:.2f} |")
    lines += ["", "Plot: `methods_psnr.png`; gallery (4 images a set, evenly spread): `methods_gallery.png`.", ""]
    return "\n".join(lines)


def main() -> int:
    from deepcolor.io.paths import expand_inputs
    from deepcolor.modelfile import default_weights_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Cheng model file (default: shipped)")
    parser.add_argument("--global-prior", default=None, help="global-prior model file (default: shipped)")
    parser.add_argument("--methods", nargs="+", choices=("cheng", "global-prior"), default=["cheng", "global-prior"],
                        help="compute only these methods' rows (the report needs both; rows resume per method)")
    parser.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "methods"))
    args = parser.parse_args()
    need_shared()
    import torch

    torch.set_num_threads(args.threads)
    gp_path = Path(args.global_prior) if args.global_prior else default_weights_path("global_prior")
    cheng_path = Path(args.model) if args.model else default_weights_path("colorizer")
    methods = _Methods(cheng_path, gp_path)
    log = RowLog(RESULTS / "methods_rows.jsonl", fresh=args.fresh)
    per_set = {}
    for name, manifest in SETS.items():
        paths = expand_inputs([str(SPLITS / manifest)])
        if args.limit:
            paths = paths[: args.limit]
        per_set[name] = _evaluate_set(name, paths, methods, log, args.methods)
    if set(args.methods) != {"cheng", "global-prior"}:
        print(f"rows of {', '.join(args.methods)} logged; run with both methods for the report")
        return 0
    summaries = {name: _summary(rows) for name, rows in per_set.items()}
    timing = _timing(methods, args.sizes, args.repeats)
    out = Path(args.out)
    write_atomic(out.with_suffix(".md"), _table(summaries, timing, methods.gp.config))
    write_atomic(out.with_name(out.name + "_summary.json"), json.dumps({"sets": summaries, "timing": timing}, indent=1))
    _plot(per_set, out.with_name(out.name + "_psnr.png"))
    _gallery(per_set, methods, out.with_name(out.name + "_gallery.png"))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
