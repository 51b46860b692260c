"""Cache both shipped models' outputs per image, once, so every combiner variant fits and scores in seconds (issue 26).

For each image of the select split and the report sets (README protocol: `_common.protocol_images`),
one compressed ``.npz`` under ``--cache/SET/NAME.npz`` with:

- ``original`` (H, W, 3) uint8 (the luma, gray and gray PSNR follow from it exactly);
- ``cheng_raw``, ``cheng`` (H, W, 2) float16: Cheng's chroma before and after the pipeline's refinement;
- ``cnn_raw``, ``cnn``: the global-prior CNN's regression head (V = 0), guided-upsampled, before / after refinement;
- ``annealed`` (h/2, w/2, 2) float16: its class head's annealed mean (the file's temperature) at stride 2 of the
  working resolution; ``entropy`` (h/4, w/4) float16: the class head's entropy at stride 4 (`deepcolor.models.both.prior_outputs`;
  normalized by log(bins) where ``entropy_normalized`` is set, in nats in files written before it was);
- ``feature`` (1280,) float16 and ``top1``: the measuring network's pooled feature and class of the original;
- scalars: ``cluster_distance`` (Cheng's routing feature to its chosen cluster's centre, L2), ``cluster``.

Resumable (an existing file is kept), single-threaded, atomic writes. Select first, in an interleaved
order, so a partial cache is an even sample of it.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/combined_cache.py [--cache /work/cache/combined] [--sets ...]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

from _common import SPLITS, need_shared, protocol_images, write_atomic

SETS = ("select", "photos_test", "bsds500_val", "camvid_test")


def interleaved(paths: list[Path], ways: int = 8) -> list[Path]:
    """``paths`` reordered 0, 8, 16, ..., 1, 9, ...: any prefix is spread over the whole list."""
    return [paths[i] for r in range(ways) for i in range(r, len(paths), ways)]


def cluster_distance(cheng, luma: np.ndarray) -> tuple[float, str]:
    """L2 distance of the image's routing feature to the centre of the cluster it is routed to, and that cluster's key."""
    from deepcolor.features.scene import scene_small_and_pooled

    small, pooled = scene_small_and_pooled(luma, cheng.fcn)
    feature, histogram = cheng.image_cues(luma, small, pooled)
    head = cheng.route(feature, histogram)
    return float(np.linalg.norm(np.asarray(feature, np.float32) - head.centre)), head.key


def cache_one(path: Path, out: Path, cheng, cnn, encoder, *, with_cluster: bool = True) -> bool:
    from deepcolor.features.encoder import imagenet_feature_and_class
    from deepcolor.models.both import prior_outputs
    from deepcolor.pipeline import colorize_luma
    from deepcolor.refine import refine_chroma

    images = protocol_images(path)
    if images is None:
        return False
    original, luma, _, _ = images
    t0 = time.perf_counter()
    arrays = {"original": original}
    for name, model, options in (("cheng", cheng, {}), ("cnn", cnn, {"vividness": 0.0})):
        raw = colorize_luma(luma, model, refine=False, **options).chroma
        arrays[f"{name}_raw"] = raw.astype(np.float16)
        arrays[name] = refine_chroma(luma, raw).astype(np.float16)
    _, annealed, entropy, _ = prior_outputs(cnn, luma)  # the both model's own reading of the CNN
    arrays.update(annealed=annealed.astype(np.float16), entropy=entropy[..., 0].astype(np.float16), entropy_normalized=np.bool_(True))
    distance, key = cluster_distance(cheng, luma) if with_cluster else (float("nan"), "")
    feature, top1 = imagenet_feature_and_class(encoder, original)
    arrays.update(feature=feature.astype(np.float16), top1=np.int32(top1), cluster_distance=np.float32(distance),
                  cluster=np.array(key), seconds=np.float32(time.perf_counter() - t0))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_atomic(out, buf.getvalue())
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/combined"))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--no-cluster", action="store_true", help="skip Cheng's cluster distance (a second FCN pass)")
    parser.add_argument("--limit", type=int, default=None, help="at most N images a set (the interleaved order's first N)")
    args = parser.parse_args()
    need_shared()
    import torch

    from deepcolor.features.encoder import load_pretrained_encoder
    from deepcolor.io.paths import expand_inputs
    from deepcolor.pipeline import load_model

    torch.set_num_threads(1)
    cheng, cnn, encoder = load_model("cheng"), load_model("global-prior"), load_pretrained_encoder()
    for name in args.sets:
        paths = interleaved(expand_inputs([str(SPLITS / f"{name}.txt")]))[: args.limit]
        done = t = 0
        t0 = time.perf_counter()
        for i, path in enumerate(paths):
            out = args.cache / name / (path.stem + ".npz")
            if out.is_file():
                continue
            done += cache_one(path, out, cheng, cnn, encoder, with_cluster=not args.no_cluster)
            if done and done % 25 == 0:
                t = time.perf_counter() - t0
                print(f"{name}: {i + 1}/{len(paths)}, {t / done:.2f} s an image", flush=True)
        print(f"{name}: done ({done} new)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
