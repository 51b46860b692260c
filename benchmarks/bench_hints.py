"""Point hints: PSNR gain over the automatic result with N simulated hints (issue 27).

Per photo (README protocol: the 8-bit original, its rounded BT.601 luma), for each method (Cheng's
model, the global-prior CNN, shipped files at their defaults, refined, as `colorize` runs them):
the automatic chroma; N = 1, 2, 5, 10, 20 hints simulated from the original (uniform random points
at least 2 pixels inside the image, seeded by the file name; each the mean colour of the 5 x 5
patch around it, rounded to 8 bits; the first N of one list of 20, so the sets are nested); the
PSNR gain over the automatic result of

- ``propagate``: `deepcolor.hints.propagate` (Levin et al.'s optimisation, its defaults);
- ``propagate+global``: the same after `deepcolor.hints.global_chroma_fit` (``global_fit=GLOBAL_FIT``);
- ``naive``: each hint's chroma difference to the automatic result spread by a Gaussian in space
  (sigma 0.2 of the long side) times a Gaussian in luma (sigma 0.2), normalised by the weights' sum
  (Shepard), and ``naive-bounded``: normalised by max(1, sum) (far from every hint, no change).

    PYTHONPATH=. python benchmarks/bench_hints.py --set photos_test [--limit 200] [--name report]
    PYTHONPATH=. python benchmarks/bench_hints.py --set select --only photos --limit 40 --tune  # select only

Rows (one per photo, method, parameters) are cached in ``/work/cache/hints/rows_SET.jsonl`` (``--rows``),
the automatic chroma in ``/work/cache/hints/auto/`` (``--cache``). Writes
``benchmarks/results/hints_NAME.md``, ``_summary.json`` and ``_plot.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, SPLITS, RowLog, need_shared, protocol_images, write_atomic

COUNTS = (1, 2, 5, 10, 20)
METHODS = ("global-prior", "cheng")
CACHE = Path("/work/cache/hints")
TUNE_GRID = {"sigma": (0.02, 0.05, 0.1), "prior": (1e-6, 1e-5, 1e-4, 1e-3), "grid": (160,)}


def manifest(name: str, limit: int | None, only: str | None = None) -> list[Path]:
    from deepcolor.io.paths import expand_inputs

    paths = expand_inputs([str(SPLITS / f"{name}.txt")])
    if only:
        paths = [p for p in paths if f"/{only}/" in str(p)]
    if limit and len(paths) > limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]  # evenly spread
    return paths


def simulated_hints(original: np.ndarray, name: str, count: int = max(COUNTS)):
    """``count`` hints from the original: seeded random points, each the mean colour of its 5 x 5 patch."""
    from deepcolor.hints import Hint

    seed = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    height, width = original.shape[:2]
    ys = rng.integers(2, max(3, height - 2), count)
    xs = rng.integers(2, max(3, width - 2), count)
    hints = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        patch = original[max(0, y - 2):y + 3, max(0, x - 2):x + 3].reshape(-1, 3).astype(np.float64)
        r, g, b = np.round(patch.mean(axis=0)).astype(int).tolist()
        hints.append(Hint(float(x), float(y), (r, g, b)))
    return hints


def naive_spread(luma: np.ndarray, chroma: np.ndarray, hints, *, bounded: bool) -> np.ndarray:
    """The issue's baseline: hint differences spread by Gaussians in space (0.2 of the long side) and luma (0.2)."""
    from deepcolor.hints import hint_chroma

    rows = np.array([int(h.y) for h in hints])
    cols = np.array([int(h.x) for h in hints])
    wanted = hint_chroma(hints, luma) - chroma[rows, cols]
    sigma_space = 0.2 * max(luma.shape)
    yy = np.arange(luma.shape[0], dtype=np.float32)[:, None]
    xx = np.arange(luma.shape[1], dtype=np.float32)[None, :]
    total = np.zeros_like(chroma)
    weight_sum = np.zeros(luma.shape, np.float32)
    for (r, c), d in zip(zip(rows, cols), wanted):
        space = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma_space**2))
        weight = space * np.exp(-((luma - luma[r, c]) ** 2) / (2 * 0.2**2))
        total += weight[..., None] * d
        weight_sum += weight
    norm = np.maximum(weight_sum, 1.0) if bounded else np.maximum(weight_sum, 1e-12)
    return chroma + total / norm[..., None]


def automatic_chroma(path: Path, luma: np.ndarray, method: str, models: dict) -> np.ndarray:
    """The method's refined chroma at its defaults, cached as float16 in ``CACHE/auto``."""
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    file = CACHE / "auto" / method / f"{key}.npy"
    if file.is_file():
        return np.load(file).astype(np.float32)
    from deepcolor.pipeline import colorize_luma, load_model

    if method not in models:
        models[method] = load_model(None, method=method)
    chroma = colorize_luma(luma, models[method], device="cpu").chroma
    file.parent.mkdir(parents=True, exist_ok=True)
    np.save(file.with_suffix(".tmp.npy"), chroma.astype(np.float16))
    file.with_suffix(".tmp.npy").replace(file)
    return chroma.astype(np.float16).astype(np.float32)


def gains(original, luma, chroma, hints, params: dict, *, naive: bool) -> dict[str, list[float]]:
    """Per path, the PSNR gain over the automatic result at each N of COUNTS (the naive spreads only if ``naive``)."""
    from deepcolor.evaluation import result_rgb8
    from deepcolor.hints import propagate
    from deepcolor.metrics import psnr

    base = psnr(result_rgb8(luma, chroma), original)
    out: dict[str, list[float]] = {"propagate": [], "seconds": []}
    if naive:
        out.update({"naive": [], "naive-bounded": []})
    for n in COUNTS:
        t0 = time.perf_counter()
        mine = propagate(luma, chroma, hints[:n], **params)
        out["seconds"].append(time.perf_counter() - t0)
        out["propagate"].append(psnr(result_rgb8(luma, mine), original) - base)
        for name, bounded in (("naive", False), ("naive-bounded", True)) if naive else ():
            out[name].append(psnr(result_rgb8(luma, naive_spread(luma, chroma, hints[:n], bounded=bounded)), original) - base)
    return out


def row_key(path: Path, method: str, params: dict) -> str:
    return f"{path}|{method}|{json.dumps(params, sort_keys=True)}"


def run(paths, methods, param_sets, rows: RowLog) -> None:
    """Fill ``rows`` with every (photo, method, parameters) missing; the naive spreads with the first parameters."""
    models: dict = {}
    for i, path in enumerate(paths):
        todo = [(m, p) for m in methods for p in param_sets if row_key(path, m, p) not in rows]
        if not todo:
            continue
        images = protocol_images(path)
        if images is None:
            continue
        original, luma, _, _ = images
        hints = simulated_hints(original, path.name)
        for method, params in todo:
            chroma = automatic_chroma(path, luma, method, models)
            result = gains(original, luma, chroma, hints, params, naive=params == param_sets[0])
            rows.add(row_key(path, method, params), {"path": str(path), "method": method, "params": params,
                                                     "source": path.parent.name, **result})
        print(f"{i + 1}/{len(paths)} {path.name}", flush=True)


def medians(rows: RowLog, paths, method: str, params: dict, path_name: str) -> list[float] | None:
    values = [rows.rows[row_key(p, method, params)].get(path_name) for p in paths if row_key(p, method, params) in rows]
    values = [v for v in values if v is not None]
    return [float(np.median([v[k] for v in values])) for k in range(len(COUNTS))] if values else None


def report(args, paths, param_sets, rows: RowLog) -> None:
    """The table (markdown), the summary (JSON) and the plot of the default parameters; with --tune the sweep too."""
    default = param_sets[0]
    lines = [f"photos: {args.set}, {sum(row_key(p, args.methods[0], default) in rows for p in paths)} of {len(paths)} listed",
             f"propagate parameters: {json.dumps(default, sort_keys=True)}", "",
             "| method | path | " + " | ".join(f"N={n}" for n in COUNTS) + " |", "|---|---|" + "---|" * len(COUNTS)]
    summary: dict = {"set": args.set, "counts": COUNTS, "params": default, "medians": {}}
    labelled = [("propagate", default, "propagate"), ("naive", default, "naive"), ("naive-bounded", default, "naive-bounded")]
    if not args.tune:
        labelled.insert(1, ("propagate+global", param_sets[1], "propagate"))
    for method in args.methods:
        for label, params, path_name in labelled:
            values = medians(rows, paths, method, params, path_name)
            if values is None:
                continue
            summary["medians"][f"{method}/{label}"] = values
            lines.append(f"| {method} | {label} | " + " | ".join(f"{v:+.2f}" for v in values) + " |")
        seconds = [s for p in paths if row_key(p, method, default) in rows for s in rows.rows[row_key(p, method, default)]["seconds"]]
        if seconds:
            lines.append(f"| {method} | propagate s/photo (median) | {np.median(seconds):.3f} |" + " |" * (len(COUNTS) - 1))
    if args.tune:
        lines += ["", "sweep (median gain of propagate, N = " + ", ".join(map(str, COUNTS)) + "):", ""]
        for params in param_sets[1:]:
            for method in args.methods:
                values = medians(rows, paths, method, params, "propagate")
                if values:
                    lines.append(f"- {method} {json.dumps(params, sort_keys=True)}: " + " ".join(f"{v:+.2f}" for v in values))
    name = args.name or args.set
    write_atomic(RESULTS / f"hints_{name}.md", "\n".join(lines) + "\n")
    write_atomic(RESULTS / f"hints_{name}_summary.json", json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))
    plot(summary, RESULTS / f"hints_{name}_plot.png")


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, method in zip(axes, METHODS):
        for path_name, style in (("propagate", "o-"), ("propagate+global", "D-"), ("naive", "s--"), ("naive-bounded", "^:")):
            values = summary["medians"].get(f"{method}/{path_name}")
            if values:
                ax.plot(COUNTS, values, style, label=path_name)
        ax.set_xscale("log")
        ax.set_xticks(COUNTS, [str(n) for n in COUNTS])
        ax.set_title(f"{method}, {summary['set']}")
        ax.set_xlabel("hints N")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("median PSNR gain over automatic (dB)")
    axes[0].legend()
    fig.tight_layout()
    buffer = __import__("io").BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    write_atomic(path, buffer.getvalue())


def timing(repeats: int = 5) -> str:
    """Seconds to re-colour a 1024 x 1024 photo after its first colouring: `propagate` plus the merge with the luma."""
    import os

    import cv2
    from skimage import data

    from deepcolor.colorspace import quantize_luma, rgb_to_luma
    from deepcolor.evaluation import result_rgb8
    from deepcolor.hints import propagate
    from deepcolor.pipeline import colorize_luma, load_model

    original = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    luma = quantize_luma(rgb_to_luma(original.astype(np.float32) / 255.0))
    t0 = time.perf_counter()
    chroma = colorize_luma(luma, load_model("global-prior"), device="cpu").chroma
    first = time.perf_counter() - t0
    hints = simulated_hints(original, "astronaut-1024")
    lines = [f"1024 x 1024 (scikit-image's astronaut, resized), load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
             f"first colouring (global-prior) {first:.2f} s", "", "| hints | re-colouring wall s | its CPU s (one thread) |", "|---|---|---|"]
    for n in (1, 5, 10, 20):
        seconds, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            result_rgb8(luma, propagate(luma, chroma, hints[:n]))
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        lines.append(f"| {n} | {np.median(seconds):.3f} | {np.median(cpu):.3f} |")
    lines.append(f"(medians of {repeats}; on a shared machine the CPU seconds are what one idle core would take)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="photos_test", choices=["photos_test", "select"])
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos, evenly spread")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--only", default=None, help="only paths with this folder, e.g. photos (the report set's kind)")
    parser.add_argument("--tune", action="store_true", help="sweep TUNE_GRID (select split only)")
    parser.add_argument("--name", default=None)
    parser.add_argument("--rows", type=Path, default=None)
    parser.add_argument("--timing", action="store_true", help="only time re-colouring at 1024 x 1024 (no shared data needed)")
    args = parser.parse_args()
    if args.timing:
        text = timing()
        write_atomic(RESULTS / "hints_timing.md", text + "\n")
        print(text)
        return
    need_shared()
    if args.tune and args.set != "select":
        raise SystemExit("--tune only on the select split")
    from deepcolor.hints import GLOBAL_FIT, GRID, PRIOR, RADIUS, SIGMA, SPREAD, SPREAD_LUMA

    default = {"grid": GRID, "sigma": SIGMA, "prior": PRIOR, "radius": RADIUS, "spread": SPREAD, "spread_luma": SPREAD_LUMA}
    param_sets = [default, dict(default, global_fit=GLOBAL_FIT)]  # propagate, and with the global fit
    if args.tune:
        param_sets = [default] + [dict(zip(TUNE_GRID, v)) for v in itertools.product(*TUNE_GRID.values())]
    rows = RowLog(args.rows or CACHE / f"rows_{args.set}.jsonl")
    paths = manifest(args.set, args.limit, args.only)
    run(paths, args.methods, param_sets, rows)
    report(args, paths, param_sets, rows)


if __name__ == "__main__":
    main()
