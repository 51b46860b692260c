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
from deepcolor.features.descriptor import PLAIN_DIM, descriptor_at, feature_maps
from deepcolor.gist import gist_descriptor
from deepcolor.io import atomic_open, read_image
from deepcolor.kernels.device import array_module_for
from deepcolor.metrics import psnr, to_uint8
from deepcolor.regressor import Regressor

__all__ = ["SAMPLES_VERSION", "ImageSamples", "fcn_cache_id", "sample_key", "save_samples", "extract_samples", "collect_samples", "samples_psnr", "chroma_psnr", "descriptor_columns"]

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
    gist: np.ndarray  # (512,) float32, `deepcolor.gist.gist_descriptor`
    histogram: np.ndarray | None  # (C,) float32 (C = 11, or 24 with the scene FCN) or None
    pooled: np.ndarray | None = None  # (1280,) float32: the scene FCN encoder's pooled feature, where the cache holds it
    routing: np.ndarray | None = None  # the feature clusters are made and chosen on, set by `train.cheng.routed_on`

    @property
    def routing_feature(self) -> np.ndarray:
        """What the clusters are made and chosen on: `routing` where `routed_on` set it, else the gist (Cheng's)."""
        return self.gist if self.routing is None else self.routing


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def fcn_cache_id(fcn: Any) -> str:
    """The id of an FCN in cache keys: a hash of its model file's config (``"none"`` without one).

    Samples and MLPs cached under another FCN are never reused; caches written
    by earlier versions of this module stay valid (the id is computed as it was).
    """
    config = fcn.file_config if fcn is not None else None
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12] if config else "none"


def sample_key(path: Path, config: Any, fcn_id: str) -> str:
    """The cache file stem of an image's samples (``work/samples/<key>.npz``): a hash of the file, the
    sampling settings (``config.samples_per_image``, ``config.seed``), the FCN's id and `SAMPLES_VERSION`."""
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
    small = pooled = None
    if fcn is not None:  # a pooled feature (the scene FCN's encoder) comes from the same pass (routing "encoder")
        small, pooled = fcn.small_and_pooled(luma, xp=array_module_for(device))
    maps = feature_maps(luma, small=small, device=device).on_host()
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
        pooled=pooled,
    )


def _extract_job(job, loaded_fcn: Any, *, n_samples: int, seed: int, fcn: Any = None, device: str = "cpu") -> str:
    """The per-file task of feature extraction: an image's samples into its cache file.

    The FCN is ``fcn`` when given (this process's own), else the one this worker loaded.
    """
    s = extract_samples(job.source, fcn=fcn if fcn is not None else loaded_fcn, n_samples=n_samples, seed=seed, device=device)
    save_samples(job.target, s)
    return "done"


def save_samples(target: Path, s: ImageSamples, **extra: np.ndarray) -> None:
    """Write an image's samples to its cache file atomically (``extra``: more arrays, which loading ignores)."""
    _atomic_savez(
        target,
        descriptors=s.descriptors,
        chroma=s.chroma,
        luma=s.luma,
        rgb=s.rgb,
        gist=s.gist,
        histogram=s.histogram if s.histogram is not None else np.zeros(0, np.float32),
        **({"pooled": s.pooled} if s.pooled is not None else {}),
        **extra,
    )


def collect_samples(
    paths: Sequence[Path],
    *,
    fcn: Any,
    config: Any,
    work: Path,
    fcn_id: str = "none",
    progress: bool = True,
    device: str = "cpu",
    workers: int = 0,
    scheduler: str | None = None,
    fcn_path: str | Path | None = None,
) -> tuple[list[ImageSamples], list[tuple[Path, str]]]:
    """Samples of every image, from the cache where present; returns (samples, failures).

    Images not yet cached are extracted through the batch engine
    (`deepcolor.batch.run_batch`): here, or on ``workers`` local Dask
    processes, or on the cluster at ``scheduler``, each worker loading the FCN
    once from ``fcn_path``. Each image's samples are cached atomically as soon
    as they are made, so an interrupted fit redoes none of them.
    """
    import functools

    from deepcolor.batch import Job, Resource, run_batch

    if fcn is not None and (workers or scheduler) and fcn_path is None:
        raise ValueError("feature extraction on Dask loads the FCN on each worker: give fcn_path")
    caches: dict[Path, Path] = {}
    jobs: list[Job] = []
    failed: list[tuple[Path, str]] = []
    for path in paths:
        try:
            caches[path] = cache = work / "samples" / f"{sample_key(path, config, fcn_id)}.npz"
        except OSError as exc:
            failed.append((path, f"{path}: {exc.strerror or exc}"))
            continue
        if not cache.is_file():
            jobs.append(Job(str(path), path, cache, cache.name, 0, 0))
    if jobs:
        (work / "samples").mkdir(parents=True, exist_ok=True)
        logger.info("extracting the features of %d image(s), %d cached", len(jobs), len(caches) - len(jobs))
    resource = None
    task = functools.partial(_extract_job, n_samples=config.samples_per_image, seed=config.seed, fcn=fcn, device=device)
    if fcn is not None and (workers or scheduler):  # each worker loads the FCN file once
        from deepcolor.features.semantic import load_semantic_net

        st = Path(fcn_path).stat()
        resource = Resource(("fcn", str(Path(fcn_path).resolve()), st.st_size, st.st_mtime_ns),
                            functools.partial(load_semantic_net, str(fcn_path)))
        task = functools.partial(task, fcn=None)
    report = run_batch(jobs, task, resource=resource, workers=workers, scheduler=scheduler, progress=progress, desc="features")
    failed += report.failed
    bad = {p for p, _ in report.failed}
    out: list[ImageSamples] = []
    for path, cache in caches.items():
        if path in bad:
            continue
        with np.load(cache, allow_pickle=False) as z:
            hist = z["histogram"] if z["histogram"].size else None
            pooled = z["pooled"] if "pooled" in z.files else None
            out.append(ImageSamples(str(path), z["descriptors"], z["chroma"], z["luma"], z["rgb"], z["gist"], hist, pooled))
    return out, failed


def samples_psnr(regressor: Regressor, samples: ImageSamples, *, semantic: bool) -> float:
    """PSNR (dB, 8-bit RGB) of an image's sampled pixels colorized by ``regressor``."""
    return chroma_psnr(samples, regressor.predict(descriptor_columns(samples.descriptors, semantic)))


def chroma_psnr(samples: ImageSamples, chroma: np.ndarray) -> float:
    """PSNR (dB, 8-bit RGB) of an image's sampled pixels with this chroma (N, 2) and their true luma."""
    chroma = np.asarray(chroma, np.float32)
    rgb = to_uint8(merge_luma_chroma(samples.luma[None, :], chroma[None, :, :]))  # (1, N, 3): a one-row image
    return psnr(rgb, samples.rgb[None, :, :])


def descriptor_columns(descriptors: np.ndarray, semantic: bool) -> np.ndarray:
    """The columns of (N, 92) or (N, 105) descriptors a variant reads: all of them, or without semantics the first 81."""
    return descriptors if semantic else descriptors[:, :PLAIN_DIM]
