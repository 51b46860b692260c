"""Reading and writing photographs robustly.

Every odd input gives either a correct image or a one-line error
(`ImageReadError` / `ImageWriteError`, message ``"<path>: <reason>"``);
inputs are never modified and outputs are written atomically.

Reading (`read_image`)
    Pillow decodes everything except 16-bit colour (RGB, RGBA, gray+alpha),
    which Pillow can only give as 8 bits. Pillow still decodes those files
    once in full to prove them intact; then 16-bit colour PNG is decoded by
    OpenCV (``IMREAD_UNCHANGED``, BGR order undone) and 16-bit colour TIFF by
    tifffile (OpenCV 5 garbles planar 16-bit TIFF), or by OpenCV when the
    compression needs the optional imagecodecs package (LZW, PackBits) and
    the file is pixel-interleaved. TIFF layouts Pillow cannot open at all
    (16-bit gray+alpha, float RGB) are read with tifffile only. The pixel count is checked against
    ``max_pixels`` from the header, before any pixel is decoded; Pillow's own
    process-wide bomb check is switched off while our reader holds a lock
    (so Pillow decodes through `read_image` run one at a time per process).
    EXIF orientation is applied. Only JPEG, PNG, TIFF, BMP and WebP
    decoders are allowed whatever the file is called (no EPS/Ghostscript
    surprises); a file whose content and extension disagree (a PNG named
    ``.jpg``) is read by its content. Multi-frame files give their first
    frame. Colour profiles are ignored: samples are used as stored.

    ``is_gray`` is True when the source has no colour: gray modes (1, L, LA,
    I;16*, I, F) and also colour-mode files whose R, G and B samples are
    equal at every pixel (a gray scan saved as RGB, a gray palette) or, for
    lossy JPEG and WebP (stored as YCbCr), within `GRAY_NOISE_LEVELS` of each
    other (coding noise of a gray photo; such a file is read as its BT.601
    luma). In both
    cases ``pixels`` is 2-D, so ``is_gray == (pixels.ndim == 2)`` always.

    ``bit_depth`` is 16 for 16-bit sources and for 32-bit integer (``I``,
    clipped to [0, 65535]) and float (``F``, must lie in [0, 1]) sources,
    8 otherwise (bilevel ``1`` included).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepcolor.io.common import (
    ORIENTATION_TAG,
    TIFF_BITS_PER_SAMPLE,
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    ImageReadError,
    check_max_pixels,
    one_line,
    error_reason,
)
from deepcolor.io.deep import is_tiff, NeedsCodec, opencv_arrays, split_gray, tifffile_arrays

logger = logging.getLogger("deepcolor.io")

# Formats whose colour planes carry coding noise: a gray photo comes back with R, G, B a level apart.
_LOSSY_FORMATS = frozenset({"JPEG", "WEBP", "MPO"})

# Decoders allowed to open a file (Pillow's JPEG opener also yields camera MPO files).
_READ_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")

# Pillow's decompression-bomb limit and truncated-image switch are process-wide;
# we swap in our own per-call check while holding this lock.
_PILLOW_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    """A decoded image.

    Attributes
    ----------
    pixels : ndarray, shape (H, W) or (H, W, 3), float32
        Gray or RGB samples in [0, 1], upright (EXIF orientation applied).
        2-D exactly when `is_gray`.
    alpha : ndarray, shape (H, W), float32, or None
        Opacity in [0, 1] when the source has an alpha channel or a
        transparent colour.
    bit_depth : int
        8 or 16: precision of the source samples.
    is_gray : bool
        True when the source holds no colour (see the module docstring).
    path : Path or None
        Where the image was read from.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    is_gray: bool
    path: Path | None


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _pillow_guard() -> Iterator[list[warnings.WarningMessage]]:
    """Disable Pillow's global bomb check (ours replaces it), force strict truncation, capture warnings."""
    from PIL import Image, ImageFile

    with _PILLOW_LOCK:
        old_limit, old_truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield caught
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old_limit, old_truncated


def _open_binary(path: Path):
    """Open ``path`` for reading (a separate function so tests can simulate OS failures)."""
    return open(path, "rb")


def _tile_rawmode(im) -> str:
    """The raw sample layout Pillow will decode, e.g. ``"RGB;16B"`` (empty when unknown)."""
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        if isinstance(args, str):
            return args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            return args[0]
    return ""


def _is_deep_colour(im) -> bool:
    """True for 16-bit colour or gray+alpha sources, which Pillow would reduce to 8 bits."""
    if im.mode.startswith("I") or im.mode == "F":
        return False
    if ";16" in _tile_rawmode(im):
        return True
    if im.format == "TIFF":
        bits = im.tag_v2.get(TIFF_BITS_PER_SAMPLE)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(isinstance(b, int) and b > 8 for b in bits)
    return False



def _exif_orientation(im, path: Path) -> int:
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception as exc:  # a broken EXIF block must not lose the photo
        logger.warning("%s: unreadable EXIF ignored (%s)", one_line(str(path)), error_reason(exc))
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_transpose(im, path: Path):
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except Exception as exc:
        logger.warning("%s: unreadable EXIF orientation ignored (%s)", one_line(str(path)), error_reason(exc))
        return im



def _pillow_arrays(im, path: Path, *, lossy: bool = False) -> tuple[np.ndarray, np.ndarray | None, int, bool]:
    """Decoded Pillow image -> (pixels, alpha, bit_depth, is_gray); ``lossy``: see `split_gray`."""
    mode = im.mode
    transparency = im.info.get("transparency")
    if mode.startswith("I;16") or mode == "I":
        samples = np.asarray(im)
        if mode == "I" and (samples.min() < 0 or samples.max() > 65535):
            logger.warning("%s: 32-bit samples clipped to [0, 65535]", one_line(str(path)))
        samples = np.clip(samples, 0, 65535).astype(np.uint16)
        alpha = None
        if isinstance(transparency, int):
            alpha = (samples != transparency).astype(np.float32)
        return samples.astype(np.float32) / np.float32(65535), alpha, 16, True
    if mode == "F":
        samples = np.asarray(im, dtype=np.float32)
        if not np.isfinite(samples).all():
            raise ImageReadError(path, "32-bit float image contains NaN or infinity")
        lo, hi = float(samples.min()), float(samples.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ImageReadError(
                path, f"32-bit float samples span [{lo:.6g}, {hi:.6g}], outside [0, 1]; save it as 8 or 16 bit"
            )
        return np.clip(samples, 0, 1), None, 16, True

    if mode == "1":
        im = im.convert("L")
    elif mode == "L":
        if transparency is not None:
            im = im.convert("LA")
    elif mode in ("LA", "RGBA"):
        pass
    elif mode in ("P", "PA", "RGBa", "La") or (mode == "RGB" and transparency is not None):
        has_alpha = mode != "P" or transparency is not None or im.palette.mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode != "RGB":  # CMYK, YCbCr, RGBX, LAB, HSV, ...
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            raise ImageReadError(path, f"unsupported pixel mode {mode} ({error_reason(exc)})") from None
    pixels, alpha, is_gray = split_gray(np.asarray(im), 255.0, lossy=lossy)
    return pixels, alpha, 8, is_gray



def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file.

    Parameters
    ----------
    path : path-like
        A file with one of `SUPPORTED_EXTENSIONS` (case-insensitive).
    max_pixels : int, keyword-only
        Largest accepted width * height, checked from the header before
        decoding (guards against decompression bombs).

    Returns
    -------
    LoadedImage
        ``pixels`` (H, W) or (H, W, 3) float32 in [0, 1], ``alpha`` (H, W)
        float32 in [0, 1] or None, ``bit_depth`` 8 or 16, ``is_gray``, ``path``.

    Raises
    ------
    ImageReadError
        One line ``"<path>: <reason>"``: missing, a folder, unreadable, empty,
        unsupported extension, not an image, truncated or corrupt, too large,
        unsupported pixel mode.
    ValueError
        ``max_pixels`` is not a positive integer.
    """
    check_max_pixels(max_pixels)
    path = Path(os.fspath(path))
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ImageReadError(path, f"unsupported extension {shown} (supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))})")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot access ({error_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(path, "is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ImageReadError(path, "not a regular file")
    try:
        fh = _open_binary(path)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open ({error_reason(exc)})") from None
    with fh:
        try:
            try:
                return _read_open_file(fh, path, max_pixels)
            except ImageReadError as exc:
                if _TEXT_CHUNK_LIMIT not in exc.reason:
                    raise
                stripped = _png_without_text(fh)  # metadata we never use is over Pillow's limit: the pixels may be fine
                if stripped is None:
                    raise
                logger.info("%s: a PNG metadata chunk (text or colour profile) over Pillow's size limit was skipped",
                            one_line(str(path)))
                return _read_open_file(stripped, path, max_pixels)
        except MemoryError:
            raise ImageReadError(path, "not enough memory to decode") from None


_TEXT_CHUNK_LIMIT = "MAX_TEXT_CHUNK"  # in Pillow's error for a text chunk that decompresses past its limit
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_without_text(fh):
    """The PNG in ``fh`` without its text chunks (tEXt, zTXt, iTXt: metadata, never copied) and its colour profile
    (iCCP: never applied, the luma is the samples' own, and Pillow decompresses it under the same limit), as a
    BytesIO; None if not PNG."""
    import struct
    from io import BytesIO

    fh.seek(0)
    data = fh.read()
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, at = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if kind not in (b"tEXt", b"zTXt", b"iTXt", b"iCCP"):
            kept.append(data[at:end])
        at = end
    return BytesIO(b"".join(kept))


def _read_open_file(fh, path: Path, max_pixels: int) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    try:
        head = fh.read(4)
        fh.seek(0)
    except OSError as exc:
        raise ImageReadError(path, f"cannot read ({error_reason(exc)})") from None
    if not head:
        raise ImageReadError(path, "empty file (0 bytes)")

    im, result, deep = None, None, False
    with _pillow_guard() as caught:
        try:
            im = Image.open(fh, formats=_READ_FORMATS)
        except UnidentifiedImageError:
            if not is_tiff(head):
                raise ImageReadError(path, "not a recognized image (or truncated before its header ends)") from None
        except Exception as exc:
            raise ImageReadError(path, f"truncated or corrupt image ({error_reason(exc)})") from None
        if im is not None:
            result, deep, orientation, size = _decode_with_pillow(im, path, max_pixels)
    for w in caught:
        logger.debug("%s: decoder warning: %s", one_line(str(path)), one_line(str(w.message)))

    if im is None or (deep and im.format == "TIFF"):
        try:
            result = tifffile_arrays(fh, path, max_pixels)
        except NeedsCodec as exc:
            # OpenCV's libtiff has every codec but garbles planar 16-bit; only a
            # file Pillow has already decoded in full is trusted to it.
            if im is None or exc.planar:
                raise ImageReadError(
                    path, f"TIFF compression {exc.compression} needs the imagecodecs package for this layout"
                ) from None
            result = None
    if deep and result is None:
        try:
            fh.seek(0)
            data = fh.read()
        except OSError as exc:
            raise ImageReadError(path, f"cannot read ({error_reason(exc)})") from None
        result = opencv_arrays(data, path, size, orientation)
    pixels, alpha, bit_depth, is_gray = result
    return LoadedImage(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.float32),
        bit_depth=bit_depth,
        is_gray=is_gray,
        path=path,
    )


def _decode_with_pillow(im, path: Path, max_pixels: int):
    """Check the header size, then decode and orient (Pillow lock held).

    Returns ``(result, deep, orientation, size)``: ``result`` is
    ``(pixels, alpha, bit_depth, is_gray)``, or None for 16-bit colour
    (``deep``), which OpenCV decodes afterwards and ``orientation`` turns upright.
    """
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageReadError(path, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageReadError(
            path, f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} (max_pixels)"
        )
    # TIFF decodes into a buffer of its tile size, which a hostile header can make huge.
    tile_w, tile_h = getattr(im, "_tile_size", None) or im.size
    if tile_w * tile_h > max_pixels:
        raise ImageReadError(path, f"TIFF tile of {tile_w}x{tile_h} pixels is over the limit of {max_pixels:,} (max_pixels)")
    deep = _is_deep_colour(im)
    result, orientation = None, 1
    try:
        im.load()  # decode now, so truncation surfaces here and not later
        if deep:  # Pillow decoded 8 bits only to prove the file intact; OpenCV gives the 16
            orientation = _exif_orientation(im, path)
        else:
            lossy = im.format in _LOSSY_FORMATS
            im = _exif_transpose(im, path)
            result = _pillow_arrays(im, path, lossy=lossy)
    except ImageReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"truncated or corrupt image ({error_reason(exc)})") from None
    return result, deep, orientation, (width, height)

