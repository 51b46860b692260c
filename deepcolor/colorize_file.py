"""`apply_file`: one image file colorized into another (claim -> read -> colorize in tiles -> write).

The one per-file step of ``deepcolor colorize`` (`deepcolor.apply`), called
by the batch engine's task (`deepcolor.batch.apply`) in this process or on a
Dask worker. It imports neither: the command calls the batch, the batch calls
this. A bad file never raises: it comes back as a failed `FileResult`; an
exception that is not a declared error (a bug) propagates, for the engine to
report as an internal error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepcolor.errors import DeepcolorError, one_line_message
from deepcolor.io.common import DEFAULT_MAX_PIXELS
from deepcolor.models.base import ChromaModel, LabelMapModel

if TYPE_CHECKING:
    from deepcolor.colorizer import Colorizer

__all__ = ["ApplyOptions", "FileResult", "apply_file"]

logger = logging.getLogger("deepcolor")


@dataclass(frozen=True)
class ApplyOptions:
    """How `apply_file` colorizes (picklable, so it crosses to batch workers)."""

    refine: bool = True
    saturation: float = 1.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)  # the model's own, e.g. {"semantic": True, "clusters": True}
    device: str = "cpu"  # resolved: "cpu" or "cuda"
    video: dict[str, Any] = field(default_factory=dict)  # `deepcolor.video.colorize_video` options: crf, codec, stable
    tile_progress: bool = False  # a second bar, of tiles, for an image colorized in several (this process's terminal)
    hints: tuple = ()  # `deepcolor.hints.Hint`s spread into the chroma (one photo: `deepcolor.colorizer.Colorizer.tiles`)
    since_ns: int = 0  # with overwrite: an output written at or after this time (the run's start) is another run's, done

    def colorizer(self, model: ChromaModel) -> "Colorizer":
        """The `deepcolor.colorizer.Colorizer` of these options: every setting, for images and video frames alike."""
        from deepcolor.colorizer import Colorizer

        return Colorizer(model, device=self.device, resolved=True, refine=self.refine, saturation=self.saturation,
                         max_pixels=self.max_pixels, **self.model_options)


@dataclass(frozen=True)
class FileResult:
    """What `apply_file` did with one input.

    ``status``: ``"colorized"``; ``"kept"`` (the output exists and overwrite is
    off); ``"claimed"`` (another live run is making this output now); or
    ``"failed"``, with ``message`` one line, ``"<path>: <reason>"``.
    """

    source: Path
    target: Path
    status: str
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # the model's account, e.g. {"cluster": "L0C03"}
    seconds: float = 0.0


def apply_file(
    source: str | os.PathLike,
    target: str | os.PathLike,
    model: ChromaModel,
    options: ApplyOptions = ApplyOptions(),
    *,
    semantic_target: str | os.PathLike | None = None,
    inputs: Sequence[str | os.PathLike] = (),
    claim: bool = True,
) -> FileResult:
    """Colorize one file into ``target`` under a claim; never raises for a bad file or a failed write.

    Parameters
    ----------
    source, target : path-like
        Input image and output image (its folder must exist).
    model : ChromaModel
        E.g. ``deepcolor.load_model("cheng")``.
    options : ApplyOptions
    semantic_target : path-like, optional, keyword-only
        Also write the model's label map there (a model with the ``labels`` capability).
    inputs : sequence of path-like, keyword-only
        Every input of the batch: an output that is one of them is refused.
    claim : bool, keyword-only
        Hold `deepcolor.io.paths.claim_output` on ``target`` while working
        (default). Pass False only when the caller already holds that claim:
        a second claim of one output in one process is refused like another
        run's.

    Returns
    -------
    FileResult
    """
    from deepcolor import io

    source, target = Path(os.fspath(source)), Path(os.fspath(target))
    semantic_target = None if semantic_target is None else Path(os.fspath(semantic_target))
    legend_target = legend_path(model, semantic_target)
    t0 = time.perf_counter()
    try:
        for out in (target, semantic_target, legend_target):
            if out is not None:
                io.ensure_not_input(out, [source, *inputs])
        with io.claim_output(target) if claim else contextlib.nullcontext(True) as mine:
            if not mine:
                return FileResult(source, target, "claimed")
            if target.exists() and not options.overwrite:
                return FileResult(source, target, "kept")
            if options.overwrite and io.written_since(target, options.since_ns):  # a concurrent --overwrite run made it
                return FileResult(source, target, "claimed")
            for out in (semantic_target, legend_target):
                if out is not None and out.exists() and not options.overwrite:
                    raise io.ImageWriteError(out, "exists; pass --overwrite to replace it")
            info = _colorize_file(source, target, model, options, semantic_target)
    except DeepcolorError as exc:  # the user's: a bad file, a failed write (io wraps OSError); anything else is a bug
        return FileResult(source, target, "failed", one_line_message(exc))
    except MemoryError:
        return FileResult(source, target, "failed", f"{source}: not enough memory")
    return FileResult(source, target, "colorized", info=info, seconds=time.perf_counter() - t0)


def _colorize_file(source: Path, target: Path, model: ChromaModel, options: ApplyOptions, semantic_target: Path | None) -> dict:
    """Read, colorize tile by tile into integer samples, write; the claim is held by the caller."""
    from deepcolor import io
    from deepcolor.io.video import is_video_path

    colorizer = options.colorizer(model)
    if is_video_path(source) or source.is_dir():  # a video, or a folder of frames (--fps): deepcolor.video
        from deepcolor.video import colorize_video

        return colorize_video(source, target, colorizer=colorizer, overwrite=options.overwrite, progress=sys.stderr.isatty(),
                              **options.video)
    from deepcolor.colorspace import check_luma_kept, merge_luma_chroma, quantize_rgb, rgb_to_luma

    image = io.read_image(source, max_pixels=options.max_pixels)
    notes = []  # said by the batch's driver (workers' own logs are not the user's terminal)
    if image.pixels.ndim == 3:
        if not image.is_gray:
            notes.append(f"{str(source)!r}: colour input converted to gray (BT.601 luma) first")
        luma = rgb_to_luma(image.pixels)
    else:
        luma = image.pixels
    alpha, bit_depth = image.alpha, image.bit_depth
    del image  # only the luma is needed from here on
    luma = colorizer.check(luma)
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    rgb = np.empty(luma.shape + (3,), dtype)

    tiles = _tile_bar(luma.shape, options.tile_progress)

    def merge(t, chroma: np.ndarray) -> None:
        rgb[t.core] = check_luma_kept(luma[t.core], quantize_rgb(merge_luma_chroma(luma[t.core], chroma), dtype))
        tiles.update(1)

    with tiles:
        info, _ = colorizer.tiles(luma, merge, checked=True, hints=options.hints)
    labels = model.label_map(luma) if semantic_target is not None and isinstance(model, LabelMapModel) else None
    del luma
    io.write_image(target, rgb, alpha=alpha, bit_depth=bit_depth, overwrite=options.overwrite)
    del rgb
    if labels is not None:
        io.write_image(semantic_target, labels, overwrite=options.overwrite)
        legend_target = legend_path(model, semantic_target)
        if legend_target is not None:
            rows = ",\n".join("  " + json.dumps(c) for c in model.label_legend())
            text = f'{{"label_map": {json.dumps(semantic_target.name)}, "classes": [\n{rows}\n]}}\n'  # one class a line
            io.atomic_write_bytes(legend_target, text.encode(), overwrite=options.overwrite)
    return {**info, "notes": notes} if notes else info


def legend_path(model: ChromaModel, semantic_target: Path | None) -> Path | None:
    """Where the legend of a label map goes: ``NAME.semantic.json`` beside ``NAME.semantic.png``, for a model
    whose label map has one (Cheng's on the 24-class scene FCN); None otherwise (the 11-class map keeps
    the CamVid legend of docs/scene_fcn.md, and its outputs stay as they were)."""
    if semantic_target is None or not isinstance(model, LabelMapModel) or not model.writes_legend():
        return None
    return semantic_target.with_suffix(".json")


def _tile_bar(shape: tuple[int, int], enabled: bool):
    """A tqdm bar of tiles for an image large enough to be colorized in several (a 10000^2 image takes minutes)."""
    from tqdm.auto import tqdm

    from deepcolor.tiling import DEFAULT_TILE, needs_tiles, tile_grid

    many = enabled and needs_tiles(shape, tile=DEFAULT_TILE)
    total = len(tile_grid(shape, tile=DEFAULT_TILE, halo=0)) if many else 0
    # position=0: on the file bar's own line while the image lasts (a nested bar moves the cursor with escape codes)
    # mininterval=0: every tile is drawn (a tile takes seconds, so this costs nothing, and the last one is never skipped)
    return tqdm(total=total, desc="tiles", unit="tile", disable=not many, leave=False, dynamic_ncols=True, position=0,
                mininterval=0, miniters=1)
