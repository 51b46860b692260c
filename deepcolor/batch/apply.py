"""The apply batch: colorizing a list of (input, output) pairs through `run_batch`.

The model is a `Resource` (each process loads it once, by path), the per-file
task is `colorize_job` (`deepcolor.apply.apply_file`: claim, read, colorize, write),
and the settings string that keys the journal names the model file (path,
size, modification time) and every option that shapes an output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.apply import ApplyOptions
from deepcolor.batch.engine import BatchReport, Job, Resource, load_resource, run_batch
from deepcolor.batch.journal import Journal
from deepcolor.batch.plan import plan_batch

__all__ = ["apply_batch", "model_resource", "colorize_task", "colorize_job", "batch_settings"]

logger = logging.getLogger("deepcolor")


def _load_model(path: str | None, method: str = "cheng"):
    from deepcolor.pipeline import load_model

    return load_model(path, method=method)


def model_resource(path: str | os.PathLike | None, method: str = "cheng") -> Resource:
    """The model at ``path`` (None: the shipped one of ``method``), loaded once per process.

    The cache key holds the file's identity, so a long-lived worker of a
    running cluster loads a model file anew once it has been replaced.
    """
    identity = tuple(_model_identity(path, method).values())
    return Resource(("model", method, *identity), functools.partial(_load_model, None if path is None else os.fspath(path), method))


def _model_identity(path: str | os.PathLike | None, method: str = "cheng") -> dict[str, Any]:
    from deepcolor.modelfile import default_weights_path
    from deepcolor.pipeline import METHODS

    p = Path(path) if path is not None else default_weights_path(METHODS[method])
    try:
        st = p.stat()
    except OSError:
        return {"model": str(p)}
    return {"model": str(p.resolve()), "model_size": st.st_size, "model_mtime_ns": st.st_mtime_ns}


def batch_settings(model_path: str | os.PathLike | None, options: ApplyOptions, method: str = "cheng") -> str:
    """The journal's settings string: the model file's identity and every option that shapes an output."""
    shaping = {"refine": options.refine, "saturation": options.saturation, "max_pixels": options.max_pixels, "method": method}
    for name, value in sorted(options.model_options.items()):
        # an array option (the style reference) enters by its content hash
        shaping[name] = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()[:16] if isinstance(value, np.ndarray) else value
    shaping.update({f"video_{name}": value for name, value in sorted(options.video.items())})  # none in a run of images
    return json.dumps({**_model_identity(model_path, method), **shaping}, sort_keys=True)


def apply_batch(
    pairs: list[tuple[Path, Path]],
    *,
    out_dir: Path | None,
    options: ApplyOptions = ApplyOptions(),
    model_path: str | os.PathLike | None = None,
    method: str = "cheng",
    model: Any = None,
    semantic_targets: dict[Path, Path] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    progress: bool = True,
) -> BatchReport:
    """Colorize (input, output) pairs; with ``out_dir``, journaled there so a rerun skips what is done.

    Each file goes through `deepcolor.apply.apply_file` (claim, read,
    colorize in tiles, atomic write). ``model`` is the caller's copy for the
    serial path (else it is loaded here); Dask workers load their own once.
    ``semantic_targets`` maps an output to its label map's path.
    ``report.skipped`` counts files the journal says are done.
    """
    resource = model_resource(model_path, method)
    if model is None:
        model = load_resource(resource)
    if hasattr(model, "variant"):
        model.variant(options.model_options.get("semantic", True))  # fail early on an ablation this model lacks
    journal = Journal.in_folder(out_dir, settings=batch_settings(model_path, options, method)) if out_dir is not None else None
    with journal if journal is not None else contextlib.nullcontext():
        jobs, skipped = plan_batch(pairs, out_dir, journal=journal, overwrite=options.overwrite)
        if skipped:
            logger.info("%d file(s) already done according to %s", skipped, journal.path)
        task = colorize_task(options, semantic_targets or {})
        if not workers and not scheduler:  # this process: the caller's model, no second load
            task = functools.partial(_with_model, task, model)
        report = run_batch(
            jobs, task, resource=resource if (workers or scheduler) else None, journal=journal, workers=workers,
            scheduler=scheduler, progress=progress, desc="colorize",
        )
    report.skipped = skipped
    return report


def _with_model(task: Any, model: Any, job: Job, _resource: Any) -> str:
    return task(job, model)


def colorize_task(options: ApplyOptions = ApplyOptions(), semantic_targets: dict[Path, Path] | None = None) -> functools.partial:
    """The picklable per-file task for `run_batch`, with the apply options bound."""
    return functools.partial(colorize_job, options=options, semantic_targets=semantic_targets or {})


_STATUS = {"colorized": "done", "kept": "kept", "claimed": "held"}


def colorize_job(job: Job, model: Any, *, options: ApplyOptions, semantic_targets: dict[Path, Path]) -> str:
    """Run one job through `apply_file`: its status for the journal; a failed file raises its one-line reason."""
    from deepcolor.apply import apply_file

    # job.overwrite: the journal knows this output is ours and stale (its input changed)
    if job.overwrite and not options.overwrite:
        options = dataclasses.replace(options, overwrite=True)
    result = apply_file(job.source, job.target, model, options, semantic_target=semantic_targets.get(job.target))
    if result.status == "failed":
        raise ValueError(result.message)
    return _STATUS[result.status]
