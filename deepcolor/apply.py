"""``python -m deepcolor.apply``: colorize files and folders; `apply_file` does one file.

The parser is `deepcolor.cli.apply_parser`; listing, naming, claims, reading
and writing are `deepcolor.io`. `apply_file` is the one per-file step (claim ->
read -> colorize in tiles -> write), shared by this command and the batch
engine: it never raises for a bad file, it says what happened in a `FileResult`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.cli import (
    EXIT_FAILED_ITEMS,
    OUTPUT_SUFFIX,
    CommandError,
    apply_parser,
    engine_options,
    load_method_model,
    model_options,
    passive_openmp,
    report_failures,
    resolve_device_flag,
    run_command,
    setup_logging,
    shown,
)
from deepcolor.io.common import DEFAULT_MAX_PIXELS

__all__ = ["ApplyOptions", "FileResult", "apply_file", "main"]

logger = logging.getLogger("deepcolor")


@dataclass(frozen=True)
class ApplyOptions:
    """How `apply_file` colorizes (picklable, so it crosses to batch workers)."""

    refine: bool = True
    saturation: float = 1.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"semantic": True, "clusters": True}
    device: str = "cpu"  # resolved: "cpu" or "cuda"
    tile_progress: bool = False  # a second bar, of tiles, for an image colorized in several (this process's terminal)
    since_ns: int = 0  # with overwrite: an output written at or after this time (the run's start) is another run's, done


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
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"cluster": "L0C03"}
    seconds: float = 0.0


def apply_file(
    source: str | os.PathLike,
    target: str | os.PathLike,
    model: Any,
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
        E.g. `deepcolor.pipeline.load_model()`.
    options : ApplyOptions
    semantic_target : path-like, optional, keyword-only
        Also write the FCN's label map there (Cheng models only).
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
    t0 = time.perf_counter()
    try:
        for out in (target, semantic_target):
            if out is not None:
                io.ensure_not_input(out, [source, *inputs])
        with io.claim_output(target) if claim else contextlib.nullcontext(True) as mine:
            if not mine:
                return FileResult(source, target, "claimed")
            if target.exists() and not options.overwrite:
                return FileResult(source, target, "kept")
            if options.overwrite and io.written_since(target, options.since_ns):  # a concurrent --overwrite run made it
                return FileResult(source, target, "claimed")
            if semantic_target is not None and semantic_target.exists() and not options.overwrite:
                raise io.ImageWriteError(semantic_target, "exists; pass --overwrite to replace it")
            info = _colorize_file(source, target, model, options, semantic_target)
    except (ValueError, OSError) as exc:
        return FileResult(source, target, "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except MemoryError:
        return FileResult(source, target, "failed", f"{source}: not enough memory")
    return FileResult(source, target, "colorized", info=info, seconds=time.perf_counter() - t0)


def _colorize_file(source: Path, target: Path, model: Any, options: ApplyOptions, semantic_target: Path | None) -> dict:
    """Read, colorize tile by tile into integer samples, write; the claim is held by the caller."""
    from deepcolor import io
    from deepcolor.colorspace import check_luma_kept, merge_luma_chroma, rgb_to_luma
    from deepcolor.pipeline import colorize_tiles, quantize_rgb

    image = io.read_image(source, max_pixels=options.max_pixels)
    notes = []  # said by the batch's driver (workers' own logs are not the user's terminal)
    if image.pixels.ndim == 3:
        if not image.is_gray:
            notes.append(f"{_shown(source)}: colour input converted to gray (BT.601 luma) first")
        luma = rgb_to_luma(image.pixels)
    else:
        luma = image.pixels
    alpha, bit_depth = image.alpha, image.bit_depth
    del image  # only the luma is needed from here on
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    rgb = np.empty(luma.shape + (3,), dtype)

    tiles = _tile_bar(luma.shape, options.tile_progress)

    def merge(t, chroma: np.ndarray) -> None:
        rgb[t.core] = check_luma_kept(luma[t.core], quantize_rgb(merge_luma_chroma(luma[t.core], chroma), dtype))
        tiles.update(1)

    with tiles:
        info, _ = colorize_tiles(luma, model, merge, refine=options.refine, saturation=options.saturation,
                                 max_pixels=options.max_pixels, device=options.device, **options.model_options)
    labels = _labels(luma, model, options) if semantic_target is not None else None
    del luma
    io.write_image(target, rgb, alpha=alpha, bit_depth=bit_depth, overwrite=options.overwrite)
    del rgb
    if labels is not None:
        from deepcolor.features.semantic import label_colours

        io.write_image(semantic_target, label_colours(labels), overwrite=options.overwrite)
    return {**info, "notes": notes} if notes else info


def _tile_bar(shape: tuple[int, int], enabled: bool):
    """A tqdm bar of tiles for an image large enough to be colorized in several (a 10000^2 image takes minutes)."""
    from tqdm.auto import tqdm

    from deepcolor.tiling import DEFAULT_TILE, needs_tiles, tile_grid

    many = enabled and needs_tiles(shape, tile=DEFAULT_TILE)
    total = len(tile_grid(shape, tile=DEFAULT_TILE, halo=0)) if many else 0
    # position=0: on the file bar's own line while the image lasts (a nested bar moves the cursor with escape codes)
    return tqdm(total=total, desc="tiles", unit="tile", disable=not many, leave=False, dynamic_ncols=True, position=0)


def _labels(luma: np.ndarray, model: Any, options: ApplyOptions) -> np.ndarray:
    """The most probable class of every pixel (H, W) uint8, tile by tile, from the FCN map of the whole image."""
    from deepcolor.features.region import region_maps, semantic_small
    from deepcolor.tiling import DEFAULT_TILE, SEMANTIC_HALO, run_tiled

    small = semantic_small(luma, model.fcn)
    labels = np.empty(luma.shape, np.uint8)
    run_tiled(lambda t: np.argmax(region_maps(luma, t.outer, small=small).semantic, axis=-1), labels,
              tile=DEFAULT_TILE, halo=SEMANTIC_HALO)
    return labels


def _shown(path: Path) -> str:
    from deepcolor.io.common import _one_line

    return _one_line(str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    passive_openmp()
    try:
        args = apply_parser().parse_args(argv)
    except SystemExit as exc:  # a bad flag: already one line on stderr
        return int(exc.code or 0)
    setup_logging(args.quiet)
    return run_command("deepcolor.apply", lambda: _apply(args))


def _plan(args: argparse.Namespace, inputs: list, fmt: str | None):
    """Where every input's output goes, checked before any work (one-line CommandError otherwise)."""
    from deepcolor import io

    semantic = bool(args.save_semantic and not args.no_semantic)
    if args.output is None:
        return io.plan_outputs(inputs, ext=fmt, suffix=OUTPUT_SUFFIX, semantic=semantic)
    out = Path(args.output)
    given_one_file = len(args.inputs) == 1 and len(inputs) == 1 and not Path(args.inputs[0]).is_dir()
    if given_one_file and not out.is_dir() and out.suffix:
        if not io.is_image_path(out):
            raise CommandError(f"-o {shown(args.output)}: unsupported output extension '{out.suffix}' "
                               f"(use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")
        if not out.parent.is_dir():
            raise CommandError(f"-o {shown(args.output)}: folder {shown(out.parent)} does not exist")
        return io.plan_outputs(inputs, out_file=out, semantic=semantic)
    if out.exists() and not out.is_dir():
        raise CommandError(f"-o {shown(args.output)}: exists and is not a folder (several inputs need an output folder)")
    if io.is_image_path(out) and not out.is_dir():  # an existing folder called result.jpg is a folder
        raise CommandError(f"-o {shown(args.output)}: an image file name, but the inputs are several files or a folder; give a folder")
    if not out.is_dir():
        if not out.parent.is_dir():
            raise CommandError(f"-o {shown(args.output)}: folder {shown(out.parent)} does not exist (only the last level is created)")
        try:
            out.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise CommandError(f"-o {shown(args.output)}: cannot create the folder ({exc.strerror})") from None
    if args.recursive:  # box/a.tif -> OUT/box/a.tif
        from deepcolor.batch import mirror_roots, mirrored_outputs

        pairs = mirrored_outputs(mirror_roots(args.inputs, inputs), out, name_outputs=io.output_paths, ext=fmt)
        return [io.PlannedOutput(s, t, io.semantic_path(t) if semantic else None) for s, t in pairs]
    return io.plan_outputs(inputs, out_dir=out, ext=fmt, semantic=semantic)


def _apply(args: argparse.Namespace) -> int:
    from deepcolor import io
    from deepcolor.batch.apply import apply_batch

    started_ns = time.time_ns()

    fmt = None
    if args.format:
        fmt = "." + args.format.lower().lstrip(".")
        if fmt not in io.SUPPORTED_EXTENSIONS:
            raise CommandError(f"--format {args.format}: unsupported (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")

    inputs, failed = io.find_inputs(args.inputs, recursive=args.recursive)
    if args.output is None:  # our own earlier outputs beside the inputs are not inputs
        inputs, earlier = io.drop_own_outputs(inputs, ext=fmt, suffix=OUTPUT_SUFFIX)
        if earlier:
            logger.info("%d earlier output(s) of this command passed over", len(earlier))
    if not inputs:
        report_failures("deepcolor.apply", failed)
        raise CommandError(io.no_inputs_message(args.inputs, recursive=args.recursive))
    engine = engine_options(args)  # before _plan, which creates the -o folder: a refused run makes nothing
    if args.save_semantic and args.method != "cheng":
        raise CommandError(f"--save-semantic: the {args.method} model makes no label map (only Cheng's model with its FCN does)")
    plan = _plan(args, inputs, fmt)
    device = resolve_device_flag(args)  # said once the arguments are known to be good
    model = load_method_model(args)
    options = model_options(args)
    if hasattr(model, "variant"):
        model.variant(not args.no_semantic)  # fail before the first file on an unsupported ablation
    if args.style:
        if args.method != "global-prior":
            raise CommandError("--style needs --method global-prior (Cheng's model has no global features to swap)")
        options["style"] = _style_luma(Path(args.style), io)
    options = ApplyOptions(refine=not args.no_refine, saturation=args.saturation, overwrite=args.overwrite,
                           max_pixels=args.max_pixels or io.DEFAULT_MAX_PIXELS, model_options=options, device=device,
                           since_ns=started_ns, tile_progress=not args.quiet and not (engine["workers"] or engine["scheduler"]))
    can_map = getattr(model, "fcn", None) is not None
    if args.save_semantic and not args.no_semantic and not can_map:
        raise CommandError(f"--save-semantic: the {model.name} model makes no label map (only Cheng's model with its FCN does)")
    out_dir = None if args.output is None or not Path(args.output).is_dir() else Path(args.output)  # holds the journal
    report = apply_batch(
        [(item.source, item.target) for item in plan], out_dir=out_dir, options=options, model_path=args.model,
        method=args.method, model=model, progress=not args.quiet, **engine,
        semantic_targets={item.target: item.semantic for item in plan if item.semantic is not None and can_map},
    )
    failed += report.failed
    if report.halted:  # a full disk: one line, then the summary of what was done
        print(f"deepcolor.apply: stopped: {shown(report.halted)}; free space, then run the same command again to resume",
              file=sys.stderr)
    logger.info(
        "%d colorized, %d kept (already there; --overwrite to redo), %d already done (journal), %d left to another run, %d failed",
        report.done, report.kept, report.skipped, report.held, len(failed),
    )
    return report_failures("deepcolor.apply", failed) or (EXIT_FAILED_ITEMS if report.halted else 0)


def _style_luma(path: Path, io) -> np.ndarray:
    """The luma of a style reference image (colour or gray), read before any work starts."""
    from deepcolor.colorspace import rgb_to_luma

    try:
        image = io.read_image(path)
    except (ValueError, OSError) as exc:
        raise CommandError(f"--style: {str(exc).splitlines()[0]}") from None
    return rgb_to_luma(image.pixels) if image.pixels.ndim == 3 else image.pixels


if __name__ == "__main__":
    sys.exit(main())
