"""Writing: the one atomic writer of the package, and image encoding on top of it.

Writing (`write_image`)
    The image is encoded in memory, written to a hidden temporary file in the
    destination folder (``.<stem>.<random>.tmp<ext>``), fsynced and renamed
    over the destination, so a failure never leaves a partial file. A missing
    destination folder is created only when its own parent exists (one
    level: ``-o out/`` is friendly, a mistyped deep path is an error).
    Format follows the extension. 16 bits are written for PNG (OpenCV) and
    TIFF (tifffile, deflate, alpha tagged as unassociated);
    JPEG, BMP and WebP fall back to 8 bits with a logged warning (the bit
    depth usually comes from the source, the format from the user). Alpha is
    written for PNG, TIFF and WebP (16-bit gray+alpha PNG as RGBA, since
    OpenCV writes no gray+alpha PNG); JPEG and BMP drop it with a logged
    warning (colour samples kept as they are). No metadata is copied: the
    orientation was applied when reading, so the output is upright as is.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import IO

import numpy as np

from deepcolor.io.claims import record_temp
from deepcolor.io.common import (
    FORMAT_BY_EXT,
    FORMATS_16BIT,
    SUPPORTED_EXTENSIONS,
    ImageWriteError,
    one_line,
    error_reason,
    fitted_hidden_name,
)

logger = logging.getLogger("deepcolor.io")

_FORMATS_ALPHA = frozenset({"PNG", "TIFF", "WEBP"})


def _check_write_args(rgb, alpha, bit_depth, quality, overwrite) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(rgb, np.ndarray) or not (np.issubdtype(rgb.dtype, np.floating) or rgb.dtype in (np.uint8, np.uint16)):
        raise ValueError(
            f"rgb must be a float ndarray with values in [0, 1], or uint8 / uint16, got {type(rgb).__name__} {getattr(rgb, 'dtype', '')}"
        )
    if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)) or 0 in rgb.shape:
        raise ValueError(f"rgb must have shape (H, W) or (H, W, 3) with H, W > 0, got {rgb.shape}")
    if np.issubdtype(rgb.dtype, np.floating) and not np.isfinite(rgb).all():
        raise ValueError("rgb contains NaN or infinity")
    if alpha is not None:
        if not isinstance(alpha, np.ndarray) or not np.issubdtype(alpha.dtype, np.floating):
            raise ValueError(f"alpha must be None or a float ndarray in [0, 1], got {type(alpha).__name__}")
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must have shape {rgb.shape[:2]}, got {alpha.shape}")
        if not np.isfinite(alpha).all():
            raise ValueError("alpha contains NaN or infinity")
    if isinstance(bit_depth, bool) or bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in [1, 100], got {quality!r}")
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be a bool, got {overwrite!r}")
    return rgb, alpha


def _quantize(x: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float [0, 1] -> uint8/uint16, clipped and rounded to nearest; integer samples pass or change depth."""
    if x.dtype == (np.uint8 if bit_depth == 8 else np.uint16):
        return x  # already quantized: no float copy of a large image
    if x.dtype == np.uint16:  # 16 -> 8 bits, rounded
        return ((x.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if x.dtype == np.uint8:
        return x.astype(np.uint16) * np.uint16(257)
    top = 255 if bit_depth == 8 else 65535
    q = np.rint(np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0) * np.float32(top))
    return q.astype(np.uint8 if bit_depth == 8 else np.uint16)


def _encode(fmt: str, ext: str, rgb: np.ndarray, alpha: np.ndarray | None, bit_depth: int, quality: int) -> bytes:
    """Encode to the bytes of a complete file (nothing touches the disk here)."""
    if bit_depth == 16 and fmt == "TIFF":
        # tifffile marks alpha as ExtraSamples=unassociated, which OpenCV's writer omits.
        import tifffile

        planes = _quantize(rgb, 16)
        gray = planes.ndim == 2
        extra = {}
        if alpha is not None:
            planes = np.dstack([planes, _quantize(alpha, 16)])
            extra["extrasamples"] = ("unassalpha",)
        buf = BytesIO()
        tifffile.imwrite(
            buf, planes, photometric="minisblack" if gray else "rgb", compression="zlib", metadata=None, **extra
        )
        return buf.getvalue()
    if bit_depth == 16:
        import cv2

        color = _quantize(rgb, 16)
        if alpha is not None:
            if color.ndim == 2:
                color = np.repeat(color[..., None], 3, axis=2)
            planes = np.dstack([color[..., ::-1], _quantize(alpha, 16)])  # BGRA
        else:
            planes = color if color.ndim == 2 else color[..., ::-1]
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(planes))
        if not ok:
            raise RuntimeError("OpenCV could not encode the image")
        return buf.tobytes()

    from PIL import Image

    color = _quantize(rgb, 8)
    if fmt == "WEBP" and color.ndim == 2:  # WebP has no gray mode; Pillow would drop LA's alpha
        color = np.repeat(color[..., None], 3, axis=2)
    if alpha is not None:
        arr = np.dstack([color, _quantize(alpha, 8)])
        mode = "LA" if color.ndim == 2 else "RGBA"
    else:
        arr = color
        mode = "L" if color.ndim == 2 else "RGB"
    im = Image.fromarray(np.ascontiguousarray(arr), mode=mode)
    options: dict = {}
    if fmt == "JPEG":
        options["quality"] = int(quality)
    elif fmt == "WEBP":
        options = {"lossless": True} if quality == 100 else {"quality": int(quality)}
    elif fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    buf = BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def _prepare_folder(path: Path) -> None:
    """Check the destination folder, creating it when only its last level is missing."""
    folder = path.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise ImageWriteError(path, f"{folder} is not a folder")
    if not folder.parent.is_dir():
        raise ImageWriteError(path, f"folder {folder} does not exist (nor does its parent)")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(path, f"cannot create folder {folder} ({error_reason(exc)})") from None


def new_temp(path: Path, tag: str = "tmp") -> tuple[int, Path]:
    """Create a hidden temp file next to ``path``; mode 0o666 minus umask, like a normal new file.

    Its name (``.<stem>.<8 hex>.<tag><ext>``, the stem cut to fit the name limit
    whenever the destination's name fits) is new (made with ``O_EXCL``, so no
    user's file is ever taken over) and recorded in the claim this thread
    holds in that folder, so only a run that takes over that claim removes it.
    Returns the open descriptor and the name.
    """
    for _ in range(100):
        tmp = path.with_name(fitted_hidden_name(path.stem, f".{secrets.token_hex(4)}.{tag}{path.suffix}", path.parent))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        record_temp(tmp)
        return fd, tmp
    raise FileExistsError(f"no free temporary name next to {path}")


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; not possible on every platform, so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, overwrite: bool = True, **kwargs) -> Iterator[IO]:
    """Open a hidden temp file beside ``path``; on success it becomes ``path``, on error it is removed.

    The one atomic writer of the package (images, model files, caches, CSVs,
    reports): a reader never sees a partial file and an interrupted write
    leaves the old file (or none). Missing parent folders are created. With
    ``overwrite=False`` an existing ``path`` is kept and `FileExistsError` raised
    (checked atomically by a hard link where the file system has them).
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temp(path)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic "create only if absent"
            except FileExistsError:
                raise
            except OSError:  # file systems without hard links
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_folder(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb", overwrite=overwrite) as fh:
        fh.write(data)
    return Path(os.fspath(path))


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    overwrite: bool = True,
    quality: int = 95,
) -> Path:
    """Write an image atomically; the format follows the extension.

    Parameters
    ----------
    path : path-like
        Destination with one of `SUPPORTED_EXTENSIONS`. Its folder is created
        when only that last level is missing.
    rgb : ndarray, shape (H, W) or (H, W, 3), float, uint8 or uint16
        Gray or RGB samples: floats in [0, 1] (values outside are clipped,
        then rounded to the nearest integer level), or integer samples
        written as they are (a large image need not exist as floats).
    alpha : ndarray, shape (H, W), float, optional
        Opacity in [0, 1]; written for PNG/TIFF/WebP, dropped with a logged
        warning for JPEG/BMP.
    bit_depth : {8, 16}, keyword-only
        Sample precision; 16 is written for PNG/TIFF, other formats fall back
        to 8 with a logged warning.
    overwrite : bool, keyword-only
        When False and the destination exists, raise (the file is untouched).
    quality : int in [1, 100], keyword-only
        JPEG/WebP quality; WebP at 100 is lossless.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    ImageWriteError
        One line ``"<path>: <reason>"``: unsupported extension, destination
        exists (``overwrite=False``) or is a folder, folder missing or
        unwritable, encoder or disk failure. No partial file is left.
    ValueError
        An argument has the wrong type, shape or value.
    """
    rgb, alpha = _check_write_args(rgb, alpha, bit_depth, quality, overwrite)
    path = Path(os.fspath(path))
    ext = path.suffix.lower()
    fmt = FORMAT_BY_EXT.get(ext)
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ImageWriteError(path, f"unsupported extension {shown} (supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))})")
    if path.is_dir():
        raise ImageWriteError(path, "is a folder")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise ImageWriteError(path, "exists; pass --overwrite to replace it")
    if bit_depth == 16 and fmt not in FORMATS_16BIT:
        logger.warning("%s: %s holds 8 bits per sample; writing 8-bit", one_line(str(path)), fmt)
        bit_depth = 8
    if alpha is not None and fmt not in _FORMATS_ALPHA:
        logger.warning("%s: %s has no alpha channel; transparency dropped", one_line(str(path)), fmt)
        alpha = None
    try:
        data = _encode(fmt, ext, rgb, alpha, bit_depth, quality)
    except MemoryError:
        raise ImageWriteError(path, "not enough memory to encode") from None
    except Exception as exc:
        raise ImageWriteError(path, f"cannot encode {fmt} ({error_reason(exc)})") from None
    _prepare_folder(path)
    try:
        atomic_write_bytes(path, data, overwrite=overwrite)
    except FileExistsError:
        raise ImageWriteError(path, "exists; pass --overwrite to replace it") from None
    except PermissionError:
        raise ImageWriteError(path, f"permission denied (folder {path.parent})") from None
    except OSError as exc:
        raise ImageWriteError(path, f"cannot write ({error_reason(exc)})") from None
    return path


