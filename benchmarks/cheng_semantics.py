"""Cheng's colorizer on two semantic networks: the shared sample pass, the training subset, the evaluation.

The ablation of issue 17: two colorizers trained identically except for the FCN of the
descriptor (the 11-class CamVid FCN, 92-d, against the 24-class general-scene FCN, 105-d).

- ``subset``: writes a hash-stable subset of a manifest (every CamVid, BSDS500 and MSRC-21 line,
  and the photos whose file-name hash falls in the first ``--percent`` percent), so adding
  photos never moves an old one in or out.
- ``prefill``: fills a fit's sample cache (``--work``) for both networks in one pass over the
  images (patch, DAISY, gist and pixel sample made once; `deepcolor.train.shared_samples`);
  resumable. ``python -m deepcolor.fit ... --work`` with the same ``--samples-per-image`` and
  ``--seed`` then finds every image cached.
- ``gallery``: gray | each model | original for photos of a manifest picked by name hash.
- ``evaluate``: median per-image gain over gray (refined, the README protocol) and colorfulness
  ratio of models on a manifest, per part (photos / BSDS500 / CamVid), resumable row logs.

    python benchmarks/cheng_semantics.py subset --images data/splits/train.txt --percent 50 --out data/splits/train_cheng50.txt
    python benchmarks/cheng_semantics.py prefill --images M [M ...] --work DIR --samples-per-image 1000 --threads 1
    python benchmarks/cheng_semantics.py evaluate --images data/splits/select.txt --models A.safetensors B.safetensors --log L.jsonl
    python benchmarks/cheng_semantics.py gallery --images data/splits/select.txt --models A B --out G.png
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _common import RESULTS, SPLITS, RowLog, need_shared, write_atomic  # noqa: F401  (SPLITS: documentation)

ALWAYS = ("camvid", "bsds500", "msrc21")  # parts always kept whole by `subset`


def part_of(line: str) -> str:
    """The data part of a manifest line: photos, bsds500, camvid or msrc21."""
    parts = Path(line).parts
    for name in ("photos", *ALWAYS):
        if name in parts:
            return name
    return "other"


def in_subset(line: str, percent: float) -> bool:
    """Whether a manifest line is in the hash-stable subset: always for CamVid, BSDS500 and MSRC-21;
    for a photo, when the first 4 bytes of sha1(file name) put it in the first ``percent`` percent."""
    if part_of(line) in ALWAYS:
        return True
    bucket = int.from_bytes(hashlib.sha1(Path(line).name.encode()).digest()[:4], "big") / 2**32
    return bucket < percent / 100.0


def _subset(args) -> int:
    lines = [ln for ln in Path(args.images).read_text().splitlines() if ln.strip()]
    kept = [ln for ln in lines if in_subset(ln, args.percent)]
    out = Path(args.out)
    if out.resolve().parent != Path(args.images).resolve().parent:
        raise SystemExit("--out must sit beside --images (manifest lines are relative to their folder)")
    write_atomic(out, "\n".join(kept) + "\n")
    counts = {}
    for ln in kept:
        counts[part_of(ln)] = counts.get(part_of(ln), 0) + 1
    print(f"{out}: {len(kept)} of {len(lines)} lines {counts}")
    return 0


def _prefill(args) -> int:
    import torch

    from deepcolor.features.scene import load_scene_fcn
    from deepcolor.features.semantic import load_fcn
    from deepcolor.io.paths import expand_inputs
    from deepcolor.modelfile import default_weights_path
    from deepcolor.train.cheng import FitConfig
    from deepcolor.train.shared_samples import prefill_samples

    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    fcns = [load_fcn(args.fcn or default_weights_path("fcn")), load_scene_fcn(args.scene_fcn or default_weights_path("scene_fcn"))]
    config = FitConfig(samples_per_image=args.samples_per_image, seed=args.seed)
    for manifest in args.images:
        paths = expand_inputs([manifest])
        t0 = time.perf_counter()
        failed = prefill_samples(paths, fcns, config=config, work=Path(args.work), progress=not args.quiet)
        print(f"{manifest}: {len(paths)} images in {time.perf_counter() - t0:.0f} s, {len(failed)} failed", flush=True)
    return 0


def _evaluate(args) -> int:
    import numpy as np
    import torch

    from deepcolor.evaluation import evaluate_paths
    from deepcolor.io.paths import expand_inputs
    from deepcolor.pipeline import load_model

    torch.set_num_threads(args.threads)
    paths = expand_inputs(args.images)
    log = RowLog(Path(args.log))
    summary = {}
    for model_path in args.models:
        model = load_model(model_path)
        todo = [p for p in paths if f"{model_path}|{p}" not in log]  # rows are keyed by the image as evaluate_paths names it
        for start in range(0, len(todo), 25):  # logged in chunks: an interrupted run resumes
            chunk = todo[start : start + 25]
            rows, _ = evaluate_paths(chunk, model, settings={"full": {"semantic": True, "clusters": True, "refine": True}}, progress=False)
            for row in rows["full"]:
                log.add(f"{model_path}|{row['image']}", {"model": model_path, "path": str(row["image"]), "gain": row["gain"],
                                                          "colorfulness": row["colorfulness"], "original_colorfulness": row["colorfulness_original"]})
        wanted = {str(p) for p in paths}
        mine = [r for r in log.rows.values() if r["model"] == model_path and r["path"] in wanted]
        for part in ("all", "photos", "bsds500", "camvid", "msrc21"):
            rows = [r for r in mine if part == "all" or part_of(r["path"]) == part]
            if rows:
                ratio = np.median([r["colorfulness"] for r in rows]) / max(np.median([r["original_colorfulness"] for r in rows]), 1e-9)
                summary.setdefault(model_path, {})[part] = {"n": len(rows), "gain_median": round(float(np.median([r["gain"] for r in rows])), 3),
                                                            "colorfulness_ratio": round(float(ratio), 3)}
        print(model_path, json.dumps(summary[model_path]), flush=True)
    if args.out:
        write_atomic(Path(args.out), json.dumps(summary, indent=1) + "\n")
    return 0


def _gallery(args) -> int:
    """Rows of gray | each model | original for photos picked by name hash from a manifest (a PNG)."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from deepcolor.colorspace import rgb_to_luma
    from deepcolor.io import read_image
    from deepcolor.io.paths import expand_inputs
    from deepcolor.metrics import to_uint8
    from deepcolor.pipeline import colorize, load_model

    torch.set_num_threads(args.threads)
    paths = [p for p in expand_inputs(args.images) if part_of(str(p)) == "photos"]
    paths = sorted(paths, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())[: args.n]
    models = [load_model(m) for m in args.models]
    height, rows = 160, []
    for path in paths:
        rgb = to_uint8(read_image(path).pixels)
        gray = np.round(rgb_to_luma(rgb.astype(np.float32) / 255.0) * 255).astype(np.uint8)
        panels = [np.repeat(gray[..., None], 3, -1)] + [colorize(gray, model=m, device="cpu") for m in models] + [rgb]
        width = round(rgb.shape[1] * height / rgb.shape[0])
        rows.append(np.concatenate([np.asarray(Image.fromarray(p if p.dtype == np.uint8 else to_uint8(p)).resize((width, height))) for p in panels], axis=1))
    canvas = np.full((len(rows) * (height + 4) + 18, max(r.shape[1] for r in rows), 3), 255, np.uint8)
    for i, r in enumerate(rows):
        canvas[18 + i * (height + 4) : 18 + i * (height + 4) + height, : r.shape[1]] = r
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).text((4, 3), "gray | " + " | ".join(Path(m).stem for m in args.models) + " | original", fill=(0, 0, 0))
    image.save(args.out)
    print(args.out, [p.name for p in paths])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("subset")
    p.add_argument("--images", required=True)
    p.add_argument("--percent", type=float, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("prefill")
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--samples-per-image", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fcn", default=None)
    p.add_argument("--scene-fcn", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-q", "--quiet", action="store_true")
    p = sub.add_parser("evaluate")
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("gallery")
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.stage != "subset":
        need_shared()
    return {"subset": _subset, "prefill": _prefill, "evaluate": _evaluate, "gallery": _gallery}[args.stage](args)


if __name__ == "__main__":
    raise SystemExit(main())
