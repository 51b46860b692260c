"""The one loader and saver of every deepcolor model file.

A model file is a safetensors file (no pickle): named float/int tensors plus a
string metadata map. ``metadata["format"]`` is ``"deepcolor"``,
``metadata["version"]`` the format version, ``metadata["kind"]`` what the file
holds (its model kind's name: ``"cheng"``, ``"global-prior"``, ``"fcn"``; older
files' ``"colorizer"`` and ``"global_prior"`` read as the first two) and
``metadata["config"]`` a JSON object describing how to rebuild the model,
including its own normalization constants.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.errors import DeepcolorError, InputError

from deepcolor.io.write import atomic_write_bytes

__all__ = [
    "FORMAT_VERSION",
    "LEGACY_KINDS",
    "ModelFileError",
    "save_model_file",
    "load_model_file",
    "read_model_kind",
    "default_weights_path",
    "check_model_argument",
    "load_error_text",
    "kind_mismatch",
]

FORMAT_VERSION = 1
_FORMAT = "deepcolor"
# Kind strings of files written before a model kind had one name (its registry name): read as that name.
LEGACY_KINDS = {"colorizer": "cheng", "global_prior": "global-prior"}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / f"v{FORMAT_VERSION}"


class ModelFileError(DeepcolorError, ValueError):
    """A model file that is missing, truncated, foreign or of the wrong kind."""


def default_weights_path(name: str) -> Path:
    """Path of a shipped model file, e.g. ``default_weights_path("colorizer")``."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def save_model_file(path: str | os.PathLike, tensors: dict[str, np.ndarray], *, kind: str, config: dict[str, Any]) -> Path:
    """Write ``tensors`` and ``config`` atomically to ``path``.

    Parameters
    ----------
    path : path-like
        Destination; written to a temporary file in the same folder, then renamed.
    tensors : dict of str -> ndarray
        Contiguous numeric arrays. Converted to little-endian native dtypes.
    kind : str
        What the file holds; `load_model_file` checks it.
    config : dict
        JSON-serializable description of the model.
    """
    from safetensors.numpy import save

    path = Path(path)
    clean = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    _check_finite(path, clean, saving=True)  # a diverged training writes nothing
    meta = {
        "format": _FORMAT,
        "version": str(FORMAT_VERSION),
        "kind": kind,
        "config": json.dumps(config, sort_keys=True),
    }
    atomic_write_bytes(path, save(clean, metadata=meta))
    return path


def load_model_file(path: str | os.PathLike, *, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model file written by `save_model_file`.

    Parameters
    ----------
    path : path-like
    kind : str, optional
        If given, the file must hold this kind of model.

    Returns
    -------
    tensors : dict of str -> ndarray
    config : dict

    Raises
    ------
    ModelFileError
        With a one-line message, for a missing, truncated, foreign, too new or
        wrong-kind file.
    """
    path = Path(path)
    tensors, meta = _open(path, with_tensors=True)
    config = _check_meta(path, meta, kind)
    _check_finite(path, tensors)
    return tensors, config


# Network parameters and normalisations: never NaN in a working model. (Other tensors may use NaN
# as "none", e.g. the centre of a cluster that serves no image.)
_PARAMETER_SUFFIXES = (".weight", ".bias", ".mean", ".std", ".target_scale", ".running_mean", ".running_var")


def _check_finite(path: Path, tensors: dict[str, np.ndarray], *, saving: bool = False) -> None:
    """Refuse weights with NaN or infinity, at load and before a save: they would fail (or blacken) every image later."""
    for name, values in tensors.items():
        if name.endswith(_PARAMETER_SUFFIXES) and np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
            if saving:
                raise ModelFileError(f"{_shown(path)}: not written: tensor {name!r} holds NaN or infinite values "
                                     "(the training diverged; check its numbers, e.g. the loss weights)")
            raise ModelFileError(f"{_shown(path)}: tensor {name!r} holds NaN or infinite values; the file is damaged or its training diverged")


def _shown(path: Path) -> str:
    from deepcolor.io.common import one_line

    return one_line(str(path))


def load_error_text(exc: BaseException) -> str:
    """An exception's whole message on one line (torch's state-dict errors put the missing names on later lines)."""
    return " ".join(str(exc).split()) or type(exc).__name__


# What a file of each non-colorizer kind is, for "this file cannot be a --model" messages.
_PART_KINDS = {
    "fcn": "the semantic FCN, a part of a Cheng colorizer (python -m deepcolor.fit --fcn takes it)",
    "regressor": "one MLP of a Cheng colorizer's training cache",
}


def kind_mismatch(path: str | os.PathLike, kind: str, known: list[str]) -> str:
    """One line for a model file of a kind that is not a colorizer: what it holds and what to pass instead."""
    what = _PART_KINDS.get(kind, f"a model of kind {kind!r}")
    return (f"{_shown(Path(path))} holds {what}, not a colorizer; pass a colorizer file "
            f"(kind {' or '.join(repr(k) for k in known)}) or none for the shipped one")


def read_model_kind(path: str | os.PathLike) -> str:
    """The kind of model a file holds (``"cheng"``, ``"fcn"``, ...; older kind strings mapped), read from its header only.

    Raises `ModelFileError` like `load_model_file` for a missing, foreign or too new file.
    """
    path = Path(path)
    _, meta = _open(path, with_tensors=False)
    _check_meta(path, meta, None)
    return LEGACY_KINDS.get(str(meta.get("kind")), str(meta.get("kind")))


def _open(path: Path, *, with_tensors: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        if path.is_dir():
            raise ModelFileError(f"{_shown(path)}: is a folder, not a model file")
        if path.exists():
            raise ModelFileError(f"{_shown(path)}: not a regular file")
        raise ModelFileError(f"model file not found: {_shown(path)}")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()} if with_tensors else {}
    except Exception as exc:  # safetensors raises several types for bad headers
        raise ModelFileError(f"{_shown(path)}: not a readable model file ({type(exc).__name__}: {load_error_text(exc)})") from None
    return tensors, meta


def _check_meta(path: Path, meta: dict[str, str], kind: str | None) -> dict[str, Any]:
    if meta.get("format") != _FORMAT:
        raise ModelFileError(f"{_shown(path)}: not a deepcolor model file")
    try:
        version = int(meta.get("version", "-1"))
        config = json.loads(meta.get("config", "{}"))
    except (ValueError, json.JSONDecodeError):
        raise ModelFileError(f"{_shown(path)}: corrupt deepcolor metadata") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{_shown(path)}: model format version {version}, this deepcolor reads version {FORMAT_VERSION}")
    held = LEGACY_KINDS.get(str(meta.get("kind")), meta.get("kind"))
    if kind is not None and held != LEGACY_KINDS.get(kind, kind):
        raise ModelFileError(f"{_shown(path)}: holds a {held!r} model, expected {LEGACY_KINDS.get(kind, kind)!r}")
    return config


def check_model_argument(model: object) -> None:
    """An InputError unless ``model`` is None, a path, or a `deepcolor.models.base.Predictor` (what `colorize` takes)."""
    from deepcolor.models.base import Predictor

    if model is None or isinstance(model, (str, os.PathLike, Predictor)):
        return
    raise InputError(f"model must be a loaded model, a model file path or None, got {type(model).__name__}")
