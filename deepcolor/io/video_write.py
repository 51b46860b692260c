"""Writing video files: `VideoWriter` (H.264 by default) and the checks of the encoder flags.

What is kept (`VideoWriter`): the input's Y plane byte for byte, its frame
count, timestamps, time base, frame rate and size, odd sides included (H.264
and HEVC take 4:2:0 only at even sides, so an odd-sized frame is encoded 4:4:4
with those codecs; VP9 and MPEG-4 take odd 4:2:0), its display rotation tag
and sample aspect ratio, and its audio packets, remuxed untouched. AVI holds
no presentation times, so an AVI output has one tick a frame and no B-frames.
The container's close (which writes the MP4 trailer) is part of the write: a
full disk there is a `VideoError` like any other, never a success.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.io.video import (
    DEFAULT_CODEC,
    DEFAULT_CRF,
    LumaFrame,
    VideoError,
    VideoInfo,
    av_errors,
    chroma_planes,
    error_text,
    require_av,
)

__all__ = ["VideoWriter", "check_codec", "check_crf", "CRF_RANGE"]

logger = logging.getLogger("deepcolor")

CRF_RANGE = (0, 51)  # x264's and x265's constant rate factor scale (libvpx takes 0..63, a superset)
# Encoders that refuse 4:2:0 at an odd width or height: an odd-sized frame is encoded 4:4:4 with them.
_EVEN_420_ONLY = frozenset({"libx264", "libx264rgb", "libx265", "h264_nvenc", "hevc_nvenc"})


def check_codec(codec: str | None) -> None:
    """Refuse (one-line `VideoError`) a ``--codec`` FFmpeg has no video encoder of; None (the default) passes."""
    if codec is None:
        return
    av = require_av("--codec")
    try:
        found = av.Codec(codec, "w")
    except (ValueError, *av_errors(av)):
        found = None
    if found is None or found.type != "video":
        what = f"a {found.type} encoder" if found is not None else "not an encoder FFmpeg has"
        raise VideoError(f"--codec {codec}", f"{what}; give a video encoder (e.g. libx264, libx265, libvpx-vp9)")


def check_crf(crf: Any) -> None:
    """Refuse a ``--crf`` outside `CRF_RANGE` (or not an integer); None (the default) passes."""
    if crf is None:
        return
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
        raise VideoError(f"--crf {crf}", f"must be an integer from {CRF_RANGE[0]} (lossless) to {CRF_RANGE[1]}")


def _encoder_name(av: Any, codec: str) -> str:
    """The encoder FFmpeg picks for ``codec`` (``h264`` -> ``libx264``), so that its limits are known by name."""
    try:
        return av.Codec(codec, "w").name
    except (ValueError, *av_errors(av)):
        return codec  # the stream's creation says what is wrong


def _plane_bytes(plane: Any, rows: np.ndarray) -> bytes:
    """``rows`` (h, w) uint8 laid out as the frame plane wants it (each row padded to its line size)."""
    h, w = rows.shape
    if plane.line_size == w and plane.buffer_size == rows.size:
        return rows.tobytes()
    buffer = np.zeros((plane.buffer_size // plane.line_size, plane.line_size), np.uint8)
    buffer[:h, :w] = rows
    return buffer.tobytes()


class VideoWriter:
    """Encode frames into ``path`` with the input's timing, and copy the input's audio packets alongside.

    Use as a context manager; `write` takes the frames in decode order. The
    audio packets are muxed as the video advances, so that memory stays flat
    in the clip's length. The block ends by closing the container (which
    writes the MP4 trailer): a failure there, a full disk say, is a
    `VideoError` like any other. On an exception the file is left for the
    caller to remove (it writes to a temporary name, see `deepcolor.video`).

    Parameters
    ----------
    path : Path
        Output file; its extension picks the container.
    info : VideoInfo
        The input (timing, size, range, rotation, aspect, and the file whose audio is copied).
    codec : str, optional
        FFmpeg encoder name; default ``libx264`` (``libvpx-vp9`` into WebM).
    crf : int, optional
        Constant rate factor (0: lossless for libx264); default `DEFAULT_CRF`.
    shown_as : Path, optional
        The name errors give (the final name, when ``path`` is a temporary one).
    """

    def __init__(self, path: Path, info: VideoInfo, *, codec: str | None = None, crf: int | None = None,
                 container_format: str | None = None, shown_as: Path | None = None) -> None:
        self.av = require_av(path)
        self.path, self.info = Path(path), info
        self.shown_as = Path(shown_as) if shown_as is not None else self.path
        self.codec = _encoder_name(self.av, codec or DEFAULT_CODEC.get(Path(path).suffix.lower(), "libx264"))
        self.crf = DEFAULT_CRF if crf is None else int(crf)
        self.container_format = container_format
        odd = info.width % 2 or info.height % 2
        self.pix_fmt = "yuv444p" if odd and self.codec in _EVEN_420_ONLY else "yuv420p"
        self._frames = 0

    def __enter__(self) -> "VideoWriter":
        av, info = self.av, self.info
        if self.pix_fmt == "yuv444p":
            logger.info("%s", VideoError(self.shown_as, f"{info.width}x{info.height}: {self.codec} takes 4:2:0 only at even "
                                                    "sides, so this odd size is encoded 4:4:4"))
        try:
            self.out = av.open(str(self.path), "w", format=self.container_format)
            self._source = None if info.folder or not info.audio_streams else av.open(str(info.path))
            self.stream = self._video_stream()
            self._audio = []
            if self._source is not None:
                for src in self._source.streams.audio:
                    self._audio.append((src, self.out.add_stream_from_template(src)))
                self._packets = self._source.demux([src for src, _ in self._audio])
                self._pending = None
        except av_errors(av) as exc:
            self._close()
            raise VideoError(self.shown_as, f"cannot write this video ({error_text(exc)})") from None
        return self

    def _video_stream(self) -> Any:
        info = self.info
        stream = self.out.add_stream(self.codec, rate=info.rate)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, self.pix_fmt
        # AVI stores no presentation times: frames in decode order, so one tick a frame and no B-frames.
        self.time_base = 1 / info.rate if self.path.suffix.lower() == ".avi" else info.time_base
        stream.time_base = stream.codec_context.time_base = self.time_base
        stream.codec_context.color_range = 2 if info.color_range == 2 else 1
        if info.sample_aspect:
            stream.codec_context.sample_aspect_ratio = info.sample_aspect
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        options = {"crf": str(self.crf)}
        if self.path.suffix.lower() == ".avi":
            options["bf"] = "0"
        if self.codec == "libx265" and not logger.isEnabledFor(logging.DEBUG):
            options["x265-params"] = "log-level=error"  # x265 prints a banner and a summary on stderr otherwise
        stream.options = options
        return stream

    def write(self, frame: LumaFrame, chroma: np.ndarray) -> None:
        """Encode one frame: ``frame.y`` kept as the Y plane, ``chroma`` (H, W, 2) U, V float32 as Cb, Cr."""
        cb, cr = chroma_planes(chroma, self.info.color_range, subsampled=self.pix_fmt == "yuv420p")
        video_frame = self.av.VideoFrame(self.info.width, self.info.height, self.pix_fmt)
        for plane, rows in zip(video_frame.planes, (frame.y, cb, cr)):
            plane.update(_plane_bytes(plane, rows))
        video_frame.color_range = 2 if self.info.color_range == 2 else 1
        if self.time_base != self.info.time_base or frame.pts is None:
            pts = round(frame.index / (self.info.rate * self.time_base))
            source_pts = frame.index / self.info.rate
        else:
            pts, source_pts = frame.pts, frame.pts * self.info.time_base
        video_frame.pts, video_frame.time_base = pts, self.time_base
        try:
            for packet in self.stream.encode(video_frame):
                self.out.mux(packet)
            self._frames += 1
            self._mux_audio(float(source_pts) + 1.0)
        except av_errors(self.av) as exc:
            raise VideoError(self.shown_as, f"cannot write this video ({error_text(exc)})") from None

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
                    out, self.out = self.out, None
                    out.close()  # writes the trailer (the MP4 index): its failure is the write's failure
                except av_errors(self.av) as error:
                    raise VideoError(self.shown_as, f"cannot write this video ({error_text(error)})") from None
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
