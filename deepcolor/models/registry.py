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
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deepcolor.errors import InputError
from deepcolor.modelfile import LEGACY_KINDS, ModelFileError, default_weights_path, kind_mismatch, read_model_kind

__all__ = ["ModelEntry", "ENTRIES", "register", "unregister", "added_entry", "names", "names_with", "entry", "model_class", "shipped_path",
           "load_model", "list_models", "looks_like_path", "UnknownModelError", "DEFAULT_METHOD", "DEFAULT_REASON", "NETWORK_TRAINERS",
           "trainer", "trainer_names"]

if TYPE_CHECKING:
    from deepcolor.models.base import ChromaModel

DEFAULT_METHOD = "both"
# Why (docs/combined.md): by the rule declared before the select figures, no candidate reached colorfulness 0.85 on select
# without a report source below gray (CamVid, ImageNet, MSRC-21 photos fall below gray when the chroma is scaled up), so the
# rule takes the most colourful candidate that keeps every report source above gray: "both" at V = 0 (the 50/50 average).
DEFAULT_REASON = ("the declared rule of docs/combined.md: no setting reached colorfulness 0.85 on the select split without a "
                  "report source below gray, so the most colourful one keeping every source above gray: cheng and "
                  "global-prior averaged at V = 0, select +1.96 dB (Cheng +1.28, global-prior +1.68)")
logger = logging.getLogger("deepcolor")


class UnknownModelError(ModelFileError):
    """A model name that is no registered kind (one line naming the kinds)."""


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
        Its report-set figures (median gain over gray, docs/protocol.md).
    trainer : str or callable, optional
        ``"module:function"`` (imported on first use) or the function that
        ``deepcolor fit NAME ARGS...`` runs: ``trainer(argv, prog) -> exit
        status``, parsing its own flags (None: the kind cannot be trained
        from the command line).
    """

    name: str
    target: str | type
    summary: str
    weights: str | None = None
    training: str = ""
    figures: str = ""
    trainer: str | Callable[[list[str], str], int] | None = None


ENTRIES: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "cheng", "deepcolor.models.cheng:ChengModel",
            "Cheng et al. 2015: per-pixel MLPs on patch, DAISY and the 24-class scene FCN's semantics (105-d), "
            "clusters routed on its ImageNet encoder's pooled feature",
            weights="colorizer", trainer="deepcolor.fit:fit_cheng",
            training="3,480 images of data/splits/train_cheng50.txt (hash-stable half of the photos of train.txt, all CamVid, "
            "BSDS500 and MSRC-21 lines), 1,000 pixels each; scene FCN on CamVid + MSRC-21",
            figures="median gain over gray: select photos +1.50 dB (previous model +0.69), select CamVid -1.17 dB (-4.20); "
            "photos test (672) +1.33 dB (previous model +0.48), BSDS500 val +1.99 dB, CamVid test (100) -0.19 dB",
        ),
        ModelEntry(
            "global-prior", "deepcolor.models.global_prior:GlobalPriorModel",
            "Iizuka et al. 2016 on the ImageNet-pretrained encoder: global prior fused into a skip-connection decoder, "
            "regression + Zhang et al. class heads, --vividness (a calibrated saturation)",
            weights="global_prior", trainer="deepcolor.fit:fit_global_prior",
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

# What `deepcolor fit NAME` trains beside the model kinds: the semantic networks Cheng's colorizer reads.
NETWORK_TRAINERS: dict[str, str | Callable[[list[str], str], int]] = {
    "semantic": "deepcolor.fit:fit_semantic",  # the 11-class CamVid FCN
    "scene": "deepcolor.fit:fit_scene",  # the 24-class general-scene FCN on the ImageNet encoder
}
_CLASSES: dict[str, type] = {}
_SHIPPED: dict[str, "ChromaModel"] = {}  # name -> the loaded shipped model (one per process)


def register(new: ModelEntry, *, replace: bool = False) -> None:
    """Add a model kind at run time (e.g. a test's toy kind); an existing name needs ``replace=True``."""
    if new.name in ENTRIES and not replace:
        raise InputError(f"model kind {new.name!r} is already registered")
    ENTRIES[new.name] = new
    _CLASSES.pop(new.name, None)
    _SHIPPED.pop(new.name, None)


def unregister(name: str) -> None:
    """Remove a kind added by `register` (a test's cleanup); the shipped kinds stay."""
    if name in _BUILT_IN:
        raise InputError(f"model kind {name!r} ships with deepcolor and cannot be removed")
    ENTRIES.pop(name, None)
    _CLASSES.pop(name, None)
    _SHIPPED.pop(name, None)


def added_entry(name: str) -> ModelEntry | None:
    """The entry of a kind added by `register` in this process (None for a shipped kind): what another
    process (a Dask worker) must `register` before it can open a model of that kind."""
    return None if name in _BUILT_IN else ENTRIES.get(name)


def names() -> list[str]:
    """Every registered kind, in registration order."""
    return list(ENTRIES)


def entry(name: str) -> ModelEntry:
    """The entry of ``name``; a ValueError listing the known names otherwise."""
    if name not in ENTRIES:
        raise InputError(f"unknown model {name!r} (use one of {', '.join(ENTRIES)})")
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


def trainer_names() -> list[str]:
    """What ``deepcolor fit NAME`` accepts: the kinds with a trainer, then the networks (`NETWORK_TRAINERS`)."""
    return [n for n, e in ENTRIES.items() if e.trainer is not None] + list(NETWORK_TRAINERS)


def trainer(name: str) -> Callable[[list[str], str], int]:
    """The trainer of a kind (its entry's ``trainer``) or of a network (`NETWORK_TRAINERS`), imported on first use;
    an `InputError` naming what can be trained otherwise."""
    target = ENTRIES[name].trainer if name in ENTRIES else NETWORK_TRAINERS.get(name)
    if target is None:
        raise InputError(f"nothing to train called {name!r} (deepcolor fit takes one of {', '.join(trainer_names())})")
    if isinstance(target, str):
        module_name, function_name = target.split(":")
        target = getattr(importlib.import_module(module_name), function_name)
    return target


def names_with(capability: str) -> list[str]:
    """The registered kinds that declare ``capability``."""
    from deepcolor.models.base import capabilities

    return [n for n in ENTRIES if capability in capabilities(model_class(n))]


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
        A missing, foreign or unknown-kind file; a kind that ships no model; not a name or a path (one line).
    UnknownModelError
        An unknown kind name (a ModelFileError, so a ValueError). A string with no folder part and no extension
        is a kind name, even where a file of that name exists (which is said in one line): a model file is
        given as a path (``./cheng``, ``models/cheng``, ``cheng.safetensors``) or a `pathlib.Path`.
    """
    if name_or_path is None:
        name_or_path = method or DEFAULT_METHOD
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ModelFileError(f"a model is a kind name ({', '.join(ENTRIES)}) or a model file path, "
                             f"got {type(name_or_path).__name__} {name_or_path!r}"[:200])
    if isinstance(name_or_path, str) and not looks_like_path(name_or_path):  # a kind name means the kind
        name = name_or_path
        if name not in ENTRIES:
            raise UnknownModelError(f"unknown model kind {name!r} (known: {', '.join(ENTRIES)}); "
                                    f"a model file is given as a path, e.g. ./{name}.safetensors")
        if Path(name).exists():
            logger.warning("%r is the shipped %s model; the file of that name here is not read (pass ./%s to read it)",
                           name, name, name)
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


def looks_like_path(text: str) -> bool:
    """Whether a model argument names a file rather than a kind: it has a folder part or an extension."""
    return os.sep in text or "/" in text or (os.altsep or "/") in text or bool(Path(text).suffix) or text in (".", "..")


def list_models() -> list[dict[str, Any]]:
    """The registered kinds: name, summary, shipped file and its size in bytes (None if none), training data, figures."""
    rows = []
    for name, e in ENTRIES.items():
        path = shipped_path(name)
        size = path.stat().st_size if path is not None and path.is_file() else None
        rows.append({"name": name, "summary": e.summary, "file": None if path is None else str(path), "size": size,
                     "training": e.training, "figures": e.figures})
    return rows
