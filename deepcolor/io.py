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
    equal at every pixel (a gray scan saved as RGB, a gray palette). In both
    cases ``pixels`` is 2-D, so ``is_gray == (pixels.ndim == 2)`` always.

    ``bit_depth`` is 16 for 16-bit sources and for 32-bit integer (``I``,
    clipped to [0, 65535]) and float (``F``, must lie in [0, 1]) sources,
    8 otherwise (bilevel ``1`` included).

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

Batch naming (`output_paths`)
    See its docstring: deterministic, independent of processing order, and
    collision-free for same stems with different extensions and for same
    names in different folders.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np

__all__ = [
    "ImageReadError",
    "ImageWriteError",
    "SUPPORTED_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "LoadedImage",
    "read_image",
    "write_image",
    "is_image_path",
    "list_images",
    "output_paths",
    "ensure_not_input",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000

# Extension -> Pillow format name; every entry is verified to round-trip by tests/test_io.py.
_FORMAT_BY_EXT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
SUPPORTED_EXTENSIONS = frozenset(_FORMAT_BY_EXT)
_FORMATS_16BIT = frozenset({"PNG", "TIFF"})
_FORMATS_ALPHA = frozenset({"PNG", "TIFF", "WEBP"})
# Decoders allowed to open a file (Pillow's JPEG opener also yields camera MPO files).
_READ_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
_ORIENTATION_TAG = 0x0112
_TIFF_BITS_PER_SAMPLE = 258

# Pillow's decompression-bomb limit and truncated-image switch are process-wide;
# we swap in our own per-call check while holding this lock.
_PILLOW_LOCK = threading.Lock()
_OPENCV_LOCK = threading.Lock()  # guards OpenCV's global log level


class ImageReadError(ValueError):
    """An input image that cannot be read; ``str(err)`` is one line ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = _one_line(reason)
        super().__init__(f"{_one_line(self.path)}: {self.reason}")

    def __reduce__(self):  # picklable, so errors cross process pools intact
        return (type(self), (self.path, self.reason))


class ImageWriteError(OSError):
    """An output image that cannot be written; ``str(err)`` is one line ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = _one_line(reason)
        super().__init__(f"{_one_line(self.path)}: {self.reason}")

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


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


def _one_line(text: str) -> str:
    """Escape control characters (newlines in file names included) so messages stay on one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _reason(exc: BaseException) -> str:
    """Short text of an exception: strerror for OS errors, else its message, else its type."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")


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
        bits = im.tag_v2.get(_TIFF_BITS_PER_SAMPLE)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(isinstance(b, int) and b > 8 for b in bits)
    return False


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array, as `PIL.ImageOps.exif_transpose` does."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(arr, -1)
    if orientation == 7:
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(arr, 1)
    return arr


def _exif_orientation(im, path: Path) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception as exc:  # a broken EXIF block must not lose the photo
        logger.warning("%s: unreadable EXIF ignored (%s)", _one_line(str(path)), _reason(exc))
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_transpose(im, path: Path):
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except Exception as exc:
        logger.warning("%s: unreadable EXIF orientation ignored (%s)", _one_line(str(path)), _reason(exc))
        return im


def _split_gray(samples: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(H, W[, C]) samples (C in 1..4, alpha last when C is 2 or 4) / scale -> float32 pixels, alpha, is_gray."""
    if samples.ndim == 2:
        samples = samples[..., None]
    channels = samples.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = samples[..., -1].astype(np.float32) / np.float32(scale)
        samples = samples[..., :-1]
        channels -= 1
    if channels == 3 and np.array_equal(samples[..., 0], samples[..., 1]) and np.array_equal(
        samples[..., 1], samples[..., 2]
    ):
        samples = samples[..., :1]
        channels = 1
    color = samples[..., 0] if channels == 1 else samples
    pixels = np.ascontiguousarray(color, dtype=np.float32) / np.float32(scale)
    return pixels, alpha, channels == 1


def _pillow_arrays(im, path: Path) -> tuple[np.ndarray, np.ndarray | None, int, bool]:
    """Decoded Pillow image -> (pixels, alpha, bit_depth, is_gray)."""
    mode = im.mode
    transparency = im.info.get("transparency")
    if mode.startswith("I;16") or mode == "I":
        samples = np.asarray(im)
        if mode == "I" and (samples.min() < 0 or samples.max() > 65535):
            logger.warning("%s: 32-bit samples clipped to [0, 65535]", _one_line(str(path)))
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
            raise ImageReadError(path, f"unsupported pixel mode {mode} ({_reason(exc)})") from None
    pixels, alpha, is_gray = _split_gray(np.asarray(im), 255.0)
    return pixels, alpha, 8, is_gray


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Keep libtiff/libpng chatter that OpenCV logs to stderr out of the user's terminal."""
    import cv2

    with _OPENCV_LOCK:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            yield
        finally:
            cv2.utils.logging.setLogLevel(old)


def _opencv_arrays(data: bytes, path: Path, size: tuple[int, int], orientation: int):
    """Decode 16-bit colour with OpenCV -> (pixels, alpha, bit_depth, is_gray), upright."""
    import cv2

    with _quiet_opencv():
        samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    width, height = size
    if samples is None or samples.shape[:2] != (height, width):
        raise ImageReadError(path, "16-bit colour image that OpenCV cannot decode")
    if samples.ndim == 3 and samples.shape[2] >= 3:
        # BGR(A) -> RGB(A)
        order = [2, 1, 0] + ([3] if samples.shape[2] == 4 else [])
        samples = samples[..., order]
    samples = _orient(samples, orientation)
    bit_depth = 16 if samples.dtype == np.uint16 else 8
    pixels, alpha, is_gray = _split_gray(samples, float(np.iinfo(samples.dtype).max))
    return pixels, alpha, bit_depth, is_gray


def _is_tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class _NeedsCodec(Exception):
    """tifffile lacks the decompressor (LZW, PackBits, ... need the optional imagecodecs package)."""

    def __init__(self, compression: str, planar: bool) -> None:
        super().__init__(compression)
        self.compression, self.planar = compression, planar


def _tifffile_arrays(fh, path: Path, max_pixels: int):
    """Decode a TIFF with tifffile -> (pixels, alpha, bit_depth, is_gray), upright.

    Used for 16-bit colour TIFF (OpenCV 5 mis-decodes planar ones) and for
    layouts Pillow cannot open (16-bit gray+alpha, float RGB, ...). Raises
    `_NeedsCodec` when the compression needs imagecodecs.
    """
    import tifffile

    fh.seek(0)
    try:
        with tifffile.TiffFile(fh) as tif:
            page = tif.pages[0]
            width, height = page.imagewidth, page.imagelength
            if width * height > max_pixels:
                raise ImageReadError(
                    path, f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} (max_pixels)"
                )
            photometric, axes, dtype = int(page.photometric), page.axes, page.dtype
            extras = tuple(int(e) for e in page.extrasamples)
            tag = page.tags.get(_ORIENTATION_TAG)
            orientation = tag.value if tag is not None and isinstance(tag.value, int) else 1
            if photometric not in (0, 1, 2) or axes not in ("YX", "YXS", "SYX") or dtype is None or dtype.kind not in "uf":
                raise ImageReadError(path, f"unsupported TIFF layout (photometric {photometric}, axes {axes}, {dtype})")
            try:
                samples = page.asarray()
            except ValueError as exc:
                if "imagecodecs" in str(exc):
                    raise _NeedsCodec(page.compression.name, int(page.planarconfig) == 2) from None
                raise
    except (ImageReadError, _NeedsCodec):
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"truncated or corrupt image ({_reason(exc)})") from None

    if axes == "SYX":
        samples = np.moveaxis(samples, 0, -1)
    if samples.ndim == 2:
        samples = samples[..., None]
    colour = 3 if photometric == 2 else 1
    if samples.shape[2] < colour:
        raise ImageReadError(path, f"TIFF has {samples.shape[2]} samples per pixel, too few for its colour type")
    has_alpha = samples.shape[2] > colour and bool(extras) and extras[0] in (1, 2)
    samples = samples[..., : colour + has_alpha]  # other extra samples carry no picture
    if dtype.kind == "f":
        samples = samples.astype(np.float32)
        if not np.isfinite(samples).all() or samples.min() < -1e-6 or samples.max() > 1 + 1e-6:
            raise ImageReadError(path, "float TIFF samples are not finite values in [0, 1]; save it as 8 or 16 bit")
        samples = np.clip(samples, 0, 1)
        scale, bit_depth = 1.0, 16
    elif dtype.itemsize == 1:
        scale, bit_depth = 255.0, 8
    elif dtype.itemsize == 2:
        scale, bit_depth = 65535.0, 16
    else:
        raise ImageReadError(path, f"unsupported TIFF sample type {dtype}")
    samples = _orient(samples, orientation)
    pixels, alpha, is_gray = _split_gray(samples, scale)
    if photometric == 0:  # WhiteIsZero
        pixels = 1.0 - pixels
    if has_alpha and extras[0] == 1:  # premultiplied alpha -> straight
        a = alpha if pixels.ndim == 2 else alpha[..., None]
        pixels = np.where(a > 0, np.clip(pixels / np.maximum(a, 1e-12), 0, 1), 0).astype(np.float32)
    return pixels, alpha, bit_depth, is_gray


# --------------------------------------------------------------------------- reading


def is_image_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has a supported image extension (case-insensitive); the file is not opened."""
    return Path(os.fspath(path)).suffix.lower() in SUPPORTED_EXTENSIONS


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
    _check_max_pixels(max_pixels)
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
        raise ImageReadError(path, f"cannot access ({_reason(exc)})") from None
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
        raise ImageReadError(path, f"cannot open ({_reason(exc)})") from None
    with fh:
        try:
            return _read_open_file(fh, path, max_pixels)
        except ImageReadError:
            raise
        except MemoryError:
            raise ImageReadError(path, "not enough memory to decode") from None


def _read_open_file(fh, path: Path, max_pixels: int) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    try:
        head = fh.read(4)
        fh.seek(0)
    except OSError as exc:
        raise ImageReadError(path, f"cannot read ({_reason(exc)})") from None
    if not head:
        raise ImageReadError(path, "empty file (0 bytes)")

    im, result, deep = None, None, False
    with _pillow_guard() as caught:
        try:
            im = Image.open(fh, formats=_READ_FORMATS)
        except UnidentifiedImageError:
            if not _is_tiff(head):
                raise ImageReadError(path, "not a recognized image (or truncated before its header ends)") from None
        except Exception as exc:
            raise ImageReadError(path, f"truncated or corrupt image ({_reason(exc)})") from None
        if im is not None:
            result, deep, orientation, size = _decode_with_pillow(im, path, max_pixels)
    for w in caught:
        logger.debug("%s: decoder warning: %s", _one_line(str(path)), _one_line(str(w.message)))

    if im is None or (deep and im.format == "TIFF"):
        try:
            result = _tifffile_arrays(fh, path, max_pixels)
        except _NeedsCodec as exc:
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
            raise ImageReadError(path, f"cannot read ({_reason(exc)})") from None
        result = _opencv_arrays(data, path, size, orientation)
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
            im = _exif_transpose(im, path)
            result = _pillow_arrays(im, path)
    except ImageReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"truncated or corrupt image ({_reason(exc)})") from None
    return result, deep, orientation, (width, height)


def list_images(paths: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Image files named by ``paths``: files as given, folders expanded.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        Files and folders. A file is kept when `is_image_path` says so (else
        skipped with a logged warning); a folder contributes its files with
        supported extensions, hidden entries (name starting with ``"."``,
        e.g. temporary files and macOS ``._*`` resource forks) skipped.
    recursive : bool, keyword-only
        Descend into sub-folders (symbolic links to folders are not followed).

    Returns
    -------
    list of Path
        Sorted by path string, each file once (duplicates by resolved path
        removed, the first spelling kept).

    Raises
    ------
    ImageReadError
        A given path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        logger.warning("%s: folder skipped (%s)", _one_line(str(exc.filename)), _reason(exc))

    for raw in paths:
        p = Path(os.fspath(raw))
        if p.is_dir():
            if recursive:
                for root, dirs, files in os.walk(p, onerror=unreadable):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    found.extend(Path(root) / f for f in files if not f.startswith(".") and is_image_path(f))
            else:
                try:
                    entries = list(p.iterdir())
                except OSError as exc:
                    raise ImageReadError(p, f"cannot list folder ({_reason(exc)})") from None
                found.extend(c for c in entries if not c.name.startswith(".") and is_image_path(c))
        elif p.exists():
            if is_image_path(p):
                found.append(p)
            else:
                logger.warning("%s: skipped, not a supported image extension", _one_line(str(p)))
        else:
            raise ImageReadError(p, "no such file or folder")
    result: list[Path] = []
    seen: set[Path] = set()
    for p in sorted(found, key=str):
        key = p.resolve()
        if key not in seen and p.is_file():
            seen.add(key)
            result.append(p)
    return result


# --------------------------------------------------------------------------- writing


def _check_write_args(rgb, alpha, bit_depth, quality, overwrite) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(rgb, np.ndarray) or not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"rgb must be a float ndarray with values in [0, 1], got {type(rgb).__name__} {getattr(rgb, 'dtype', '')}")
    if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)) or 0 in rgb.shape:
        raise ValueError(f"rgb must have shape (H, W) or (H, W, 3) with H, W > 0, got {rgb.shape}")
    if not np.isfinite(rgb).all():
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
    """Float [0, 1] -> uint8/uint16, clipped and rounded to nearest."""
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
        raise ImageWriteError(path, f"cannot create folder {folder} ({_reason(exc)})") from None


def _new_temp(path: Path) -> tuple[int, Path]:
    """Create a hidden temp file next to ``path``; mode 0o666 minus umask, like a normal new file."""
    for _ in range(100):
        # stem shortened so the temp name fits NAME_MAX whenever the destination does
        tmp = path.with_name(f".{path.stem[:200]}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
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


def _atomic_write(path: Path, data: bytes, *, overwrite: bool) -> None:
    fd, tmp = _new_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic "create only if absent"
            except FileExistsError:
                raise ImageWriteError(path, "exists; pass --overwrite to replace it") from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise ImageWriteError(path, "exists; pass --overwrite to replace it") from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_folder(path.parent)


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
    rgb : ndarray, shape (H, W) or (H, W, 3), float
        Gray or RGB samples in [0, 1]; values outside are clipped, then
        rounded to the nearest integer level.
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
    fmt = _FORMAT_BY_EXT.get(ext)
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ImageWriteError(path, f"unsupported extension {shown} (supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))})")
    if path.is_dir():
        raise ImageWriteError(path, "is a folder")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise ImageWriteError(path, "exists; pass --overwrite to replace it")
    if bit_depth == 16 and fmt not in _FORMATS_16BIT:
        logger.warning("%s: %s holds 8 bits per sample; writing 8-bit", _one_line(str(path)), fmt)
        bit_depth = 8
    if alpha is not None and fmt not in _FORMATS_ALPHA:
        logger.warning("%s: %s has no alpha channel; transparency dropped", _one_line(str(path)), fmt)
        alpha = None
    try:
        data = _encode(fmt, ext, rgb, alpha, bit_depth, quality)
    except MemoryError:
        raise ImageWriteError(path, "not enough memory to encode") from None
    except Exception as exc:
        raise ImageWriteError(path, f"cannot encode {fmt} ({_reason(exc)})") from None
    _prepare_folder(path)
    try:
        _atomic_write(path, data, overwrite=overwrite)
    except ImageWriteError:
        raise
    except PermissionError:
        raise ImageWriteError(path, f"permission denied (folder {path.parent})") from None
    except OSError as exc:
        raise ImageWriteError(path, f"cannot write ({_reason(exc)})") from None
    return path


def ensure_not_input(out_path: str | os.PathLike, input_paths: Iterable[str | os.PathLike]) -> None:
    """Raise `ImageWriteError` when ``out_path`` is the same file as any input.

    Existing files are compared with `os.path.samefile` (catches symbolic and
    hard links, ``..`` and case-insensitive file systems); otherwise resolved
    paths are compared.
    """
    out = Path(os.fspath(out_path))
    out_resolved = out.resolve()
    for raw in input_paths:
        inp = Path(os.fspath(raw))
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # one of them does not exist (yet)
            same = out_resolved == inp.resolve()
        if same:
            raise ImageWriteError(out, f"is the input file {inp}; refusing to overwrite an input")


# --------------------------------------------------------------------------- batch naming


def _normalize_ext(ext: str) -> str:
    ext = ext if ext.startswith(".") else f".{ext}"
    if ext.lower() not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"ext must be one of {sorted(SUPPORTED_EXTENSIONS)}, got {ext!r}")
    return ext.lower()


def output_paths(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    ext: str | None = None,
    suffix: str = "",
) -> list[Path]:
    """Collision-free output paths for a batch, one per input, in input order.

    The name of ``dir/a.jpg`` is ``out_dir/a<suffix>.jpg``, or
    ``out_dir/a<suffix><ext>`` when ``ext`` forces a format. Names are
    compared case-insensitively (safe on Windows/macOS volumes). When several
    inputs get the same name, ALL of them get a tag between stem and suffix:
    the first of these that tells the group apart is used,

    1. the source extension: ``a_jpg.png``, ``a_png.png``;
    2. the parent folder: ``a_dir1.jpg``, ``a_dir2.jpg``;
    3. parent folder and source extension: ``a_dir1_jpg.png``;
    4. more parent folders, nearest last: ``a_x_scans.jpg``, ``a_y_scans.jpg``;
    5. a hash of the absolute input path: ``a_3f09c2d1.jpg``.

    A tagged name that still clashes with another name of the batch falls
    back to the hash. The result depends only on the set of inputs, never on
    their order.

    Parameters
    ----------
    inputs : sequence of path-like
        Input files, each listed once (same resolved path twice is an error).
    out_dir : path-like
        Output folder.
    ext : str, optional, keyword-only
        Output format extension (``"png"`` or ``".png"``); default: keep each
        input's extension.
    suffix : str, keyword-only
        Appended to every stem, e.g. ``"_color"``; must not contain a path separator.

    Returns
    -------
    list of Path
    """
    import hashlib

    if ext is not None:
        ext = _normalize_ext(ext)
    if not isinstance(suffix, str) or "/" in suffix or os.sep in suffix or "\0" in suffix:
        raise ValueError(f"suffix must be a string without path separators, got {suffix!r}")
    out_dir = Path(os.fspath(out_dir))
    srcs = [Path(os.fspath(p)) for p in inputs]
    absolute = [Path(os.path.abspath(p)) for p in srcs]
    seen: dict[Path, Path] = {}
    for src, ab in zip(srcs, absolute):
        key = ab.resolve()
        if key in seen:
            raise ValueError(f"input listed twice: {seen[key]} and {src}")
        seen[key] = src

    def out_ext(src: Path) -> str:
        return ext if ext is not None else src.suffix

    def name(src: Path, tag: str) -> str:
        tag = f"_{tag}" if tag else ""
        return f"{src.stem}{tag}{suffix}{out_ext(src)}"

    def tag_levels(src: Path, ab: Path) -> list[str]:
        source_ext = src.suffix.lstrip(".").lower()
        parents = [p.name for p in ab.parents if p.name]
        levels = [source_ext]
        for depth in range(1, len(parents) + 1):
            folders = "_".join(reversed(parents[:depth]))
            levels.append(folders)
            levels.append(f"{folders}_{source_ext}")
        return levels

    def hash_tag(ab: Path) -> str:
        return hashlib.sha1(os.fsencode(str(ab.resolve()))).hexdigest()[:8]

    names = [name(s, "") for s in srcs]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        groups[n.casefold()].append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        levels = [tag_levels(srcs[i], absolute[i]) for i in members]
        depth = min(len(lv) for lv in levels)
        for level in range(depth):
            candidate = [name(srcs[i], lv[level]) for i, lv in zip(members, levels)]
            if len({c.casefold() for c in candidate}) == len(candidate):
                break
        else:
            candidate = [name(srcs[i], hash_tag(absolute[i])) for i in members]
        for i, c in zip(members, candidate):
            names[i] = c
    counts: dict[str, int] = defaultdict(int)
    for n in names:
        counts[n.casefold()] += 1
    tagged = [names[i] != name(srcs[i], "") for i in range(len(names))]
    for i, n in enumerate(names):
        if counts[n.casefold()] > 1 and tagged[i]:
            names[i] = name(srcs[i], hash_tag(absolute[i]))
    if len({n.casefold() for n in names}) != len(names):  # only a name that looks like a hash tag can get here
        raise ValueError("cannot find distinct output names for this batch; rename the clashing inputs")
    return [out_dir / n for n in names]
