"""Cheng et al.'s colorizer: the model bundle and its chroma prediction.

A `ChengModel` is one file (see `deepcolor.modelfile`, kind ``"colorizer"``)
that holds every part a prediction needs: the FCN for the semantic feature, a
global MLP trained on all images (``clusters=False``), and the cluster
hierarchy of Algorithm 3 with one MLP per cluster. The global MLP exists in two
variants: on the 92-d descriptor (``"semantic"``) and on the 81-d one without
semantics (``"plain"``, ``semantic=False``), so the ablations run from the CLI
on the shipped model; a cluster may hold either or both. Training lives in
`deepcolor.train.cheng`.

How a cluster's MLP and the global one combine
----------------------------------------------
A cluster's MLP knows its scene type well and everything else less than the
global MLP, which saw every training image. So the chosen cluster's chroma is a
blend ``a * cluster + b * global`` with weights ``(a, b)`` per cluster and
variant, fitted on held-out images routed to that cluster
(`deepcolor.train.calibrate`). A cluster whose MLP did not beat the global MLP
on its held-out images is *dropped*: it keeps its place in the hierarchy (so
the choice among the others is unchanged) but carries no MLP, and an image
routed to it gets the global MLP. The same fallback serves a variant a cluster
was not trained for. The global MLP's chroma is scaled by its own fitted gain,
and every prediction by the model's colour gain (fitted on held-out images to
add colour where that costs no PSNR: least squares on chroma drifts to sepia).
Files written before blends existed (one gain per MLP) load as ``(gain, 0)``.

Data flows one way: luma -> feature maps -> cluster choice -> MLP -> chroma.

The cluster choice at test time (the descent through the layers, the rule
within a layer) is `deepcolor.models.cluster_choice`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from deepcolor.features.descriptor import FeatureMaps
from deepcolor.features.scene import SceneFCN, scene_file_parts, scene_from_tensors, scene_small_and_pooled
from deepcolor.features.semantic import semantic_classes, semantic_colours, small_probabilities
from deepcolor.features.semantic_net import fcn_file_parts
from deepcolor.gist import MIN_INPUT_SIZE, gist_descriptor
from deepcolor.kernels.device import array_module_for
from deepcolor.modelfile import ModelFileError, load_model_file, save_model_file
from deepcolor.models.cluster_choice import choose_cluster_arrays, clusters_to_arrays
from deepcolor.models.base import ChromaPrediction, Option
from deepcolor.models.cheng_image import ROW_CHUNK_PIXELS, ChengImage
from deepcolor.models.stacked_mlp import StackedMLP, WeightedSum, stack_terms
from deepcolor.regressor import Regressor
from deepcolor.threads import configure_threads

__all__ = ["VARIANTS", "ROUTINGS", "ROW_CHUNK_PIXELS", "ClusterHead", "ChengModel", "ChengImage"]

logger = logging.getLogger(__name__)

VARIANTS = ("semantic", "plain")
# What the clusters are made and chosen on: Cheng's gist (512-d), or the pooled (1280-d) feature of the
# scene FCN's ImageNet encoder, which that FCN computes anyway (a model with routing "encoder" carries a SceneFCN).
ROUTINGS = ("gist", "encoder")
# Chroma is predicted every GRID_STEP pixels in both directions and guided-upsampled on the luma
# (`features.grid`); chosen on the select split (docs/speed.md). The option ``dense`` predicts every pixel (the paper).
GRID_STEP = 2
_OPTIONS = frozenset({"semantic", "clusters", "dense", "maps"})
_GPU_OPTIONS = frozenset({"semantic", "clusters", "dense"})


@dataclass
class ClusterHead:
    """One cluster of the hierarchy and its regressors."""

    key: str
    layer: int
    centre: np.ndarray  # (512,) gist centre
    semantic_histogram: np.ndarray  # (C,) mean semantic histogram of its images (C = 11, or 24 with the scene FCN)
    served_centre: np.ndarray  # (512,) gist centre of the images it served (NaN if none)
    sent_centre: np.ndarray  # (512,) gist centre of the images it sent on (NaN if none)
    regressors: dict[str, Regressor]  # per variant; empty: a dropped cluster (the global MLP serves its images)
    n_images: int = 0
    blend: dict[str, tuple[float, float]] = field(default_factory=dict)  # per variant: (cluster weight, global weight)

    def uses_own_mlp(self, variant: str) -> bool:
        """Whether images routed here get this cluster's MLP (else the global one) for ``variant``."""
        return variant in self.regressors


@dataclass
class ChengModel:
    """Everything a colorization needs, loaded from or saved to one file."""

    name: ClassVar[str] = "cheng"
    kind: ClassVar[str] = "cheng"  # = name; files written as "colorizer" still load (modelfile.LEGACY_KINDS)
    options: ClassVar[tuple[Option, ...]] = (
        Option("semantic", bool, True, "the 92-d descriptor with FCN semantics (off: the 81-d variant without)"),
        Option("clusters", bool, True, "the MLP of the image's cluster (off: the single global MLP)"),
        Option("dense", bool, False, "predict every pixel as the paper does (default: a grid of every second pixel, "
                                     "upsampled along the luma's edges; about 3x faster, the same quality)"),
    )
    capabilities: ClassVar[frozenset[str]] = frozenset({"labels", "tiles"})

    global_regressors: dict[str, Regressor]
    clusters: list[ClusterHead] = field(default_factory=list)
    fcn: Any = None  # SemanticFCN (11 classes, 92-d descriptor), SceneFCN (24 classes, 105-d) or None
    selection: dict[str, Any] = field(default_factory=dict)  # test-time cluster choice settings
    global_scale: dict[str, float] = field(default_factory=dict)  # per variant, from calibration
    colour_gain: dict[str, float] = field(default_factory=dict)  # per variant, anti-sepia gain fitted on held-out images
    card: dict[str, Any] = field(default_factory=dict)  # how it was trained, validation figures
    path: Path | None = None
    routing: str = "gist"  # one of ROUTINGS
    _arrays: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    _stacks: dict[tuple, StackedMLP | WeightedSum] = field(default_factory=dict, repr=False, compare=False)

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

    def combination(self, source: str, *, semantic: bool) -> list[tuple[Regressor, float]]:
        """The MLPs whose weighted sum is the chroma of an image routed to ``source`` (a `choose` result).

        ``"global"``: the global MLP times its gain; a cluster key: the
        cluster's blend of its MLP and the global MLP. Every weight includes
        the model's colour gain. The CPU and CUDA paths both sum these.
        """
        name = self.variant(semantic)
        colour = float(self.colour_gain.get(name, 1.0))
        if source == "global":
            return [(self.global_regressors[name], float(self.global_scale.get(name, 1.0)) * colour)]
        head = next(c for c in self.clusters if c.key == source)
        a, b = head.blend.get(name, (1.0, 0.0))
        terms = [(head.regressors[name], float(a) * colour)]
        if b != 0.0:
            terms.append((self.global_regressors[name], float(b) * colour))
        return terms

    def predict_rows(self, descriptors: np.ndarray, source: str, *, semantic: bool) -> np.ndarray:
        """Chroma (N, 2) float32 of descriptor rows (N, D) of an image routed to ``source`` (see `combination`)."""
        return self.stacked(source, semantic=semantic).predict(descriptors)

    def stacked(self, source: str, *, semantic: bool) -> StackedMLP | WeightedSum:
        """The `combination` of ``source`` as one batched product (`models.stacked_mlp`), built once per source."""
        terms = self.combination(source, semantic=semantic)
        key = tuple((id(reg), weight) for reg, weight in terms)  # calibration changes the weights: a new stack
        if key not in self._stacks:
            self._stacks[key] = stack_terms(terms)
        return self._stacks[key]

    def image_cues(self, luma: np.ndarray, small: np.ndarray | None, pooled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """What the cluster choice reads from an image: its routing feature and semantic histogram (C,) or None.

        All come from the whole image downscaled: the gist (512,) from its 128 x 128
        version, or with routing ``"encoder"`` ``pooled``, the scene FCN encoder's (1280,) feature
        (`features.scene.scene_small_and_pooled`); the histogram from ``small``, the FCN's
        probabilities at the scale it runs at (`features.semantic.small_probabilities`), so the
        choice is the same whether the image is then colorized whole or in tiles.
        """
        if self.routing == "encoder":
            if pooled is None:
                raise ValueError("this model routes on the encoder's pooled feature: give pooled")
            descriptor = np.asarray(pooled, np.float32)
        else:
            # Gist needs 8x8 pixels; a smaller image is edge-padded (its gist says little anyway).
            short = [(0, max(0, MIN_INPUT_SIZE - n)) for n in luma.shape]
            descriptor = gist_descriptor(np.pad(luma, short, mode="edge") if any(p for _, p in short) else luma)
        hist = None
        if small is not None:
            from deepcolor.features.semantic import semantic_histogram

            hist = semantic_histogram(small)  # on the device when ``small`` is: 11 numbers come back
        return descriptor, hist

    def route(self, gist: np.ndarray | None, histogram: np.ndarray | None) -> ClusterHead:
        """The cluster an image with these `image_cues` falls in (dropped or not); needs clusters."""
        arrays = self.cluster_arrays()
        selection = dict(self.selection)
        if histogram is None:  # no semantics to break gist ties: nearest centre per layer
            histogram = np.full(arrays["histograms"].shape[1], 1.0, np.float32)
            selection["top_k"] = 1
        return self.clusters[choose_cluster_arrays(gist, histogram, **arrays, **selection)]

    def choose(self, gist: np.ndarray | None, histogram: np.ndarray | None, *, semantic: bool, clusters: bool) -> str:
        """Where an image with these `image_cues` gets its chroma: a cluster key, or ``"global"``.

        ``"global"`` without clusters, and for an image routed to a dropped
        cluster (or one without this variant): never a dropped cluster's key.
        """
        name = self.variant(semantic)
        if not clusters or not self.clusters:
            return "global"
        head = self.route(gist, histogram)
        return head.key if head.uses_own_mlp(name) else "global"

    # -- the model interface (deepcolor.models.base) ------------------------
    def evaluation_settings(self) -> dict[str, dict[str, bool]]:
        """The ablations this model supports, by name: ``{"semantic+clusters": {"semantic": True, "clusters": True}, ...}``."""
        grid = {}
        semantics = [s for s in (True, False) if ("semantic" if s else "plain") in self.global_regressors and (not s or self.fcn is not None)]
        for semantic in semantics:
            for clusters in ([True, False] if self.clusters else [False]):
                name = ("semantic" if semantic else "plain") + ("+clusters" if clusters else "")
                grid[name] = {"semantic": semantic, "clusters": clusters}
        return grid

    def validate_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError (one line) for an option or ablation this model cannot run."""
        semantic, _ = self._switches(dict(options), _OPTIONS)
        self.variant(semantic)

    @property
    def writes_legend(self) -> bool:
        """Whether ``apply --save-semantic`` writes a legend beside the label map: with the 24-class scene FCN."""
        return isinstance(self.fcn, SceneFCN)

    def label_legend(self) -> list[dict[str, Any]]:
        """What `label_map`'s colours mean: one ``{"index", "name", "rgb", "hex"}`` per class of its FCN, in
        class order (CamVid's 11, or the scene FCN's 24), then ``"void"`` (black, never predicted)."""
        if self.fcn is None:
            raise ValueError("this cheng model carries no FCN: it has no label map")
        names = (*semantic_classes(self.fcn), "void")
        return [{"index": i, "name": name, "rgb": [int(c) for c in rgb], "hex": "#%02x%02x%02x" % tuple(int(c) for c in rgb)}
                for i, (name, rgb) in enumerate(zip(names, semantic_colours(self.fcn)))]

    def label_map(self, luma: np.ndarray) -> np.ndarray:
        """The FCN's most probable class of every pixel in its classes' colours (`label_legend`): (H, W, 3) uint8,
        computed tile by tile from the FCN map of the whole image (as the semantic feature sees it)."""
        from deepcolor.features.region import region_maps, semantic_small
        from deepcolor.features.semantic import label_colours
        from deepcolor.tiling import DEFAULT_TILE, SEMANTIC_HALO, run_tiled

        if self.fcn is None:
            raise ValueError("this cheng model carries no FCN: it has no label map")
        small = semantic_small(luma, self.fcn)
        labels = np.empty(luma.shape, np.uint8)
        run_tiled(lambda t: np.argmax(region_maps(luma, t.outer, small=small).semantic, axis=-1), labels,
                  tile=DEFAULT_TILE, halo=SEMANTIC_HALO)
        return label_colours(labels, semantic_colours(self.fcn))

    # -- files -----------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        tensors: dict[str, np.ndarray] = {}
        for name, reg in self.global_regressors.items():
            tensors.update(reg.to_tensors(f"global.{name}"))
        cluster_cfg = []
        for head in self.clusters:
            for name, reg in head.regressors.items():
                tensors.update(reg.to_tensors(f"cluster.{head.key}.{name}"))
            cluster_cfg.append({"key": head.key, "layer": head.layer, "n_images": head.n_images, "variants": sorted(head.regressors),
                                "blend": {k: list(v) for k, v in head.blend.items()}})
        if self.clusters:
            tensors.update({f"clusters.{k}": v for k, v in self.cluster_arrays().items() if k != "layers"})
        fcn_config = scene_config = None
        if isinstance(self.fcn, SceneFCN):  # the 24-class scene FCN (105-d descriptor), encoder included, float16
            scene_tensors, scene_config = scene_file_parts(self.fcn)
            tensors.update({f"scene.{k}": v for k, v in scene_tensors.items()})
        elif self.fcn is not None:
            fcn_tensors, fcn_config = fcn_file_parts(self.fcn)
            tensors.update({f"fcn.{k}": v for k, v in fcn_tensors.items()})
        config = {
            "variants": sorted(self.global_regressors),
            "clusters": cluster_cfg,
            "selection": self.selection,
            "global_scale": self.global_scale,
            "colour_gain": self.colour_gain,
            "fcn": fcn_config,
            "card": self.card,
        }
        if scene_config is not None:  # only then: a file with the 11-class FCN stays as it was written before
            config["scene_fcn"] = scene_config
        if self.routing != "gist":
            config["routing"] = self.routing
        return save_model_file(path, tensors, kind=self.kind, config=config)

    @classmethod
    def load(cls, path: str | Path) -> "ChengModel":
        path = Path(path)
        tensors, config = load_model_file(path, kind=cls.kind)
        try:
            variants = list(config["variants"])
            global_regs = {v: Regressor.from_tensors(tensors, f"global.{v}") for v in variants}
            heads = []
            for i, c in enumerate(config.get("clusters", [])):
                regs = {v: Regressor.from_tensors(tensors, f"cluster.{c['key']}.{v}") for v in c.get("variants", variants)}
                if "blend" in c:
                    blend = {k: (float(v[0]), float(v[1])) for k, v in c["blend"].items()}
                else:  # written before blends: one calibrated gain per MLP
                    blend = {k: (float(v), 0.0) for k, v in c.get("chroma_scale", {}).items()}
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
                        blend=blend,
                    )
                )
            fcn = None
            fcn_config = config.get("fcn")
            if fcn_config is not None:
                from deepcolor.features.semantic_net import fcn_from_tensors

                fcn_tensors = {k[4:]: v for k, v in tensors.items() if k.startswith("fcn.")}
                fcn = fcn_from_tensors(fcn_tensors, fcn_config, source=path)
            elif config.get("scene_fcn") is not None:
                fcn = scene_from_tensors({k[6:]: v for k, v in tensors.items() if k.startswith("scene.")}, config["scene_fcn"])
            routing = str(config.get("routing", "gist"))
            if routing not in ROUTINGS or (routing == "encoder" and not isinstance(fcn, SceneFCN)):
                raise ValueError(f"routing {routing!r} needs one of {ROUTINGS} (\"encoder\" with a scene FCN)")
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{path}: incomplete colorizer model ({type(exc).__name__}: {exc})".splitlines()[0]) from None
        return cls(
            global_regressors=global_regs,
            clusters=heads,
            fcn=fcn,
            selection=dict(config.get("selection", {})),
            global_scale={k: float(v) for k, v in config.get("global_scale", {}).items()},
            colour_gain={k: float(v) for k, v in config.get("colour_gain", {}).items()},
            card=dict(config.get("card", {})),
            path=path,
            routing=routing,
        )

    # -- prediction ------------------------------------------------------
    def prepare(self, luma: np.ndarray, **options: Any) -> "ChengImage":
        """The per-image part of a prediction: the FCN on the whole image downscaled and the cluster choice.

        Takes the options of `predict_chroma`; the result predicts the chroma
        of any region of ``luma`` (`ChengImage.chroma`), so an image can be
        colorized in tiles with the same MLP as whole.
        """
        state = options.pop("state", None)  # a `shot_state`: the cluster choice made once for a video shot
        semantic, clusters = self._switches(options, _OPTIONS)
        return self._prepare(luma, "cpu", semantic=semantic, clusters=clusters, state=state, dense=bool(options.get("dense")))

    def prepare_cuda(self, luma: np.ndarray, xp: Any, **options: Any) -> "ChengImage":
        """`prepare` on the GPU: ``xp`` is the device's array module (`kernels.device.array_module_for`);
        the FCN and every region's features and MLP run on the device, gist and the choice on the host."""
        state = options.pop("state", None)
        semantic, clusters = self._switches(options, _GPU_OPTIONS, " on the GPU")
        return self._prepare(luma, "cuda", semantic=semantic, clusters=clusters, state=state, dense=bool(options.get("dense")))

    def _prepare(self, luma: np.ndarray, device: str, *, semantic: bool, clusters: bool, state: str | None = None,
                 dense: bool = False) -> "ChengImage":
        luma = np.ascontiguousarray(luma, dtype=np.float32)
        self.variant(semantic)
        configure_threads()
        t0 = time.perf_counter()
        # The FCN's map stays on the device; only its C-number histogram comes back, for the choice.
        small, pooled = self._small_and_pooled(luma, array_module_for(device), semantic=semantic,
                                               routed=clusters and bool(self.clusters) and state is None)
        gist = histogram = None
        if clusters and self.clusters and state is None:
            gist, histogram = self.image_cues(luma, small, pooled)
        source = self.choose(gist, histogram, semantic=semantic, clusters=clusters) if state is None else state
        seconds = {"choice": time.perf_counter() - t0}
        return ChengImage(luma, small, semantic, self.stacked(source, semantic=semantic), source, seconds, device,
                          1 if dense else GRID_STEP)

    def _small_and_pooled(self, luma: np.ndarray, xp: Any, *, semantic: bool, routed: bool) -> tuple[Any, np.ndarray | None]:
        """The FCN's small map (None without semantics) and, for routing ``"encoder"`` when an image is routed,
        the encoder's pooled feature from the same pass (else None)."""
        if self.routing == "encoder" and routed:
            small, pooled = scene_small_and_pooled(luma, self.fcn, xp=xp)
            return (small if semantic else None), pooled
        return (small_probabilities(luma, self.fcn, xp=xp) if semantic else None), None

    # -- video -----------------------------------------------------------
    def shot_state(self, lumas: list[np.ndarray], **options: Any) -> str:
        """The cluster choice of a video shot, made once from a few of its frames (``state=`` of `prepare`).

        The frames' gists and semantic histograms are averaged and routed as
        one image, so every frame of the shot gets the same MLP. Takes the
        options of `predict_chroma`.
        """
        semantic, clusters = self._switches(options, _OPTIONS)
        if not lumas:
            raise ValueError("shot_state needs at least one frame")
        if not clusters or not self.clusters:
            return "global"
        cues = [self.image_cues(luma, *self._small_and_pooled(luma, np, semantic=semantic, routed=True)) for luma in lumas]
        gist = np.mean([g for g, _ in cues], axis=0)
        histogram = None if cues[0][1] is None else np.mean([h for _, h in cues], axis=0)
        return self.choose(gist, histogram, semantic=semantic, clusters=clusters)

    def predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """Chroma of a luma image, before refinement.

        Parameters
        ----------
        luma : ndarray, shape (H, W), float32 in [0, 1]
        semantic : bool, keyword-only, default True
            The 92-d descriptor with FCN semantics (False: the 81-d variant).
        clusters : bool, keyword-only, default True
            Pick the MLP from the cluster hierarchy (False: the global MLP).
        dense : bool, keyword-only, default False
            Predict every pixel (the paper); default: every `GRID_STEP` pixels, guided-upsampled on the luma.
        maps : FeatureMaps, keyword-only, optional
            Precomputed feature maps of ``luma`` (evaluation reuses them across settings; implies ``dense``).
        state : str, keyword-only, optional
            A `shot_state`: use its cluster choice instead of this image's own.

        Returns
        -------
        ChromaPrediction
            ``chroma`` (H, W, 2) float32 U, V; ``info["cluster"]`` the cluster
            key or ``"global"`` (no clusters, or a dropped cluster); timings of choice (with the FCN),
            features and regression.
        """
        maps = options.pop("maps", None)
        if maps is not None:
            options["dense"] = True  # the maps are every pixel's
        return self._whole(self.prepare(luma, **options), maps)

    def predict_chroma_cuda(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """`predict_chroma` on the GPU: ``luma`` on the host (gist and the FCN input are made there),
        the chroma returned on the device (the pipeline refines it there). Options: ``semantic`` and ``clusters``."""
        return self._whole(self.prepare_cuda(luma, array_module_for("cuda"), **options), None)

    @staticmethod
    def _whole(image: ChengImage, maps: FeatureMaps | None) -> ChromaPrediction:
        whole = (slice(0, image.luma.shape[0]), slice(0, image.luma.shape[1]))
        chroma = image.chroma(whole, whole, maps=maps)
        return ChromaPrediction(chroma=chroma, info={"cluster": image.source}, seconds=dict(image.seconds))

    def _switches(self, options: dict[str, Any], allowed: frozenset, where: str = "") -> tuple[bool, bool]:
        """The ``semantic`` and ``clusters`` switches (default True) of ``options``; any option outside ``allowed`` is a ValueError."""
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"unknown option(s) for the {self.name} model{where}: {', '.join(unknown)} (it takes semantic, clusters, dense)")
        return bool(options.get("semantic", True)), bool(options.get("clusters", True))
