"""A gallery of select-split photos through the global-prior CNN: gray | V = 0 | default V | V = 1 | class head | original.

``PYTHONPATH=. python benchmarks/gallery_global_prior.py --model M --out benchmarks/results/global_prior_gallery.png``

Photos are evenly spread over ``data/splits/select.txt`` (CamVid frames left out but for one);
each row is scaled to a common height. Colorized with the full pipeline (`deepcolor.colorize`,
refined).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from _common import RESULTS, SPLITS, need_shared, write_atomic


def main() -> None:
    need_shared()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model file (default: the shipped global-prior)")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--height", type=int, default=150)
    p.add_argument("--out", default=str(RESULTS / "global_prior_gallery.png"))
    args = p.parse_args()
    import deepcolor
    from deepcolor.evaluation import gray_version
    from deepcolor.io.paths import expand_inputs
    from deepcolor.models.registry import load_model
    from deepcolor.train.global_prior import read_colour

    model = load_model(args.model, method="global-prior") if args.model else load_model(method="global-prior")
    default_v = float(model.config.get("vividness_default", 0.0))
    class_head = type(model)(model.net, dict(model.config, vividness_mode="class-head"))  # the class head's annealed mean
    paths = expand_inputs([SPLITS / "select.txt"])
    photos = [q for q in paths if "camvid" not in q.parts]
    chosen = [photos[i] for i in np.linspace(0, len(photos) - 1, args.n - 1).round().astype(int)]
    chosen.append(next(q for q in paths if "camvid" in q.parts))
    rows = []
    for path in chosen:
        original = read_colour(path)
        luma, gray = gray_version(original)
        cells = [gray] + [deepcolor.colorize(gray[..., 0], model=model, vividness=v) for v in (0.0, default_v, 1.0)]
        cells += [deepcolor.colorize(gray[..., 0], model=class_head, vividness=1.0), original]
        h, w = original.shape[:2]
        size = (max(1, round(w * args.height / h)), args.height)
        row = np.concatenate([cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in cells], axis=1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows], axis=0)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    write_atomic(Path(args.out), png.tobytes())
    print(f"{args.out}: rows {', '.join(q.name for q in chosen)}; columns gray | V=0 | V={default_v:g} | V=1 | class head T=0.38 | original")


if __name__ == "__main__":
    main()
