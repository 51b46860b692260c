"""The global-prior model kind: Iizuka et al.'s global/local fusion, on the pretrained encoder or from scratch.

Two architectures share the kind (the model file's ``config["architecture"]``):

- ``"encoder-unet"`` (shipped; `deepcolor.models.prior_encoder`): the frozen ImageNet encoder, the
  pooled feature as the global prior, a decoder with skip connections, a regression head and a
  classification head over chroma bins (Zhang et al.). The network runs once at a working
  resolution (short side ``config["working_size"]``); its chroma is brought to full resolution
  by `deepcolor.upsample.guided_upsample` (the gray image as guide), one window at a time, so
  the pipeline can colorize any size in tiles (capability ``tiles``). The option ``vividness``
  is a calibrated saturation gain of the regression head in the shipped file (``config["vividness_mode"]
  = "saturation"``: on the select split the class head did not beat it on the Frechet distance), or
  a blend of the two heads (``"class-head"``).
- ``"iizuka2016"`` (files of the earlier release; `deepcolor.models.global_prior_scratch`): the
  paper's network learned from scratch at full resolution; no class head (vividness 0 only).

Style transfer (the paper's Fig. on global features): ``style=`` takes the global prior from
another image; the local features, and the luma that is kept, stay the input's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from deepcolor.colorspace import check_luma
from deepcolor.features.encoder import encoder_from_tensors, encoder_tensors
from deepcolor.kernels.device import array_module_for, module_on, synchronize, torch_device
from deepcolor.modelfile import ModelFileError, default_weights_path, load_error_text, load_model_file, save_model_file
from deepcolor.models import global_prior_scratch as scratch
from deepcolor.models.base import ChromaPrediction, Option
from deepcolor.models.global_prior_scratch import (  # re-exported: the from-scratch network's public names
    CHROMA_MAX, GLOBAL_SIZE, STRIDE, GlobalPriorNet, chroma_to_unit, global_input, normalize_luma, unit_to_chroma,
)
from deepcolor.models.prior_encoder import ARCHITECTURE, EncoderPriorNet, PriorDecoder, decoder_state, network_chroma
from deepcolor.threads import configure_threads
from deepcolor.upsample import apply_coefficients, guide_coefficients

__all__ = [
    "KIND", "GLOBAL_SIZE", "STRIDE", "CHROMA_MAX", "SHIPPED_VIVIDNESS", "GlobalPriorNet", "GlobalPriorModel", "GlobalPriorImage",
    "global_input", "normalize_luma", "chroma_to_unit", "unit_to_chroma", "check_vividness",
]

KIND = "global-prior"  # the kind's one name; files written as "global_prior" still load (modelfile.LEGACY_KINDS)
SHIPPED_VIVIDNESS = 0.4  # the shipped file's config["vividness_default"] (chosen on the select split, README)


def check_vividness(value: Any) -> float:
    """``value`` as a float in [0, 1], else a one-line ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"vividness must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"vividness must lie in [0, 1], got {value}")
    return v


@dataclass
class GlobalPriorImage:
    """One image prepared for prediction (`GlobalPriorModel.prepare`): the network ran once, on the whole image.

    ``small`` holds the guided-upsampling coefficients of the network's stride-2 chroma,
    (h, w, 4) (`deepcolor.upsample.guide_coefficients`), or, for a from-scratch file, the
    full-resolution chroma itself; `chroma` gives any window of the full-resolution chroma.
    """

    luma: np.ndarray  # (H, W) float32, the whole image (the guide)
    small: Any  # (h, w, 4) float32 coefficients, or (H, W, 2) chroma on the device
    guided: bool  # False: ``small`` is already full resolution (from-scratch files)
    info: dict[str, Any]
    seconds: dict[str, float]
    xp: Any = np

    def chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice]) -> Any:
        """Chroma (rows, columns of ``want``, 2) float32 of the window ``want`` (image coordinates), on the image's device.

        The guided upsampling is pointwise after a bilinear upsample of the coefficients, so it
        needs no halo: ``outer`` is not read, and any window equals the whole image's.
        """
        t0 = time.perf_counter()
        if self.guided:
            full = apply_coefficients(np.ascontiguousarray(self.luma[want]), self.small, self.luma.shape, want)
            np.clip(full, -CHROMA_MAX, CHROMA_MAX, out=full)
            out = self.xp.asarray(full)
        else:
            out = self.small[want]  # already full resolution, on the device
        self.seconds["upsampling"] = self.seconds.get("upsampling", 0.0) + time.perf_counter() - t0
        return out


class GlobalPriorModel:
    """A trained global-prior CNN behind the ChromaModel protocol (SPEC.md).

    Parameters
    ----------
    net : EncoderPriorNet or GlobalPriorNet
    config : dict
        The model file's config; ``config["classes"]`` names the scene classes,
        ``config["architecture"]`` says which network ``net`` is.
    """

    name: ClassVar[str] = "global-prior"
    kind: ClassVar[str] = KIND
    options: ClassVar[tuple[Option, ...]] = (
        Option("vividness", float, SHIPPED_VIVIDNESS,
               "0 = the regression head; 1 = the most vivid setting of the model file: the shipped one scales the "
               "regression chroma by 1 + v (x2 at 1), a file with vividness_mode class-head blends in the class head's "
               "annealed mean; the default is the model file's"),
    )
    capabilities: ClassVar[frozenset[str]] = frozenset({"style", "tiles"})

    def __init__(self, net: EncoderPriorNet | GlobalPriorNet, config: dict[str, Any]) -> None:
        if len(config.get("classes", ())) != net.n_classes:
            raise ValueError(f"config names {len(config.get('classes', ()))} classes, the network has {net.n_classes}")
        self.net = net.eval()
        self.config = config
        self.encoder_based = isinstance(net, EncoderPriorNet)
        # "class-head": vividness blends the regression and the class head; "saturation": it scales the
        # regression head's chroma by 1 + v (max - 1), the class head unused (README: what the select split showed)
        self.vividness_mode = str(config.get("vividness_mode", "class-head"))
        if self.vividness_mode not in ("class-head", "saturation"):
            raise ValueError(f"unknown vividness_mode {self.vividness_mode!r}")
        self.classes: list[str] = list(config["classes"])
        self.label_tensors: dict[str, np.ndarray] = {}  # e.g. "labels.gist_centres" (k, 512) of gist pseudo-classes

    # -- options -----------------------------------------------------------
    def validate_options(self, options: dict[str, Any]) -> None:
        """Check the options once (`deepcolor.models.base.validate_options`): vividness in [0, 1]."""
        self._vividness(dict(options))

    def _vividness(self, options: dict[str, Any]) -> float:
        unknown = sorted(set(options) - {"vividness"})
        if unknown:
            raise ValueError(f"global-prior model: unknown option(s) {', '.join(unknown)}")
        if "vividness" not in options or options["vividness"] is None:
            return float(self.config.get("vividness_default", 0.0)) if self.encoder_based else 0.0
        v = check_vividness(options["vividness"])
        if v > 0 and not self.encoder_based:
            raise ValueError("vividness above 0 needs a model with a class head (this file is the from-scratch architecture)")
        return v

    # -- video -------------------------------------------------------------
    def shot_state(self, lumas: list[np.ndarray], *, style: np.ndarray | None = None, **options: Any) -> np.ndarray:
        """The global-path input of a video shot, chosen once from a few of its frames (``state=`` of `predict_chroma`).

        The frame whose 224 x 224 global input is nearest (L2) to the mean of
        the frames' is the shot's: every frame then shares its global features.
        Takes the options of `predict_chroma` (a ``style`` overrides the state there).

        Returns
        -------
        ndarray, shape (224, 224), float32 in [0, 1]
        """
        self._vividness(options)
        if not lumas:
            raise ValueError("shot_state needs at least one frame")
        inputs = np.stack([global_input(check_luma(luma, range_tolerance=0.0)) for luma in lumas])
        return inputs[int(np.argmin(((inputs - inputs.mean(axis=0)) ** 2).sum(axis=(1, 2))))]

    # -- prediction ----------------------------------------------------------
    def prepare(self, luma: np.ndarray, *, style: np.ndarray | None = None, state: np.ndarray | None = None,
                **options: Any) -> GlobalPriorImage:
        """The per-image part: the network once on the whole image; the result gives any window's chroma (tiles)."""
        return self._prepare(luma, style, state, options, np)

    def prepare_cuda(self, luma: np.ndarray, xp: Any, *, style: np.ndarray | None = None, state: np.ndarray | None = None,
                     **options: Any) -> GlobalPriorImage:
        """`prepare` with the network on the GPU (torch on the device of ``xp``); windows come back on the device."""
        return self._prepare(luma, style, state, options, xp)

    def _prepare(self, luma: np.ndarray, style: np.ndarray | None, state: np.ndarray | None, options: dict[str, Any],
                 xp: Any) -> GlobalPriorImage:
        vividness = self._vividness(options)
        configure_threads()
        luma = check_luma(luma, range_tolerance=0.0)
        glob = luma if style is None and state is None else check_luma(style if style is not None else state, name="style",
                                                                         range_tolerance=0.0)
        t0 = time.perf_counter()
        device = torch_device(xp)
        if self.encoder_based:
            if self.vividness_mode == "saturation":  # the calibrated saturation gain of the regression head
                small, probs = network_chroma(module_on(self.net, device), luma, glob, working_size=int(self.config["working_size"]),
                                              vividness=0.0, temperature=1.0, device=device)
                small = small * np.float32(1.0 + vividness * (float(self.config["vividness_saturation_max"]) - 1.0))
            else:
                small, probs = network_chroma(module_on(self.net, device), luma, glob, working_size=int(self.config["working_size"]),
                                              vividness=vividness, temperature=float(self.config["bins"]["temperature"]), device=device)
            small = guide_coefficients(luma, small)
        else:
            small, probs = scratch.global_prior_chroma(self.net, luma, style=None if glob is luma else glob, xp=xp)
        synchronize(xp)
        top = int(np.argmax(probs))
        info = {"scene": self.classes[top], "scene_probability": float(probs[top]), "styled": style is not None}
        if self.encoder_based:
            info["vividness"] = vividness
        return GlobalPriorImage(np.ascontiguousarray(luma, np.float32), small, self.encoder_based, info,
                                {"network": time.perf_counter() - t0}, xp)

    def predict_chroma(self, luma: np.ndarray, *, style: np.ndarray | None = None, state: np.ndarray | None = None,
                       **options: Any) -> ChromaPrediction:
        """Chroma of a luma image.

        Parameters
        ----------
        luma : ndarray, shape (H, W), float32 in [0, 1]
        style : ndarray, shape (H', W'), float32 in [0, 1], optional
            Reference luma whose global features are used instead of the input's.
        state : ndarray, optional
            A `shot_state`: its global features instead of the input's (``style`` wins when both are given).
        vividness : float in [0, 1], optional
            0 the regression head; above, by the file's ``vividness_mode``: ``"saturation"`` (shipped) scales it
            by ``1 + v * (vividness_saturation_max - 1)``, ``"class-head"`` blends in the class head's
            annealed mean, ``(1 - v) * regression + v * annealed`` (default: the file's ``vividness_default``).

        Returns
        -------
        ChromaPrediction
            ``chroma`` (H, W, 2) float32 U, V; ``info["scene"]`` the most likely
            scene class and ``info["scene_probability"]`` its probability.

        Raises
        ------
        ValueError
            Unknown options, a vividness outside [0, 1], or a luma/style that is not (H, W) float in [0, 1].
        """
        return self._whole(self._prepare(luma, style, state, options, np))

    def predict_chroma_cuda(self, luma: np.ndarray, *, style: np.ndarray | None = None, state: np.ndarray | None = None,
                            **options: Any) -> ChromaPrediction:
        """`predict_chroma` on the GPU: ``luma`` on the host, the chroma returned on the device."""
        return self._whole(self._prepare(luma, style, state, options, array_module_for("cuda")))

    @staticmethod
    def _whole(image: GlobalPriorImage) -> ChromaPrediction:
        every = (slice(0, image.luma.shape[0]), slice(0, image.luma.shape[1]))
        chroma = image.chroma(every, every)
        return ChromaPrediction(chroma=chroma, info=dict(image.info), seconds=dict(image.seconds))

    # -- files -------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        """The weights as float16 numpy arrays (how model files store them)."""
        if self.encoder_based:
            out = encoder_tensors(self.net.encoder)
            out.update({f"decoder.{k}": v.detach().cpu().numpy().astype(np.float16) for k, v in self.net.decoder.state_dict().items()
                        if not k.endswith("num_batches_tracked")})
            return out
        out = {}
        for k, v in self.net.state_dict().items():
            a = v.detach().cpu().numpy()
            out[k] = a.astype(np.float16) if a.dtype == np.float32 else a
        return out

    def save(self, path: str | Path) -> Path:
        """Write the model file (kind ``global-prior``, atomically): float16 weights, label tensors, the config."""
        tensors = self.tensors()
        tensors.update({k: np.asarray(v).astype(np.float16) for k, v in self.label_tensors.items()})
        return save_model_file(path, tensors, kind=KIND, config=self.config)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "GlobalPriorModel":
        """Load from a model file of kind ``global-prior`` (default: the shipped one), either architecture."""
        path = Path(default_weights_path("global_prior") if path is None else path)
        tensors, config = load_model_file(path, kind=KIND)
        if config.get("architecture") == ARCHITECTURE:
            net = encoder_net_from_tensors(tensors, config, source=path)
        else:
            net = scratch.net_from_tensors(tensors, config, source=path)
        model = cls(net, config)
        model.label_tensors = {k: np.asarray(v, np.float32) for k, v in tensors.items() if k.startswith("labels.")}
        return model


def encoder_net_from_tensors(tensors: dict[str, np.ndarray], config: dict[str, Any], *, source: str | Path = "<memory>") -> EncoderPriorNet:
    """Rebuild the encoder-based network (CPU, float32, eval mode) from a model file's tensors and config.

    Raises
    ------
    ModelFileError
        One line, when the config and tensors do not describe this network.
    """
    try:
        centres = np.asarray(config["bins"]["centres"], np.float32).reshape(-1, 2)
        decoder = PriorDecoder(n_bins=len(centres), n_scenes=len(config["classes"]))
        decoder.load_state_dict(decoder_state(tensors), strict=True)
        net = EncoderPriorNet(encoder_from_tensors(tensors), decoder, centres)
        int(config["working_size"]), float(config["bins"]["temperature"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{source}: global-prior config/tensors do not match ({type(exc).__name__}: {load_error_text(exc)})") from None
    return net.eval()

