"""``python -m deepcolor.apply``: colorize files and folders.

The parser is `deepcolor.cli.apply_parser`; reading, naming and writing `deepcolor.io`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepcolor.cli import (
    OUTPUT_SUFFIX,
    CommandError,
    apply_parser,
    load_method_model,
    model_options,
    passive_openmp,
    report_failures,
    resolve_device_flag,
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
    from tqdm.auto import tqdm

    from deepcolor import io
    from deepcolor.pipeline import colorize_luma
    from deepcolor.colorspace import rgb_to_luma

    if not args.saturation >= 0:
        raise CommandError(f"--saturation must be >= 0, got {args.saturation}")
    device = resolve_device_flag(args)
    fmt = None
    if args.format:
        fmt = "." + args.format.lower().lstrip(".")
        if fmt not in io.SUPPORTED_EXTENSIONS:
            raise CommandError(f"--format {args.format}: unsupported (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")

    inputs, failed = io.collect_inputs(args.inputs, recursive=args.recursive, skip_suffix=None if args.output else OUTPUT_SUFFIX)
    if not inputs:
        report_failures("deepcolor.apply", failed)
        raise CommandError("no input images")

    single_file_out = args.output is not None and len(args.inputs) == 1 and Path(args.inputs[0]).is_file() and io.is_image_path(args.output)
    if single_file_out:
        outputs = {inputs[0]: Path(args.output)}
    elif args.output is not None:
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"-o {out_dir}: exists and is not a folder (several inputs need an output folder)")
        if io.is_image_path(out_dir):
            raise CommandError(f"-o {out_dir}: an image file name, but the inputs are several files or a folder; give a folder")
        outputs = dict(zip(inputs, io.output_paths(inputs, out_dir, ext=fmt)))
    else:  # beside each input, as NAME_colorized.EXT
        outputs = {}
        by_folder: dict[Path, list[Path]] = {}
        for p in inputs:
            by_folder.setdefault(p.parent, []).append(p)
        for folder, group in by_folder.items():
            outputs.update(zip(group, io.output_paths(group, folder, ext=fmt, suffix=OUTPUT_SUFFIX)))

    model = load_method_model(args)
    options = model_options(args)
    if hasattr(model, "variant"):
        model.variant(not args.no_semantic)  # fail before the first file on an unsupported ablation
    if args.style:
        if args.method != "global-prior":
            raise CommandError("--style needs --method global-prior (Cheng's model has no global features to swap)")
        options["style"] = _style_luma(Path(args.style), io)
    done = skipped = 0
    for path in tqdm(inputs, desc="colorize", unit="img", disable=args.quiet):
        out = outputs[path]
        try:
            io.ensure_not_input(out, inputs)
            if out.exists() and not args.overwrite:
                skipped += 1
                continue
            image = io.read_image(path, **({"max_pixels": args.max_pixels} if args.max_pixels else {}))
            if image.pixels.ndim == 3:
                if not image.is_gray:
                    logger.info("%s: colour input converted to gray (BT.601 luma) first", path)
                luma = rgb_to_luma(image.pixels)
            else:
                luma = image.pixels
            result = colorize_luma(luma, model, refine=not args.no_refine, saturation=args.saturation, device=device, **options)
            io.write_image(out, result.rgb(), alpha=image.alpha, bit_depth=image.bit_depth, overwrite=True)
            if args.save_semantic and getattr(model, "fcn", None) is not None and not args.no_semantic:
                from deepcolor.features.semantic import label_colours, semantic_features

                labels = np.argmax(semantic_features(luma, model.fcn), axis=-1)
                io.write_image(out.with_name(out.stem + ".semantic.png"), label_colours(labels).astype(np.float32) / 255.0, overwrite=True)
            done += 1
        except (ValueError, OSError) as exc:
            failed.append((path, str(exc).splitlines()[0]))
    logger.info("%d colorized, %d kept (already done; --overwrite to redo), %d failed", done, skipped, len(failed))
    return report_failures("deepcolor.apply", failed)


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
