"""The assembled Cheng pipeline: the model bundle and `colorize`.

A `ColorizationModel` is one file (see `deepcolor.modelfile`) that holds every
part a colorization needs: the FCN for the semantic feature, a global MLP
trained on all images (``--no-clusters``), and the cluster hierarchy of
Algorithm 3 with one MLP per cluster. Each MLP exists in two variants: on the
92-d descriptor (``"semantic"``) and on the 81-d one without semantics
(``"plain"``, ``--no-semantic``), so the ablations run from the CLI on the
shipped model.

Data flows one way: luma -> feature maps -> cluster choice -> regressor ->
refinement -> merge with the luma.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.clustering import choose_cluster_arrays, clusters_to_arrays
from deepcolor.colorspace import merge_luma_chroma, rgb_to_luma
from deepcolor.features.descriptor import FeatureMaps, descriptor_rows, feature_maps
from deepcolor.gist import MIN_INPUT_SIZE, gist_descriptor
from deepcolor.modelfile import ModelFileError, default_weights_path, load_model_file, save_model_file
from deepcolor.refine import refine_chroma
from deepcolor.regressor import Regressor

__all__ = ["VARIANTS", "ClusterHead", "ColorizationModel", "Colorization", "load_model", "colorize", "colorize_luma", "to_luma"]

logger = logging.getLogger(__name__)

VARIANTS = ("semantic", "plain")
ROW_CHUNK_PIXELS = 1 << 16  # descriptor rows are built and regressed this many pixels at a time
MODEL_KIND = "colorizer"


@dataclass
class ClusterHead:
    """One cluster of the hierarchy and its regressors."""

    key: str
    layer: int
    centre: np.ndarray  # (512,) gist centre
    semantic_histogram: np.ndarray  # (11,) mean semantic histogram of its images
    served_centre: np.ndarray  # (512,) gist centre of the images it served (NaN if none)
    sent_centre: np.ndarray  # (512,) gist centre of the images it sent on (NaN if none)
    regressors: dict[str, Regressor]
    n_images: int = 0
    chroma_scale: dict[str, float] = field(default_factory=dict)  # per variant, from calibration


@dataclass
class ColorizationModel:
    """Everything a colorization needs, loaded from or saved to one file."""

    global_regressors: dict[str, Regressor]
    clusters: list[ClusterHead] = field(default_factory=list)
    fcn: Any = None  # SemanticFCN or None
    fcn_tensors: dict[str, np.ndarray] | None = None
    fcn_config: dict[str, Any] | None = None
    selection: dict[str, Any] = field(default_factory=dict)  # test-time cluster choice settings
    global_scale: dict[str, float] = field(default_factory=dict)  # per variant, from calibration
    card: dict[str, Any] = field(default_factory=dict)  # how it was trained, validation figures
    path: Path | None = None
    _arrays: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)

    # -- choices ---------------------------------------------------------
    def variant(self, semantic: bool) -> str:
        name = "semantic" if semantic else "plain"
        if name not in self.global_regressors:
            raise ValueError(f"this model has no {name!r} variant (it has {sorted(self.global_regressors)})")
        if semantic and self.fcn is None:
            raise ValueError("this model's semantic variant needs an FCN, which it does not carry")
        return name

    def cluster_arrays(self) -> dict[str, np.ndarray]:
        """The arrays `choose_cluster_arrays` takes, one row per cluster (built once; clusters do not change)."""
        if self._arrays is None:
            self._arrays = clusters_to_arrays(self.clusters)
        return self._arrays

    def chroma_scale(self, source: str, semantic: bool) -> float:
        """The calibrated chroma gain of a regressor (1 where none was calibrated)."""
        name = "semantic" if semantic else "plain"
        if source == "global":
            return float(self.global_scale.get(name, 1.0))
        head = next(c for c in self.clusters if c.key == source)
        return float(head.chroma_scale.get(name, 1.0))

    def choose(self, luma: np.ndarray, maps: FeatureMaps, *, semantic: bool, clusters: bool) -> tuple[Regressor, str]:
        """The regressor for one image and the name of where it came from (a cluster key or ``"global"``)."""
        self.variant(semantic)
        if not clusters or not self.clusters:
            return self.route(None, None, semantic=semantic, clusters=False)
        # Gist needs 8x8 pixels; a smaller image is edge-padded (its gist says little anyway).
        short = [(0, max(0, MIN_INPUT_SIZE - n)) for n in luma.shape]
        descriptor = gist_descriptor(np.pad(luma, short, mode="edge") if any(p for _, p in short) else luma)
        hist = None
        if semantic and maps.semantic is not None:
            from deepcolor.features.semantic import semantic_histogram

            hist = semantic_histogram(maps.semantic)
        return self.route(descriptor, hist, semantic=semantic, clusters=True)

    def route(self, gist: np.ndarray | None, histogram: np.ndarray | None, *, semantic: bool, clusters: bool) -> tuple[Regressor, str]:
        """`choose` from an image's precomputed gist (512,) and semantic histogram (11,) or None."""
        name = self.variant(semantic)
        if not clusters or not self.clusters:
            return self.global_regressors[name], "global"
        arrays = self.cluster_arrays()
        selection = dict(self.selection)
        if histogram is None:  # no semantics to break gist ties: nearest centre per layer
            histogram = np.full(arrays["histograms"].shape[1], 1.0, np.float32)
            selection["top_k"] = 1
        head = self.clusters[choose_cluster_arrays(gist, histogram, **arrays, **selection)]
        return head.regressors[name], head.key

    # -- files -----------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        tensors: dict[str, np.ndarray] = {}
        for name, reg in self.global_regressors.items():
            tensors.update(reg.to_tensors(f"global.{name}"))
        cluster_cfg = []
        for head in self.clusters:
            for name, reg in head.regressors.items():
                tensors.update(reg.to_tensors(f"cluster.{head.key}.{name}"))
            cluster_cfg.append({"key": head.key, "layer": head.layer, "n_images": head.n_images, "chroma_scale": head.chroma_scale})
        if self.clusters:
            tensors.update({f"clusters.{k}": v for k, v in self.cluster_arrays().items() if k != "layers"})
        if self.fcn_tensors is not None:
            tensors.update({f"fcn.{k}": v for k, v in self.fcn_tensors.items()})
        config = {
            "variants": sorted(self.global_regressors),
            "clusters": cluster_cfg,
            "selection": self.selection,
            "global_scale": self.global_scale,
            "fcn": self.fcn_config,
            "card": self.card,
        }
        return save_model_file(path, tensors, kind=MODEL_KIND, config=config)

    @classmethod
    def load(cls, path: str | Path) -> "ColorizationModel":
        path = Path(path)
        tensors, config = load_model_file(path, kind=MODEL_KIND)
        try:
            variants = list(config["variants"])
            global_regs = {v: Regressor.from_tensors(tensors, f"global.{v}") for v in variants}
            heads = []
            for i, c in enumerate(config.get("clusters", [])):
                regs = {v: Regressor.from_tensors(tensors, f"cluster.{c['key']}.{v}") for v in variants}
                heads.append(
                    ClusterHead(
                        key=c["key"],
                        layer=int(c["layer"]),
                        centre=tensors["clusters.centres"][i],
                        semantic_histogram=tensors["clusters.histograms"][i],
                        served_centre=tensors["clusters.served_centres"][i],
                        sent_centre=tensors["clusters.sent_centres"][i],
                        regressors=regs,
                        n_images=int(c.get("n_images", 0)),
                        chroma_scale={k: float(v) for k, v in c.get("chroma_scale", {}).items()},
                    )
                )
            fcn = fcn_tensors = None
            fcn_config = config.get("fcn")
            if fcn_config is not None:
                from deepcolor.features.semantic import fcn_from_tensors

                fcn_tensors = {k[4:]: v for k, v in tensors.items() if k.startswith("fcn.")}
                fcn = fcn_from_tensors(fcn_tensors, fcn_config, source=path)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{path}: incomplete colorizer model ({type(exc).__name__}: {exc})".splitlines()[0]) from None
        return cls(
            global_regressors=global_regs,
            clusters=heads,
            fcn=fcn,
            fcn_tensors=fcn_tensors,
            fcn_config=fcn_config,
            selection=dict(config.get("selection", {})),
            global_scale={k: float(v) for k, v in config.get("global_scale", {}).items()},
            card=dict(config.get("card", {})),
            path=path,
        )


_DEFAULT_MODEL: ColorizationModel | None = None


def load_model(path: str | Path | None = None) -> ColorizationModel:
    """Load a colorization model; without a path, the default shipped in the package (cached)."""
    global _DEFAULT_MODEL
    if path is not None:
        return ColorizationModel.load(path)
    if _DEFAULT_MODEL is None:
        _DEFAULT_MODEL = ColorizationModel.load(default_weights_path("colorizer"))
    return _DEFAULT_MODEL


@dataclass
class Colorization:
    """A colorization result: chroma plus what produced it."""

    luma: np.ndarray  # (H, W) float32 in [0, 1]
    chroma: np.ndarray  # (H, W, 2) float32, after refinement and saturation
    source: str  # cluster key or "global"
    seconds: dict[str, float]

    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1] with the luma kept."""
        return merge_luma_chroma(self.luma, self.chroma)


def to_luma(image: np.ndarray) -> np.ndarray:
    """Any gray or RGB array -> (H, W) float32 luma in [0, 1].

    uint8 and uint16 are scaled by their maximum; floats must already lie in
    [0, 1]. RGB input is reduced to its BT.601 luma with a one-line notice.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        logger.warning("colour input converted to gray (BT.601 luma) before colorization")
        image = image[..., :3]
        scaled = _scale(image)
        return rgb_to_luma(scaled)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"gray must be a non-empty (H, W) or (H, W, 3) array, got shape {image.shape}")
    return _scale(image)


def _scale(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("gray must be finite")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float gray must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]")
        return image.astype(np.float32)
    raise ValueError(f"unsupported dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")


def colorize_luma(
    luma: np.ndarray,
    model: ColorizationModel,
    *,
    refine: bool = True,
    saturation: float = 1.0,
    semantic: bool = True,
    clusters: bool = True,
    maps: FeatureMaps | None = None,
) -> Colorization:
    """Predict the chroma of a luma image (see `colorize` for the parameters)."""
    if not saturation >= 0:
        raise ValueError(f"saturation must be >= 0, got {saturation}")
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if maps is None:
        maps = feature_maps(luma, fcn=model.fcn if semantic else None)
    t1 = time.perf_counter()
    regressor, source = model.choose(luma, maps, semantic=semantic, clusters=clusters)
    t2 = time.perf_counter()
    h, w = luma.shape
    chroma = np.empty((h * w, 2), dtype=np.float32)
    rows = max(1, ROW_CHUNK_PIXELS // w)
    for start in range(0, h, rows):
        stop = min(h, start + rows)
        chroma[start * w : stop * w] = regressor.predict(descriptor_rows(maps, start, stop, semantic=semantic))
    chroma = chroma.reshape(h, w, 2)
    gain = model.chroma_scale(source, semantic)
    if gain != 1.0:
        chroma *= np.float32(gain)
    t3 = time.perf_counter()
    if refine:
        chroma = refine_chroma(luma, chroma)
    if saturation != 1.0:
        chroma = chroma * np.float32(saturation)
    t4 = time.perf_counter()
    seconds.update(features=t1 - t0, choice=t2 - t1, regression=t3 - t2, refinement=t4 - t3)
    return Colorization(luma=luma, chroma=chroma, source=source, seconds=seconds)


def colorize(
    gray: np.ndarray,
    *,
    model: ColorizationModel | str | Path | None = None,
    refine: bool = True,
    saturation: float = 1.0,
    semantic: bool = True,
    clusters: bool = True,
) -> np.ndarray:
    """Colorize a grayscale image.

    Parameters
    ----------
    gray : ndarray, shape (H, W)
        uint8, uint16, or float in [0, 1]. An (H, W, 3) colour image is
        reduced to its luma first, with a notice.
    model : ColorizationModel or path, optional
        Default: the model shipped in the package.
    refine : bool
        Joint bilateral refinement of the chroma, guided by the gray image.
    saturation : float
        Chroma gain applied after refinement (1 = as predicted).
    semantic : bool
        Use the 92-d descriptor with FCN semantics (False: the 81-d variant).
    clusters : bool
        Pick the regressor from the cluster hierarchy (False: the global MLP).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3)
        Same dtype family as the input: uint8 -> uint8, uint16 -> uint16,
        float -> float32 in [0, 1]. Its BT.601 luma equals the input (to
        rounding): only U, V are predicted.
    """
    if not isinstance(model, ColorizationModel):
        model = load_model(model)
    luma = to_luma(gray)
    rgb = colorize_luma(luma, model, refine=refine, saturation=saturation, semantic=semantic, clusters=clusters).rgb()
    dtype = np.asarray(gray).dtype
    if dtype == np.uint8:
        return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.floor(rgb * 65535.0 + 0.5), 0, 65535).astype(np.uint16)
    return rgb
