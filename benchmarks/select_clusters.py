"""Choose Algorithm 3's settings at this data scale, on the selection split.

For each setting in a small grid (top-layer clusters N0, error threshold
epsilon, images per lower-layer cluster mu) it fits the hierarchy on the
training manifest (samples and MLPs cached, so the grid shares work) and
measures, on the selection manifest's sampled pixels, the median per-image PSNR
gain over gray of the clustered model and of the single global MLP. Semantic
(92-d) variant, no refinement: a fast proxy for the full evaluation.

    python benchmarks/select_clusters.py [--fcn FCN] [--work DIR]

Writes ``benchmarks/results/select_clusters.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import RESULTS, SPLITS, write_atomic

# (N0, epsilon, mu): N0 around the paper's 24, then epsilon and mu moved one at a time from the paper's values.
GRID = [(8, -26.0, 80.0), (16, -26.0, 80.0), (24, -26.0, 80.0), (24, -30.0, 80.0), (24, -26.0, 40.0)]


def _gray_psnr(s) -> float:
    """PSNR of an image's sampled pixels with zero chroma (the gray baseline)."""
    from deepcolor.metrics import psnr, to_uint8

    gray = to_uint8(np.repeat(s.luma[None, :, None], 3, axis=2))
    return psnr(gray, s.rgb[None, :, :])


def main() -> int:
    from tqdm import tqdm

    from deepcolor.features.semantic import load_fcn
    from deepcolor.io.paths import expand_inputs
    from deepcolor.modelfile import default_weights_path
    from deepcolor.train.cheng import FitConfig, collect_samples, fcn_cache_id, fit_model, samples_psnr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fcn", default=str(default_weights_path("fcn")))
    parser.add_argument("--work", default="/tmp/deepcolor-select")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    fcn = load_fcn(args.fcn)
    train = expand_inputs([str(SPLITS / "train.txt")])
    select = expand_inputs([str(SPLITS / "select.txt")])
    work = Path(args.work)
    base = FitConfig(plain_variant=False)
    fcn_id = fcn_cache_id(fcn)
    held_out, _ = collect_samples(select, fcn=fcn, config=base, work=work, fcn_id=fcn_id)
    gray = np.array([_gray_psnr(s) for s in held_out])
    camvid = np.array(["camvid" in s.path for s in held_out])

    rows = []
    for n_top, epsilon, mu in tqdm(GRID, desc="grid"):
        config = FitConfig(plain_variant=False, n_top=n_top, epsilon=epsilon, mu=mu)
        model, _ = fit_model(train, fcn=fcn, config=config, work=work, progress=False)
        gains = {}
        for name, clusters, descend in (("global", False, True), ("descend", True, True), ("top", True, False)):
            model.selection["descend"] = descend
            psnr = np.array([samples_psnr(model.choose(s.gist, s.histogram, semantic=True, clusters=clusters)[0], s, semantic=True) for s in held_out])
            gains[name] = psnr - gray
        rows.append((n_top, epsilon, mu, len(model.clusters), max(c.layer for c in model.clusters) + 1, gains))
    lines = [
        "# Algorithm 3 settings at this scale (selection split, sampled pixels, no refinement)",
        "",
        "Median per-image PSNR gain over gray (dB) on `data/splits/select.txt` (CamVid val + 18 held-out BSDS500 train).",
        "",
        "| N0 | epsilon | mu | clusters | layers | global: all | clusters (descend): all | CamVid | BSDS | clusters (top layer only): all | CamVid | BSDS | global: BSDS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n_top, epsilon, mu, k, layers, g in rows:
        cells = [f"{np.median(g['global']):+.2f}"]
        for name in ("descend", "top"):
            cells += [f"{np.median(g[name]):+.2f}", f"{np.median(g[name][camvid]):+.2f}", f"{np.median(g[name][~camvid]):+.2f}"]
        cells.append(f"{np.median(g['global'][~camvid]):+.2f}")
        lines.append(f"| {n_top} | {epsilon:g} | {mu:g} | {k} | {layers} | " + " | ".join(cells) + " |")
    write_atomic(RESULTS / "select_clusters.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
