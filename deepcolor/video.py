"""Colorize a video file: shot by shot, frame by frame, with chroma carried along the motion.

`colorize_video` streams the clip (a look-ahead of `LOOKAHEAD` frames is all
it holds): it detects cuts from the gray frames (`deepcolor.temporal.is_cut`),
makes each model's per-image decision once per shot from `SHOT_SAMPLES` of
its first frames (the model's ``shot_state``: Cheng's cluster choice, the
CNN's global features), colorizes every frame with that decision, and in the
stable mode blends each frame's chroma with the previous output's carried
along the optical flow (`deepcolor.temporal.propagate_chroma`). The output
keeps the input's Y plane, timing and audio (`deepcolor.io.video`).

The output is written under a new hidden temporary name beside the target
(``.NAME.<8 hex>.partial.EXT``, made with ``O_EXCL`` and recorded in the
output's claim like the image writer's temps, so a user's file of any name is
never taken over or removed) and renamed into place only when complete, the
container closed without error: an interrupted run (Ctrl-C, a crash) or a
full disk leaves nothing under the final name, and a rerun starts the clip
over cleanly (no segments are kept).
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor import temporal
from deepcolor.colorizer import Colorizer
from deepcolor.errors import InputError
from deepcolor.io.common import DEFAULT_MAX_PIXELS
from deepcolor.io.write import new_temp
from deepcolor.io.video import VIDEO_EXTENSIONS, LumaFrame, VideoError, is_video_path, luma_unit, probe, read_ahead, read_luma
from deepcolor.io.video_write import VideoWriter, check_codec, check_crf

__all__ = ["LOOKAHEAD", "SHOT_SAMPLES", "colorize_video", "shot_frames", "partial_files"]

logger = logging.getLogger("deepcolor")

LOOKAHEAD = 8  # frames decoded ahead of the one being coloured: the per-shot decision reads them
SHOT_SAMPLES = 4  # frames of a shot's start (spread over the look-ahead) that its decision reads


def shot_frames(frames: Iterable[LumaFrame], *, lookahead: int = LOOKAHEAD) -> Iterator[tuple[LumaFrame, bool, list[LumaFrame]]]:
    """Each frame with whether a shot starts there and, at a start, the shot's frames in the look-ahead.

    Yields ``(frame, starts_shot, ahead)``: ``ahead`` is ``frame`` and the
    frames after it up to the next cut, at most ``lookahead`` (empty when
    ``starts_shot`` is False). Holds at most ``lookahead`` frames.
    """
    if lookahead < 1:
        raise InputError(f"lookahead must be >= 1, got {lookahead}")
    buffer: deque[tuple[LumaFrame, bool]] = deque()
    source = iter(frames)
    previous = None
    exhausted = False
    while True:
        while not exhausted and len(buffer) < lookahead:
            frame = next(source, None)
            if frame is None:
                exhausted = True
                break
            buffer.append((frame, previous is None or temporal.is_cut(previous, frame.y)))
            previous = frame.y
        if not buffer:
            return
        frame, starts = buffer.popleft()
        ahead = [frame]
        if starts:
            for later, cut in buffer:
                if cut:
                    break
                ahead.append(later)
        yield frame, starts, ahead if starts else []


PARTIAL_TAG = "partial"  # the video's temp names: .NAME.<8 hex>.partial.EXT (deepcolor.io.write.new_temp)


def partial_files(target: str | os.PathLike) -> list[Path]:
    """The temporary files of ``target`` that deepcolor's naming would make and that exist now (for checks)."""
    target = Path(os.fspath(target))
    pattern = re.compile(rf"^\.{re.escape(target.stem)}\.[0-9a-f]{{8}}\.{PARTIAL_TAG}{re.escape(target.suffix)}$")
    return sorted(p for p in target.parent.iterdir() if pattern.match(p.name)) if target.parent.is_dir() else []


def colorize_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    model: Any = None,
    method: str | None = None,
    stable: bool = True,
    carry: float = temporal.CARRY,
    refine: bool = True,
    saturation: float = 1.0,
    device: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    colorizer: Colorizer | None = None,
    codec: str | None = None,
    crf: int | None = None,
    fps: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
    observe: Callable[[LumaFrame, np.ndarray, np.ndarray], None] | None = None,
    hints: Any = None,
    **model_options: Any,
) -> dict[str, Any]:
    """Colorize a gray (or colour, reduced to luma) video into ``target``.

    Parameters
    ----------
    source : path-like
        A video file FFmpeg reads, or a folder of numbered frames (with ``fps``).
    target : path-like
        Output video; its extension picks the container (mp4, mkv, mov, avi, webm).
    model, method : optional
        A model (or a model file or name); default: the shipped model of ``method`` (default: the default method).
    stable, carry : bool, float
        Carry chroma along the motion with this weight (`deepcolor.temporal.ChromaCarrier`);
        ``stable=False`` colours every frame on its own (per-shot decisions are kept).
    refine, saturation, device, max_pixels, **model_options
        As for `deepcolor.pipeline.colorize`; ``max_pixels`` applies to each frame.
    colorizer : Colorizer, optional
        The model and every setting above at once (`deepcolor.colorizer.Colorizer`; the file step's), instead of them.
    codec, crf, fps : optional
        Encoder (default libx264; libvpx-vp9 into WebM), its CRF (default 18; 0: lossless for libx264),
        and the frame rate of a folder of frames.
    overwrite, progress : bool
        Replace an existing ``target``; a progress bar on stderr (frames, frames per second, ETA).
    observe : callable, optional
        ``observe(frame, prediction, chroma)`` after each frame: its own chroma (with the hints) and the chroma written.
    hints : path or list of deepcolor.hints.Hint, optional
        Each on the frame its ``frame`` names (None: the first), followed along
        the motion to its shot's end; its frame is the shot's anchor (`_hint_tracks`).

    Returns
    -------
    dict
        ``frames``, ``shots`` and ``decisions`` (each shot's decision when it is a name, e.g. a cluster key).

    Raises
    ------
    VideoError
        One line: not a video, no stream, truncated, an output that cannot be written; nothing is left under ``target``.
    """
    source, target = Path(os.fspath(source)), Path(os.fspath(target))
    if colorizer is None:
        colorizer = _colorizer(model, method, device=device, refine=refine, saturation=saturation, max_pixels=max_pixels,
                               **model_options)
    elif model is not None or method is not None or model_options:
        raise InputError("give colorize_video a colorizer or a model and its settings, not both")
    _check_target(source, target, overwrite, crf=crf, codec=codec)
    info = probe(source, fps=fps)
    hint_list = _read_hints(hints, info)  # bad hints are one line before any frame is coloured
    partial = _new_partial(target)
    try:
        with VideoWriter(partial, info, codec=codec, crf=crf, shown_as=target) as writer, _progress(progress, info, source) as bar:
            result = _colorize_frames(read_ahead(read_luma(info)), info.color_range, colorizer, writer, bar,
                                      stable=stable, carry=carry, observe=observe, hints=hint_list)
        os.replace(partial, target)
    except BaseException:
        _remove(partial)
        raise
    return result


def _colorizer(model: Any, method: str | None, **settings: Any) -> Colorizer:
    """The `Colorizer` of a model (or a model's name or file; None: the shipped one of ``method``) and its settings."""
    from deepcolor.models.registry import load_model

    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, method=method)
    return Colorizer(model, **settings)


def _colorize_frames(frames: Iterable[LumaFrame], color_range: int, colorizer: Colorizer, writer: VideoWriter,
                     bar: Any, *, stable: bool, carry: float, observe: Callable | None, hints: list | None = None) -> dict[str, Any]:
    """The streaming loop of `colorize_video`: shot decisions, each frame's chroma, propagation, encoding."""
    shots, decisions, count = 0, [], 0
    state = None
    carrier = temporal.ChromaCarrier(carry=carry)
    by_frame = _hints_by_frame(hints)
    tracks = _hint_tracks(by_frame)
    for frame, starts, ahead in shot_frames(frames):
        if starts:  # a new shot: its decision, and nothing carried over the cut
            state = _shot_state(colorizer, ahead, color_range)
            carrier.reset()
            shots += 1
            decisions.append(state if isinstance(state, str) else f"shot {shots}")
        luma = luma_unit(frame.y, color_range)
        prediction = colorizer(luma, state=state)
        if tracks is not None:  # hints followed along the motion; a hinted frame is its shot's anchor
            ids, points, placed_here = tracks.step(frame.index, frame.y, starts)
            prediction = _hinted(luma, prediction, by_frame, ids, points)
            if placed_here:
                carrier.reset()
        chroma = carrier.step(frame.y, prediction) if stable else prediction
        writer.write(frame, chroma)
        if observe is not None:
            observe(frame, prediction, chroma)
        count += 1
        bar.update(1)
    return {"frames": count, "shots": shots, "decisions": decisions}


def _new_partial(target: Path) -> Path:
    """A new temporary file beside ``target`` (ours alone: a user's ``.NAME.partial.EXT`` is never opened)."""
    try:
        fd, partial = new_temp(target, PARTIAL_TAG)
    except OSError as exc:
        raise VideoError(target, f"cannot write in its folder ({exc.strerror or exc})") from None
    os.close(fd)
    return partial


def _read_hints(hints: Any, info: Any) -> list | None:
    """The hints as a list, checked against the frame size (a path is read: `deepcolor.hints.read_hints`)."""
    if hints is None:
        return None
    from deepcolor.hints import as_hints, check_hints, read_hints

    shape = (info.height, info.width)
    found = read_hints(hints, shape) if isinstance(hints, (str, os.PathLike)) else as_hints(hints)
    check_hints(found, shape)
    return found


def _hints_by_frame(hints: list | None) -> dict[int, list]:
    """The hints by the frame they were placed on (no frame: the first), in their given order."""
    by_frame: dict[int, list] = {}
    for hint in hints or ():
        by_frame.setdefault(hint.frame or 0, []).append(hint)
    return by_frame


def _hint_tracks(by_frame: dict[int, list]) -> temporal.PointTracks | None:
    """The points of the hints placed on each frame (`_hints_by_frame`), to be followed along the motion.

    A hint is followed along the forward flow to the end of its shot
    (`deepcolor.temporal.PointTracks`; dropped where the flow loses it) and
    applied to every frame it lives on (`deepcolor.hints.propagate`); its frame
    restarts the carried chroma (the shot's anchor). Frames before it are not changed.
    """
    if not by_frame:
        return None
    return temporal.PointTracks({k: np.float32([(h.x, h.y) for h in placed]) for k, placed in by_frame.items()})


def _hinted(luma: np.ndarray, prediction: np.ndarray, by_frame: dict[int, list], ids: list[tuple[int, int]],
            points: np.ndarray) -> np.ndarray:
    """``prediction`` with the live hints (``ids``: (frame, index) in ``by_frame``), each at its tracked position."""
    if not ids:
        return prediction
    from dataclasses import replace

    from deepcolor.hints import propagate

    h, w = luma.shape
    moved = [replace(by_frame[f][i], x=float(np.clip(x, 0, w - 1)), y=float(np.clip(y, 0, h - 1)))
             for (f, i), (x, y) in zip(ids, points)]
    return propagate(luma, prediction, moved)


def _check_target(source: Path, target: Path, overwrite: bool, *, crf: int | None, codec: str | None) -> None:
    """One line before any work: a target that is no video name, the input, taken, or in no folder; a bad CRF or codec."""
    check_crf(crf)
    check_codec(codec)
    if not is_video_path(target):
        raise VideoError(target, f"not a video file name (use one of {', '.join(sorted(VIDEO_EXTENSIONS))})")
    if os.path.realpath(source) == os.path.realpath(target):
        raise VideoError(target, "is the input; inputs are never overwritten")
    if target.exists() and not overwrite:
        raise VideoError(target, "exists; pass --overwrite to replace it")
    if not target.parent.is_dir():
        raise VideoError(target, f"folder {target.parent} does not exist")


def _shot_state(colorizer: Colorizer, ahead: list[LumaFrame], color_range: int) -> Any:
    """The model's decision for a shot from up to `SHOT_SAMPLES` of its first frames (None: the model makes none)."""
    picks = np.unique(np.linspace(0, len(ahead) - 1, min(SHOT_SAMPLES, len(ahead))).round().astype(int))
    return colorizer.video_state([luma_unit(ahead[i].y, color_range) for i in picks])


def _progress(enabled: bool, info: Any, source: Path):
    from tqdm import tqdm

    return tqdm(total=info.frames or None, unit="frame", desc=source.name, disable=not enabled, leave=False, dynamic_ncols=True)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("%s: could not remove the partial output (%s)", path, exc.strerror)
