"""The command-line front ends: ``python -m deepcolor.fit | apply | evaluate``.

Every command turns an expected failure (bad input, bad model file, unwritable
output) into one line on stderr and a non-zero exit; Ctrl-C says how to resume.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# Before torch loads: OpenMP threads that spin while waiting stall for hundreds of ms
# whenever another process holds a core (measured: 571 ms -> 26 ms per FCN call).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

logger = logging.getLogger("deepcolor")

EXIT_FAILED_ITEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
OUTPUT_SUFFIX = "_colorized"  # apply without -o writes NAME_colorized.EXT beside each input


class CommandError(Exception):
    """An expected failure that ends a command with a one-line message."""


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="deepcolor: %(message)s", stream=sys.stderr)
    # Our messages are one line each; third-party chatter stays at warnings.
    for name in ("numba", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run(prog: str, body: Callable[[], int]) -> int:
    from deepcolor.modelfile import ModelFileError

    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CommandError, ModelFileError, ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def _progress_enabled(quiet: bool) -> bool:
    return not quiet


# --------------------------------------------------------------------- fit
def fit_main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepcolor.fit``: train a colorizer (or, with ``semantic``, the FCN)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "semantic":
        from deepcolor.features.semantic_train import main as semantic_main

        return semantic_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m deepcolor.fit",
        description="Train a colorization model on folders of colour photographs. "
        "'python -m deepcolor.fit semantic --help' trains the FCN instead.",
    )
    parser.add_argument("--images", nargs="+", required=True, metavar="DIR_OR_LIST", help="training folders or manifest files (.txt)")
    parser.add_argument("--val-images", nargs="*", default=[], metavar="DIR_OR_LIST", help="held-out folders or manifests: validation PSNR")
    parser.add_argument("--out", required=True, metavar="MODEL", help="output model file (.safetensors)")
    parser.add_argument("--fcn", metavar="FCN", help="FCN model file for the semantic feature (default: the shipped one)")
    parser.add_argument("--no-semantic", action="store_true", help="train only the 81-d variant, without the FCN")
    parser.add_argument("--no-clusters", action="store_true", help="train only the global MLP (no Algorithm 3)")
    parser.add_argument("--samples-per-image", type=int, default=1000, help="pixels sampled from each training image")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-top", type=int, default=24, help="clusters on the top layer (Cheng: N0 = 24)")
    parser.add_argument("--mu", type=float, default=80.0, help="images per cluster below the top layer (Cheng: 80)")
    parser.add_argument("--epsilon", type=float, default=-26.0, help="error threshold in dB, -PSNR (Cheng: -26)")
    parser.add_argument("--min-cluster-size", type=int, default=12, help="never train a cluster MLP on fewer images")
    parser.add_argument("--max-layers", type=int, default=4)
    parser.add_argument("--min-layer-gain", type=float, default=0.0,
                        help="keep a lower layer only if it raises its images' mean training PSNR by more than this (dB)")
    parser.add_argument("--keep-all-layers", action="store_true", help="keep every layer, as the paper (ignores --min-layer-gain)")
    parser.add_argument("--top-k", type=int, default=3, help="gist candidates among which semantics chooses")
    parser.add_argument("--no-descend", action="store_true", help="test-time choice among top-layer clusters only")
    parser.add_argument("--work", metavar="DIR", help="cache of samples and trained MLPs (default: MODEL.work)")
    parser.add_argument("--max-val-images", type=int, default=0, help="validate on at most this many images (0: all)")
    parser.add_argument("--no-calibrate", action="store_true", help="do not fit each MLP's chroma gain on the validation images")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the MLPs (default 1: they are small, and more threads on a busy machine "
                        "thrash; 0 = torch's default)")
    _add_engine_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    _setup_logging(args.quiet)
    return _run("deepcolor.fit", lambda: _fit(args, argv))


def _expand(specs: Sequence[str]) -> list[Path]:
    """Folders, manifest files (one path per line, relative to the manifest) and image files -> image paths."""
    from deepcolor.io import list_images

    paths: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_file() and p.suffix.lower() == ".txt":
            base = p.parent
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    paths.append(q if q.is_absolute() else base / q)
        elif p.exists():
            paths.extend(list_images([p]))
        else:
            raise CommandError(f"{spec}: no such file or folder")
    return paths


def _fit(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import torch

    from deepcolor.training import FitConfig, fit_model

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("samples_per_image", "epochs", "batch_size", "n_top", "min_cluster_size", "max_layers", "top_k"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.mu <= 0:
        raise CommandError(f"--mu must be > 0, got {args.mu}")
    engine = _engine_options(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CommandError(f"output folder {out.parent} does not exist")
    paths = _expand(args.images)
    if not paths:
        raise CommandError("no training images found")
    val_paths = _expand(args.val_images)
    if args.max_val_images:
        val_paths = val_paths[: args.max_val_images]
    overlap = {p.resolve() for p in paths} & {p.resolve() for p in val_paths}
    if overlap:
        raise CommandError(f"{len(overlap)} image(s) are both training and validation images, e.g. {sorted(overlap)[0]}")

    fcn = fcn_file = fcn_path = None
    if not args.no_semantic:
        from deepcolor.features.semantic import fcn_from_tensors
        from deepcolor.modelfile import default_weights_path, load_model_file

        fcn_path = Path(args.fcn) if args.fcn else default_weights_path("fcn")
        fcn_file = load_model_file(fcn_path, kind="fcn")
        fcn = fcn_from_tensors(*fcn_file, source=fcn_path)

    config = FitConfig(
        samples_per_image=args.samples_per_image,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        clusters=not args.no_clusters,
        n_top=args.n_top,
        mu=args.mu,
        epsilon=args.epsilon,
        min_cluster_size=args.min_cluster_size,
        max_layers=args.max_layers,
        min_layer_gain=None if args.keep_all_layers else args.min_layer_gain,
        top_k=args.top_k,
        descend=not args.no_descend,
        semantic=not args.no_semantic,
    )
    work = Path(args.work) if args.work else out.with_name(out.name + ".work")
    logger.info("training on %d images, validating on %d; cache in %s", len(paths), len(val_paths), work)
    card = {"command": "python -m deepcolor.fit " + " ".join(argv)}
    t0 = time.perf_counter()
    model, failed = fit_model(
        paths,
        fcn=fcn,
        fcn_file=fcn_file,
        config=config,
        work=work,
        progress=_progress_enabled(args.quiet),
        card=card,
        calibration_paths=[] if args.no_calibrate else val_paths,
        fcn_path=fcn_path,
        **engine,
    )
    card = model.card
    card["fit_seconds"] = round(time.perf_counter() - t0, 1)
    if val_paths:
        rows, val_failed = evaluate_paths(val_paths, model, settings=_settings_grid(model), progress=_progress_enabled(args.quiet))
        card["validation"] = {name: summarize_rows(r) for name, r in rows.items()}
        for name, summary in card["validation"].items():
            logger.info("validation %-22s n=%d median PSNR %.2f dB, median gain %+.2f dB", name, summary["n"], summary["psnr_median"], summary["gain_median"])
        failed += val_failed
    model.save(out)
    logger.info("wrote %s (%d clusters) in %.0f s", out, len(model.clusters), card["fit_seconds"])
    return _report_failures("deepcolor.fit", failed)


def _report_failures(prog: str, failed: Sequence[tuple[Path, str]]) -> int:
    if not failed:
        return 0
    print(f"{prog}: {len(failed)} file(s) failed:", file=sys.stderr)
    for path, reason in failed:
        # io errors already start with the file's name: do not say it twice.
        for prefix in (f"{path}: ", f"{Path(path).name}: "):
            reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
        print(f"  {path}: {reason}", file=sys.stderr)
    return EXIT_FAILED_ITEMS


# --------------------------------------------------------------- evaluate
def _settings_grid(model) -> dict[str, dict[str, bool]]:
    """The ablations a model supports, by name."""
    grid = {}
    semantics = [s for s in (True, False) if ("semantic" if s else "plain") in model.global_regressors and (not s or model.fcn is not None)]
    for semantic in semantics:
        for clusters in ([True, False] if model.clusters else [False]):
            name = ("semantic" if semantic else "plain") + ("+clusters" if clusters else "")
            grid[name] = {"semantic": semantic, "clusters": clusters}
    return grid


def evaluate_paths(
    paths: Sequence[Path],
    model,
    *,
    settings: dict[str, dict[str, bool]],
    refine: bool = True,
    progress: bool = True,
    on_image: Callable[[Path, dict[str, dict]], None] | None = None,
    skip: Callable[[Path], bool] | None = None,
) -> tuple[dict[str, list[dict]], list[tuple[Path, str]]]:
    """Per-image metrics of colour images colorized from their gray version, for each named setting.

    A setting maps ``semantic``, ``clusters`` and optionally ``refine``
    (default: the ``refine`` argument) to booleans. ``on_image(path, {setting:
    row})`` is called after each image (benchmarks use it to checkpoint) and
    images for which ``skip(path)`` is true are not processed.

    Returns ``({setting: [row, ...]}, failures)``; a row holds ``image``,
    ``psnr``, ``gray_psnr``, ``gain``, ``colorfulness``,
    ``colorfulness_original``, ``cluster`` and ``seconds``.
    """
    from tqdm.auto import tqdm

    from deepcolor.colorizer import colorize_luma
    from deepcolor.colorspace import merge_luma_chroma, rgb_to_luma
    from deepcolor.features.descriptor import feature_maps
    from deepcolor.io import read_image
    from deepcolor.metrics import colorfulness, psnr, to_uint8

    rows: dict[str, list[dict]] = {name: [] for name in settings}
    failed: list[tuple[Path, str]] = []
    for path in tqdm(paths, desc="evaluate", unit="img", disable=not progress):
        if skip is not None and skip(path):
            continue
        try:
            image = read_image(path)
        except (ValueError, OSError) as exc:
            failed.append((path, str(exc).splitlines()[0]))
            continue
        if image.pixels.ndim != 3:
            failed.append((path, "gray image: nothing to compare the colours with"))
            continue
        original = to_uint8(image.pixels)
        luma = np.floor(rgb_to_luma(original.astype(np.float32) / 255.0) * 255.0 + 0.5).astype(np.float32) / 255.0
        gray = to_uint8(merge_luma_chroma(luma, np.zeros(luma.shape + (2,), np.float32)))
        gray_psnr = psnr(gray, original)
        c_orig = colorfulness(original)
        maps_cache: dict[bool, object] = {}
        this_image: dict[str, dict] = {}
        for name, s in settings.items():
            t0 = time.perf_counter()
            if s["semantic"] not in maps_cache:
                maps_cache[s["semantic"]] = feature_maps(luma, fcn=model.fcn if s["semantic"] else None)
            result = colorize_luma(
                luma, model, refine=s.get("refine", refine), semantic=s["semantic"], clusters=s["clusters"], maps=maps_cache[s["semantic"]]
            )
            out = to_uint8(result.rgb())
            value = psnr(out, original)
            this_image[name] = {
                    "image": str(path),
                    "psnr": value,
                    "gray_psnr": gray_psnr,
                    "gain": value - gray_psnr,
                    "colorfulness": colorfulness(out),
                    "colorfulness_original": c_orig,
                    "cluster": result.source,
                    "seconds": time.perf_counter() - t0,
                }
            rows[name].append(this_image[name])
        if on_image is not None:
            on_image(path, this_image)
    return rows, failed


def summarize_rows(rows: Sequence[dict]) -> dict:
    """Medians and quartiles of `evaluate_paths` rows, and the colorfulness ratio of medians."""
    from deepcolor.metrics import summarize

    if not rows:
        return {"n": 0}
    p = summarize([r["psnr"] for r in rows])
    g = summarize([r["gray_psnr"] for r in rows])
    gain = summarize([r["gain"] for r in rows])
    c = np.median([r["colorfulness"] for r in rows])
    co = np.median([r["colorfulness_original"] for r in rows])
    # Full precision here: rounding twice (here, then when printing) moves the last digit.
    return {
        "n": p["n"],
        "psnr_median": p["median"],
        "psnr_q1": p["q1"],
        "psnr_q3": p["q3"],
        "gray_psnr_median": g["median"],
        "gray_psnr_q1": g["q1"],
        "gray_psnr_q3": g["q3"],
        "gain_median": gain["median"],
        "gain_q1": gain["q1"],
        "gain_q3": gain["q3"],
        "colorfulness_ratio": float(c / co) if co > 0 else float("nan"),
    }


def _write_csv_atomic(path: Path, rows: Sequence[dict]) -> None:
    from deepcolor._atomic import atomic_open

    if not rows:
        return
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepcolor.evaluate``: PSNR and colorfulness on colour images."""
    parser = argparse.ArgumentParser(
        prog="python -m deepcolor.evaluate",
        description="Colorize the gray version of colour images and compare with the originals "
        "(PSNR on 8-bit RGB, peak 255, no resizing; gray baseline = zero chroma). "
        "The last line of output is one JSON object.",
    )
    parser.add_argument("--images", nargs="+", required=True, metavar="DIR_OR_LIST")
    parser.add_argument("--model", metavar="MODEL", help="model file (default: the shipped model)")
    parser.add_argument("--no-refine", action="store_true", help="skip the joint bilateral refinement")
    parser.add_argument("--no-semantic", action="store_true", help="the 81-d variant, without FCN semantics")
    parser.add_argument("--no-clusters", action="store_true", help="the single global MLP, without the cluster hierarchy")
    parser.add_argument("--csv", metavar="FILE", help="per-image rows (image, PSNR, gray PSNR, gain, colorfulness, cluster)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many images (0: all)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    _setup_logging(args.quiet)
    return _run("deepcolor.evaluate", lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    from deepcolor.colorizer import load_model

    model = load_model(args.model)
    paths = _expand(args.images)
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        raise CommandError("no images found")
    settings = {"result": {"semantic": not args.no_semantic, "clusters": not args.no_clusters}}
    model.variant(not args.no_semantic)  # fail early on an unsupported ablation
    rows, failed = evaluate_paths(paths, model, settings=settings, refine=not args.no_refine, progress=not args.quiet)
    rows_ = rows["result"]
    if args.csv:
        _write_csv_atomic(Path(args.csv), rows_)
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
    status = _report_failures("deepcolor.evaluate", failed)
    print(json.dumps(summary))
    return status


# ------------------------------------------------------------------ apply
def apply_main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepcolor.apply``: colorize files and folders."""
    parser = argparse.ArgumentParser(
        prog="python -m deepcolor.apply",
        description="Colorize grayscale photographs. Outputs are written atomically; inputs are never "
        "overwritten; existing outputs are kept (so a re-run resumes a batch) unless --overwrite.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="output file (one input) or folder (default: NAME_colorized.EXT beside each input)")
    parser.add_argument("--model", metavar="MODEL", help="model file (default: the shipped model)")
    parser.add_argument("--no-refine", action="store_true", help="skip the joint bilateral refinement")
    parser.add_argument("--saturation", type=float, default=1.0, help="chroma gain (default 1.0)")
    parser.add_argument("--no-semantic", action="store_true", help="the 81-d variant, without FCN semantics")
    parser.add_argument("--no-clusters", action="store_true", help="the single global MLP, without the cluster hierarchy")
    parser.add_argument("--format", metavar="EXT", help="output format for every image (e.g. png); default: keep each input's")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--save-semantic", action="store_true", help="also write the FCN's label map (NAME.semantic.png) in CamVid colours")
    parser.add_argument("--recursive", action="store_true", help="descend into sub-folders of input folders; with -o DIR, mirror the tree")
    parser.add_argument("--max-pixels", type=int, default=None, help="refuse images with more pixels (default: 100 million)")
    _add_engine_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    _setup_logging(args.quiet)
    return _run("deepcolor.apply", lambda: _apply(args))


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distributed (needs the 'distributed' extra: dask, distributed)")
    group.add_argument("--workers", type=int, default=0, metavar="N", help="run on a local Dask cluster of N single-threaded processes")
    group.add_argument("--scheduler", metavar="ADDRESS", help="run on a running dask.distributed cluster (tcp://host:8786)")


def _engine_options(args: argparse.Namespace) -> dict:
    """--workers/--scheduler checked: one line when they conflict or Dask is missing."""
    if args.workers < 0:
        raise CommandError(f"--workers must be >= 0, got {args.workers}")
    if args.workers and args.scheduler:
        raise CommandError("give --workers (a local cluster) or --scheduler (a running one), not both")
    if args.workers or args.scheduler:
        from deepcolor.batch.cluster import DaskMissing, require_dask

        try:
            require_dask()
        except DaskMissing as exc:
            raise CommandError(str(exc)) from None
    return {"workers": args.workers, "scheduler": args.scheduler}


def _apply(args: argparse.Namespace) -> int:
    from deepcolor import io
    from deepcolor.batch import mirrored_outputs
    from deepcolor.batch.apply import apply_batch

    if not args.saturation >= 0:
        raise CommandError(f"--saturation must be >= 0, got {args.saturation}")
    engine = _engine_options(args)
    fmt = None
    if args.format:
        fmt = "." + args.format.lower().lstrip(".")
        if fmt not in io.SUPPORTED_EXTENSIONS:
            raise CommandError(f"--format {args.format}: unsupported (use one of {', '.join(sorted(io.SUPPORTED_EXTENSIONS))})")

    failed: list[tuple[Path, str]] = []
    sources: list[tuple[Path, Path]] = []  # (root, input): a folder's files keep their place below it
    seen: set[Path] = set()
    for spec in args.inputs:
        p = Path(spec)
        if p.is_dir():
            found = io.list_images([p], recursive=args.recursive)
            if args.output is None:  # our own earlier outputs beside the inputs are not inputs
                found = [q for q in found if not q.stem.endswith(OUTPUT_SUFFIX)]
            root = p
        elif p.is_file() or p.is_symlink():
            found, root = [p], p.parent
        else:
            failed.append((p, "no such file or folder"))
            continue
        for q in found:
            if q.resolve() not in seen:
                seen.add(q.resolve())
                sources.append((root, q))
    inputs = [q for _, q in sources]
    if not inputs:
        _report_failures("deepcolor.apply", failed)
        raise CommandError("no input images")

    out_dir = None
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
        if args.recursive:
            pairs = mirrored_outputs(sources, out_dir, name_outputs=io.output_paths, ext=fmt)
        else:
            pairs = list(zip(inputs, io.output_paths(inputs, out_dir, ext=fmt)))
        out_dir.mkdir(exist_ok=True)  # the journal lives here
    else:  # beside each input, as NAME_colorized.EXT
        by_folder: dict[Path, list[Path]] = {}
        for p in inputs:
            by_folder.setdefault(p.parent, []).append(p)
        pairs = [pair for folder, group in by_folder.items() for pair in zip(group, io.output_paths(group, folder, ext=fmt, suffix=OUTPUT_SUFFIX))]

    report = apply_batch(
        pairs, out_dir=out_dir, model_path=args.model, overwrite=args.overwrite, progress=_progress_enabled(args.quiet), **engine,
        refine=not args.no_refine, saturation=args.saturation, semantic=not args.no_semantic, clusters=not args.no_clusters,
        max_pixels=args.max_pixels, save_semantic=args.save_semantic,
    )
    failed += report.failed
    logger.info(
        "%d colorized, %d kept (already there; --overwrite to redo), %d already done (journal), %d failed",
        report.done, report.kept, report.skipped, len(failed),
    )
    if report.held:
        logger.info("%d file(s) left to another run that is writing them", report.held)
    return _report_failures("deepcolor.apply", failed)
