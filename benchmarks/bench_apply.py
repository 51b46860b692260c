"""Apply time and peak memory by image size, beside Cheng et al.'s Table II.

Time: each size and method (``--methods``: Cheng's and the global-prior CNN) runs in a fresh
subprocess: load the shipped model of that method, warm up
(numba compile, torch init) on a small image, then time `colorize_luma`
(features, FCN, cluster choice, MLP, refinement) on a real photograph resized
to N x N, median of ``--repeats`` runs, with the time of each stage and the process's
peak resident memory. ``--tree`` times another checkout as "this" one (e.g. a branch's
worktree, whose code reads its own shipped models). The
reference measured in the same run is the gray baseline's cost (luma +
write-back); with ``--reference TREE`` (a checkout of an older version, e.g.
``git archive 96b5a57 | tar -x -C /tmp/old``) the same children also run on
that tree, interleaved with ours, and the table gives the time per megapixel
of both and their ratio.

Memory: ``python -m deepcolor.apply IMAGE -o OUT`` on a generated gray PNG of
N x N (``--memory-sizes``), its peak resident memory read from the kernel
when the process ends (`_memory.measure`); above the tile size the image is
colorized in tiles. With ``--reference`` the old tree runs too, at sizes up
to ``--reference-memory-max`` (older versions need about 280 bytes a pixel).

    python benchmarks/bench_apply.py [--sizes 256 512 1024 2048 4096] [--repeats 5]
        [--methods cheng global-prior] [--memory-sizes 4096 10000] [--reference /tmp/old] [--tree /work/wt-cnn]

The issue-17 goal, checked in the table: at 1024^2 each method at most 1.0 s on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, ROOT, SHARED_DATA, write_atomic
from _memory import measure, write_gray_png

CHENG_TABLE_II = {256: 6.78, 512: 17.4, 1024: 63.1}  # seconds, Matlab, Cheng et al. TIP Table II


def _photo(size: int) -> np.ndarray:
    import cv2

    candidates = sorted((SHARED_DATA / "bsds500" / "images" / "val").glob("*.jpg"))
    if candidates:
        bgr = cv2.imread(str(candidates[0]), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    else:
        from skimage.data import camera

        gray = camera()
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0


def _child(size: int, repeats: int, method: str) -> None:
    import resource

    try:  # the package layout since issue 8, else the older one (for --reference)
        from deepcolor.pipeline import colorize_luma, load_model
    except ImportError:
        from deepcolor.colorizer import colorize_luma, load_model
    from deepcolor.colorspace import merge_luma_chroma

    model = load_model(method=method)
    colorize_luma(_photo(64), model)  # compile and warm up
    luma = _photo(size)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, stages, ref = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = colorize_luma(luma, model)
        result.rgb()
        times.append(time.perf_counter() - t0)
        stages.append(result.seconds)
        t0 = time.perf_counter()
        merge_luma_chroma(luma, np.zeros(luma.shape + (2,), np.float32))
        ref.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    median_stage = {k: float(np.median([s.get(k, 0.0) for s in stages])) for k in stages[0]}
    print(json.dumps({"size": size, "method": method, "median_s": float(np.median(times)), "gray_s": float(np.median(ref)),
                      "stages": median_stage, "peak_mb": peak / 1024, "extra_mb": (peak - base_rss) / 1024}))


def _time_child(tree: Path, size: int, repeats: int, method: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--child", str(size), "--repeats", str(repeats), "--method", method],
                         capture_output=True, text=True, cwd=tree, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_run(tree: Path, image: Path, folder: Path, method: str) -> dict:
    out = folder / f"out_{image.stem}_{tree.name}.png"
    out.unlink(missing_ok=True)
    m = measure([sys.executable, "-m", "deepcolor.apply", str(image), "-o", str(out), "-q", "--method", method], cwd=tree,
                env=dict(os.environ, PYTHONPATH=str(tree)))
    if m.returncode != 0:
        raise RuntimeError(f"apply failed on {image} in {tree}: {m.stderr.strip().splitlines()[-1:]}")
    out.unlink(missing_ok=True)
    return {"peak_mb": m.peak_mb, "seconds": m.seconds}


def _time_table(rows: list[dict], reference: dict[tuple[str, int], dict], repeats: int) -> list[str]:
    lines = [
        "# Apply time by size (median of %d runs, 2-core CPU)" % repeats,
        "",
        "`colorize_luma` on a real photograph resized to N x N, each method in its own process; stages as the pipeline",
        "reports them (Cheng: features, choice, regression, refinement; global prior: its network, refinement). Peak = peak",
        "resident memory of the process; extra = its growth during the timed runs. Goal (issue 17): at 1024^2 each method",
        "at most 1.0 s.",
        "",
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        stage_names = list(mine[0]["stages"])
        ref = {size: r for (m, size), r in reference.items() if m == method}
        lines += ["", f"**{method}**", ""]
        lines.append("| size | deepcolor (s) | s / Mpx | " + " | ".join(stage_names)
                     + " | Cheng Table II (s) | peak MB | extra MB |" + (" reference (s) | reference peak MB | ratio |" if ref else ""))
        lines.append("|---" * (6 + len(stage_names) + (3 if ref else 0)) + "|")
        for r in mine:
            size, cheng = r["size"], CHENG_TABLE_II.get(r["size"]) if method == "cheng" else None
            per_mpx = r["median_s"] / (size * size / 1e6)
            goal = " (goal 1.0)" if size == 1024 else ""
            cells = [f"{size}^2", f"{r['median_s']:.3f}{goal}", f"{per_mpx:.3f}"] + [f"{r['stages'].get(k, 0.0):.3f}" for k in stage_names]
            cells += [str(cheng) if cheng else "-", f"{r['peak_mb']:.0f}", f"{r['extra_mb']:.0f}"]
            if ref:
                old = ref.get(size)
                cells += [f"{old['median_s']:.3f}", f"{old['peak_mb']:.0f}", f"{r['median_s'] / old['median_s']:.2f}"] if old else ["-"] * 3
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _memory_table(rows: list[dict]) -> list[str]:
    lines = [
        "# Peak memory of `python -m deepcolor.apply` by image size (2-core CPU)",
        "",
        "A generated gray PNG of N x N pixels colorized by the CLI with each method's shipped model; peak resident memory",
        "of the whole process (model, decoded image, output, tiles) from the kernel's accounting at exit.",
        "Images above 1024 pixels a side are colorized in tiles of 1024^2 with a 52-pixel halo.",
        "",
        "| size | method | Mpx | peak MB | bytes / px | wall s | reference peak MB | reference wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        px = r["height"] * r["width"]
        ref = r.get("reference")
        lines.append(f"| {r['height']}x{r['width']} | {r['method']} | {px / 1e6:.1f} | {r['peak_mb']:.0f} | {r['peak_mb'] * 2**20 / px:.0f} | {r['seconds']:.0f} | "
                     + (f"{ref['peak_mb']:.0f} | {ref['seconds']:.0f} |" if ref else "- | - |"))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["cheng", "global-prior"], choices=["cheng", "global-prior", "both"])
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[4096, 10000])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout timed as this version (default: this one)")
    parser.add_argument("--reference", type=Path, metavar="TREE", help="checkout of an older version to time beside this one")
    parser.add_argument("--reference-memory-max", type=int, default=4096, help="largest memory size run on the reference")
    parser.add_argument("--out", default="apply", help="tables go to benchmarks/results/OUT_time.md and OUT_memory.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--method", default="cheng", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.repeats, args.method)
        return 0
    from tqdm import tqdm

    tree = args.tree.resolve()
    if args.sizes:
        rows, reference = [], {}
        for size in tqdm(args.sizes, desc="time"):
            for method in args.methods:  # interleaved: this tree, then the reference, at each size and method
                rows.append(_time_child(tree, size, args.repeats, method))
                if args.reference and method != "both":  # the kind is new: nothing to time it against
                    reference[(method, size)] = _time_child(args.reference.resolve(), size, args.repeats, method)
        lines = _time_table(rows, reference, args.repeats)
        write_atomic(RESULTS / f"{args.out}_time.md", "\n".join(lines) + "\n")
        print("\n".join(lines))
    if args.memory_sizes:
        rows = []
        with tempfile.TemporaryDirectory(prefix="bench_apply_") as tmp:
            for size in tqdm(args.memory_sizes, desc="memory"):
                image = write_gray_png(Path(tmp) / f"gray_{size}.png", size, size)
                for method in args.methods:
                    row = {"height": size, "width": size, "method": method, **_memory_run(tree, image, Path(tmp), method)}
                    if args.reference and size <= args.reference_memory_max:
                        row["reference"] = _memory_run(args.reference.resolve(), image, Path(tmp), method)
                    rows.append(row)
                image.unlink()
        lines = _memory_table(rows)
        write_atomic(RESULTS / f"{args.out}_memory.md", "\n".join(lines) + "\n")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
