"""Reading video files (`deepcolor.io.video_write` writes them); with it, the only modules that import PyAV
(``av``, the ``video`` extra).

A video is read as a stream of 8-bit luma planes (the Y plane of the decoded
YUV frames, never the whole clip in memory) and written as H.264 yuv420p (or
the ``--codec`` given) with the input's frame count, timestamps, time base,
frame rate and size; the input's audio streams are remuxed packet by packet,
untouched. The output's Y plane is the input's byte for byte, so its luma is
the input's up to the codec's rounding (none on a lossless setting such as
``libx264`` with ``crf=0``). Any size is kept, odd sides included: H.264 and
HEVC take 4:2:0 only at even sides, so an odd-sized frame is encoded 4:4:4
(yuv444p) with those codecs; VP9 and MPEG-4 take odd 4:2:0. The display
rotation tag (a phone's 90 degrees) and the sample aspect ratio are written
as the input has them. A folder of numbered frames is a video too, at the
``fps`` given. Every failure is a `VideoError`, one line
``"<path>: <reason>"``; the container's close (the MP4 trailer) included, so
a full disk is never a success.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.colorspace import quantize_rgb
from deepcolor.io.common import FileError

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoError",
    "VideoInfo",
    "LumaFrame",
    "FramePattern",
    "frame_pattern",
    "is_video_path",
    "require_av",
    "probe",
    "read_luma",
    "read_ahead",
    "chroma_planes",
    "check_fps",
    "FPS_RANGE",
    "av_errors",
    "error_text",
]

logger = logging.getLogger("deepcolor")

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})
# Codec used when none is given, by output container (WebM cannot hold H.264).
DEFAULT_CODEC = {".webm": "libvpx-vp9"}
DEFAULT_CRF = 18  # x264's "visually lossless" end; 0 is lossless
FPS_RANGE = (0.01, 1000.0)  # frames a second of a folder of frames (one a 100 s slide show to a fast camera)
_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p", "yuv440p", "gray", "nv12"}
_FRAME_FILE = re.compile(r"^(.*?)(\d+)\.(png|jpe?g|tiff?|bmp|webp)$", re.IGNORECASE)
# BT.601 YCbCr from deepcolor's U, V (colorspace: U = 0.492 (B - Y), V = 0.877 (R - Y)):
# Cb = (B - Y) / 1.772, Cr = (R - Y) / 1.402, each spanning [-0.5, 0.5].
_CB_PER_U = 1.0 / (0.492 * 1.772)
_CR_PER_V = 1.0 / (0.877 * 1.402)


class VideoError(FileError, ValueError):
    """A video that cannot be read or written; ``str(err)`` is one line ``"<path>: <reason>"`` (a declared
    `deepcolor.errors.DeepcolorError`, so whatever reports a bad file reports a bad video the same way)."""


def is_video_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has a video extension (case-insensitive); the file is not opened."""
    return Path(os.fspath(path)).suffix.lower() in VIDEO_EXTENSIONS


def require_av(path: str | os.PathLike = "video") -> Any:
    """The ``av`` module, or a `VideoError` naming the extra that installs it."""
    try:
        import av
    except ImportError:
        raise VideoError(path, "video needs PyAV: pip install 'deepcolor[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` finds: the video stream's geometry and timing, and whether audio comes along."""

    path: Path
    width: int
    height: int
    frames: int  # as the container declares it; 0 when it does not say
    rate: Fraction  # average frame rate
    time_base: Fraction
    color_range: int  # 1 limited (16-235), 2 full (0-255), 0 unspecified (taken as limited)
    audio_streams: int
    folder: bool = False  # a folder of numbered frames
    rotation: int = 0  # display rotation in degrees (a phone's tag: the frames are stored sideways)
    sample_aspect: Fraction | None = None  # pixel aspect ratio (4:3 anamorphic ...); None: square or unknown
    duration: float = 0.0  # the container's duration in seconds (0: unknown); tells a truncated MKV/WebM


@dataclass(frozen=True)
class LumaFrame:
    """One decoded frame: its luma plane and when it is shown."""

    index: int
    y: np.ndarray  # (H, W) uint8, the Y plane as decoded
    pts: int | None  # in the stream's time base; None when the container gives none


def _av_error(av: Any) -> tuple[type, ...]:
    return (av.FFmpegError, OSError, UnicodeDecodeError) if hasattr(av, "FFmpegError") else (av.AVError, OSError)


@dataclass(frozen=True)
class FramePattern:
    """The numbered frames a folder holds: one pattern (prefix, extension, number style), what else was there."""

    files: list[Path]  # in frame-number order
    left_out: list[str]  # numbered image files of another pattern (thumb1.png beside f0001.png ...)
    gaps: list[tuple[int, int]]  # missing frame numbers, first and last of each run


def frame_pattern(folder: Path) -> FramePattern:
    """The most common numbered pattern of a folder's images: ``PREFIX<digits>.EXT`` with one prefix and
    extension (case-insensitive) and, where ``f1.png`` and ``f0001.png`` would both be frame 1, one style of
    numbering (zero-padded to a width, or plain). Ties go to the pattern whose first name sorts first."""
    groups: dict[tuple[str, str], list[tuple[int, str, Path]]] = {}
    for entry in folder.iterdir():
        match = _FRAME_FILE.match(entry.name)
        if match and not entry.name.startswith("."):
            key = (match.group(1), match.group(3).lower().replace("jpeg", "jpg").replace("tiff", "tif"))
            groups.setdefault(key, []).append((int(match.group(2)), entry.name, entry))
    if not groups:
        return FramePattern([], [], [])
    best = min(groups.values(), key=lambda g: (-len(g), min(n for _, n, _ in g)))
    chosen = sorted(best)
    if len({number for number, _, _ in chosen}) < len(chosen):  # f1.png and f0001.png: keep the commoner style
        def style(name: str) -> int:
            digits = _FRAME_FILE.match(name).group(2)
            return len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        styles = [style(n) for _, n, _ in chosen]
        common = max(set(styles), key=lambda s: (styles.count(s), s))
        chosen = [item for item, s in zip(chosen, styles) if s == common]
    kept = {name for _, name, _ in chosen}
    left_out = sorted(name for group in groups.values() for _, name, _ in group if name not in kept)
    numbers = [number for number, _, _ in chosen]
    steps = {b - a for a, b in zip(numbers, numbers[1:])}
    step = min(steps) if steps else 1
    gaps = [(a + step, b - step) for a, b in zip(numbers, numbers[1:]) if b - a > step]
    return FramePattern([entry for _, _, entry in chosen], left_out, gaps)


def frame_files(folder: Path) -> list[Path]:
    """The numbered image files of a folder's one pattern (`frame_pattern`), in frame-number order."""
    return frame_pattern(folder).files


def probe(path: str | os.PathLike, *, fps: float | None = None) -> VideoInfo:
    """Open ``path`` (a video file, or a folder of numbered frames with ``fps``) and describe its video stream.

    Raises
    ------
    VideoError
        Not a video, no video stream, an unreadable folder, or no ``fps`` for a folder.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        return _probe_folder(path, fps)
    av = require_av(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or (Fraction(fps) if fps else None)
            if not rate:
                raise VideoError(path, "the video stream has no frame rate (give --fps)")
            if not ctx.width or not ctx.height:
                raise VideoError(path, "the video stream has no frame size")
            sample_aspect = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
            duration = _video_seconds(container, stream)
            first = next(container.decode(stream), None)  # the display rotation comes with the decoded frames
            rotation = int(round(first.rotation)) % 360 if first is not None and getattr(first, "rotation", None) else 0
            return VideoInfo(path, int(ctx.width), int(ctx.height), int(stream.frames or 0), Fraction(rate),
                             Fraction(stream.time_base or Fraction(1, 90000)), int(getattr(ctx, "color_range", 0) or 0),
                             len(container.streams.audio), rotation=rotation, duration=duration,
                             sample_aspect=Fraction(sample_aspect) if sample_aspect and sample_aspect != 1 else None)
    except _av_error(av) as exc:
        raise VideoError(path, f"not a readable video ({_reason(exc)})") from None


def _video_seconds(container: Any, stream: Any) -> float:
    """The video stream's duration in seconds: its own, its Matroska DURATION tag, or the container's when
    no audio could make that longer; 0 when none is known."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", str(stream.metadata.get("DURATION", "")).strip())
    if tag:
        return int(tag.group(1)) * 3600 + int(tag.group(2)) * 60 + float(tag.group(3))
    if container.duration and container.duration > 0 and not container.streams.audio:
        return float(container.duration) / 1e6
    return 0.0


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(str(text).split()))


av_errors = _av_error  # public names for the writer (deepcolor.io.video_write): what PyAV raises, and its one-line reason
error_text = _reason


def _probe_folder(path: Path, fps: float | None) -> VideoInfo:
    from deepcolor.io.read import read_image

    if fps is None:
        raise VideoError(path, "a folder of frames needs --fps")
    fps = check_fps(fps)
    try:
        pattern = frame_pattern(path)
    except OSError as exc:
        raise VideoError(path, f"cannot list folder ({_reason(exc)})") from None
    files = pattern.files
    if not files:
        raise VideoError(path, "no numbered frames (name0001.png ...) in the folder")
    if pattern.left_out:
        shown = ", ".join(pattern.left_out[:3]) + (", ..." if len(pattern.left_out) > 3 else "")
        logger.warning("%s", VideoError(path, f"{len(files)} frames {files[0].name} ... {files[-1].name}; left out "
                                              f"{len(pattern.left_out)} file(s) of another numbering: {shown}"))
    if pattern.gaps:
        runs = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pattern.gaps[:5]) + (", ..." if len(pattern.gaps) > 5 else "")
        logger.warning("%s", VideoError(path, f"frame numbers missing: {runs} (the video goes on without them)"))
    first = read_image(files[0]).pixels
    rate = Fraction(fps).limit_denominator(1001)
    return VideoInfo(path, first.shape[1], first.shape[0], len(files), rate, 1 / rate, 2, 0, folder=True)


def read_luma(info: VideoInfo) -> Iterator[LumaFrame]:
    """Decode the video stream frame by frame into `LumaFrame` s (one frame in memory at a time).

    Planar 8-bit YUV frames give their Y plane untouched; other formats (RGB,
    10-bit, ...) are converted to yuv420p of the same range first. A colour
    clip is reduced to its luma with one notice.

    Raises
    ------
    VideoError
        Decoding fails, or fewer frames than the container declares (a truncated file).
    """
    if info.folder:
        yield from _read_folder(info)
        return
    av = require_av(info.path)
    index = 0
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            told = False
            for frame in container.decode(stream):
                y, colour = _luma_plane(frame)
                if colour and not told:
                    logger.info("%s", VideoError(info.path, "colour video converted to gray (its luma) first"))
                    told = True
                yield LumaFrame(index, y, frame.pts)
                index += 1
    except _av_error(av) as exc:
        raise VideoError(info.path, f"damaged or truncated after {index} frame(s) ({_reason(exc)})") from None
    if info.frames and index < info.frames:
        raise VideoError(info.path, f"truncated: the input ended early, {index} of {info.frames} frames read")
    expected = expected_frames(info)
    if not info.frames and expected and index < expected - 1:  # MKV, WebM: no frame count, but a duration
        raise VideoError(info.path, f"truncated: the input ended early, {index} frames read where its duration "
                                    f"({info.duration:.2f} s) holds about {expected}")
    if index == 0:
        raise VideoError(info.path, "no frame decodes")


def expected_frames(info: VideoInfo) -> int:
    """The frames the container declares, else its duration at the frame rate (0: it says neither)."""
    if info.frames:
        return info.frames
    return int(round(info.duration * info.rate)) if info.duration and info.rate else 0


def read_ahead(frames: Iterator[Any], depth: int = 4) -> Iterator[Any]:
    """``frames`` decoded on a thread of their own, at most ``depth`` ahead of the consumer.

    PyAV releases the GIL while it decodes, so decoding overlaps the
    colouring. An exception of the decoder (a `VideoError`) is raised at the
    frame where it happened; closing the iterator early stops the thread.
    """
    import queue
    import threading

    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in frames:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((done, exc))

    worker = threading.Thread(target=produce, name="deepcolor-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, error = items.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _luma_plane(frame: Any) -> tuple[np.ndarray, bool]:
    """The (H, W) uint8 Y plane of a decoded frame, and whether the frame carries colour."""
    fmt = frame.format.name
    if fmt not in _PLANAR_YUV:
        frame = frame.reformat(format="yuv420p")
        fmt = "yuv420p"
    h, w = frame.height, frame.width
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w].copy()
    colour = False
    if fmt != "gray" and len(frame.planes) > 1:
        chroma = frame.planes[1]  # Cb (interleaved Cb, Cr for nv12); a gray clip holds 128 there
        cb = np.frombuffer(chroma, np.uint8).reshape(-1, chroma.line_size)[:chroma.height, :chroma.width * (2 if fmt == "nv12" else 1)]
        colour = bool(np.abs(cb.astype(np.int16) - 128).max() > 2)
    return y, colour


def _read_folder(info: VideoInfo) -> Iterator[LumaFrame]:
    from deepcolor.colorspace import rgb_to_luma
    from deepcolor.io.read import read_image

    told = False
    for index, file in enumerate(frame_files(info.path)):
        try:
            image = read_image(file)
        except (ValueError, OSError) as exc:
            raise VideoError(info.path, f"frame {file.name}: {str(exc).splitlines()[0]}") from None
        pixels = image.pixels
        if pixels.shape[:2] != (info.height, info.width):
            raise VideoError(info.path, f"frame {file.name} is {pixels.shape[1]}x{pixels.shape[0]}, "
                                        f"the first is {info.width}x{info.height}")
        if pixels.ndim == 3:
            if not image.is_gray and not told:
                logger.info("%s", VideoError(info.path, "colour frames converted to gray (BT.601 luma) first"))
                told = True
            pixels = rgb_to_luma(pixels)
        luma = pixels.astype(np.float32) / (65535.0 if image.bit_depth == 16 else 255.0) if pixels.dtype != np.float32 else pixels
        yield LumaFrame(index, quantize_rgb(luma, np.uint8), index)


def luma_unit(y: np.ndarray, color_range: int) -> np.ndarray:
    """Y plane (H, W) uint8 -> luma (H, W) float32 in [0, 1] (limited range 16-235 unless ``color_range`` is 2, full)."""
    if color_range == 2:
        return y.astype(np.float32) / np.float32(255.0)
    return np.clip((y.astype(np.float32) - 16.0) / 219.0, 0.0, 1.0)


def chroma_planes(chroma: np.ndarray, color_range: int, *, subsampled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """BT.601 U, V (H, W, 2) float32 -> the Cb, Cr planes uint8 of that range.

    ``subsampled`` (4:2:0): planes of ceil(H/2) x ceil(W/2), each sample the
    mean of a 2 x 2 block (area average; an odd last row or column is its own
    edge repeated). Otherwise (4:4:4) planes of H x W.
    """
    h, w = chroma.shape[:2]
    if subsampled:
        if h % 2 or w % 2:
            chroma = np.pad(chroma, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        h2, w2 = chroma.shape[:2]
        half = chroma.reshape(h2 // 2, 2, w2 // 2, 2, 2).mean(axis=(1, 3))
    else:
        half = chroma
    span = 255.0 if color_range == 2 else 224.0
    cb = 128.0 + span * _CB_PER_U * half[..., 0]
    cr = 128.0 + span * _CR_PER_V * half[..., 1]
    lo, hi = (0, 255) if color_range == 2 else (16, 240)
    return (np.clip(np.floor(cb + 0.5), lo, hi).astype(np.uint8), np.clip(np.floor(cr + 0.5), lo, hi).astype(np.uint8))


def check_fps(fps: Any) -> float:
    """A frame rate for a folder of frames: a finite number in `FPS_RANGE`, else a one-line `VideoError`."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(fps, bool) or not FPS_RANGE[0] <= value <= FPS_RANGE[1]:  # NaN fails both
        raise VideoError(f"--fps {fps}", f"must be a frame rate from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} frames a second")
    return value
