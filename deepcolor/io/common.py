"""What reading, writing and naming share: the errors, the formats, one-line messages."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

import numpy as np

from deepcolor.errors import DeepcolorError, InputError


DEFAULT_MAX_PIXELS = 100_000_000
TIFF_BITS_PER_SAMPLE = 258
ORIENTATION_TAG = 0x0112

# Extension -> Pillow format name; every entry is verified to round-trip by tests/test_io.py.
FORMAT_BY_EXT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
SUPPORTED_EXTENSIONS = frozenset(FORMAT_BY_EXT)
FORMATS_16BIT = frozenset({"PNG", "TIFF"})

class FileError(DeepcolorError):
    """A file of the user's that cannot be used; ``str(err)`` is one line ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = one_line(reason)
        super().__init__(f"{one_line(self.path)}: {self.reason}")

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # picklable, so errors cross process pools intact
        return (type(self), (self.path, self.reason))


class ImageReadError(FileError, ValueError):
    """An input image that cannot be read; ``str(err)`` is one line ``"<path>: <reason>"``."""


class ImageWriteError(FileError, OSError):
    """An output image that cannot be written; ``str(err)`` is one line ``"<path>: <reason>"``."""


def one_line(text: str) -> str:
    """Escape control characters (newlines in file names included) so messages stay on one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class TerminalHandler(logging.StreamHandler):
    """Log lines for a terminal: control characters escaped, and printed above a live tqdm bar, not onto its line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = one_line(self.format(record))
            tqdm = sys.modules.get("tqdm.auto") and sys.modules["tqdm"].tqdm
            if tqdm is not None and getattr(tqdm, "_instances", None):
                tqdm.write(text, file=self.stream)
            else:
                self.stream.write(text + self.terminator)
                self.flush()
        except Exception:  # noqa: BLE001 - logging must never end a command
            self.handleError(record)


def error_reason(exc: BaseException) -> str:
    """Short text of an exception: strerror for OS errors, else its message, else its type."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise InputError(f"max_pixels must be a positive integer, got {max_pixels!r}")


NAME_MAX = 255  # bytes of one file name on Linux, macOS and Windows file systems


def _name_max(folder: str | os.PathLike) -> int:
    try:
        return min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def fitted_hidden_name(name: str, tail: str, folder: str | os.PathLike = ".") -> str:
    """``.<name><tail>``, with ``name`` cut to fit the folder's name limit (in bytes).

    A cut name ends in ``~`` and 8 hex of the whole name's hash, so the result
    is deterministic (two runs agree on it) and still tells long names apart.
    Used for claims and temp files, which must fit wherever the output's own
    name fits.
    """
    limit = _name_max(folder)
    whole = f".{name}{tail}"
    if len(os.fsencode(whole)) <= limit:
        return whole
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
    room = max(1, limit - len(os.fsencode(f".~{digest}{tail}")))
    cut = os.fsdecode(os.fsencode(name)[:room])
    return f".{cut}~{digest}{tail}"


def is_image_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has a supported image extension (case-insensitive); the file is not opened."""
    return Path(os.fspath(path)).suffix.lower() in SUPPORTED_EXTENSIONS
