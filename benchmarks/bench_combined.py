"""The combined method (issue 26) from the cache of both shipped models' outputs (`combined_cache.py`).

    python benchmarks/bench_combined.py fit      # combiners fitted on the select split -> CACHE/models/*.safetensors
    python benchmarks/bench_combined.py score    # every candidate of docs/combined.md on the sets -> CACHE/rows.jsonl
    python benchmarks/bench_combined.py report   # tables, the declared rule, gallery -> benchmarks/results/combined*

Candidates (docs/combined.md): Cheng, the CNN (V = 0; V > 0 of the shipped file is its V = 0 chroma times
1 + V), their 50/50 average and the fitted combiners, each times a plain gain s after refinement, and the
combiner with the confidence-scaled gain. Per image: the README protocol (8-bit luma in, chroma refined by
the pipeline's filter, 8-bit RGB out), PSNR gain over gray, colorfulness; with ``--features`` also the
measuring network's pooled feature and top-1 class (Frechet distance, accuracy), as `bench_tradeoff.py`.
Rows are cached per image and candidate (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, draw_panels, RowLog, need_shared, write_atomic
from bench_tradeoff import CLASSES, manifest, png_bytes, source_of, summarize_set

CACHE = Path("/work/cache/combined")
MODELS = CACHE / "models"  # the fitted combiners (`fit`; --models)
SETS = ("select", "photos_test", "bsds500_val", "camvid_test")
# The declared grid was 1.0, 1.1 .. 1.6, 1.8, 2.0 and V in 0.25 .. 1; on this shared CPU the points no family can win
# by the rule (1.1: every family below colorfulness 0.85 there; 2.0 and V = 0.75, 1: past every family's 0.85 point
# with the gain falling) are left out (docs/combined.md).
GAINS = (1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8)
GP_VIVIDNESS = (0.25, 0.4, 0.5)  # the shipped file: chroma x (1 + V)
COMBINERS = {  # name -> (sources, gates) of deepcolor.models.both
    "ls-blend": (("cheng", "cnn"), ("one",)),
    "ls-gated": (("cheng", "cnn"), ("one", "entropy", "disagreement", "luma")),
    "ls-gated-annealed": (("cheng", "cnn", "annealed"), ("one", "entropy", "disagreement", "luma")),
}


def cached_images(set_name: str) -> list[tuple[Path, Path]]:
    """``(npz, image path)`` of every cached image of a set, in the split's order."""
    return [(CACHE / set_name / (p.stem + ".npz"), p) for p in manifest(set_name, None) if (CACHE / set_name / (p.stem + ".npz")).is_file()]


def load(npz: Path, n_bins: int) -> dict:
    """One cached image at full resolution: the protocol's luma and gray PSNR, the components, the target chroma."""
    from deepcolor.colorspace import rgb_to_yuv
    from deepcolor.evaluation import gray_version
    from deepcolor.metrics import psnr
    from deepcolor.upsample import bilinear_window

    z = np.load(npz)
    original = z["original"]
    luma, gray = gray_version(original)
    every = (slice(0, luma.shape[0]), slice(0, luma.shape[1]))
    entropy = z["entropy"].astype(np.float32)[..., None]
    if "entropy_normalized" not in z:  # files cached before the cache used prior_outputs hold nats
        entropy /= np.float32(np.log(n_bins))
    return {"original": original, "luma": luma, "gray_psnr": psnr(gray, original),
            "target": rgb_to_yuv(original.astype(np.float32) / 255.0)[..., 1:],
            **{k: z[k].astype(np.float32) for k in ("cheng_raw", "cnn_raw", "cheng", "cnn")},
            "annealed": bilinear_window(z["annealed"].astype(np.float32), luma.shape, every),
            "entropy": bilinear_window(entropy, luma.shape, every)[..., 0],
            "feature": z["feature"].astype(np.float32), "top1": int(z["top1"]), "cluster_distance": float(z["cluster_distance"])}


def n_bins() -> int:
    from deepcolor.modelfile import default_weights_path, load_model_file

    return len(load_model_file(default_weights_path("global_prior"))[1]["bins"]["centres"])


# -- fit ------------------------------------------------------------------------------------------------
def samples(per_image: int, seed: int, every: int) -> dict:
    """``per_image`` random pixels of every ``every``-th cached select image: each gate x source product of `SOURCES`,
    `GATES` after the pipeline's refinement (linear in the chroma, so a combination of refined products is the refined
    combination), the target chroma and the image index."""
    from deepcolor.models.both import GATES, SOURCES, gate_maps
    from deepcolor.refine import refine_chroma

    rng = np.random.default_rng(seed)
    bins = n_bins()
    out: dict[str, list] = {"products": [], "target": [], "image": []}
    for i, (npz, _) in enumerate(cached_images("select")[::every]):
        img = load(npz, bins)
        flat = rng.choice(img["luma"].size, size=min(per_image, img["luma"].size), replace=False)
        gates = gate_maps(GATES, luma=img["luma"], cheng=img["cheng_raw"], cnn=img["cnn_raw"], entropy=img["entropy"])
        named = {"cheng": img["cheng_raw"], "cnn": img["cnn_raw"], "annealed": img["annealed"]}
        products = [refine_chroma(img["luma"], np.ascontiguousarray(named[s] * gates[..., g:g + 1])).reshape(-1, 2)[flat]
                    for s in SOURCES for g in range(len(GATES))]
        out["products"].append(np.stack(products, axis=-1))  # (n, 2, S * G)
        out["target"].append(img["target"].reshape(-1, 2)[flat])
        out["image"].append(np.full(flat.size, i))
    return {k: np.concatenate(v) for k, v in out.items()}


def fit_one(data: dict, sources: tuple, gates: tuple, *, rounds: int = 3) -> np.ndarray:
    """Combiner weights (2, S, G), per-image weights 1 / MSE re-estimated each round (first: the 50/50 average's)."""
    from deepcolor.models.both import GATES, SOURCES
    from deepcolor.train.both import RGB_FROM_CHROMA, fit_products, image_weights

    columns = [SOURCES.index(s) * len(GATES) + GATES.index(g) for s in sources for g in gates]
    products = data["products"][..., columns]
    one = GATES.index("one")
    prediction = 0.5 * (data["products"][..., one] + data["products"][..., len(GATES) + one])
    weights = None
    for _ in range(rounds):
        error = (((prediction - data["target"]) @ RGB_FROM_CHROMA.T) ** 2).sum(axis=1)
        per_image = np.bincount(data["image"], error) / np.bincount(data["image"])
        weights = fit_products(products, data["target"], image_weights(per_image)[data["image"]])
        prediction = np.einsum("nck,ck->nc", products, weights)
    return weights.reshape(2, len(sources), len(gates))


def model_config(name: str, sources: tuple, gates: tuple, command: str, n_images: int, per_image: int) -> dict:
    return {"sources": list(sources), "gates": list(gates), "components": {"cheng": "cheng", "global-prior": "global-prior"},
            "vividness_mode": "saturation", "vividness_max": 2.0, "vividness_default": 0.0,
            "confidence": {"entropy_scale": 0.85, "disagreement_scale": 0.05},
            "fit": {"name": name, "command": command, "select_images": n_images, "pixels_per_image": per_image,
                    "method": "weighted least squares in RGB error on the refined gate x source products, per-image weights 1/MSE, 3 rounds (deepcolor.train.both)",
                    "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}}


def fit_main(args: argparse.Namespace) -> int:
    from deepcolor.modelfile import save_model_file

    command = "python benchmarks/bench_combined.py " + " ".join(sys.argv[1:])
    data = samples(args.pixels, args.seed, args.every)
    n_images = int(data["image"].max()) + 1
    for name, (sources, gates) in COMBINERS.items():
        weights = fit_one(data, sources, gates)
        config = model_config(name, sources, gates, command, n_images, args.pixels)
        save_model_file(MODELS / f"{name}.safetensors", {"combiner.weights": weights}, kind="both", config=config)
        print(name, np.round(weights, 3).tolist())
    return 0


# -- candidates -----------------------------------------------------------------------------------------
def combiner(name: str, confidence: dict | None = None) -> tuple[dict, np.ndarray]:
    """A fitted combiner's config and weights (``confidence``: the confidence gain's scales, replacing the file's)."""
    from deepcolor.modelfile import load_model_file

    tensors, config = load_model_file(MODELS / f"{name}.safetensors", kind="both")
    if confidence is not None:
        config["confidence"] = dict(confidence)
    return config, tensors["combiner.weights"]


def row_key(c: dict, combiners: dict) -> str:
    """The row cache's name of a candidate: a combiner's includes a hash of its weights and confidence scales (a refit
    or other scales make new rows)."""
    if c["method"] != "both":
        return c["name"]
    import hashlib

    config, weights = combiners[c["combiner"]]
    h = hashlib.sha1(np.ascontiguousarray(weights).tobytes() + json.dumps(config.get("confidence"), sort_keys=True).encode())
    return f"{c['name']}@{h.hexdigest()[:8]}"


def candidates(conf_scales: dict[float, float] | None = None) -> list[dict]:
    """The declared grid (docs/combined.md): ``{"name", "method", "gain", ...}``; ``conf_scales`` maps a plain gain s to
    the confidence-gain strength k of equal select colorfulness (the ``both-conf`` candidates)."""
    out = [{"name": f"cheng x{s:g}", "method": "cheng", "gain": s} for s in GAINS]
    out += [{"name": f"cnn x{s:g}", "method": "cnn", "gain": s} for s in sorted({*GAINS, *(1 + v for v in GP_VIVIDNESS)})]
    out += [{"name": f"average x{s:g}", "method": "average", "gain": s} for s in GAINS]
    out += [{"name": f"{c} x{s:g}", "method": "both", "combiner": c, "gain": s} for c in COMBINERS for s in (GAINS if c == BEST else (1.0,))]
    out += [{"name": f"{BEST} conf k={k:.2f} (= x{s:g})", "alias": f"{BEST} conf x{s:g}", "method": "both", "combiner": BEST, "gain": 1.0,
             "confidence": k}
            for s, k in (conf_scales or {}).items()]
    return out


BEST = "ls-gated"  # the combiner the knob grid uses: set from `fit`'s select comparison (docs/combined.md)


def candidate_chroma(c: dict, img: dict, combiners: dict) -> np.ndarray:
    """Refined chroma (H, W, 2) of candidate ``c`` on a loaded image (`load`)."""
    from deepcolor.models.both import combined_chroma
    from deepcolor.models.global_prior import CHROMA_MAX
    from deepcolor.refine import refine_chroma

    s = np.float32(c["gain"])
    if c["method"] == "cheng":
        return img["cheng"] * s
    if c["method"] == "cnn":  # the shipped V: the regression chroma x (1 + V) before the clip and the refinement
        return img["cnn"] if s == 1 else refine_chroma(img["luma"], np.clip(img["cnn_raw"] * s, -CHROMA_MAX, CHROMA_MAX))
    if c["method"] == "average":
        return (img["cheng"] + img["cnn"]) * np.float32(0.5 * s)
    config, weights = combiners[c["combiner"]]
    vividness = 0.0
    if "confidence" in c:
        config = {**config, "vividness_mode": "confidence", "vividness_max": 1.0 + c["confidence"]}
        vividness = 1.0
    raw = combined_chroma(config, weights, img["luma"], img["cheng_raw"], img["cnn_raw"], img["annealed"], img["entropy"], vividness)
    return refine_chroma(img["luma"], raw) * s


# -- score ----------------------------------------------------------------------------------------------
def measure(rgb: np.ndarray, img: dict, encoder) -> dict:
    """A result's per-image figures: gain over gray, colorfulness; with an encoder also AuC, feature and top-1."""
    from deepcolor.metrics import chroma_auc, colorfulness, psnr

    row = {"gain": psnr(rgb, img["original"]) - img["gray_psnr"], "colorfulness": colorfulness(rgb)}
    if encoder is not None:
        from deepcolor.features.encoder import imagenet_feature_and_class

        feature, top1 = imagenet_feature_and_class(encoder, rgb)
        row.update(auc=chroma_auc(rgb, img["original"]), top1=top1, feature=np.round(feature, 4).tolist())
    return row


def original_row(set_name: str, path: Path, img: dict, labels: dict) -> dict:
    from deepcolor.metrics import colorfulness

    label = labels.get(path.name.split("_")[0]) if path.parent.name == "imagenet_sample" else None
    return {"set": set_name, "image": str(path), "label": label, "gray_psnr": img["gray_psnr"], "colorfulness": colorfulness(img["original"]),
            "top1": img["top1"], "feature": np.round(img["feature"], 4).tolist()}


def calibrate_confidence(combiners: dict, images: int, confidence: dict) -> dict[float, float]:
    """Per plain gain s > 1 of `GAINS`, the strength k whose confidence gain gives the same median select colorfulness
    (``images`` select images evenly spread; linear interpolation on a grid of k). Cached in CACHE/conf_scales.json."""
    from deepcolor.evaluation import result_rgb8
    from deepcolor.metrics import colorfulness

    path = CACHE / "conf_scales.json"
    key = json.dumps({"images": images, "confidence": confidence, "combiner": BEST})
    known = json.loads(path.read_text()) if path.is_file() else {}
    if key in known:
        return {float(s): k for s, k in known[key].items()}
    ks = np.array([0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15])
    plain, conf = [], []
    pick = cached_images("select")
    bins = n_bins()
    for i in np.linspace(0, len(pick) - 1, images).round().astype(int):
        img = load(pick[i][0], bins)
        plain.append([colorfulness(result_rgb8(img["luma"], candidate_chroma({"method": "both", "combiner": BEST, "gain": s}, img, combiners)))
                      for s in GAINS])
        conf.append([colorfulness(result_rgb8(img["luma"], candidate_chroma({"method": "both", "combiner": BEST, "gain": 1.0, "confidence": k},
                                                                               img, combiners))) for k in ks])
    plain_m, conf_m = np.median(plain, axis=0), np.maximum.accumulate(np.median(conf, axis=0))
    scales = {s: float(np.interp(c, conf_m, ks)) for s, c in zip(GAINS, plain_m) if s > 1}
    known[key] = scales
    write_atomic(path, json.dumps(known, indent=1) + "\n")
    return scales


def confidence_of(args: argparse.Namespace) -> dict:
    return {"entropy_scale": args.entropy_scale, "disagreement_scale": args.disagreement_scale}


def score_main(args: argparse.Namespace) -> int:
    import torch

    from deepcolor.evaluation import result_rgb8
    from deepcolor.features.encoder import load_pretrained_encoder

    torch.set_num_threads(1)
    combiners = {n: combiner(n, confidence_of(args)) for n in COMBINERS}
    scales = calibrate_confidence(combiners, args.calibrate, combiners[BEST][0]["confidence"])
    chosen = [c for c in candidates(scales) if not args.only or c["name"] in args.only or c.get("alias") in args.only]
    encoder = load_pretrained_encoder() if args.features else None
    labels = {line.split()[0]: int(line.split()[1]) for line in CLASSES.read_text().splitlines() if not line.startswith("#")}
    log, bins = RowLog(CACHE / "rows.jsonl"), n_bins()
    for set_name in args.sets:
        pick = cached_images(set_name)[:: args.every][: args.limit]
        t0, done = time.perf_counter(), 0
        for npz, path in pick:
            need = lambda c: (k := f"{row_key(c, combiners)}:{set_name}:{npz.stem}") not in log or (args.features and "feature" not in log.rows[k])  # noqa: E731
            todo = [c for c in chosen if need(c)]
            if not todo and f"original:{set_name}:{npz.stem}" in log:
                continue
            img = load(npz, bins)
            if f"original:{set_name}:{npz.stem}" not in log:
                log.add(f"original:{set_name}:{npz.stem}", original_row(set_name, path, img, labels))
            for c in todo:
                rgb = result_rgb8(img["luma"], candidate_chroma(c, img, combiners))
                log.add(f"{row_key(c, combiners)}:{set_name}:{npz.stem}", measure(rgb, img, encoder))
            done += 1
            if done % 50 == 0:
                print(f"{set_name}: {done} images, {(time.perf_counter() - t0) / done:.2f} s an image", flush=True)
        print(f"{set_name}: {len(pick)} cached images scored", flush=True)
    return 0


# -- report ---------------------------------------------------------------------------------------------
def quick_summary(rows: list[dict], name: str) -> dict | None:
    """Median gain and colorfulness ratio of candidate ``name`` over the ``rows`` that have it (None: none has; ``n`` says
    how many: compare candidates at equal n)."""
    rows = [r for r in rows if name in r]
    if not rows:
        return None
    co = np.median([r["ref"]["colorfulness"] for r in rows])
    return {"n": len(rows), "gain": float(np.median([r[name]["gain"] for r in rows])),
            "colorfulness_ratio": float(np.median([r[name]["colorfulness"] for r in rows]) / co)}


def full_summary(rows: list[dict], names: list[str]) -> dict:
    """`quick_summary` of each name, and where every row has features `bench_tradeoff.summarize_set`'s Frechet etc."""
    out = {}
    for name in names:
        q = quick_summary(rows, name)
        if q is None:
            continue
        if all("feature" in r[name] for r in rows if name in r):
            s = summarize_set([r for r in rows if name in r], [{"name": name, "vividness": None, "saturation": 1.0, "method": name}])
            q.update({k: s["settings"][name][k] for k in ("frechet", "accuracy", "agreement", "auc")})
        out[name] = q
    return out


def set_rows(log: RowLog, set_name: str, names: dict[str, str]) -> list[dict]:
    """Per cached image of a set: ``{"ref": original row, name: row, ...}`` for the candidates of ``names`` (name -> row key) it has."""
    rows = []
    for npz, _ in cached_images(set_name):
        ref = log.rows.get(f"original:{set_name}:{npz.stem}")
        if ref is not None:
            rows.append({"ref": ref, **{n: log.rows[k] for n, key in names.items() if (k := f"{key}:{set_name}:{npz.stem}") in log.rows}})
    return rows


def report_groups(log: RowLog, names: dict[str, str]) -> dict[str, list[dict]]:
    """The report sources of the rule: photos_test by source folder, BSDS500 val, CamVid test (and photos_test whole)."""
    groups: dict[str, list[dict]] = {}
    photos = set_rows(log, "photos_test", names)
    groups["photos_test (all)"] = photos
    for r in photos:
        groups.setdefault(f"photos_test {source_of(r['ref']['image'])}", []).append(r)
    groups["bsds500_val"] = set_rows(log, "bsds500_val", names)
    groups["camvid_test"] = set_rows(log, "camvid_test", names)
    return groups


def apply_rule(select: dict, groups: dict) -> tuple[str | None, list[str]]:
    """The declared rule (docs/combined.md) -> (chosen candidate, the reasoning lines)."""
    lines = []

    def guard(name: str) -> tuple[bool | None, str]:
        medians = {g: quick_summary(rows, name) for g, rows in groups.items() if g != "photos_test (all)"}
        if any(m is None for m in medians.values()):
            return None, "report sources not all scored"
        below = [f"{g} {m['gain']:+.2f}" for g, m in medians.items() if m["gain"] < 0]
        return not below, ("below gray: " + ", ".join(below)) if below else "every report source above gray"

    ranked = sorted(select.items(), key=lambda kv: -kv[1]["gain"])
    for name, m in ranked:
        if m["colorfulness_ratio"] < 0.85:
            continue
        ok, why = guard(name)
        lines.append(f"- `{name}`: select {m['gain']:+.2f} dB, colorfulness {m['colorfulness_ratio']:.2f}: {why}")
        if ok:
            return name, lines + [f"**Chosen: `{name}`** (highest select gain at colorfulness >= 0.85 with no report source below gray)."]
    lines.append("No candidate reaches colorfulness 0.85 on select without a report source below gray: the most colourful one that keeps "
                 "every report source above gray is taken.")
    for name, m in sorted(select.items(), key=lambda kv: -kv[1]["colorfulness_ratio"]):
        ok, why = guard(name)
        if ok:
            return name, lines + [f"**Chosen: `{name}`** (select colorfulness {m['colorfulness_ratio']:.2f}, gain {m['gain']:+.2f})."]
    lines.append("No candidate keeps every report source above gray either: the declared rule chooses nothing. Outside the "
                 "declared rule (said so in docs/combined.md): the candidate with the highest select gain among those at least "
                 "as good as the former default (`cheng x1`) on every report source.")
    former = {g: quick_summary(rows, "cheng x1") for g, rows in groups.items() if g != "photos_test (all)"}
    for name, m in ranked:
        mine = {g: quick_summary(rows, name) for g, rows in groups.items() if g != "photos_test (all)"}
        if all(mine[g] is not None and former[g] is not None and mine[g]["gain"] >= former[g]["gain"] for g in mine):
            return name, lines + [f"**Chosen (outside the rule): `{name}`** (select {m['gain']:+.2f} dB, colorfulness "
                                  f"{m['colorfulness_ratio']:.2f}; " + ", ".join(f"{g} {mine[g]['gain']:+.2f} (Cheng {former[g]['gain']:+.2f})"
                                                                                  for g in mine) + ")."]
    return None, lines + ["Nothing passes."]


def table_lines(title: str, summaries: dict) -> list[str]:
    lines = [f"### {title}", "", "| candidate | n | gain | colorfulness | Frechet | AuC | agreement | accuracy |", "|---|---|---|---|---|---|---|---|"]
    fmt = lambda m, k, f: "-" if m.get(k) is None else f.format(m[k])  # noqa: E731
    for name, m in summaries.items():
        lines.append(f"| {name} | {m['n']} | {m['gain']:+.2f} | {m['colorfulness_ratio']:.2f} | {fmt(m, 'frechet', '{:.1f}')} | "
                     f"{fmt(m, 'auc', '{:.3f}')} | {fmt(m, 'agreement', '{:.0%}')} | {fmt(m, 'accuracy', '{:.0%}')} |")
    return lines + [""]


def report_main(args: argparse.Namespace) -> int:
    log = RowLog(CACHE / "rows.jsonl")
    known = json.loads((CACHE / "conf_scales.json").read_text()) if (CACHE / "conf_scales.json").is_file() else {}
    key = json.dumps({"images": args.calibrate, "confidence": confidence_of(args), "combiner": BEST})
    scales = {float(s): k for s, k in known.get(key, {}).items()}
    combiners = {n: combiner(n, confidence_of(args)) for n in COMBINERS}
    names = {c["name"]: row_key(c, combiners) for c in candidates(scales)}
    select_rows = set_rows(log, "select", names)
    select = {n: m for n in names if (m := quick_summary(select_rows, n)) is not None}
    groups = report_groups(log, names)
    chosen, reasoning = apply_rule(select, groups)
    lines = ["# The combined method: every candidate from the cache (issue 26)", "",
             f"Written by `python benchmarks/bench_combined.py {' '.join(sys.argv[1:])}` from the rows of "
             "`bench_combined.py score` (README protocol; gain = median per-image PSNR gain over gray; colorfulness = median "
             "of results / median of originals; Frechet, AuC, agreement, accuracy as bench_tradeoff.py, where scored).", "",
             "## The declared rule", "", *reasoning, ""]
    lines += table_lines("select (all candidates)", select)
    for group, rows in groups.items():
        summaries = full_summary(rows, names)
        if summaries:
            lines += table_lines(group, summaries)
    write_atomic(RESULTS / f"{args.name}.md", "\n".join(lines) + "\n")
    write_atomic(RESULTS / f"{args.name}_summary.json", json.dumps(
        {"chosen": chosen, "select": select, "report": {g: full_summary(r, names) for g, r in groups.items()}}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


def gallery_main(args: argparse.Namespace) -> int:
    """gray | each of ``--show`` | original for ``--per-set`` cached images a set, evenly spread (no picking), titled with
    the gain over gray -> benchmarks/results/combined_gallery.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepcolor.evaluation import result_rgb8
    from deepcolor.metrics import psnr

    combiners = {n: combiner(n, confidence_of(args)) for n in COMBINERS}
    shown = [c for c in candidates() if c["name"] in args.show]
    picks = []
    for set_name in args.sets:
        pick = cached_images(set_name)
        picks += [pick[i] for i in np.linspace(0, len(pick) - 1, args.per_set + 2).round().astype(int)[1:-1]]
    fig, axes = plt.subplots(len(picks), len(shown) + 2, figsize=(2.4 * (len(shown) + 2), 2.0 * len(picks)), squeeze=False)
    bins = n_bins()
    for row_axes, (npz, path) in zip(axes, picks):
        img = load(npz, bins)
        gray = result_rgb8(img["luma"], np.zeros_like(img["cheng"]))
        panels = [(gray, "gray")]
        for c in shown:
            rgb = result_rgb8(img["luma"], candidate_chroma(c, img, combiners))
            panels.append((rgb, f"{c['name']}\n{psnr(rgb, img['original']) - img['gray_psnr']:+.1f} dB"))
        panels.append((img["original"], path.name[:22]))
        draw_panels(row_axes, panels, side=220, fontsize=7)
    fig.tight_layout()
    write_atomic(RESULTS / "combined_gallery.png", png_bytes(fig, 60))
    return 0


def speed_main(args: argparse.Namespace) -> int:
    """``colorize`` at SIDE^2 (skimage's astronaut, resized): Cheng's shipped model and the shipped both model, interleaved,
    ``--repeats`` times each; the median seconds and their ratio (1 thread, load noted)."""
    import os

    import cv2
    import torch
    from skimage import data

    from deepcolor.evaluation import gray_version
    from deepcolor.pipeline import colorize_luma, load_model

    torch.set_num_threads(1)
    luma = gray_version(cv2.resize(data.astronaut(), (args.side, args.side), interpolation=cv2.INTER_CUBIC))[0]
    models = {"cheng": load_model("cheng"), "both": load_model("both")}
    times: dict[str, list[float]] = {m: [] for m in models}
    for m, model in models.items():
        colorize_luma(luma[:256, :256], model)  # warm-up (numba, torch)
    for _ in range(args.repeats):
        for m, model in models.items():
            t0 = time.perf_counter()
            colorize_luma(luma, model)
            times[m].append(time.perf_counter() - t0)
    med = {m: float(np.median(t)) for m, t in times.items()}
    print(json.dumps({"side": args.side, "seconds": times, "median": med, "ratio": med["both"] / med["cheng"],
                      "load": os.getloadavg()}))
    return 0


def main() -> int:
    global MODELS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit")
    fit.add_argument("--pixels", type=int, default=2000, help="pixels sampled per select image")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--every", type=int, default=1, help="every Nth cached select image")
    score = sub.add_parser("score")
    score.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    score.add_argument("--only", nargs="*", default=[], help="only these candidates (names as in the report; a confidence one as 'ls-gated conf xS')")
    score.add_argument("--every", type=int, default=1, help="every Nth cached image of each set (split order)")
    score.add_argument("--limit", type=int, default=None, help="the first N cached images of each set (a test run)")
    score.add_argument("--features", action="store_true", help="also the measuring network's feature (Frechet, accuracy)")
    report = sub.add_parser("report")
    gallery = sub.add_parser("gallery")
    gallery.add_argument("--sets", nargs="+", default=["photos_test", "bsds500_val", "camvid_test"], choices=SETS)
    gallery.add_argument("--per-set", type=int, default=3)
    gallery.add_argument("--show", nargs="+", default=["cheng x1", "cnn x1", "cnn x1.4", "average x1", "average x1.5"])
    speed = sub.add_parser("speed")
    speed.add_argument("--side", type=int, default=1024)
    speed.add_argument("--repeats", type=int, default=3)
    for p in (score, report, gallery):
        p.add_argument("--calibrate", type=int, default=120, help="select images of the confidence-gain calibration")
        p.add_argument("--entropy-scale", type=float, default=0.85, help="normalized class-head entropy of zero confidence")
        p.add_argument("--disagreement-scale", type=float, default=0.05, help="disagreement (U, V) of confidence 1/e")
    for p in (fit, score, report, speed, gallery):
        p.add_argument("--models", type=Path, default=CACHE / "models", help="folder of the fitted combiners")
    report.add_argument("--name", default="combined", help="benchmarks/results/NAME.md and NAME_summary.json")
    args = parser.parse_args()
    need_shared()
    MODELS = args.models
    return {"fit": fit_main, "score": score_main, "report": report_main, "speed": speed_main, "gallery": gallery_main}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
