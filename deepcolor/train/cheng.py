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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from deepcolor.features.descriptor import SEMANTIC_DIM
from deepcolor.models.cheng import ROUTINGS, VARIANTS, ChengModel, ClusterHead
from deepcolor.modelfile import ModelFileError, load_model_file, save_model_file
from deepcolor.regressor import Regressor
from deepcolor.train.mlp import fit_regressor
from deepcolor.train.calibrate import calibrate
from deepcolor.train.samples import (
    SAMPLES_VERSION,
    ImageSamples,
    descriptor_columns,
    collect_samples,
    extract_samples,
    fcn_cache_id,
    samples_psnr,
)

__all__ = ["FitConfig", "ImageSamples", "extract_samples", "collect_samples", "routed_on", "fit_model", "samples_psnr"]

logger = logging.getLogger(__name__)

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
    routing: str = "gist"  # what the clusters are made and chosen on: "gist" (Cheng's) or "encoder" (the scene FCN's pooled feature)

    def __post_init__(self) -> None:
        for name in ("samples_per_image", "max_global_samples", "epochs", "batch_size", "n_top", "min_cluster_size", "max_layers", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("cluster_samples_per_image", "hidden"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None (all samples; Cheng's D // 2), got {getattr(self, name)}")
        if self.routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, got {self.routing!r}")
        if not self.mu > 0:
            raise ValueError(f"mu must be > 0, got {self.mu}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def _stack(
    samples: Sequence[ImageSamples], members: np.ndarray, semantic: bool, cap: int, seed: int, per_image: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    # A cached image's samples are in random order, so its first `per_image` are a random subset.
    x = np.concatenate([descriptor_columns(samples[i].descriptors[:per_image], semantic) for i in members])
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


def _schedule(config: FitConfig, fcn_id: str) -> str:
    """What, besides its images, decides what an MLP learns: the features (through the FCN) and the schedule; keys the cache."""
    schedule_fields = [SAMPLES_VERSION, fcn_id, config.samples_per_image, config.epochs, config.batch_size, config.lr, config.seed,
                       config.max_global_samples]
    if config.hidden is not None:  # appended only when set, so caches of earlier fits stay valid
        schedule_fields.append({"hidden": config.hidden})
    return json.dumps(schedule_fields)


def _fit_clusters(
    samples: Sequence[ImageSamples], variants: list[str], train: Callable[..., Regressor], config: FitConfig, *, progress: bool
) -> list[ClusterHead]:
    """Algorithm 3's hierarchy on the images' routing features (gist or pooled), one MLP per cluster of the main variant,
    then the other variants' MLPs."""
    from tqdm.auto import tqdm

    from deepcolor.train.hierarchy import adaptive_clustering

    descriptors = np.stack([s.routing_feature for s in samples])
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
    heads = []
    for c in tqdm(found, desc="cluster variants", disable=not progress):
        regs = {main_variant: c.model}
        for v in variants[1:] if config.plain_clusters else []:
            regs[v] = train(f"cluster.{c.key}", c.members, v, config.cluster_samples_per_image)
        heads.append(
            ClusterHead(
                c.key, c.layer, c.centre, c.semantic_histogram, c.served_centre, c.sent_centre, regs, n_images=len(c.members)
            )
        )
    return heads


def routed_on(samples: Sequence[ImageSamples], routing: str) -> list[ImageSamples]:
    """The samples with the feature the clusters are made and chosen on in their ``routing`` field: the gist
    itself, or for ``"encoder"`` the scene FCN encoder's pooled feature (ValueError where a cache lacks it)."""
    if routing == "gist":
        return [replace(s, routing=s.gist) for s in samples]
    missing = [s.path for s in samples if s.pooled is None]
    if missing:
        raise ValueError(f"routing on the encoder needs samples made with the scene FCN's pooled feature; {missing[0]} has none")
    return [replace(s, routing=np.asarray(s.pooled, np.float32)) for s in samples]


def fit_model(
    paths: Sequence[Path],
    *,
    fcn: Any,
    config: FitConfig,
    work: Path,
    progress: bool = True,
    card: dict[str, Any] | None = None,
    calibration_paths: Sequence[Path] = (),
    device: str = "cpu",
    workers: int = 0,
    scheduler: str | None = None,
    fcn_path: str | Path | None = None,
) -> tuple[ChengModel, list[tuple[Path, str]]]:
    """Fit the whole bundle on colour images; returns (model, images that failed).

    With ``calibration_paths`` (held-out colour images), the global MLP's
    gain, each cluster's blend with the global MLP (or its fallback to it) and
    the colour gain are then fitted on them (`deepcolor.train.calibrate`).
    ``device="cuda"`` computes the features and trains the MLPs on the GPU.
    ``workers``, ``scheduler`` and ``fcn_path`` (the FCN's file) run the
    feature extraction on Dask (see `collect_samples`).
    """
    from tqdm.auto import tqdm

    fcn_id = fcn_cache_id(fcn)
    engine = {"workers": workers, "scheduler": scheduler, "fcn_path": fcn_path, "device": device}
    samples, failed = collect_samples(paths, fcn=fcn if config.semantic else None, config=config, work=work, fcn_id=fcn_id, progress=progress, **engine)
    if len(samples) < 2:
        raise ValueError(f"only {len(samples)} usable training image(s); need at least 2")
    samples = routed_on(samples, config.routing)
    variants = [v for v in VARIANTS if (config.semantic or v == "plain") and (config.plain_variant or v == "semantic")]
    schedule = _schedule(config, fcn_id)
    cache = RegressorCache(work / "regressors", schedule)
    everyone = np.arange(len(samples))

    def train(name: str, members: np.ndarray, variant: str, per_image: int | None = None) -> Regressor:
        semantic = variant == "semantic"

        def run() -> Regressor:
            x, y = _stack(samples, members, semantic, config.max_global_samples, config.seed, per_image)
            return fit_regressor(
                x, y, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, hidden=config.hidden, seed=config.seed,
                progress=progress, desc=name, device=device,
            )

        # Keyed by the images' paths, not their indices: a changed image list never reuses a stale MLP.
        tag = f".{per_image}px" if per_image else ""
        return cache.get_or_train(f"{name}.{variant}{tag}", [samples[i].path for i in members], run)

    global_regs = {v: train("global", everyone, v) for v in tqdm(variants, desc="global MLP", disable=not progress)}

    heads: list[ClusterHead] = []
    selection: dict[str, Any] = {}
    if config.clusters:
        heads = _fit_clusters(samples, variants, train, config, progress=progress)
        selection = {"top_k": config.top_k, "descend": config.descend}

    card = dict(card or {})
    card.update({"fit": asdict(config), "n_images": len(samples), "failed": [str(p) for p, _ in failed]})
    model = ChengModel(
        global_regressors=global_regs,
        clusters=heads,
        fcn=fcn if config.semantic else None,
        selection=selection,
        card=card,
        routing=config.routing,
    )
    if calibration_paths:
        held_out, held_failed = collect_samples(
            calibration_paths, fcn=model.fcn, config=config, work=work, fcn_id=fcn_id, progress=progress, **engine
        )
        failed += held_failed
        held_out = routed_on(held_out, config.routing)
        model, report = calibrate(model, held_out, colour_tolerance=config.colour_tolerance)
        card["calibration"] = {"n_images": len(held_out), **report}
    return model, failed
