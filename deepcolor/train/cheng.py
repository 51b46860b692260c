"""Fitting a `ChengModel` from folders of colour photographs.

Three resumable steps, each cached under a work folder so an interrupted fit
loses at most the item in progress:

1. Samples: per image, the descriptors of ``samples_per_image`` random pixels
   with their true chroma and RGB, the image's gist and semantic histogram
   (``work/samples/<hash>.npz``, written atomically).
2. The global MLP on all samples, and the cluster hierarchy of Algorithm 3 with
   one MLP per cluster (``work/regressors/<name>.safetensors``). A cluster's
   file records a hash of its members, so a re-run reuses it only if the
   clustering put the same images in it.
3. The bundle, written atomically to the output path.

The error of a training image in Algorithm 3 is ``-PSNR`` of its colorization
by its cluster's MLP, measured on its sampled pixels (8-bit RGB, peak 255): an
unbiased estimate of the full-image MSE that needs no second pass over the
images.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from deepcolor.colorspace import merge_luma_chroma, quantize_luma, split_luma_chroma
from deepcolor.features.descriptor import SEMANTIC_DIM, descriptor_at, feature_maps
from deepcolor.gist import gist_descriptor
from deepcolor.io import atomic_open, read_image
from deepcolor.metrics import psnr, to_uint8
from deepcolor.models.cheng import VARIANTS, ChengModel, ClusterHead
from deepcolor.modelfile import ModelFileError, load_model_file, save_model_file
from deepcolor.regressor import Regressor, fit_regressor

__all__ = ["FitConfig", "ImageSamples", "extract_samples", "collect_samples", "fit_model", "samples_psnr", "chroma_psnr"]

logger = logging.getLogger(__name__)

# Bump when the features change (code, not data): cached samples and MLPs of an older version are not reused.
SAMPLES_VERSION = 2


@dataclass
class FitConfig:
    """Everything that shapes a fit; stored in the model card."""

    samples_per_image: int = 1000
    epochs: int = 15
    batch_size: int = 4096
    lr: float = 3e-3
    seed: int = 0
    max_global_samples: int = 600_000
    clusters: bool = True
    n_top: int = 24
    mu: float = 80.0
    epsilon: float = -26.0
    min_cluster_size: int = 12
    max_layers: int = 4
    min_layer_gain: float | None = 0.0  # dB; None keeps layers that do not help (the paper's rule)
    top_k: int = 3
    descend: bool = True
    semantic: bool = True
    plain_variant: bool = True  # also train the 81-d global MLP (for --no-semantic)
    plain_clusters: bool = True  # and the 81-d cluster MLPs (else --no-semantic images get the 81-d global MLP)
    hidden: int | None = None  # hidden units of every MLP (None: Cheng's D // 2)
    cluster_samples_per_image: int | None = None  # training samples of each image for a cluster MLP (None: all)
    colour_tolerance: float | None = 0.05  # dB of held-out median gain the colour gain may cost (None: no colour gain)


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


def _sample_key(path: Path, config: FitConfig, fcn_id: str) -> str:
    st = path.stat()
    text = json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, config.samples_per_image, config.seed, fcn_id, SAMPLES_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def extract_samples(path: Path, *, fcn: Any, n_samples: int, seed: int) -> ImageSamples:
    """Read a colour image and sample its training pixels.

    The pixel sample is drawn from a generator seeded by ``seed`` and the file
    name, so it does not depend on the order images are processed in.
    """
    image = read_image(path)
    if image.pixels.ndim != 3:
        raise ValueError(f"{path}: a gray image cannot teach colour")
    rgb = image.pixels
    luma, chroma = split_luma_chroma(rgb)
    # Train on the luma a gray photograph would hold: 8-bit rounded.
    luma = quantize_luma(luma)
    maps = feature_maps(luma, fcn=fcn)
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
    paths: Sequence[Path], *, fcn: Any, config: FitConfig, work: Path, fcn_id: str = "none", progress: bool = True
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
            s = extract_samples(path, fcn=fcn, n_samples=config.samples_per_image, seed=config.seed)
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
    rgb = to_uint8(merge_luma_chroma(samples.luma[None, :], np.asarray(chroma, np.float32)[None, :, :]))  # (1, N, 3): a one-row image
    return psnr(rgb, samples.rgb[None, :, :])


def _columns(descriptors: np.ndarray, semantic: bool) -> np.ndarray:
    return descriptors if semantic else descriptors[:, : descriptors.shape[1] - SEMANTIC_DIM]


def _stack(
    samples: Sequence[ImageSamples], members: np.ndarray, semantic: bool, cap: int, seed: int, per_image: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    # A cached image's samples are in random order, so its first `per_image` are a random subset.
    x = np.concatenate([_columns(samples[i].descriptors[:per_image], semantic) for i in members])
    y = np.concatenate([samples[i].chroma[:per_image] for i in members])
    if x.shape[0] > cap:
        keep = np.random.default_rng(seed).choice(x.shape[0], size=cap, replace=False)
        x, y = x[keep], y[keep]
    return x, y


class RegressorCache:
    """Trained MLPs on disk, keyed by name and checked against a hash of their training set and schedule."""

    def __init__(self, folder: Path, schedule: str = "") -> None:
        self.folder = folder
        self.schedule = schedule

    def get_or_train(self, name: str, members: np.ndarray | Sequence[str], train: Callable[[], Regressor]) -> Regressor:
        """``members``: the training images, as their paths (or, in tests, indices)."""
        if isinstance(members, np.ndarray):
            ident = np.ascontiguousarray(members, dtype=np.int64).tobytes()
        else:
            ident = "\n".join(members).encode()
        digest = hashlib.sha1(ident + self.schedule.encode()).hexdigest()
        path = self.folder / f"{name}.{digest[:12]}.safetensors"  # one file per training set: configs never collide
        if path.is_file():
            try:
                tensors, config = load_model_file(path, kind="regressor")
                if config.get("members") == digest:
                    return Regressor.from_tensors(tensors, "r", config.get("info"))
            except (ModelFileError, ValueError):
                logger.warning("ignoring unreadable cached regressor %s", path)
        reg = train()
        save_model_file(path, reg.to_tensors("r"), kind="regressor", config={"members": digest, "info": reg.info})
        return reg


def fit_model(
    paths: Sequence[Path],
    *,
    fcn: Any,
    config: FitConfig,
    work: Path,
    progress: bool = True,
    card: dict[str, Any] | None = None,
    calibration_paths: Sequence[Path] = (),
) -> tuple[ChengModel, list[tuple[Path, str]]]:
    """Fit the whole bundle on colour images; returns (model, images that failed).

    With ``calibration_paths`` (held-out colour images), the global MLP's
    gain, each cluster's blend with the global MLP (or its fallback to it) and
    the colour gain are then fitted on them (`deepcolor.train.calibrate`).
    """
    from tqdm.auto import tqdm

    from deepcolor.train.calibrate import calibrate

    fcn_id = fcn_cache_id(fcn)
    samples, failed = collect_samples(paths, fcn=fcn if config.semantic else None, config=config, work=work, fcn_id=fcn_id, progress=progress)
    if len(samples) < 2:
        raise ValueError(f"only {len(samples)} usable training image(s); need at least 2")
    variants = [v for v in VARIANTS if (config.semantic or v == "plain") and (config.plain_variant or v == "semantic")]
    # The features (through the FCN) and the schedule decide what an MLP learns: both key the cache.
    schedule_fields = [SAMPLES_VERSION, fcn_id, config.samples_per_image, config.epochs, config.batch_size, config.lr, config.seed,
                       config.max_global_samples]
    if config.hidden is not None:  # appended only when set, so caches of earlier fits stay valid
        schedule_fields.append({"hidden": config.hidden})
    schedule = json.dumps(schedule_fields)
    cache = RegressorCache(work / "regressors", schedule)
    everyone = np.arange(len(samples))

    def train(name: str, members: np.ndarray, variant: str, per_image: int | None = None) -> Regressor:
        semantic = variant == "semantic"

        def run() -> Regressor:
            x, y = _stack(samples, members, semantic, config.max_global_samples, config.seed, per_image)
            return fit_regressor(
                x, y, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, hidden=config.hidden, seed=config.seed,
                progress=progress, desc=name,
            )

        # Keyed by the images' paths, not their indices: a changed image list never reuses a stale MLP.
        tag = f".{per_image}px" if per_image else ""
        return cache.get_or_train(f"{name}.{variant}{tag}", [samples[i].path for i in members], run)

    global_regs = {v: train("global", everyone, v) for v in tqdm(variants, desc="global MLP", disable=not progress)}

    heads: list[ClusterHead] = []
    selection: dict[str, Any] = {}
    if config.clusters:
        from deepcolor.train.hierarchy import adaptive_clustering

        descriptors = np.stack([s.gist for s in samples])
        hists = (
            np.stack([s.histogram for s in samples])
            if config.semantic
            else np.full((len(samples), SEMANTIC_DIM), 1.0 / SEMANTIC_DIM, np.float32)
        )
        main_variant = variants[0]

        def train_cluster(key: str, members: np.ndarray) -> Regressor:
            return train(f"cluster.{key}", members, main_variant, config.cluster_samples_per_image)

        def image_errors(key: str, reg: Regressor, members: np.ndarray) -> np.ndarray:
            return np.array([-samples_psnr(reg, samples[i], semantic=main_variant == "semantic") for i in members], np.float32)

        found = adaptive_clustering(
            descriptors,
            hists,
            train_cluster,
            image_errors,
            epsilon=config.epsilon,
            mu=config.mu,
            n_top=config.n_top,
            min_cluster_size=config.min_cluster_size,
            max_layers=config.max_layers,
            seed=config.seed,
            progress=progress,
            min_layer_gain=config.min_layer_gain,
        )
        for c in tqdm(found, desc="cluster variants", disable=not progress):
            regs = {main_variant: c.model}
            for v in variants[1:] if config.plain_clusters else []:
                regs[v] = train(f"cluster.{c.key}", c.members, v, config.cluster_samples_per_image)
            heads.append(
                ClusterHead(
                    c.key, c.layer, c.centre, c.semantic_histogram, c.served_centre, c.sent_centre, regs, n_images=len(c.members)
                )
            )
        selection = {"top_k": config.top_k, "descend": config.descend}

    card = dict(card or {})
    card.update({"fit": asdict(config), "n_images": len(samples), "failed": [str(p) for p, _ in failed]})
    model = ChengModel(
        global_regressors=global_regs,
        clusters=heads,
        fcn=fcn if config.semantic else None,
        selection=selection,
        card=card,
    )
    if calibration_paths:
        held_out, held_failed = collect_samples(
            calibration_paths, fcn=model.fcn, config=config, work=work, fcn_id=fcn_id, progress=progress
        )
        failed += held_failed
        model, report = calibrate(model, held_out, colour_tolerance=config.colour_tolerance)
        card["calibration"] = {"n_images": len(held_out), **report}
    return model, failed
