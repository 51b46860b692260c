"""``deepcolor colorize`` (``python -m deepcolor.apply``): colorize files and folders.

The parser is `deepcolor.cli.parsers.apply_parser`; listing, naming, claims,
reading and writing are `deepcolor.io`. The path of one file: this command
plans the outputs and loads the model, `deepcolor.batch.apply.apply_batch`
runs the files on the engine (here or on Dask), and each file goes through
`deepcolor.colorize_file.apply_file` (claim -> read -> colorize in tiles ->
write). Nothing here knows a model kind: flags, options and capabilities come
from the model's declarations (`deepcolor.models.base`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.cli.parsers import apply_parser
from deepcolor.cli.runtime import (
    EXIT_FAILED_ITEMS,
    OUTPUT_SUFFIX,
    CommandError,
    engine_options,
    model_from_args,
    model_options_from_args,
    report_failures,
    resolve_device_flag,
    run_main,
    shown,
)
from deepcolor.colorize_file import ApplyOptions, FileResult, apply_file

__all__ = ["ApplyOptions", "FileResult", "apply_file", "main"]

logger = logging.getLogger("deepcolor")
EXAMPLE_NAME = "example_gray.png"  # --example: the gray input written, then colorized to example_colorized.png


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m deepcolor.apply") -> int:
    """Entry point; returns the exit status (0 done, 1 some inputs failed, 2 bad arguments or setup)."""
    return run_main(apply_parser(prog), argv, "deepcolor.apply", _apply)


def _example_input(args: argparse.Namespace) -> None:
    """``--example``: write scikit-image's astronaut photo, made gray, as the one input (into -o FOLDER or here)."""
    from skimage import data

    from deepcolor import io
    from deepcolor.colorspace import rgb_to_luma
    from deepcolor.pipeline import quantize_rgb

    if args.inputs:
        raise CommandError("--example colours its own photo; give no INPUT with it")
    folder = Path(args.output) if args.output is not None else Path(".")
    if not folder.is_dir():
        raise CommandError(f"-o {shown(args.output)}: with --example, -o is an existing folder")
    gray = quantize_rgb(rgb_to_luma(data.astronaut().astype(np.float32) / 255.0), np.uint8)
    io.write_image(folder / EXAMPLE_NAME, gray, overwrite=True)
    args.inputs = [str(folder / EXAMPLE_NAME)]
    args.output = str(folder / "example_colorized.png")
    args.overwrite = True
    logger.info("example: %s (scikit-image's astronaut, gray) -> %s", args.inputs[0], args.output)


def _plan(args: argparse.Namespace, inputs: list, fmt: str | None):
    """Where every input's output goes, checked before any work (one-line CommandError otherwise)."""
    from deepcolor import io
    from deepcolor.io.video import is_video_path

    semantic = bool(args.save_semantic)
    if args.output is None:
        return io.plan_outputs(inputs, ext=fmt, suffix=OUTPUT_SUFFIX, semantic=semantic)
    out = Path(args.output)
    given_one_file = len(args.inputs) == 1 and len(inputs) == 1 and not Path(args.inputs[0]).is_dir()
    if given_one_file and not out.is_dir() and out.suffix:
        if not io.is_image_path(out) and not is_video_path(out):
            raise CommandError(f"-o {shown(args.output)}: unsupported output extension '{out.suffix}' "
                               f"(use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")
        if not out.parent.is_dir():
            raise CommandError(f"-o {shown(args.output)}: folder {shown(out.parent)} does not exist")
        return io.plan_outputs(inputs, out_file=out, semantic=semantic)
    if out.exists() and not out.is_dir():
        raise CommandError(f"-o {shown(args.output)}: exists and is not a folder (several inputs need an output folder)")
    if (io.is_image_path(out) or is_video_path(out)) and not out.is_dir():  # an existing folder called result.jpg is a folder
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
    from deepcolor.models.base import require_capability
    from deepcolor.models.registry import names_with

    started_ns = time.time_ns()
    if args.example:
        _example_input(args)
    elif not args.inputs:
        raise CommandError("give INPUT files or folders (or --example)")
    fmt = None
    if args.format:
        fmt = "." + args.format.lower().lstrip(".")
        if fmt not in io.SUPPORTED_EXTENSIONS:
            raise CommandError(f"--format {args.format}: unsupported (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")

    # Everything that can refuse the run comes before _plan, which creates the -o folder: a refused run makes nothing.
    engine = engine_options(args)
    model = model_from_args(args)
    options = model_options_from_args(args, model)  # checked against the model once, before the first file
    if args.save_semantic:
        require_capability(model, "labels", "--save-semantic", alternatives=names_with("labels"))
    if args.style:
        require_capability(model, "style", "--style", alternatives=names_with("style"))
        options["style"] = _style_luma(Path(args.style), io)
    if args.fps is not None:  # every input folder is one video of numbered frames
        plan, failed = _frame_folders(args), []
    else:
        plan, failed = _inputs_plan(args, fmt)
    device = resolve_device_flag(args)  # said once the arguments are known to be good
    options = ApplyOptions(refine=not args.no_refine, saturation=args.saturation, overwrite=args.overwrite,
                           max_pixels=args.max_pixels or io.DEFAULT_MAX_PIXELS, model_options=options, device=device,
                           since_ns=started_ns, video=_video_options(args),
                           tile_progress=not args.quiet and not (engine["workers"] or engine["scheduler"]))
    out_dir = None if args.output is None or not Path(args.output).is_dir() else Path(args.output)  # holds the journal
    report = apply_batch(
        [(item.source, item.target) for item in plan], out_dir=out_dir, options=options, model_path=args.model,
        method=model.name, model=model, progress=not args.quiet, **engine,
        semantic_targets={item.target: item.semantic for item in plan if item.semantic is not None},
    )
    failed += report.failed
    if args.profile:
        _print_profile(plan, model, options)
    if report.halted:  # a full disk: one line, then the summary of what was done
        print(f"deepcolor.apply: stopped: {shown(report.halted)}; free space, then run the same command again to resume",
              file=sys.stderr)
    logger.info(
        "%d colorized, %d kept (already there; --overwrite to redo), %d already done (journal), %d left to another run, %d failed",
        report.done, report.kept, report.skipped, report.held, len(failed),
    )
    return report_failures("deepcolor.apply", failed, report.details) or (EXIT_FAILED_ITEMS if report.halted else 0)


def _print_profile(plan: list, model: Any, options: Any) -> None:
    """``--profile``: one more colorization of the first input image (warm: the batch ran), its stages on stderr."""
    from deepcolor import io
    from deepcolor.colorspace import rgb_to_luma
    from deepcolor.io.video import is_video_path
    from deepcolor.profile import format_profile, profile_colorization

    source = next((item.source for item in plan if not is_video_path(item.source) and not Path(item.source).is_dir()), None)
    if source is None:
        print("deepcolor.apply: --profile: no image among the inputs (videos are not profiled)", file=sys.stderr)
        return
    t0 = time.perf_counter()
    image = io.read_image(source, max_pixels=options.max_pixels)
    luma = rgb_to_luma(image.pixels) if image.pixels.ndim == 3 else image.pixels
    read_s = time.perf_counter() - t0
    stages = profile_colorization(luma, model, refine=options.refine, saturation=options.saturation, device=options.device,
                                  **options.model_options)
    title = f"profile of one call: {shown(source)} ({luma.shape[1]}x{luma.shape[0]}, {model.name}, read in {read_s:.3f} s)"
    print(format_profile(stages, title=title), file=sys.stderr)


def _video_options(args: argparse.Namespace) -> dict[str, Any]:
    """The video flags that were given (`deepcolor.video.colorize_video`'s options); empty for a run of images."""
    given = {"crf": args.crf, "codec": args.codec, "stable": False if args.per_frame else None, "fps": args.fps}
    return {k: v for k, v in given.items() if v is not None}


def _inputs_plan(args: argparse.Namespace, fmt: str | None) -> tuple[list, list]:
    """The images and videos the inputs name, planned (`_plan`), and the entries that cannot be inputs."""
    from deepcolor import io

    inputs, failed = io.find_inputs(args.inputs, recursive=args.recursive, videos=True)
    if args.output is None:  # our own earlier outputs beside the inputs are not inputs
        inputs, earlier = io.drop_own_outputs(inputs, ext=fmt, suffix=OUTPUT_SUFFIX)
        if earlier:
            logger.info("%d earlier output(s) of this command passed over", len(earlier))
    if not inputs:
        report_failures("deepcolor.apply", failed)
        raise CommandError(io.no_inputs_message(args.inputs, recursive=args.recursive))
    return _plan(args, inputs, fmt), failed


def _frame_folders(args: argparse.Namespace) -> list:
    """With --fps: each input a folder of numbered frames -> one video, ``-o`` (one folder) or FOLDER_colorized.mp4 beside it."""
    from deepcolor import io
    from deepcolor.io.video import is_video_path

    folders = [Path(p) for p in args.inputs]
    if args.fps <= 0:
        raise CommandError(f"--fps must be > 0, got {args.fps}")
    for folder in folders:
        if not folder.is_dir():
            raise CommandError(f"--fps {args.fps}: {shown(folder)} is not a folder of frames")
    if args.output is not None:
        if len(folders) != 1 or not is_video_path(args.output):
            raise CommandError(f"-o {shown(args.output)}: with --fps give one folder and a video file name (e.g. out.mp4)")
        return [io.PlannedOutput(folders[0], Path(args.output))]
    return [io.PlannedOutput(f, f.with_name(f"{f.name}{OUTPUT_SUFFIX}.mp4")) for f in folders]


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
