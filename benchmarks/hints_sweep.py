"""The second parameter sweep of `deepcolor.hints.propagate` (select split only, docs/hints.md).

15 photos of the select split (every other one of the 30 ``bench_hints.py --set select --only photos --limit 30``
takes), the global-prior CNN's automatic chroma (cached by bench_hints.py), the same simulated hints; per
setting the median PSNR gain over the automatic result at N = 1, 2, 5, 10, 20, beside the naive spread.

    PYTHONPATH=. python benchmarks/hints_sweep.py     # writes benchmarks/results/hints_sweep.md
"""

from __future__ import annotations

import json
import time

import numpy as np

from _common import RESULTS, protocol_images, write_atomic
from bench_hints import COUNTS, automatic_chroma, manifest, naive_spread, simulated_hints

SETTINGS = [  # in the order they were tried: point hints, larger sigma, a patch radius, then a smooth prior
    {"sigma": 0.1, "prior": 1e-5, "radius": 0, "spread": 0}, {"sigma": 0.2, "prior": 1e-4, "radius": 0, "spread": 0},
    {"sigma": 0.4, "prior": 1e-4, "radius": 0, "spread": 0},
    {"sigma": 0.1, "prior": 1e-4, "radius": 4, "spread": 0}, {"sigma": 0.05, "prior": 1e-4, "radius": 10, "spread": 0},
    {"sigma": 0.05, "prior": 1e-3, "radius": 4, "spread": 0.2, "spread_luma": 0.2, "bounded": False},
    {"sigma": 0.05, "prior": 1e-3, "radius": 4, "spread": 0.2, "spread_luma": 0.2, "bounded": True},
    {"sigma": 0.05, "prior": 1e-2, "radius": 4, "spread": 0.2, "spread_luma": 0.1, "bounded": True},
    {"sigma": 0.05, "prior": 1e-3, "radius": 4, "spread": 0.3, "spread_luma": 0.1, "bounded": True},  # chosen
]


def main() -> None:
    from deepcolor.evaluation import result_rgb8
    from deepcolor.hints import propagate
    from deepcolor.metrics import psnr

    photos = []
    for path in manifest("select", 30, "photos")[::2][:15]:
        original, luma, _, _ = protocol_images(path)
        photos.append((original, luma, automatic_chroma(path, luma, "global-prior", {}), simulated_hints(original, path.name)))

    def medians(spread_fn) -> list[float]:
        gains = []
        for original, luma, chroma, hints in photos:
            base = psnr(result_rgb8(luma, chroma), original)
            gains.append([psnr(result_rgb8(luma, spread_fn(luma, chroma, hints[:n])), original) - base for n in COUNTS])
        return np.median(gains, axis=0).tolist()

    lines = ["| setting | " + " | ".join(f"N={n}" for n in COUNTS) + " |", "|---|" + "---|" * len(COUNTS)]
    rows = [("naive (Shepard)", lambda l, c, h: naive_spread(l, c, h, bounded=False))]
    rows += [(json.dumps(s), lambda l, c, h, s=s: propagate(l, c, h, **s)) for s in SETTINGS]
    for label, fn in rows:
        t0 = time.perf_counter()
        values = medians(fn)
        lines.append(f"| {label} | " + " | ".join(f"{v:+.2f}" for v in values) + " |")
        print(lines[-1], f"{time.perf_counter() - t0:.0f} s", flush=True)
    write_atomic(RESULTS / "hints_sweep.md", "select split, 15 photos, global-prior\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
