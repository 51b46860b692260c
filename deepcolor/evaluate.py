"""``deepcolor evaluate`` (``python -m deepcolor.evaluate``): PSNR and colorfulness of colour images colorized from their gray version.

The protocol is `deepcolor.evaluation`; the parser `deepcolor.cli.parsers.evaluate_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from deepcolor.cli.parsers import evaluate_parser
from deepcolor.cli.runtime import (
    CommandError,
    model_from_args,
    model_options_from_args,
    report_failures,
    resolve_device_flag,
    run_main,
)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m deepcolor.evaluate") -> int:
    """Entry point; returns the exit status (0 done, 1 some images failed, 2 bad arguments or setup)."""
    return run_main(evaluate_parser(prog), argv, "deepcolor.evaluate", _evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from deepcolor.evaluation import evaluate_paths, summarize_rows, write_rows_csv
    from deepcolor.io.common import DEFAULT_MAX_PIXELS
    from deepcolor.io.paths import expand_inputs
    missing: list[tuple[Path, str]] = []  # listed but unusable (missing, link loops): skipped and reported
    paths = expand_inputs(args.images, problems=missing)
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        report_failures("deepcolor.evaluate", missing)
        raise CommandError("no images found")
    device = resolve_device_flag(args)
    model = model_from_args(args)
    settings = {"result": model_options_from_args(args, model)}  # checked against the model once
    rows, failed = evaluate_paths(paths, model, settings=settings, refine=not args.no_refine, progress=not args.quiet, device=device,
                                  max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
    failed = missing + failed
    rows_ = rows["result"]
    if args.csv:
        write_rows_csv(Path(args.csv), rows_)
    s = summarize_rows(rows_)
    if s["n"]:
        print(f"images: {s['n']}")
        print(f"PSNR (dB):       median {s['psnr_median']:.2f}  quartiles {s['psnr_q1']:.2f} .. {s['psnr_q3']:.2f}")
        print(f"gray PSNR (dB):  median {s['gray_psnr_median']:.2f}")
        print(f"gain (dB):       median {s['gain_median']:+.2f}  quartiles {s['gain_q1']:+.2f} .. {s['gain_q3']:+.2f}")
        print(f"colorfulness:    ratio of medians (result / original) {s['colorfulness_ratio']:.3f}")
    summary = {"n": s["n"]}
    for key in ("psnr_median", "gray_psnr_median", "gain_median", "colorfulness_ratio"):
        summary[key] = round(s[key], 3) if key in s else None
    status = report_failures("deepcolor.evaluate", failed)
    print(json.dumps(summary))
    return status


if __name__ == "__main__":
    sys.exit(main())
