"""The registry of model kinds: one entry per kind, and the one loader of every model.

A new kind joins by one `ModelEntry` in `ENTRIES` (or, at run time, by
`register`, which is how a test adds a toy kind). An entry names the class
by ``"module:Class"``, imported only when a model of that kind is opened or
its declarations (`deepcolor.models.base`) are read, so ``import deepcolor``
stays cheap. The entry's ``name`` is the kind's one name: the ``kind`` in its
model files (older files' kind strings are mapped by
`deepcolor.modelfile.LEGACY_KINDS`), ``--method`` and ``deepcolor models``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepcolor.modelfile import LEGACY_KINDS, ModelFileError, default_weights_path, kind_mismatch, read_model_kind

__all__ = ["ModelEntry", "ENTRIES", "register", "unregister", "names", "names_with", "entry", "model_class", "shipped_path",
           "load_model", "list_models", "DEFAULT_METHOD", "DEFAULT_REASON"]

if TYPE_CHECKING:
    from deepcolor.models.base import ChromaModel

DEFAULT_METHOD = "both"
# Why (docs/combined.md): by the rule declared before the select figures, no candidate reached colorfulness 0.85 on select
# without a report source below gray (CamVid, ImageNet, MSRC-21 photos fall below gray when the chroma is scaled up), so the
# rule takes the most colourful candidate that keeps every report source above gray: "both" at V = 0 (the 50/50 average).
DEFAULT_REASON = ("the declared rule of docs/combined.md: no setting reached colorfulness 0.85 on the select split without a "
                  "report source below gray, so the most colourful one keeping every source above gray: cheng and "
                  "global-prior averaged at V = 0, select +1.96 dB (Cheng +1.28, global-prior +1.68)")


@dataclass(frozen=True)
class ModelEntry:
    """One model kind.

    Attributes
    ----------
    name : str
        The kind's one name (``"cheng"``).
    target : str or type
        ``"module:Class"`` (imported on first use) or the class itself.
    summary : str
        One line for ``deepcolor models`` and ``--method``'s help.
    weights : str, optional
        Stem of the shipped file in ``deepcolor/weights/v1`` (None: nothing shipped).
    training : str
        What the shipped model was trained on.
    figures : str
        Its report-set figures (median gain over gray, README protocol).
    """

    name: str
    target: str | type
    summary: str
    weights: str | None = None
    training: str = ""
    figures: str = ""


ENTRIES: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "cheng", "deepcolor.models.cheng:ChengModel",
            "Cheng et al. 2015: per-pixel MLPs on patch, DAISY and the 24-class scene FCN's semantics (105-d), "
            "clusters routed on its ImageNet encoder's pooled feature",
            weights="colorizer",
            training="3,480 images of data/splits/train_cheng50.txt (hash-stable half of the photos of train.txt, all CamVid, "
            "BSDS500 and MSRC-21 lines), 1,000 pixels each; scene FCN on CamVid + MSRC-21",
            figures="median gain over gray: select photos +1.50 dB (previous model +0.69), select CamVid -1.17 dB (-4.20); "
            "photos test (672) +1.33 dB (previous model +0.48), BSDS500 val +1.99 dB, CamVid test (100) -0.19 dB",
        ),
        ModelEntry(
            "global-prior", "deepcolor.models.global_prior:GlobalPriorModel",
            "Iizuka et al. 2016 on the ImageNet-pretrained encoder: global prior fused into a skip-connection decoder, "
            "regression + Zhang et al. class heads, --vividness (a calibrated saturation)",
            weights="global_prior",
            training="decoder on the frozen encoder's cached outputs of the 5,928 photos of data/splits/train.txt, 35 min",
            figures="median gain over gray, report sets (150 of photos test, BSDS500 val, 100 of CamVid test): V=0 "
                    "+2.02 / +1.44 / -0.72 dB, colorfulness 0.63 / 0.77 / 0.62; default V=0.4 +1.47 / -0.26 / -1.87 dB, "
                    "colorfulness 0.88 / 1.08 / 0.87",
        ),
        ModelEntry(
            "both", "deepcolor.models.both:BothModel",
            "the two above combined (the default): their chroma weighed per pixel by a linear combiner (the shipped one: "
            "50/50, which no combiner fitted on the select split beat), --vividness (a plain gain, x2 at 1)",
            weights="both",
            training="nothing of its own: the shipped cheng and global-prior files are its components; fitted combiners "
            "(least squares on the select split) by benchmarks/bench_combined.py fit (docs/combined.md)",
            figures="median gain over gray at V=0: select (195) +1.96 dB; photos test (672) +1.90 dB, BSDS500 val "
                    "+2.34 dB, CamVid test (233) +0.04 dB; colorfulness 0.55 / 0.64 / 0.54 (docs/combined.md)",
        ),
    )
}

_BUILT_IN = frozenset(ENTRIES)
_CLASSES: dict[str, type] = {}
_SHIPPED: dict[str, "ChromaModel"] = {}  # name -> the loaded shipped model (one per process)


def register(new: ModelEntry, *, replace: bool = False) -> None:
    """Add a model kind at run time (e.g. a test's toy kind); an existing name needs ``replace=True``."""
    if new.name in ENTRIES and not replace:
        raise ValueError(f"model kind {new.name!r} is already registered")
    ENTRIES[new.name] = new
    _CLASSES.pop(new.name, None)
    _SHIPPED.pop(new.name, None)


def unregister(name: str) -> None:
    """Remove a kind added by `register` (a test's cleanup); the shipped kinds stay."""
    if name in _BUILT_IN:
        raise ValueError(f"model kind {name!r} ships with deepcolor and cannot be removed")
    ENTRIES.pop(name, None)
    _CLASSES.pop(name, None)
    _SHIPPED.pop(name, None)


def names() -> list[str]:
    """Every registered kind, in registration order."""
    return list(ENTRIES)


def entry(name: str) -> ModelEntry:
    """The entry of ``name``; a ValueError listing the known names otherwise."""
    if name not in ENTRIES:
        raise ValueError(f"unknown model {name!r} (use one of {', '.join(ENTRIES)})")
    return ENTRIES[name]


def model_class(kind: str) -> type:
    """The class of a kind (a registered name or an older file kind), imported on first use."""
    name = LEGACY_KINDS.get(kind, kind)
    if name not in ENTRIES:
        raise ModelFileError(f"no model class for kind {kind!r} (known: {', '.join(sorted(ENTRIES))})")
    if name not in _CLASSES:
        target = ENTRIES[name].target
        if isinstance(target, str):
            module_name, class_name = target.split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name is None or not module_name.startswith(exc.name):
                    raise
                raise ModelFileError(f"model kind {name!r} needs {module_name}, which this installation does not have") from None
            target = getattr(module, class_name)
        _CLASSES[name] = target
    return _CLASSES[name]


def names_with(capability: str) -> list[str]:
    """The registered kinds that declare ``capability``."""
    return [n for n in ENTRIES if capability in getattr(model_class(n), "capabilities", ())]


def shipped_path(name: str) -> Path | None:
    """The shipped model file of kind ``name`` (None when the kind ships none)."""
    weights = entry(name).weights
    return None if weights is None else default_weights_path(weights)


def load_model(name_or_path: str | os.PathLike | None = None, *, method: str | None = None) -> "ChromaModel":
    """A model: a registered name's shipped one (cached), or any model file, opened by the kind it holds.

    Parameters
    ----------
    name_or_path : str or path-like, optional
        ``"cheng"``, ``"global-prior"`` (see `list_models`) or a model file.
        Default: the shipped model of ``method``.
    method : str, optional, keyword-only
        The kind to load when ``name_or_path`` is None (default `DEFAULT_METHOD`, ``"both"``).

    Raises
    ------
    ModelFileError
        A missing, foreign or unknown-kind file; a kind that ships no model (one line).
    ValueError
        An unknown name.
    """
    if name_or_path is None:
        name_or_path = method or DEFAULT_METHOD
    if isinstance(name_or_path, str) and name_or_path in ENTRIES and not Path(name_or_path).is_file():
        name = name_or_path
        if name not in _SHIPPED:
            path = shipped_path(name)
            if path is None:
                raise ModelFileError(f"the {name} model kind ships no model file; pass a model file")
            _SHIPPED[name] = model_class(name).load(path)
        return _SHIPPED[name]
    path = Path(os.fspath(name_or_path))
    kind = read_model_kind(path)
    if LEGACY_KINDS.get(kind, kind) not in ENTRIES:  # e.g. the FCN file: say what it is and what to pass
        raise ModelFileError(kind_mismatch(path, kind, sorted(ENTRIES)))
    return model_class(kind).load(path)


def list_models() -> list[dict[str, Any]]:
    """The registered kinds: name, summary, shipped file and its size in bytes (None if none), training data, figures."""
    rows = []
    for name, e in ENTRIES.items():
        path = shipped_path(name)
        size = path.stat().st_size if path is not None and path.is_file() else None
        rows.append({"name": name, "summary": e.summary, "file": None if path is None else str(path), "size": size,
                     "training": e.training, "figures": e.figures})
    return rows
