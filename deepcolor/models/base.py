"""The model interface: what a colorization model kind must define and what it may offer.

A model kind is one class plus one entry in `deepcolor.models.registry`. What
it must define (`ChromaModel`):

- ``name``: its one name (the ``kind`` its model files carry, ``--method``, the registry key);
- ``options``: the `Option` s its prediction takes (the command line builds
  each kind's flags from them);
- ``predict_chroma(luma, **options) -> ChromaPrediction`` on the host, and
  ``load(path)`` (a classmethod).

What it may offer is one `runtime_checkable` protocol each, checked with
``isinstance`` (on an instance) or `offers` (on a class), never by probing
for attributes:

- `TiledModel`: ``prepare(luma, xp, **options) -> PreparedImage``, the
  per-image part once, then any window's chroma (tiles, and the GPU: the
  device is the one of the array module ``xp``);
- `LabelMapModel`: ``label_map(luma)``, ``label_legend()``, ``writes_legend()``;
- `ShotStateModel`: ``shot_state(lumas, **options)``, a video shot's decision
  made once, handed back as ``state=`` to ``prepare`` / ``predict_chroma``;
- `StyledModel`: ``style_reference(luma)``, a style reference checked once,
  handed back as the ``style`` option;
- `EvaluatedModel`: ``evaluation_settings()``, the settings an evaluation compares;
- `ValidatedModel`: ``validate_options(options)``, the kind's own rules,
  checked once before the first image.

`CAPABILITIES` names the abilities a caller can ask for (a label map, a style
reference, tiles); the command line says which kinds have them
(`deepcolor.cli.runtime.require_capability`). Nothing here imports torch or the pipeline, so a model
imports this module, never the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from deepcolor.errors import DeepcolorError, InputError

__all__ = [
    "CAPABILITIES",
    "CapabilityError",
    "ChromaModel",
    "ChromaPrediction",
    "EvaluatedModel",
    "LabelMapModel",
    "Option",
    "PreparedImage",
    "Predictor",
    "ShotStateModel",
    "StyledModel",
    "TiledModel",
    "ValidatedModel",
    "capabilities",
    "evaluation_settings",
    "offers",
    "validate_options",
]

# capability -> what asks for it (said in the error when a model lacks it); its protocol is `ABILITIES`[capability]
CAPABILITIES = {
    "labels": "a per-pixel label map (label_map(luma); apply --save-semantic)",
    "style": "a style reference (style_reference(luma), then the style option; apply --style)",
    "tiles": "a tiled prediction (prepare(luma, xp, **options) -> image with chroma(outer, want) and info)",
}


class CapabilityError(DeepcolorError, ValueError):
    """A model asked for something it does not offer (one line)."""


@dataclass
class ChromaPrediction:
    """What a model predicts for one luma image."""

    chroma: np.ndarray  # (H, W, 2) float32 BT.601 U, V (before refinement and saturation)
    info: dict[str, Any] = field(default_factory=dict)  # the model's account, e.g. {"cluster": "L0C03"}
    seconds: dict[str, float] = field(default_factory=dict)  # per-stage timings


@dataclass(frozen=True)
class Option:
    """One option of a model's ``predict_chroma``: its name, type, default and a help line.

    The command line turns it into a flag: a bool that defaults to True into
    ``--no-NAME``, a bool that defaults to False into ``--NAME``, anything
    else into ``--NAME VALUE`` parsed by ``type``.
    """

    name: str
    type: type
    default: Any
    help: str

    @property
    def flag(self) -> str:
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.type is bool and self.default is True else f"--{dashed}"


@runtime_checkable
class Predictor(Protocol):
    """What the pipeline calls of any model it is handed (`ChromaModel` is the whole contract of a kind)."""

    def predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """(H, W) float32 luma in [0, 1] on the host -> prediction on the host; unknown options raise an `InputError`."""
        ...


@runtime_checkable
class ChromaModel(Predictor, Protocol):
    """What every colorization model kind defines."""

    name: ClassVar[str]
    options: ClassVar[tuple[Option, ...]]

    @classmethod
    def load(cls, path: str | Path) -> "ChromaModel": ...


@runtime_checkable
class PreparedImage(Protocol):
    """One image prepared by `TiledModel.prepare`: the chroma of any window, and the model's account."""

    info: dict[str, Any]
    seconds: dict[str, float]

    def chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice]) -> Any:
        """(rows, columns of ``want``, 2) float32 chroma of the window ``want``, from features on ``outer`` (which
        holds it), on the device of the ``xp`` it was prepared with."""
        ...


@runtime_checkable
class TiledModel(Protocol):
    """A model whose per-image part runs once and whose chroma comes window by window, on the device of ``xp``."""

    def prepare(self, luma: np.ndarray, xp: Any, **options: Any) -> PreparedImage:
        """``luma`` (H, W) float32 on the host; ``xp`` the array module of the device the windows' chroma is made on
        (numpy: the CPU; `deepcolor.kernels.device.device_of` tells which); ``options`` as for ``predict_chroma``,
        plus ``state`` (a `ShotStateModel.shot_state`)."""
        ...


@runtime_checkable
class LabelMapModel(Protocol):
    """A model with a per-pixel label map (``apply --save-semantic``)."""

    def writes_legend(self) -> bool:
        """Whether a legend file goes beside the label map (`label_legend`)."""
        ...

    def label_map(self, luma: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8: each pixel's most probable class in its colour."""
        ...

    def label_legend(self) -> list[dict[str, Any]]:
        """What the label map's colours mean: one ``{"index", "name", "rgb", "hex"}`` per class."""
        ...


@runtime_checkable
class ShotStateModel(Protocol):
    """A model that makes its per-image decision once per video shot."""

    def shot_state(self, lumas: list[np.ndarray], **options: Any) -> Any:
        """The decision of a shot from a few of its frames, passed back as ``state=``."""
        ...


@runtime_checkable
class StyledModel(Protocol):
    """A model that takes a style reference image (the ``style`` option)."""

    def style_reference(self, luma: np.ndarray) -> np.ndarray:
        """The style reference as the ``style`` option takes it, checked once before any image (an `InputError`)."""
        ...


@runtime_checkable
class EvaluatedModel(Protocol):
    """A model whose evaluation compares several settings (ablations)."""

    def evaluation_settings(self) -> dict[str, dict[str, Any]]:
        """``{setting name: options}``."""
        ...


@runtime_checkable
class ValidatedModel(Protocol):
    """A model with rules of its own on its options, checked once before the first image."""

    def validate_options(self, options: dict[str, Any]) -> None:
        """Raise an `InputError` (one line) for options this model cannot run."""
        ...


ABILITIES: dict[str, type] = {"labels": LabelMapModel, "style": StyledModel, "tiles": TiledModel}


def offers(model: Any, ability: type) -> bool:
    """Whether ``model`` (an instance or a class) offers the protocol ``ability`` (e.g. `TiledModel`)."""
    return issubclass(model, ability) if isinstance(model, type) else isinstance(model, ability)


def capabilities(model: Any) -> frozenset[str]:
    """The `CAPABILITIES` a model (class or instance) offers, by the protocols it satisfies."""
    return frozenset(name for name, ability in ABILITIES.items() if offers(model, ability))


def evaluation_settings(model: Any) -> dict[str, dict[str, Any]]:
    """The settings an evaluation compares, by name (``{setting: options}``); one, the model's name, by default."""
    return model.evaluation_settings() if isinstance(model, EvaluatedModel) else {model.name: {}}


def validate_options(model: Any, options: Mapping[str, Any]) -> None:
    """Check ``options`` against the model once, before any image: unknown names, and the model's own rules."""
    if options:  # a model asked for nothing has nothing to check here (a bare test double may declare no options)
        known = {o.name for o in model.options} | ({"style"} if isinstance(model, StyledModel) else set())
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown option(s) for the {model.name} model: {', '.join(unknown)}")
    if isinstance(model, ValidatedModel):
        model.validate_options(dict(options))
