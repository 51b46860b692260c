"""The one loader and saver of every deepcolor model file.

A model file is a safetensors file (no pickle): named float/int tensors plus a
string metadata map. ``metadata["format"]`` is ``"deepcolor"``,
``metadata["version"]`` the format version, ``metadata["kind"]`` what the file
holds (``"colorizer"``, ``"fcn"``, ``"global_prior"``, ...) and
``metadata["config"]`` a JSON object describing how to rebuild the model,
including its own normalization constants.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.io.write import atomic_write_bytes

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "save_model_file",
    "load_model_file",
    "read_model_kind",
    "default_weights_path",
    "check_model_argument",
]

FORMAT_VERSION = 1
_FORMAT = "deepcolor"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / f"v{FORMAT_VERSION}"


class ModelFileError(ValueError):
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
    return tensors, config


def read_model_kind(path: str | os.PathLike) -> str:
    """The kind of model a file holds (``"colorizer"``, ``"fcn"``, ...), read from its header only.

    Raises `ModelFileError` like `load_model_file` for a missing, foreign or too new file.
    """
    path = Path(path)
    _, meta = _open(path, with_tensors=False)
    _check_meta(path, meta, None)
    return str(meta.get("kind"))


def _open(path: Path, *, with_tensors: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()} if with_tensors else {}
    except Exception as exc:  # safetensors raises several types for bad headers
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    return tensors, meta


def _check_meta(path: Path, meta: dict[str, str], kind: str | None) -> dict[str, Any]:
    if meta.get("format") != _FORMAT:
        raise ModelFileError(f"{path}: not a deepcolor model file")
    try:
        version = int(meta.get("version", "-1"))
        config = json.loads(meta.get("config", "{}"))
    except (ValueError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: corrupt deepcolor metadata") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version}, this deepcolor reads version {FORMAT_VERSION}")
    if kind is not None and meta.get("kind") != kind:
        raise ModelFileError(f"{path}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    return config


def check_model_argument(model: object) -> None:
    """A ValueError unless ``model`` is None, a path, or an object with ``predict_chroma`` (what `colorize` takes)."""
    if model is None or isinstance(model, (str, os.PathLike)) or callable(getattr(model, "predict_chroma", None)):
        return
    raise ValueError(f"model must be a loaded model, a model file path or None, got {type(model).__name__}")
