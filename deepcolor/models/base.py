"""The model interface: what a colorization model kind declares and what it offers the pipeline.

A model kind is one class under ``deepcolor/models/`` plus one entry in
`deepcolor.models.registry`. The class declares, as class attributes:

- ``name``: its one name (the ``kind`` its model files carry, ``--method``, the registry key);
- ``options``: the `Option` s its ``predict_chroma`` takes (the command line
  builds each model's flags from them);
- ``capabilities``: what it offers beyond chroma, among `CAPABILITIES`.

and may define ``evaluation_settings()`` (the settings an evaluation compares,
e.g. Cheng's semantic/cluster ablations) and ``validate_options(options)``
(checked once, before the first image). Nothing here imports torch or the
pipeline, so a model imports this module, never the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "Option",
    "capabilities",
    "evaluation_settings",
    "require_capability",
    "validate_options",
]

# capability -> what asks for it (said in the error when a model lacks it)
CAPABILITIES = {
    "labels": "a per-pixel label map (label_map(luma); apply --save-semantic)",
    "style": "a style reference (predict_chroma(..., style=luma); apply --style)",
    "tiles": "a tiled prediction (prepare(luma, **options) -> image with chroma(outer, want) and info)",
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
class ChromaModel(Protocol):
    """What a colorization model offers the pipeline."""

    name: ClassVar[str]
    options: ClassVar[tuple[Option, ...]]
    capabilities: ClassVar[frozenset[str]]

    def predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        """(H, W) float32 luma in [0, 1] -> prediction; unknown options raise ValueError naming them."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> "ChromaModel": ...


def capabilities(model: Any) -> frozenset[str]:
    """The capabilities a model (class or instance) declares."""
    return frozenset(getattr(model, "capabilities", ()))


def require_capability(model: Any, capability: str, asked_by: str, *, alternatives: Sequence[str] = ()) -> None:
    """Raise `CapabilityError` (one line) when ``model`` lacks ``capability``.

    ``asked_by`` names who asks (a flag); ``alternatives`` the kinds that have it
    (`deepcolor.models.registry.names_with`), named in the message.
    """
    if capability not in CAPABILITIES:
        raise InputError(f"unknown capability {capability!r} (known: {', '.join(CAPABILITIES)})")
    if capability not in capabilities(model):
        others = [n for n in alternatives if n != model.name]
        what = CAPABILITIES[capability].split(" (")[0].removeprefix("a ")
        if others:
            raise CapabilityError(f"{asked_by} needs --method {' or '.join(others)} (the {model.name} model has no {what})")
        raise CapabilityError(f"{asked_by}: the {model.name} model has no {what}, nor has any other model kind")


def evaluation_settings(model: Any) -> dict[str, dict[str, Any]]:
    """The settings an evaluation compares, by name (``{setting: options}``); one, the model's name, by default."""
    own = getattr(model, "evaluation_settings", None)
    return own() if own is not None else {model.name: {}}


def validate_options(model: Any, options: Mapping[str, Any]) -> None:
    """Check ``options`` against the model once, before any image: unknown names, and the model's own rules."""
    known = {o.name for o in getattr(model, "options", ())}
    if "style" in capabilities(model):
        known.add("style")
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"unknown option(s) for the {model.name} model: {', '.join(unknown)}")
    own = getattr(model, "validate_options", None)
    if own is not None:
        own(dict(options))
