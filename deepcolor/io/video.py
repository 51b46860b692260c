"""Reading and writing video files: the only module that imports PyAV (``av``, the ``video`` extra).

A video is read as a stream of 8-bit luma planes (the Y plane of the decoded
YUV frames, never the whole clip in memory) and written as H.264 yuv420p (or
the ``--codec`` given) with the input's frame count, timestamps, time base,
frame rate and size; the input's audio streams are remuxed packet by packet,
untouched. The output's Y plane is the input's byte for byte, so its luma is
the input's up to the codec's rounding (none on a lossless setting such as
``libx264`` with ``crf=0``). A folder of numbered frames is a video too, at
the ``fps`` given. Every failure is a `VideoError`, one line
``"<path>: <reason>"``.
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
from deepcolor.io.common import ImageReadError

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoError",
    "VideoInfo",
    "LumaFrame",
    "is_video_path",
    "require_av",
    "probe",
    "read_luma",
    "read_ahead",
    "VideoWriter",
    "chroma_planes",
]

logger = logging.getLogger("deepcolor")

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})
# Codec used when none is given, by output container (WebM cannot hold H.264).
DEFAULT_CODEC = {".webm": "libvpx-vp9"}
DEFAULT_CRF = 18  # x264's "visually lossless" end; 0 is lossless
_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p", "yuv440p", "gray", "nv12"}
_FRAME_FILE = re.compile(r"^(.*?)(\d+)\.(png|jpe?g|tiff?|bmp|webp)$", re.IGNORECASE)
# BT.601 YCbCr from deepcolor's U, V (colorspace: U = 0.492 (B - Y), V = 0.877 (R - Y)):
# Cb = (B - Y) / 1.772, Cr = (R - Y) / 1.402, each spanning [-0.5, 0.5].
_CB_PER_U = 1.0 / (0.492 * 1.772)
_CR_PER_V = 1.0 / (0.877 * 1.402)


class VideoError(ImageReadError):
    """A video that cannot be read or written; ``str(err)`` is one line ``"<path>: <reason>"`` (a ValueError,
    and an `ImageReadError`, so that whatever reports a bad input reports a bad video the same way)."""


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


@dataclass(frozen=True)
class LumaFrame:
    """One decoded frame: its luma plane and when it is shown."""

    index: int
    y: np.ndarray  # (H, W) uint8, the Y plane as decoded
    pts: int | None  # in the stream's time base; None when the container gives none


def _av_error(av: Any) -> tuple[type, ...]:
    return (av.FFmpegError, OSError, UnicodeDecodeError) if hasattr(av, "FFmpegError") else (av.AVError, OSError)


def frame_files(folder: Path) -> list[Path]:
    """The numbered image files of a folder (``name0001.png`` ...), in frame-number order."""
    found = []
    for entry in folder.iterdir():
        match = _FRAME_FILE.match(entry.name)
        if match and not entry.name.startswith("."):
            found.append((int(match.group(2)), entry.name, entry))
    return [entry for _, _, entry in sorted(found)]


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
            return VideoInfo(path, int(ctx.width), int(ctx.height), int(stream.frames or 0), Fraction(rate),
                             Fraction(stream.time_base or Fraction(1, 90000)), int(getattr(ctx, "color_range", 0) or 0),
                             len(container.streams.audio))
    except _av_error(av) as exc:
        raise VideoError(path, f"not a readable video ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(str(text).split()))


def _probe_folder(path: Path, fps: float | None) -> VideoInfo:
    from deepcolor.io.read import read_image

    if not fps or fps <= 0:
        raise VideoError(path, "a folder of frames needs --fps")
    try:
        files = frame_files(path)
    except OSError as exc:
        raise VideoError(path, f"cannot list folder ({_reason(exc)})") from None
    if not files:
        raise VideoError(path, "no numbered frames (name0001.png ...) in the folder")
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
        raise VideoError(info.path, f"truncated: {index} of {info.frames} frames decode")
    if index == 0:
        raise VideoError(info.path, "no frame decodes")


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


def chroma_planes(chroma: np.ndarray, color_range: int) -> tuple[np.ndarray, np.ndarray]:
    """BT.601 U, V (H, W, 2) float32 -> the 4:2:0 Cb, Cr planes (H/2, W/2) uint8 of that range.

    H and W must be even. Each plane is the mean of a 2 x 2 block (area average).
    """
    h, w = chroma.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 chroma needs an even frame size, got {w}x{h}")
    half = chroma.reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    span = 255.0 if color_range == 2 else 224.0
    cb = 128.0 + span * _CB_PER_U * half[..., 0]
    cr = 128.0 + span * _CR_PER_V * half[..., 1]
    lo, hi = (0, 255) if color_range == 2 else (16, 240)
    return (np.clip(np.floor(cb + 0.5), lo, hi).astype(np.uint8), np.clip(np.floor(cr + 0.5), lo, hi).astype(np.uint8))


def yuv_to_chroma(cb: np.ndarray, cr: np.ndarray, color_range: int) -> np.ndarray:
    """Inverse of `chroma_planes` at the planes' resolution: (h, w, 2) float32 U, V."""
    span = 255.0 if color_range == 2 else 224.0
    u = (cb.astype(np.float32) - 128.0) / (span * _CB_PER_U)
    v = (cr.astype(np.float32) - 128.0) / (span * _CR_PER_V)
    return np.stack([u, v], axis=-1).astype(np.float32)


class VideoWriter:
    """Encode frames into ``path`` with the input's timing, and copy the input's audio packets alongside.

    Use as a context manager; `write` takes the frames in decode order. The
    audio packets are muxed as the video advances, so that memory stays flat
    in the clip's length. On an exception the file is left for the caller to
    remove (it writes to a temporary name, see `deepcolor.video`).

    Parameters
    ----------
    path : Path
        Output file; its extension picks the container.
    info : VideoInfo
        The input (timing, size, range, and the file whose audio is copied).
    codec : str, optional
        FFmpeg encoder name; default ``libx264`` (``libvpx-vp9`` into WebM).
    crf : int, optional
        Constant rate factor (0: lossless for libx264); default `DEFAULT_CRF`.
    """

    def __init__(self, path: Path, info: VideoInfo, *, codec: str | None = None, crf: int | None = None,
                 container_format: str | None = None) -> None:
        self.av = require_av(path)
        self.path, self.info = Path(path), info
        self.codec = codec or DEFAULT_CODEC.get(Path(path).suffix.lower(), "libx264")
        self.crf = DEFAULT_CRF if crf is None else int(crf)
        self.container_format = container_format
        self._frames = 0

    def __enter__(self) -> "VideoWriter":
        av, info = self.av, self.info
        if info.width % 2 or info.height % 2:
            raise VideoError(info.path, f"frames are {info.width}x{info.height}: yuv420p output needs even sides")
        try:
            self.out = av.open(str(self.path), "w", format=self.container_format)
            self._source = None if info.folder or not info.audio_streams else av.open(str(info.path))
            stream = self.out.add_stream(self.codec, rate=info.rate)
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
            stream.time_base = info.time_base
            stream.codec_context.time_base = info.time_base
            stream.codec_context.color_range = 2 if info.color_range == 2 else 1
            stream.options = {"crf": str(self.crf)}
            self.stream = stream
            self._audio = []
            if self._source is not None:
                for src in self._source.streams.audio:
                    self._audio.append((src, self.out.add_stream_from_template(src)))
                self._packets = self._source.demux([src for src, _ in self._audio])
                self._pending = None
        except _av_error(av) as exc:
            self._close()
            raise VideoError(self.path, f"cannot write this video ({_reason(exc)})") from None
        return self

    def write(self, frame: LumaFrame, chroma: np.ndarray) -> None:
        """Encode one frame: ``frame.y`` kept as the Y plane, ``chroma`` (H, W, 2) U, V float32 as Cb, Cr."""
        cb, cr = chroma_planes(chroma, self.info.color_range)
        planes = np.concatenate([frame.y, cb.reshape(-1, self.info.width), cr.reshape(-1, self.info.width)], axis=0)
        video_frame = self.av.VideoFrame.from_ndarray(planes, format="yuv420p")
        video_frame.color_range = 2 if self.info.color_range == 2 else 1
        pts = frame.pts if frame.pts is not None else round(frame.index / (self.info.rate * self.info.time_base))
        video_frame.pts, video_frame.time_base = pts, self.info.time_base
        try:
            for packet in self.stream.encode(video_frame):
                self.out.mux(packet)
            self._frames += 1
            self._mux_audio(float(pts * self.info.time_base) + 1.0)
        except _av_error(self.av) as exc:
            raise VideoError(self.path, f"cannot write this video ({_reason(exc)})") from None

    def _mux_audio(self, until: float | None) -> None:
        """Remux the audio packets that start before ``until`` seconds (None: all that are left)."""
        if self._source is None:
            return
        streams = {src.index: dst for src, dst in self._audio}
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            if until is not None and packet.pts is not None and float(packet.pts * packet.time_base) > until:
                self._pending = packet
                return
            packet.stream = streams[packet.stream.index]
            self.out.mux(packet)

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                try:
                    for packet in self.stream.encode(None):
                        self.out.mux(packet)
                    self._mux_audio(None)
                except _av_error(self.av) as error:
                    raise VideoError(self.path, f"cannot write this video ({_reason(error)})") from None
        finally:
            self._close()

    def _close(self) -> None:
        for name in ("out", "_source"):
            container = getattr(self, name, None)
            if container is not None:
                try:
                    container.close()
                except Exception:  # closing after a failure must not hide the failure
                    pass
                setattr(self, name, None)
