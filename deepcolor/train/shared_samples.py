"""Training samples of several semantic networks in one pass: the ablation's cache, filled cheaply.

Cheng's descriptor is the gray patch and DAISY (81 columns, the same whatever the FCN) and the
smoothed class probabilities of the semantic network. To train two colorizers that differ only
in that network (the 11-class CamVid FCN against the 24-class scene FCN) on the same images, the
image is read, its patch and DAISY maps, gist and pixel sample made once, and one cache file
written per network, each exactly what `deepcolor.train.samples.collect_samples` would have
computed and under the key it looks for (`sample_key`), so `fit_model` then reads them as its own.
A scene FCN's files also hold the encoder's pooled feature (``pooled``, 1280-d), which the
routing experiment reads; loading ignores it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepcolor.colorspace import quantize_luma, split_luma_chroma
from deepcolor.features.descriptor import FeatureMaps, descriptor_at, feature_maps
from deepcolor.features.semantic import semantic_features, semantic_histogram
from deepcolor.gist import gist_descriptor
from deepcolor.io import read_image
from deepcolor.metrics import to_uint8
from deepcolor.train.samples import ImageSamples, fcn_cache_id, sample_key, save_samples

__all__ = ["shared_samples", "prefill_samples"]

logger = logging.getLogger(__name__)


def shared_samples(path: Path, fcns: Sequence[Any], *, n_samples: int, seed: int) -> list[tuple[ImageSamples, dict[str, np.ndarray]]]:
    """One image's samples under each network of ``fcns`` (CPU), as `extract_samples` makes them one by one.

    Returns
    -------
    list of (ImageSamples, extra arrays), one per network, in order; the extra arrays are
    ``{"pooled": (D,) float32}`` for a semantic network with a pooled feature (the scene FCN: 1280), else empty.
    """
    image = read_image(path)
    if image.pixels.ndim != 3:
        raise ValueError(f"{path}: a gray image cannot teach colour")
    rgb = image.pixels
    luma, chroma = split_luma_chroma(rgb)
    luma = quantize_luma(luma)  # the luma a gray photograph would hold, as extract_samples trains on
    plain = feature_maps(luma)
    name_seed = int.from_bytes(hashlib.sha1(path.name.encode()).digest()[:4], "little")
    index = np.random.default_rng([seed, name_seed]).choice(luma.size, size=min(n_samples, luma.size), replace=False)
    common = {"chroma": chroma.reshape(-1, 2)[index], "luma": luma.reshape(-1)[index], "rgb": to_uint8(rgb.reshape(-1, 3)[index]),
              "gist": gist_descriptor(luma)}
    out = []
    for fcn in fcns:
        small, pooled = fcn.small_and_pooled(luma)
        extra = {} if pooled is None else {"pooled": pooled}
        semantic = semantic_features(luma, small=small)
        maps = FeatureMaps(luma=plain.luma, padded=plain.padded, daisy=plain.daisy, semantic=semantic)
        samples = ImageSamples(str(path), descriptor_at(maps, index, semantic=True), histogram=semantic_histogram(semantic), **common)
        out.append((samples, extra))
    return out


def prefill_samples(paths: Sequence[Path], fcns: Sequence[Any], *, config: Any, work: Path, progress: bool = True) -> list[tuple[Path, str]]:
    """Fill ``work/samples`` with every image's samples under every network (skipping what is cached);
    returns the images that failed, with one line each. ``config``: the `FitConfig` of the fits to come."""
    from tqdm.auto import tqdm

    folder = work / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [fcn_cache_id(f) for f in fcns]
    failed = []
    for path in tqdm(list(paths), desc="shared features", disable=not progress, mininterval=10):
        try:
            targets = [folder / f"{sample_key(path, config, i)}.npz" for i in ids]
            missing = [k for k, t in enumerate(targets) if not t.is_file()]
            if not missing:
                continue
            made = shared_samples(path, [fcns[k] for k in missing], n_samples=config.samples_per_image, seed=config.seed)
            for k, (samples, extra) in zip(missing, made):
                save_samples(targets[k], samples, **extra)
        except (ValueError, OSError) as exc:
            failed.append((path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            logger.warning("%s", failed[-1][1])
    return failed
