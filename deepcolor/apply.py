"""``python -m deepcolor.apply``: colorize files and folders.

The parser is `deepcolor.cli.apply_parser`; reading, naming and writing `deepcolor.io`;
the batch (journal, mirrored tree, Dask workers) `deepcolor.batch`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


from deepcolor.cli import (
    OUTPUT_SUFFIX,
    CommandError,
    apply_parser,
    engine_options,
    model_options,
    passive_openmp,
    report_failures,
    run_command,
    setup_logging,
)

logger = logging.getLogger("deepcolor")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    passive_openmp()
    args = apply_parser().parse_args(argv)
    setup_logging(args.quiet)
    return run_command("deepcolor.apply", lambda: _apply(args))


def _apply(args: argparse.Namespace) -> int:
    from deepcolor import io
    from deepcolor.batch import mirror_roots, mirrored_outputs
    from deepcolor.batch.apply import apply_batch

    if not args.saturation >= 0:
        raise CommandError(f"--saturation must be >= 0, got {args.saturation}")
    engine = engine_options(args)
    fmt = None
    if args.format:
        fmt = "." + args.format.lower().lstrip(".")
        if fmt not in io.SUPPORTED_EXTENSIONS:
            raise CommandError(f"--format {args.format}: unsupported (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")

    inputs, failed = io.collect_inputs(args.inputs, recursive=args.recursive, skip_suffix=None if args.output else OUTPUT_SUFFIX)
    if not inputs:
        report_failures("deepcolor.apply", failed)
        raise CommandError("no input images")

    out_dir = None  # an output folder holds the batch's journal
    single_file_out = args.output is not None and len(args.inputs) == 1 and Path(args.inputs[0]).is_file() and io.is_image_path(args.output)
    if single_file_out:
        io.ensure_not_input(args.output, inputs)
        pairs = [(inputs[0], Path(args.output))]
    elif args.output is not None:
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"-o {out_dir}: exists and is not a folder (several inputs need an output folder)")
        if io.is_image_path(out_dir):
            raise CommandError(f"-o {out_dir}: an image file name, but the inputs are several files or a folder; give a folder")
        if not out_dir.parent.is_dir():
            raise CommandError(f"-o {out_dir}: folder {out_dir.parent} does not exist")
        if args.recursive:  # box/a.tif -> OUT/box/a.tif
            pairs = mirrored_outputs(mirror_roots(args.inputs, inputs), out_dir, name_outputs=io.output_paths, ext=fmt)
        else:
            pairs = list(zip(inputs, io.output_paths(inputs, out_dir, ext=fmt)))
        out_dir.mkdir(exist_ok=True)
    else:  # beside each input, as NAME_colorized.EXT
        by_folder: dict[Path, list[Path]] = {}
        for p in inputs:
            by_folder.setdefault(p.parent, []).append(p)
        pairs = [pair for folder, group in by_folder.items() for pair in zip(group, io.output_paths(group, folder, ext=fmt, suffix=OUTPUT_SUFFIX))]

    report = apply_batch(
        pairs, out_dir=out_dir, model_path=args.model, overwrite=args.overwrite, progress=not args.quiet, **engine,
        refine=not args.no_refine, saturation=args.saturation, max_pixels=args.max_pixels, save_semantic=args.save_semantic,
        **model_options(args),
    )
    failed += report.failed
    logger.info(
        "%d colorized, %d kept (already there; --overwrite to redo), %d already done (journal), %d failed",
        report.done, report.kept, report.skipped, len(failed),
    )
    if report.held:
        logger.info("%d file(s) left to another run that is writing them", report.held)
    return report_failures("deepcolor.apply", failed)


if __name__ == "__main__":
    sys.exit(main())
