"""The combined model kind ``both``: Cheng's model and the global-prior CNN, their chroma combined per pixel.

The two shipped models make different mistakes (Cheng's per-pixel MLPs know textures and the scene
FCN's classes; the CNN sees the whole image), so a per-pixel combination of their chroma beats
either. The combination is a small linear model fitted on the select split
(`deepcolor.train.both.fit_combiner`, `benchmarks/bench_combined.py`):

    chroma_c(x) = sum over sources s and gates g of  W[c, s, g] * gate_g(x) * source_s(x)_c

with sources Cheng's chroma, the CNN's regression head (V = 0) and the CNN class head's annealed
mean, and gates 1, the class head's entropy, the two models' disagreement and the luma: so the weight
of each model, and the overall gain, vary with how sure the CNN is and whether the two agree.

The option ``vividness`` scales the result by ``1 + v * (vividness_max - 1) * confidence(x)``:
with ``vividness_mode`` ``"saturation"`` the confidence is 1 everywhere (a plain gain), with
``"confidence"`` it is high where the class head is sure and the two models agree (`confidence`).

A model file of this kind holds only the combiner's weights and names its two component models
(``config["components"]``: a registered kind, whose shipped file is used, or a file path relative
to the model file), so the shipped weights are not duplicated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from deepcolor.colorspace import check_luma
from deepcolor.modelfile import ModelFileError, default_weights_path, load_model_file, save_model_file
from deepcolor.errors import InputError
from deepcolor.models.base import ChromaPrediction, Option
from deepcolor.upsample import bilinear_window, guide_coefficients

__all__ = ["KIND", "SOURCES", "GATES", "BothModel", "BothImage", "prior_outputs", "gate_maps", "combine", "confidence",
           "vividness_gain", "combined_chroma"]

KIND = "both"
SOURCES = ("cheng", "cnn", "annealed")  # what the combiner weighs (a file uses a subset, in this order)
GATES = ("one", "entropy", "disagreement", "luma")  # what the weights vary with (a file uses a subset, in this order)
COMPONENTS = ("cheng", "global-prior")


def prior_outputs(prior: Any, luma: np.ndarray, glob: np.ndarray | None = None, *,
                  class_head: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """The global-prior CNN once on ``luma``: what the combiner reads of it.

    Parameters
    ----------
    prior : GlobalPriorModel
        An encoder-based one (with a class head).
    luma : ndarray, shape (H, W), float32 in [0, 1]
    glob : ndarray, shape (H', W'), float32 in [0, 1], optional
        Whose global prior to use (a video shot's state, `GlobalPriorModel.shot_state`); default ``luma``.
    class_head : bool, keyword-only
        Decode the class head (``annealed``, ``entropy``); False: both are None (a combination that reads neither).

    Returns
    -------
    coefficients : ndarray, shape (h/2, w/2, 4), float32
        Guided-upsampling coefficients of the regression head (`deepcolor.upsample.guide_coefficients`).
    annealed : ndarray, shape (h/2, w/2, 2), float32
        The class head's annealed mean (the file's temperature), upsampled bilinearly from stride 4 to 2.
    entropy : ndarray, shape (h/4, w/4, 1), float32
        The class head's entropy, divided by log(number of bins): 0 sure, 1 uniform.
    scene_probabilities : ndarray, shape (n_scenes,), float32
    """
    import torch

    from deepcolor.models.chroma_bins import annealed_mean
    from deepcolor.models.prior_encoder import network_inputs

    net = prior.net
    work, whole = network_inputs(luma, luma if glob is None else glob, working_size=int(prior.config["working_size"]))
    with torch.inference_mode():
        chroma, logits, scene_logits = net(work, whole)
        probs = torch.softmax(scene_logits[0], dim=0)
        annealed = entropy = None
        if class_head:
            decoded = annealed_mean(logits, net.centres, float(prior.config["bins"]["temperature"]))
            decoded = torch.nn.functional.interpolate(decoded, size=chroma.shape[-2:], mode="bilinear", align_corners=False)
            logp = torch.log_softmax(logits[0], dim=0)
            entropy = -(logp.exp() * logp).sum(dim=0) / float(np.log(logits.shape[1]))
            annealed = np.ascontiguousarray(decoded[0].permute(1, 2, 0).numpy(), np.float32)
            entropy = np.ascontiguousarray(entropy.numpy()[..., None], np.float32)
    regression = np.ascontiguousarray(chroma[0].permute(1, 2, 0).numpy(), np.float32)
    return guide_coefficients(luma, regression), annealed, entropy, probs.numpy().astype(np.float32)


def gate_maps(gates: tuple[str, ...], *, luma: np.ndarray, cheng: np.ndarray, cnn: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """The gates of `GATES` named in ``gates``, per pixel.

    Parameters
    ----------
    luma : ndarray, shape (..., ), float32 in [0, 1]
    cheng, cnn : ndarray, shape (..., 2), float32
        The two models' chroma (U, V) at the same pixels.
    entropy : ndarray, shape (..., ), float32 in [0, 1]
        The class head's normalized entropy there.

    Returns
    -------
    ndarray, shape (..., len(gates)), float32
    """
    known = {"one": lambda: np.ones_like(luma), "entropy": lambda: entropy, "luma": lambda: luma,
             "disagreement": lambda: np.sqrt(((cheng - cnn) ** 2).sum(axis=-1))}
    unknown = sorted(set(gates) - set(known))
    if unknown:
        raise ValueError(f"unknown gate(s) {', '.join(unknown)} (known: {', '.join(GATES)})")
    return np.stack([np.asarray(known[g](), np.float32) for g in gates], axis=-1)


def combine(sources: np.ndarray, gates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The combiner: ``chroma[..., c] = sum_s sum_g weights[c, s, g] * gates[..., g] * sources[..., s, c]``.

    Parameters
    ----------
    sources : ndarray, shape (..., S, 2), float32
    gates : ndarray, shape (..., G), float32
    weights : ndarray, shape (2, S, G), float32

    Returns
    -------
    ndarray, shape (..., 2), float32
    """
    per_source = np.einsum("...g,csg->...sc", gates, weights.astype(np.float32), optimize=True)
    return np.ascontiguousarray((per_source * sources).sum(axis=-2), np.float32)


def confidence(entropy: np.ndarray, disagreement: np.ndarray, *, entropy_scale: float, disagreement_scale: float) -> np.ndarray:
    """How sure the models are of a pixel's colour, in [0, 1]: ``(1 - entropy / e) * exp(-(disagreement / d)^2)``.

    ``entropy`` (normalized, [0, 1]) at or above ``entropy_scale`` gives 0; two models that agree give 1
    on the second factor, a disagreement of ``disagreement_scale`` (BT.601 U, V units) gives 1/e.
    """
    sure = np.clip(1.0 - entropy / np.float32(entropy_scale), 0.0, 1.0)
    return (sure * np.exp(-(disagreement / np.float32(disagreement_scale)) ** 2)).astype(np.float32)


def vividness_gain(vividness: float, config: dict[str, Any], entropy: np.ndarray, disagreement: np.ndarray) -> np.ndarray | float:
    """The chroma gain of ``vividness`` under a file's ``vividness_mode``: a number, or per pixel (..., 1)."""
    top = float(config.get("vividness_max", 2.0)) - 1.0
    if vividness == 0.0:
        return 1.0
    if config.get("vividness_mode", "saturation") == "saturation":
        return 1.0 + vividness * top
    sure = confidence(entropy, disagreement, **config["confidence"])
    return (1.0 + np.float32(vividness * top) * sure)[..., None]


def combined_chroma(config: dict[str, Any], weights: np.ndarray, luma: np.ndarray, cheng: np.ndarray, cnn: np.ndarray,
                    annealed: np.ndarray, entropy: np.ndarray, vividness: float) -> np.ndarray:
    """The combined chroma of pixels with these component outputs, times the vividness gain: what a `BothModel`
    with ``config`` and ``weights`` predicts (`BothImage.chroma`), and what the benchmarks score from cached outputs.

    Parameters
    ----------
    config : dict
        A ``both`` file's config (``sources``, ``gates``, the vividness entries).
    weights : ndarray, shape (2, len(sources), len(gates)), float32
    luma, entropy : ndarray, shape (...,), float32 in [0, 1]
    cheng, cnn, annealed : ndarray, shape (..., 2), float32
        ``annealed`` and ``entropy`` may be None where the config does not read them (`BothModel.reads_class_head`).
    vividness : float in [0, 1]

    Returns
    -------
    ndarray, shape (..., 2), float32
    """
    named = {"cheng": cheng, "cnn": cnn, "annealed": annealed}
    sources = np.stack([named[s] for s in config["sources"]], axis=-2)
    chroma = combine(sources, gate_maps(tuple(config["gates"]), luma=luma, cheng=cheng, cnn=cnn, entropy=entropy), weights)
    if vividness:
        disagreement = np.sqrt(((cheng - cnn) ** 2).sum(axis=-1))
        chroma = chroma * vividness_gain(vividness, config, entropy, disagreement)
    return np.ascontiguousarray(chroma, np.float32)


@dataclass
class BothImage:
    """One image prepared (`BothModel.prepare`): both components' per-image parts; any window's chroma."""

    luma: np.ndarray  # (H, W) float32, the whole image
    cheng: Any  # ChengImage
    coefficients: np.ndarray  # (h/2, w/2, 4) the CNN regression head's guided-upsampling coefficients
    annealed: np.ndarray | None  # (h/2, w/2, 2); None where the combination does not read the class head
    entropy: np.ndarray | None  # (h/4, w/4, 1); likewise
    model: "BothModel"
    vividness: float
    info: dict[str, Any]
    seconds: dict[str, float]
    xp: Any = np  # the array module the window's chroma is handed back on

    def chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice]) -> np.ndarray:
        """Chroma (rows, columns of ``want``, 2) float32 of the window ``want``, Cheng's features read on ``outer``."""
        from deepcolor.models.global_prior import CHROMA_MAX
        from deepcolor.upsample import apply_coefficients

        cheng = np.asarray(self.cheng.chroma(outer, want), np.float32)
        t0 = time.perf_counter()
        shape, luma = self.luma.shape, np.ascontiguousarray(self.luma[want])
        cnn = np.clip(apply_coefficients(luma, self.coefficients, shape, want), -CHROMA_MAX, CHROMA_MAX)
        annealed = None if self.annealed is None else bilinear_window(self.annealed, shape, want)
        entropy = None if self.entropy is None else bilinear_window(self.entropy, shape, want)[..., 0]
        chroma = self.model.combined(luma, cheng, cnn, annealed, entropy, self.vividness)
        self.seconds["combination"] = self.seconds.get("combination", 0.0) + time.perf_counter() - t0
        return self.xp.asarray(chroma)


class BothModel:
    """Cheng's model and the global-prior CNN, combined per pixel by a fitted linear combiner (module docstring).

    Parameters
    ----------
    cheng : ChengModel
    prior : GlobalPriorModel
        Encoder-based (it has the class head the combiner reads).
    config : dict
        ``sources``, ``gates`` (subsets of `SOURCES`, `GATES`), ``vividness_mode`` (``"saturation"`` or
        ``"confidence"``), ``vividness_max``, ``vividness_default``, ``confidence`` (the keywords of
        `confidence`), ``components`` and the record of the fit.
    weights : ndarray, shape (2, len(sources), len(gates)), float32
    """

    name: ClassVar[str] = KIND
    kind: ClassVar[str] = KIND
    options: ClassVar[tuple[Option, ...]] = (
        Option("vividness", float, 0.0, "0 = the combined chroma as fitted; 1 = the most vivid setting of the model file "
               "(its vividness_mode: a plain saturation gain, or a gain that grows with the models' confidence); "
               "the default is the model file's"),
    )

    def __init__(self, cheng: Any, prior: Any, config: dict[str, Any], weights: np.ndarray) -> None:
        self.cheng, self.prior, self.config = cheng, prior, dict(config)
        self.sources, self.gates = tuple(self.config["sources"]), tuple(self.config["gates"])
        if not set(self.sources) <= set(SOURCES) or not set(self.gates) <= set(GATES):
            raise ValueError(f"sources must be among {SOURCES} and gates among {GATES}, got {self.sources}, {self.gates}")
        self.weights = np.asarray(weights, np.float32)
        if self.weights.shape != (2, len(self.sources), len(self.gates)):
            raise ValueError(f"weights must be (2, {len(self.sources)}, {len(self.gates)}), got {self.weights.shape}")
        if self.config.get("vividness_mode", "saturation") not in ("saturation", "confidence"):
            raise ValueError(f"unknown vividness_mode {self.config.get('vividness_mode')!r}")
        if not getattr(prior, "encoder_based", False):
            raise ValueError("the both model needs an encoder-based global-prior model (one with a class head)")

    # -- options -----------------------------------------------------------
    def validate_options(self, options: dict[str, Any]) -> None:
        """Check the options once: only ``vividness``, in [0, 1]."""
        self._vividness(dict(options))

    def _vividness(self, options: dict[str, Any]) -> float:
        from deepcolor.models.global_prior import check_vividness

        unknown = sorted(set(options) - {"vividness"})
        if unknown:
            raise InputError(f"unknown option(s) for the both model: {', '.join(unknown)} (it takes vividness)")
        if options.get("vividness") is None:
            return float(self.config.get("vividness_default", 0.0))
        return check_vividness(options["vividness"])

    # -- the label map: Cheng's (its scene FCN is a component) ----------------------
    def label_map(self, luma: np.ndarray) -> np.ndarray:
        """Cheng's component's label map (`ChengModel.label_map`): apply --save-semantic."""
        return self.cheng.label_map(luma)

    def label_legend(self) -> list[dict[str, Any]]:
        """What `label_map`'s colours mean (`ChengModel.label_legend`)."""
        return self.cheng.label_legend()

    def writes_legend(self) -> bool:
        """Whether --save-semantic writes a legend (Cheng's component with the 24-class scene FCN)."""
        return self.cheng.writes_legend()

    # -- the combination ------------------------------------------------------
    def reads_class_head(self, vividness: float) -> bool:
        """Whether the combination at ``vividness`` reads the CNN's class head (its annealed mean or entropy);
        the shipped 50/50 average reads neither, so its decoding is skipped."""
        confident = bool(vividness) and self.config.get("vividness_mode", "saturation") == "confidence"
        return "annealed" in self.sources or "entropy" in self.gates or confident

    def combined(self, luma: np.ndarray, cheng: np.ndarray, cnn: np.ndarray, annealed: np.ndarray, entropy: np.ndarray,
                 vividness: float) -> np.ndarray:
        """`combined_chroma` with this model's config and weights."""
        return combined_chroma(self.config, self.weights, luma, cheng, cnn, annealed, entropy, vividness)

    # -- video -------------------------------------------------------------
    def shot_state(self, lumas: list[np.ndarray], **options: Any) -> dict[str, Any]:
        """A video shot's state (``state=`` of `prepare`): each component's (Cheng's cluster choice, the CNN's global input)."""
        self._vividness(options)
        return {"cheng": self.cheng.shot_state(lumas), "global-prior": self.prior.shot_state(lumas)}

    # -- prediction ----------------------------------------------------------
    def prepare(self, luma: np.ndarray, xp: Any = np, *, state: dict[str, Any] | None = None, **options: Any) -> BothImage:
        """The per-image part: Cheng's FCN and cluster choice, the CNN once on the whole image (tiles read any window);
        ``state``: a `shot_state` whose choices replace the image's own. The combination runs on the host; each
        window's chroma goes to ``xp``'s device for the refinement."""
        vividness = self._vividness(options)
        luma = check_luma(luma, range_tolerance=0.0)
        state = state or {}
        t0 = time.perf_counter()
        cheng = self.cheng.prepare(luma, state=state.get("cheng"))
        t1 = time.perf_counter()
        coefficients, annealed, entropy, probs = prior_outputs(self.prior, luma, state.get("global-prior"),
                                                               class_head=self.reads_class_head(vividness))
        top = int(np.argmax(probs))
        info = {"cluster": cheng.source, "scene": self.prior.classes[top], "scene_probability": float(probs[top]),
                "vividness": vividness}
        seconds = {"choice": t1 - t0, "network": time.perf_counter() - t1}
        return BothImage(np.ascontiguousarray(luma, np.float32), cheng, coefficients, annealed, entropy, self, vividness, info, seconds,
                         xp)

    def predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """Chroma (H, W, 2) float32 of a luma image (H, W) float32 in [0, 1]; option ``vividness`` in [0, 1]
        (and ``state``, a `shot_state`).

        ``info``: Cheng's ``cluster``, the CNN's ``scene`` and ``scene_probability``, the ``vividness`` used;
        timings of both components (``features`` and ``regression`` are Cheng's) and of the ``combination``.
        """
        image = self.prepare(luma, np, **options)
        whole = (slice(0, image.luma.shape[0]), slice(0, image.luma.shape[1]))
        chroma = image.chroma(whole, whole)
        return ChromaPrediction(chroma=chroma, info=dict(image.info), seconds={**image.seconds, **image.cheng.seconds})

    # -- files -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model file (kind ``both``, atomically): the combiner's weights and the config naming the components."""
        return save_model_file(path, {"combiner.weights": self.weights}, kind=KIND, config=self.config)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "BothModel":
        """Load a ``both`` file (default: the shipped one) and the two component models it names."""
        from deepcolor.models.registry import load_model

        path = Path(default_weights_path("both") if path is None else path)
        tensors, config = load_model_file(path, kind=KIND)
        try:
            components = {}
            for kind in COMPONENTS:
                named = str(config["components"][kind])
                components[kind] = load_model(named if named == kind else path.parent / named)
                if components[kind].name != kind:
                    raise ValueError(f"its {kind} component {named} holds a {components[kind].name} model")
            return cls(components["cheng"], components["global-prior"], config, tensors["combiner.weights"])
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: incomplete both model ({type(exc).__name__}: {exc})".splitlines()[0]) from None
