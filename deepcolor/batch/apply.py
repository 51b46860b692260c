"""The apply batch: colorizing a list of (input, output) pairs through `run_batch`.

The model is a `Resource` (each process loads it once, by path), the per-file
task is `colorize_job` (claim the output, then the per-file apply function),
and the settings string that keys the journal names the model file (path,
size, modification time) and every option that shapes an output.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.batch.engine import BatchReport, Job, Resource, load_resource, run_batch
from deepcolor.batch.journal import Journal
from deepcolor.batch.plan import plan_batch

__all__ = ["apply_batch", "model_resource", "colorize_task", "colorize_job", "colorize_file", "batch_settings"]

logger = logging.getLogger("deepcolor")


def _load_model(path: str | None):
    from deepcolor.pipeline import load_model

    return load_model(path)


def model_resource(path: str | os.PathLike | None) -> Resource:
    """The model at ``path`` (None: the shipped one), loaded once per process.

    The cache key holds the file's identity, so a long-lived worker of a
    running cluster loads a model file anew once it has been replaced.
    """
    identity = tuple(_model_identity(path).values())
    return Resource(("model", *identity), functools.partial(_load_model, None if path is None else os.fspath(path)))


def _model_identity(path: str | os.PathLike | None) -> dict[str, Any]:
    from deepcolor.modelfile import default_weights_path

    p = Path(path) if path is not None else default_weights_path("colorizer")
    try:
        st = p.stat()
    except OSError:
        return {"model": str(p)}
    return {"model": str(p.resolve()), "model_size": st.st_size, "model_mtime_ns": st.st_mtime_ns}


def batch_settings(model_path: str | os.PathLike | None, **options: Any) -> str:
    """The journal's settings string: the model file's identity and the output-shaping options."""
    return json.dumps({**_model_identity(model_path), **options}, sort_keys=True)


def apply_batch(
    pairs: list[tuple[Path, Path]],
    *,
    out_dir: Path | None,
    model_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    workers: int = 0,
    scheduler: str | None = None,
    progress: bool = True,
    **options: Any,
) -> BatchReport:
    """Colorize (input, output) pairs; with ``out_dir``, journaled there so a rerun skips what is done.

    The model is loaded here first (a bad model file is one error before any
    work, and the serial path reuses this copy); ``options`` go to
    `colorize_file`. ``report.skipped`` counts files the journal says are done.
    """
    resource = model_resource(model_path)
    model = load_resource(resource)
    if hasattr(model, "variant"):
        model.variant(options.get("semantic", True))  # fail early on an ablation this model lacks
    journal = Journal.in_folder(out_dir, settings=batch_settings(model_path, **options)) if out_dir is not None else None
    with journal if journal is not None else contextlib.nullcontext():
        jobs, skipped = plan_batch(pairs, out_dir, journal=journal, overwrite=overwrite)
        if skipped:
            logger.info("%d file(s) already done according to %s", skipped, journal.path)
        report = run_batch(
            jobs, colorize_task(**options), resource=resource, journal=journal, workers=workers, scheduler=scheduler,
            progress=progress, desc="colorize",
        )
    report.skipped = skipped
    return report


def colorize_task(**options: Any) -> functools.partial:
    """The picklable per-file task for `run_batch`, with the apply options bound."""
    return functools.partial(colorize_job, **options)


def _claim(path: Path):
    """Issue 9's per-output claim, so two runs on one output folder never write one file twice."""
    try:
        from deepcolor.io.paths import claim_output
    except ImportError:  # not merged yet: one run per output folder is the user's to ensure
        return contextlib.nullcontext(True)
    return claim_output(path)


def colorize_job(job: Job, model: Any, **options: Any) -> str:
    """Run one job: 'held' when another live run owns its output, else the per-file function's status."""
    with _claim(job.target) as owned:
        if not owned:
            return "held"
        return colorize_file(job.source, job.target, model, overwrite=job.overwrite, **options)


def colorize_file(
    source: Path,
    target: Path,
    model: Any,
    *,
    overwrite: bool = False,
    refine: bool = True,
    saturation: float = 1.0,
    max_pixels: int | None = None,
    save_semantic: bool = False,
    **model_options: Any,
) -> str:
    """Read, colorize and atomically write one image; 'kept' when the output exists and may not be replaced.

    Raises ValueError / OSError (one line naming the file) for a bad input or
    an unwritable output. This is the per-file apply of the CLI before the
    batch engine, moved here so every batch runs it; issue 9's per-file
    function replaces it.
    """
    from deepcolor import io
    from deepcolor.colorspace import rgb_to_luma
    from deepcolor.pipeline import colorize_luma

    io.ensure_not_input(target, [source])
    if target.exists() and not overwrite:
        return "kept"
    image = io.read_image(source, **({"max_pixels": max_pixels} if max_pixels else {}))
    if image.pixels.ndim == 3:
        if not image.is_gray:
            logger.info("%s: colour input converted to gray (BT.601 luma) first", source)
        luma = rgb_to_luma(image.pixels)
    else:
        luma = image.pixels
    result = colorize_luma(luma, model, refine=refine, saturation=saturation, **model_options)
    io.write_image(target, result.rgb(), alpha=image.alpha, bit_depth=image.bit_depth, overwrite=True)
    if save_semantic and getattr(model, "fcn", None) is not None and model_options.get("semantic", True):
        from deepcolor.features.semantic import label_colours, semantic_features

        labels = np.argmax(semantic_features(luma, model.fcn), axis=-1)
        io.write_image(target.with_name(target.stem + ".semantic.png"), label_colours(labels).astype(np.float32) / 255.0, overwrite=True)
    return "done"
