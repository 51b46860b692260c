"""Decoders for what Pillow cannot give at full depth: 16-bit colour PNG (OpenCV) and TIFF (tifffile).

Also the orientation and gray-split helpers every decoder ends with.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deepcolor.io.common import ORIENTATION_TAG, ImageReadError, error_reason

_OPENCV_LOCK = threading.Lock()  # guards OpenCV's global log level


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



# Largest |R - G| or |B - G| (8-bit levels) that lossy coding puts into a gray photo: measured 1 for
# gray WebP at quality 50-95; colour photos differ by tens of levels.
GRAY_NOISE_LEVELS = 2


def _nearly_gray(samples: np.ndarray) -> bool:
    green = samples[..., 1].astype(np.int16)
    return bool(np.abs(samples[..., 0] - green).max() <= GRAY_NOISE_LEVELS and np.abs(samples[..., 2] - green).max() <= GRAY_NOISE_LEVELS)


def split_gray(samples: np.ndarray, scale: float, *, lossy: bool = False) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(H, W[, C]) samples (C in 1..4, alpha last when C is 2 or 4) / scale -> float32 pixels, alpha, is_gray.

    ``lossy`` (8-bit JPEG/WebP): colour samples within `GRAY_NOISE_LEVELS` of
    each other count as gray, and the pixels are their BT.601 luma.
    """
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
    if channels == 3 and lossy and scale == 255.0 and _nearly_gray(samples):
        from deepcolor.colorspace import rgb_to_luma

        return rgb_to_luma(samples.astype(np.float32) / np.float32(scale)), alpha, True
    color = samples[..., 0] if channels == 1 else samples
    pixels = np.ascontiguousarray(color, dtype=np.float32) / np.float32(scale)
    return pixels, alpha, channels == 1



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


def opencv_arrays(data: bytes, path: Path, size: tuple[int, int], orientation: int):
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
    pixels, alpha, is_gray = split_gray(samples, float(np.iinfo(samples.dtype).max))
    return pixels, alpha, bit_depth, is_gray


def is_tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class NeedsCodec(Exception):
    """tifffile lacks the decompressor (LZW, PackBits, ... need the optional imagecodecs package)."""

    def __init__(self, compression: str, planar: bool) -> None:
        super().__init__(compression)
        self.compression, self.planar = compression, planar


def tifffile_arrays(fh, path: Path, max_pixels: int):
    """Decode a TIFF with tifffile -> (pixels, alpha, bit_depth, is_gray), upright.

    Used for 16-bit colour TIFF (OpenCV 5 mis-decodes planar ones) and for
    layouts Pillow cannot open (16-bit gray+alpha, float RGB, ...). Raises
    `NeedsCodec` when the compression needs imagecodecs.
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
            tag = page.tags.get(ORIENTATION_TAG)
            orientation = tag.value if tag is not None and isinstance(tag.value, int) else 1
            if photometric not in (0, 1, 2) or axes not in ("YX", "YXS", "SYX") or dtype is None or dtype.kind not in "uf":
                raise ImageReadError(path, f"unsupported TIFF layout (photometric {photometric}, axes {axes}, {dtype})")
            try:
                samples = page.asarray()
            except ValueError as exc:
                if "imagecodecs" in str(exc):
                    raise NeedsCodec(page.compression.name, int(page.planarconfig) == 2) from None
                raise
    except (ImageReadError, NeedsCodec):
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"truncated or corrupt image ({error_reason(exc)})") from None

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
    pixels, alpha, is_gray = split_gray(samples, scale)
    if photometric == 0:  # WhiteIsZero
        pixels = 1.0 - pixels
    if has_alpha and extras[0] == 1:  # premultiplied alpha -> straight
        a = alpha if pixels.ndim == 2 else alpha[..., None]
        pixels = np.where(a > 0, np.clip(pixels / np.maximum(a, 1e-12), 0, 1), 0).astype(np.float32)
    return pixels, alpha, bit_depth, is_gray


