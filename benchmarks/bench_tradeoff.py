"""Vivid against right: every method and vividness setting, measured beyond PSNR (issues 17 and 18).

For gray, Cheng's model, the global-prior CNN at each vividness setting (``--vividness``; a model
without the option runs at V = 0 only) and, for each V > 0, a plain saturation gain of the V = 0
(regression) output at the same colorfulness: per report image (README protocol, refined, as
`colorize` runs them) the PSNR gain over gray, the colorfulness, Zhang et al.'s AuC of the
per-pixel chroma error (`deepcolor.metrics.chroma_auc`), the EfficientNet-Lite0 pooled feature
and top-1 class; per set the medians, the colorfulness ratio, the Frechet distance to the
originals, the top-1 accuracy (photos with an ImageNet class) and agreement with the original.

Saturation calibration (never on a report set): on ``--calibrate-set`` (default ``select``, at
most ``--calibrate-limit`` images, evenly spread) the median colorfulness ratio of each V is
measured, and of the regression output scaled by each s on a grid of 0.05 from 1 to 4; the s for
V is where the grid's ratio curve crosses V's ratio (linear interpolation between grid points).

The measuring network is also the encoder of the encoder-based models: those may be favoured.

    python benchmarks/bench_tradeoff.py --name before --cheng-model /work/old_weights/colorizer.safetensors \
        --model-file /work/old_weights/global_prior.safetensors [--sets ...] [--methods gray cheng global-prior]

Rows are cached per image in ``--rows`` (``benchmarks/results/tradeoff_rows.work/rows.jsonl``, with
features, not committed), keyed by the model file's hash and the setting, so re-runs and runs with
other models (``PYTHONPATH`` of the tree that reads them) add only what is missing; a model is
loaded only if a row needs it. Writes ``benchmarks/results/tradeoff_NAME.md``, ``_summary.json``,
``_per_image.jsonl`` (no features), ``_plot.png`` and ``_gallery.png``.
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

SETS = {"photos_test": "photos test", "bsds500_val": "BSDS500 val", "camvid_test": "CamVid test"}
CLASSES = SPLITS.parent / "imagenet_classes.txt"
SAT_GRID = np.round(np.arange(1.0, 4.0001, 0.05), 2)


INFERENCE_CONFIG = ("architecture", "bins", "classes", "global_size", "vividness_mode", "vividness_saturation_max", "weights_dtype",
                    "working_size")


def file_tag(path: Path) -> str:
    """What a row was computed with: the file's hash, or for a file with a vividness default (rows are taken at
    explicit V) the hash of its tensors and the config entries inference reads, so that choosing the default, or
    adding the model card, does not void the cached rows."""
    from deepcolor.modelfile import load_model_file

    tensors, config = load_model_file(path)
    if "vividness_default" not in config:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]
    h = hashlib.sha1(json.dumps({k: config.get(k) for k in INFERENCE_CONFIG}, sort_keys=True).encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return "t" + h.hexdigest()[:11]


def manifest(name: str, limit: int | None) -> list[Path]:
    from deepcolor.io.paths import expand_inputs

    paths = expand_inputs([str(SPLITS / f"{name}.txt")])
    if limit and len(paths) > limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]  # evenly spread
    return paths


class Models:
    """The models, loaded on first use, and the measuring network."""

    def __init__(self, cheng_file: Path, gp_file: Path) -> None:
        self.files = {"cheng": cheng_file, "global-prior": gp_file}
        self.tags = {m: file_tag(p) for m, p in self.files.items()}
        self.loaded: dict = {}

    def get(self, method: str):
        if method not in self.loaded:
            from deepcolor.pipeline import load_model

            self.loaded[method] = load_model(self.files[method], method=method)
        return self.loaded[method]

    def encoder(self):
        if "encoder" not in self.loaded:
            from deepcolor.features.encoder import load_pretrained_encoder

            self.loaded["encoder"] = load_pretrained_encoder()
        return self.loaded["encoder"]

    def vividness_default(self) -> float | None:
        """The global-prior model's default vividness (its file's ``vividness_default``, else the option's),
        or None when it has no such option or refuses V = 1 (a file without a class head: V = 0 only)."""
        if "vividness_default" not in self.loaded:
            from deepcolor.pipeline import colorize_luma

            model = self.get("global-prior")
            option = next((o for o in getattr(model, "options", ()) if o.name == "vividness"), None)
            default = None
            if option is not None:
                try:  # a probe: the option may be declared by the class but refused by this file
                    colorize_luma(np.full((32, 32), 0.5, np.float32), model, vividness=1.0)
                    default = float(getattr(model, "config", {}).get("vividness_default", option.default))
                except ValueError:
                    default = None
            self.loaded["vividness_default"] = default
        return self.loaded["vividness_default"]


def chroma_of(models: Models, luma: np.ndarray, method: str, vividness: float | None) -> np.ndarray:
    """Refined (H, W, 2) chroma of a method; ``vividness`` None = the model's plain call."""
    from deepcolor.pipeline import colorize_luma

    options = {} if vividness is None else {"vividness": vividness}
    return colorize_luma(luma, models.get(method), **options).chroma


def measures(models: Models, rgb: np.ndarray, original: np.ndarray, gray_psnr: float) -> dict:
    """One version's per-image figures: gain, colorfulness, AuC, top-1 class and pooled feature."""
    from deepcolor.features.encoder import imagenet_feature_and_class
    from deepcolor.metrics import chroma_auc, colorfulness, psnr

    feature, top1 = imagenet_feature_and_class(models.encoder(), rgb)
    return {"gain": psnr(rgb, original) - gray_psnr, "colorfulness": colorfulness(rgb), "auc": chroma_auc(rgb, original),
            "top1": top1, "feature": np.round(feature, 4).tolist()}


def settings_for(models: Models, methods: list[str], vividness: list[float], saturations: dict[float, float]) -> list[dict]:
    """The versions measured: ``{"name", "method", "vividness", "saturation", "key"}`` each."""
    out = []
    if "gray" in methods:
        out.append({"name": "gray", "method": "gray", "vividness": None, "saturation": 1.0, "key": "gray"})
    if "cheng" in methods:
        out.append({"name": "Cheng", "method": "cheng", "vividness": None, "saturation": 1.0, "key": f"cheng:{models.tags['cheng']}"})
    if "global-prior" in methods:
        tag = models.tags["global-prior"]
        for v in vividness:
            default = " (default)" if v == models.vividness_default() else ""
            out.append({"name": f"GP V={v:g}{default}", "method": "global-prior", "vividness": v, "saturation": 1.0, "key": f"gp:{tag}:V={v:g}"})
        for v, s in saturations.items():
            out.append({"name": f"GP V=0 x{s:.2f} (= V={v:g})", "method": "global-prior", "vividness": 0.0, "saturation": s,
                        "key": f"gp:{tag}:V=0:s={s:.2f}", "matches": v})
    return out


def vividness_arg(models: Models, v: float) -> float | None:
    """What to pass for V: None for a model without the option (only V = 0 is then defined)."""
    return None if models.vividness_default() is None else v


def measure_set(name: str, paths: list[Path], models: Models, settings: list[dict], log: RowLog, index: dict) -> list[dict]:
    """Per image: the original's and every setting's measures, from the cache where present."""
    from tqdm.auto import tqdm

    from deepcolor.evaluation import result_rgb8
    from deepcolor.metrics import colorfulness

    rows = []
    for path in tqdm(paths, desc=name, unit="img", mininterval=30):
        ref_key = f"original:{name}:{path.name}"
        todo = [s for s in settings if f"{s['key']}:{name}:{path.name}" not in log]
        if ref_key in log and not todo:
            rows.append({"ref": log.rows[ref_key], **{s["name"]: log.rows[f"{s['key']}:{name}:{path.name}"] for s in settings}})
            continue
        images = protocol_images(path)
        if images is None:
            continue
        original, luma, gray, gray_psnr = images
        if ref_key not in log:
            from deepcolor.features.encoder import imagenet_feature_and_class

            feature, top1 = imagenet_feature_and_class(models.encoder(), original)
            log.add(ref_key, {"set": name, "image": str(path), "label": index.get(path.name.split("_")[0]) if path.parent.name == "imagenet_sample" else None,
                              "gray_psnr": gray_psnr, "colorfulness": colorfulness(original), "top1": top1,
                              "feature": np.round(feature, 4).tolist()})
        chroma_cache: dict = {}
        for s in todo:
            if s["method"] == "gray":
                rgb = gray
            else:
                v = vividness_arg(models, s["vividness"]) if s["method"] == "global-prior" else None
                ck = (s["method"], v)
                if ck not in chroma_cache:
                    chroma_cache[ck] = chroma_of(models, luma, s["method"], v)
                rgb = result_rgb8(luma, chroma_cache[ck] * np.float32(s["saturation"]))
            log.add(f"{s['key']}:{name}:{path.name}", measures(models, rgb, original, gray_psnr))
        rows.append({"ref": log.rows[ref_key], **{s["name"]: log.rows[f"{s['key']}:{name}:{path.name}"] for s in settings}})
    return rows


def calibrate(models: Models, vividness: list[float], set_name: str, limit: int, log: RowLog) -> dict:
    """Median colorfulness ratio of each V and of each saturation s of V = 0 on the calibration set; s per V > 0."""
    from deepcolor.evaluation import gray_version, result_rgb8
    from deepcolor.metrics import colorfulness
    from deepcolor.train.global_prior import read_colour

    tag = models.tags["global-prior"]
    rows = []
    for path in manifest(set_name, limit):
        key = f"calibrate:{tag}:{set_name}:{path.name}:{','.join(f'{v:g}' for v in vividness)}"
        if key not in log:
            original = read_colour(path)
            luma = gray_version(original)[0]
            base = chroma_of(models, luma, "global-prior", vividness_arg(models, 0.0))
            row = {"original": colorfulness(original),
                   "sat": [colorfulness(result_rgb8(luma, base * np.float32(s))) for s in SAT_GRID],
                   "viv": {f"{v:g}": colorfulness(result_rgb8(luma, chroma_of(models, luma, "global-prior", vividness_arg(models, v))))
                           for v in vividness if v > 0}}
            log.add(key, row)
        rows.append(log.rows[key])
    co = np.median([r["original"] for r in rows])
    sat_ratio = np.median([r["sat"] for r in rows], axis=0) / co
    out = {"set": set_name, "n": len(rows), "grid": SAT_GRID.tolist(), "grid_ratio": sat_ratio.round(4).tolist(), "s": {}, "ratio": {}}
    for v in vividness:
        if v <= 0:
            continue
        target = float(np.median([r["viv"][f"{v:g}"] for r in rows]) / co)
        out["ratio"][f"{v:g}"] = target
        # np.interp needs a rising curve: the ratio rises with s until the gamut clamp flattens it.
        rising = np.maximum.accumulate(sat_ratio)
        out["s"][f"{v:g}"] = float(np.interp(target, rising, SAT_GRID)) if target > rising[0] else 1.0
    return out


def summarize_set(rows: list[dict], settings: list[dict]) -> dict:
    """Medians, colorfulness ratio, Frechet distance, accuracy and agreement of every setting on one set."""
    from deepcolor.metrics import frechet_distance, top1_accuracy, top1_agreement

    originals = np.array([r["ref"]["feature"] for r in rows])
    reference = np.array([r["ref"]["top1"] for r in rows])
    labelled = [r for r in rows if r["ref"]["label"] is not None]
    labels = np.array([r["ref"]["label"] for r in labelled])
    co = np.median([r["ref"]["colorfulness"] for r in rows])
    out = {"n": len(rows), "n_labelled": len(labelled),
           "original_accuracy": top1_accuracy(np.array([r["ref"]["top1"] for r in labelled]), labels) if labelled else None,
           "gray_psnr": float(np.median([r["ref"]["gray_psnr"] for r in rows])), "settings": {}}
    for s in settings:
        m = [r[s["name"]] for r in rows]
        out["settings"][s["name"]] = {
            "gain": float(np.median([x["gain"] for x in m])),
            "colorfulness_ratio": float(np.median([x["colorfulness"] for x in m]) / co),
            "auc": float(np.median([x["auc"] for x in m])),
            "frechet": frechet_distance(originals, np.array([x["feature"] for x in m])),
            "agreement": top1_agreement(np.array([x["top1"] for x in m]), reference),
            "accuracy": top1_accuracy(np.array([r[s["name"]]["top1"] for r in labelled]), labels) if labelled else None,
            "vividness": s["vividness"], "saturation": s["saturation"], "method": s["method"], "matches": s.get("matches"),
        }
    return out


def source_of(image: str) -> str:
    """The shared folder a report photo comes from: ``photos/sun8``, ``photos/intel6``, ``msrc21/images``, ..."""
    parts = Path(image).parts
    at = len(parts) - 1 - parts[::-1].index("data") if "data" in parts else 0
    return "/".join(parts[at + 1 : at + 3])


def by_source(rows: list[dict], settings: list[dict]) -> dict:
    """`summarize_set` per source folder, and for the photos of before intel6 and MSRC-21 joined (the old 354)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(source_of(r["ref"]["image"]), []).append(r)
    old = [r for r in rows if source_of(r["ref"]["image"]) not in ("photos/intel6", "msrc21/images")]
    if len(old) not in (0, len(rows)):
        groups["old photos_test (no intel6, MSRC)"] = old
    return {name: summarize_set(g, settings) for name, g in sorted(groups.items()) if len(g) >= 2}


def source_table(sources: dict) -> list[str]:
    lines = ["", "photos_test by source (Frechet over each group: compare within a group only):", "",
             "| source | n | setting | gain | colorfulness | AuC | Frechet | agreement |", "|---|---|---|---|---|---|---|---|"]
    for name, s in sources.items():
        for i, (label, m) in enumerate(s["settings"].items()):
            lines.append(f"| {name if i == 0 else ''} | {s['n'] if i == 0 else ''} | {label} | {m['gain']:+.2f} | "
                         f"{m['colorfulness_ratio']:.2f} | {m['auc']:.3f} | {m['frechet']:.1f} | {100 * m['agreement']:.0f}% |")
    return lines


def table(summaries: dict, calibration: dict | None, command: str, seconds: float, files: dict) -> str:
    pct = lambda x: "-" if x is None else f"{100 * x:.0f}%"  # noqa: E731
    lines = [
        "# Trade-off: gain, colour and recognisability of every method and setting (report sets)",
        "",
        f"Written by `{command}` ({seconds / 60:.0f} min, 1 thread, shared 2-core CPU). Model files: "
        + ", ".join(f"{m} `{Path(p).name}` ({file_tag(Path(p))})" for m, p in files.items()) + ".",
        "README protocol (8-bit rounded BT.601 luma in, 8-bit RGB out with the luma kept, refined). Gain: median per-image",
        "PSNR gain over gray. Colorfulness: median of the results / median of the originals. AuC: Zhang et al.'s area under",
        "the cumulative curve of per-pixel chroma error (Euclidean in BT.601 U, V; thresholds 0 to 1.2647, the largest chroma",
        "distance in the RGB cube, 150 steps, trapezoid), median per image. Frechet: FID's recipe on pooled EfficientNet-Lite0",
        "features (224 centre crop) against the originals (compare within a set). Accuracy: ImageNet top-1 on the labelled",
        "photos; agreement: top-1 on the result = top-1 on the original.",
        "",
        "**The measuring network is also the encoder** of the encoder-based models, which these measures may favour;",
        "the gallery is the judge of last resort.",
        "",
    ]
    if calibration and calibration["s"]:
        lines += [f"Saturation gains calibrated on `{calibration['set']}` ({calibration['n']} images): "
                  + ", ".join(f"V={v} ratio {calibration['ratio'][v]:.2f} -> s = {s:.2f}" for v, s in calibration["s"].items()) + ".", ""]
    lines += ["| set | n | setting | gain | colorfulness | AuC | Frechet | agreement | accuracy (n) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        acc_n = f" ({s['n_labelled']})" if s["n_labelled"] else ""
        lines.append(f"| {SETS[name]} | {s['n']} | original | | 1.00 | 1.000 | 0 | 100% | {pct(s['original_accuracy'])}{acc_n} |")
        for label, m in s["settings"].items():
            lines.append(f"| | | {label} | {m['gain']:+.2f} | {m['colorfulness_ratio']:.2f} | {m['auc']:.3f} | {m['frechet']:.1f} | "
                         f"{pct(m['agreement'])} | {pct(m['accuracy'])}{acc_n} |")
    return "\n".join(lines) + "\n"


def png_bytes(fig, dpi: int) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def plot(summaries: dict, path: Path, before: dict | None = None) -> None:
    """PSNR gain against colorfulness ratio, one panel a set: vividness and saturation series, Cheng, gray;
    ``before`` (another run's ``sets`` summary) adds its methods as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(5.5 * len(summaries), 4.2), squeeze=False)
    for ax, (name, s) in zip(axes[0], summaries.items()):
        st = s["settings"]
        viv = sorted((m["vividness"], m) for m in st.values() if m["method"] == "global-prior" and m["saturation"] == 1.0)
        sat = sorted((m["saturation"], m) for m in st.values() if m["method"] == "global-prior" and m["saturation"] != 1.0)
        if viv:
            ax.plot([m["colorfulness_ratio"] for _, m in viv], [m["gain"] for _, m in viv], "o-", label="global prior, vividness V")
            for v, m in viv:
                ax.annotate(f"V={v:g}", (m["colorfulness_ratio"], m["gain"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if sat:
            base = [(1.0, viv[0][1])] if viv and viv[0][0] == 0 else []
            pts = base + sat
            ax.plot([m["colorfulness_ratio"] for _, m in pts], [m["gain"] for _, m in pts], "s--", label="GP V=0 x saturation s")
            for sv, m in sat:
                ax.annotate(f"x{sv:.2f}", (m["colorfulness_ratio"], m["gain"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
        for label, m in st.items():
            if m["method"] in ("cheng", "gray"):
                ax.plot(m["colorfulness_ratio"], m["gain"], "D" if m["method"] == "cheng" else "k*", ms=8, label=label)
        for label, m in ((before or {}).get(name, {}).get("settings", {})).items():
            if m["method"] != "gray":
                ax.plot(m["colorfulness_ratio"], m["gain"], "x", color="gray", ms=8, mew=2)
                ax.annotate(f"before: {label}", (m["colorfulness_ratio"], m["gain"]), fontsize=7, color="gray",
                            xytext=(4, -4), textcoords="offset points")
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(1, color="gray", lw=0.6, ls=":")
        ax.set_title(f"{SETS[name]} (n={s['n']})")
        ax.set_xlabel("colorfulness ratio (results / originals)")
        ax.set_ylabel("median PSNR gain over gray (dB)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_atomic(path, png_bytes(fig, 100))


def gallery(per_set: dict, models: Models, settings: list[dict], path: Path, per_set_n: int) -> None:
    """gray | every setting | original for ``per_set_n`` images a set, evenly spread (no picking)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepcolor.evaluation import gray_version, result_rgb8
    from deepcolor.metrics import psnr
    from deepcolor.train.global_prior import read_colour

    picks = []
    for rows in per_set.values():
        picks += [rows[i] for i in np.linspace(0, len(rows) - 1, per_set_n + 2).round().astype(int)[1:-1]]
    shown = [s for s in settings if s["method"] != "gray"]
    fig, axes = plt.subplots(len(picks), len(shown) + 2, figsize=(2.6 * (len(shown) + 2), 2.3 * len(picks)), squeeze=False)
    for row_axes, row in zip(axes, picks):
        original = read_colour(Path(row["ref"]["image"]))
        luma, gray = gray_version(original)
        panels = [(gray, "gray")]
        cache: dict = {}
        for s in shown:
            v = vividness_arg(models, s["vividness"]) if s["method"] == "global-prior" else None
            if (s["method"], v) not in cache:
                cache[(s["method"], v)] = chroma_of(models, luma, s["method"], v)
            rgb = result_rgb8(luma, cache[(s["method"], v)] * np.float32(s["saturation"]))
            panels.append((rgb, f"{s['name']}\n{psnr(rgb, original) - psnr(gray, original):+.1f} dB"))
        panels.append((original, Path(row["ref"]["image"]).name[:22]))
        draw_panels(row_axes, panels, side=240, fontsize=7)
    fig.tight_layout()
    write_atomic(path, png_bytes(fig, 70))


def main() -> int:
    from deepcolor.modelfile import default_weights_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="tradeoff", help="output name: benchmarks/results/tradeoff_NAME.*")
    parser.add_argument("--sets", nargs="+", default=["photos_test", "bsds500_val"], choices=list(SETS))
    parser.add_argument("--methods", nargs="+", default=["gray", "cheng", "global-prior"], choices=["gray", "cheng", "global-prior"])
    parser.add_argument("--cheng-model", type=Path, default=None, help="Cheng model file (default: shipped)")
    parser.add_argument("--model-file", type=Path, default=None, help="global-prior model file (default: shipped)")
    parser.add_argument("--vividness", type=float, nargs="*", default=[0, 0.25, 0.5, 0.75, 1.0],
                        help="settings of a model with the option (its default is added); a model without it runs V=0 only")
    parser.add_argument("--no-saturation", action="store_true", help="skip the same-colour saturation gains")
    parser.add_argument("--calibrate-set", default="select")
    parser.add_argument("--calibrate-limit", type=int, default=200)
    parser.add_argument("--limit", type=int, default=None, help="at most N images a set, evenly spread")
    parser.add_argument("--gallery", type=int, default=4, help="gallery images per set (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--before", type=Path, default=None, help="a _summary.json whose methods the plot shows as crosses")
    parser.add_argument("--extra-rows", type=Path, nargs="*", default=[],
                        help="row files of parallel runs (one --rows each), read as a cache, never written")
    parser.add_argument("--rows", type=Path, default=RESULTS / "tradeoff_rows.work" / "rows.jsonl")
    args = parser.parse_args()
    need_shared()
    import sys

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = Models(args.cheng_model or default_weights_path("colorizer"), args.model_file or default_weights_path("global_prior"))
    log = RowLog(args.rows)
    for extra in args.extra_rows:  # parallel runs write their own files (concurrent appends could interleave)
        log.rows.update({k: v for k, v in RowLog(extra).rows.items() if k not in log.rows})
    calibration = None
    vividness: list[float] = []
    saturations: dict[float, float] = {}
    if "global-prior" in args.methods:
        default = models.vividness_default()
        vividness = [0.0] if default is None else sorted({*args.vividness, default})
        if not args.no_saturation and any(v > 0 for v in vividness):
            calibration = calibrate(models, vividness, args.calibrate_set, args.calibrate_limit, log)
            saturations = {float(v): s for v, s in calibration["s"].items()}
    settings = settings_for(models, args.methods, vividness, saturations)
    index = {line.split()[0]: int(line.split()[1]) for line in CLASSES.read_text().splitlines() if not line.startswith("#")}
    per_set, summaries = {}, {}
    out = RESULTS / f"tradeoff_{args.name}"
    files = {m: models.files[m] for m in ("cheng", "global-prior") if m in args.methods}
    command = "python benchmarks/bench_tradeoff.py " + " ".join(sys.argv[1:])
    for name in args.sets:
        per_set[name] = measure_set(name, manifest(name, args.limit), models, settings, log, index)
        summaries[name] = summarize_set(per_set[name], settings)
        write_atomic(out.with_suffix(".md"), table(summaries, calibration, command, time.perf_counter() - t0, files))
    sources = by_source(per_set["photos_test"], settings) if "photos_test" in per_set else {}
    if sources:
        text = table(summaries, calibration, command, time.perf_counter() - t0, files)
        write_atomic(out.with_suffix(".md"), text + "\n".join(source_table(sources)) + "\n")
    write_atomic(out.with_name(out.name + "_summary.json"),
                 json.dumps({"calibration": calibration, "sets": summaries, "photos_test_sources": sources}, indent=1) + "\n")
    slim = [json.dumps({"set": n, "image": Path(r["ref"]["image"]).name, "label": r["ref"]["label"],
                        **{s["name"]: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r[s["name"]].items() if k != "feature"}
                           for s in settings}}) for n, rows in per_set.items() for r in rows]
    write_atomic(out.with_name(out.name + "_per_image.jsonl"), "\n".join(slim) + "\n")
    before = json.loads(args.before.read_text())["sets"] if args.before else None
    plot(summaries, out.with_name(out.name + "_plot.png"), before)
    if args.gallery:
        gallery({n: per_set[n] for n in per_set if n != "camvid_test"} or per_set, models, settings,
                out.with_name(out.name + "_gallery.png"), args.gallery)
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
