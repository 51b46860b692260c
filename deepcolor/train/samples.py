"""Training samples: per image, the descriptors of random pixels with their true colours (cached).

``work/samples/<hash>.npz`` per image, written atomically; the hash covers the
file (path, size, mtime), the sampling settings, the FCN (`fcn_cache_id`) and
`SAMPLES_VERSION`, so a cache is reused exactly when it would be recomputed the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepcolor.colorspace import merge_luma_chroma, quantize_luma, split_luma_chroma
from deepcolor.features.descriptor import SEMANTIC_DIM, descriptor_at, feature_maps
from deepcolor.gist import gist_descriptor
from deepcolor.io import atomic_open, read_image
from deepcolor.metrics import psnr, to_uint8
from deepcolor.regressor import Regressor

__all__ = ["SAMPLES_VERSION", "ImageSamples", "fcn_cache_id", "extract_samples", "collect_samples", "samples_psnr", "chroma_psnr"]

logger = logging.getLogger(__name__)

# Bump when the features change (code, not data): cached samples and MLPs of an older version are not reused.
SAMPLES_VERSION = 2


@dataclass
class ImageSamples:
    """The cached training data of one image."""

    path: str
    descriptors: np.ndarray  # (N, 92) float32 (or 81 without an FCN)
    chroma: np.ndarray  # (N, 2) float32 true U, V
    luma: np.ndarray  # (N,) float32
    rgb: np.ndarray  # (N, 3) uint8 original colour
    gist: np.ndarray  # (512,) float32
    histogram: np.ndarray | None  # (11,) float32 or None


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def fcn_cache_id(fcn: Any) -> str:
    """The id of an FCN in cache keys: a hash of its model file's config (``"none"`` without one).

    Samples and MLPs cached under another FCN are never reused; caches written
    by earlier versions of this module stay valid (the id is computed as it was).
    """
    config = getattr(fcn, "file_config", None) if fcn is not None else None
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12] if config else "none"


def _sample_key(path: Path, config: Any, fcn_id: str) -> str:
    st = path.stat()
    text = json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, config.samples_per_image, config.seed, fcn_id, SAMPLES_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def extract_samples(path: Path, *, fcn: Any, n_samples: int, seed: int, device: str = "cpu") -> ImageSamples:
    """Read a colour image and sample its training pixels.

    The pixel sample is drawn from a generator seeded by ``seed`` and the file
    name, so it does not depend on the order images are processed in. On
    ``device="cuda"`` the dense maps are computed on the GPU and then sampled
    on the host.
    """
    image = read_image(path)
    if image.pixels.ndim != 3:
        raise ValueError(f"{path}: a gray image cannot teach colour")
    rgb = image.pixels
    luma, chroma = split_luma_chroma(rgb)
    # Train on the luma a gray photograph would hold: 8-bit rounded.
    luma = quantize_luma(luma)
    if device == "cpu":
        maps = feature_maps(luma, fcn=fcn)
    else:
        from deepcolor.features.descriptor_cuda import host_feature_maps_cuda

        maps = host_feature_maps_cuda(luma, fcn=fcn)
    name_seed = int.from_bytes(hashlib.sha1(path.name.encode()).digest()[:4], "little")
    rng = np.random.default_rng([seed, name_seed])
    n = min(n_samples, luma.size)
    index = rng.choice(luma.size, size=n, replace=False)
    hist = None
    if maps.semantic is not None:
        from deepcolor.features.semantic import semantic_histogram

        hist = semantic_histogram(maps.semantic)
    return ImageSamples(
        path=str(path),
        descriptors=descriptor_at(maps, index, semantic=maps.semantic is not None),
        chroma=chroma.reshape(-1, 2)[index],
        luma=luma.reshape(-1)[index],
        rgb=to_uint8(rgb.reshape(-1, 3)[index]),
        gist=gist_descriptor(luma),
        histogram=hist,
    )


def collect_samples(
    paths: Sequence[Path], *, fcn: Any, config: Any, work: Path, fcn_id: str = "none", progress: bool = True, device: str = "cpu"
) -> tuple[list[ImageSamples], list[tuple[Path, str]]]:
    """Samples of every image, from the cache where present; returns (samples, failures)."""
    from tqdm.auto import tqdm

    out: list[ImageSamples] = []
    failed: list[tuple[Path, str]] = []
    for path in tqdm(paths, desc="features", unit="img", disable=not progress):
        cache = work / "samples" / f"{_sample_key(path, config, fcn_id)}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as z:
                hist = z["histogram"] if z["histogram"].size else None
                out.append(ImageSamples(str(path), z["descriptors"], z["chroma"], z["luma"], z["rgb"], z["gist"], hist))
            continue
        try:
            s = extract_samples(path, fcn=fcn, n_samples=config.samples_per_image, seed=config.seed, device=device)
        except (ValueError, OSError) as exc:
            failed.append((path, str(exc).splitlines()[0]))
            continue
        _atomic_savez(
            cache,
            descriptors=s.descriptors,
            chroma=s.chroma,
            luma=s.luma,
            rgb=s.rgb,
            gist=s.gist,
            histogram=s.histogram if s.histogram is not None else np.zeros(0, np.float32),
        )
        out.append(s)
    return out, failed


def samples_psnr(regressor: Regressor, samples: ImageSamples, *, semantic: bool) -> float:
    """PSNR (dB, 8-bit RGB) of an image's sampled pixels colorized by ``regressor``."""
    return chroma_psnr(samples, regressor.predict(_columns(samples.descriptors, semantic)))


def chroma_psnr(samples: ImageSamples, chroma: np.ndarray) -> float:
    """PSNR (dB, 8-bit RGB) of an image's sampled pixels with this chroma (N, 2) and their true luma."""
    chroma = np.asarray(chroma, np.float32)
    rgb = to_uint8(merge_luma_chroma(samples.luma[None, :], chroma[None, :, :]))  # (1, N, 3): a one-row image
    return psnr(rgb, samples.rgb[None, :, :])


def _columns(descriptors: np.ndarray, semantic: bool) -> np.ndarray:
    return descriptors if semantic else descriptors[:, : descriptors.shape[1] - SEMANTIC_DIM]
