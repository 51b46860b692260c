"""The apply batch: colorizing a list of (input, output) pairs through `run_batch`.

The model is a `Resource` (each process loads it once, by path), the per-file
task is `colorize_job` (`deepcolor.colorize_file.apply_file`: claim, read, colorize, write),
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

from deepcolor.io.claims import clear_stale_claims
from deepcolor.batch.engine import BatchReport, Job, Resource, TaskFailed, load_resource, run_batch
from deepcolor.batch.journal import Journal
from deepcolor.batch.plan import plan_batch
from deepcolor.colorize_file import ApplyOptions, apply_file
from deepcolor.models.registry import DEFAULT_METHOD
from deepcolor.io.common import one_line

__all__ = ["apply_batch", "model_resource", "model_identity", "colorize_task", "colorize_job", "batch_settings"]

logger = logging.getLogger("deepcolor")


def _load_model(path: str | None, method: str = DEFAULT_METHOD, added: Any = None):
    from deepcolor.models import registry

    if added is not None and added.name not in registry.ENTRIES:  # a kind registered at run time by the driver
        registry.register(added)
    return registry.load_model(method if path is None else Path(path))


def model_resource(path: str | os.PathLike | None, method: str = DEFAULT_METHOD) -> Resource:
    """The model at ``path`` (None: the shipped one of ``method``), loaded once per process.

    The cache key holds the file's identity, so a long-lived worker of a
    running cluster loads a model file anew once it has been replaced. A kind
    registered at run time travels with the loader (its `ModelEntry`), so a
    Dask worker registers it before opening the file.
    """
    from deepcolor.models.registry import added_entry

    identity = tuple(model_identity(path, method).values())
    loader = functools.partial(_load_model, None if path is None else os.fspath(path), method, added_entry(method))
    return Resource(("model", method, *identity), loader)


def model_identity(path: str | os.PathLike | None, method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """The model file's path, size and modification time (the shipped file of ``method`` without ``path``)."""
    from deepcolor.models.registry import shipped_path

    p = Path(path) if path is not None else shipped_path(method)
    if p is None:
        return {"model": f"<{method}>"}
    try:
        st = p.stat()
    except OSError:
        return {"model": str(p)}
    return {"model": str(p.resolve()), "model_size": st.st_size, "model_mtime_ns": st.st_mtime_ns}


def batch_settings(model_path: str | os.PathLike | None, options: ApplyOptions, method: str = DEFAULT_METHOD) -> str:
    """The journal's settings string: the model file's identity and every option that shapes an output."""
    shaping = {"refine": options.refine, "saturation": options.saturation, "max_pixels": options.max_pixels, "method": method}
    for name, value in sorted(options.model_options.items()):
        # an array option (the style reference) enters by its content hash
        shaping[name] = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()[:16] if isinstance(value, np.ndarray) else value
    shaping.update({f"video_{name}": value for name, value in sorted(options.video.items())})  # none in a run of images
    return json.dumps({**model_identity(model_path, method), **shaping}, sort_keys=True)


def apply_batch(
    pairs: list[tuple[Path, Path]],
    *,
    out_dir: Path | None,
    options: ApplyOptions = ApplyOptions(),
    model_path: str | os.PathLike | None = None,
    method: str = DEFAULT_METHOD,
    model: Any = None,
    semantic_targets: dict[Path, Path] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    progress: bool = True,
) -> BatchReport:
    """Colorize (input, output) pairs; with ``out_dir``, journaled there so a rerun skips what is done.

    Each file goes through `deepcolor.colorize_file.apply_file` (claim, read,
    colorize in tiles, atomic write). ``model`` is the caller's copy for the
    serial path (else it is loaded here); Dask workers load their own once.
    ``semantic_targets`` maps an output to its label map's path.
    ``report.skipped`` counts files the journal says are done. The options
    are the caller's to check against the model (`deepcolor.models.base.validate_options`).
    """
    resource = model_resource(model_path, method)
    if model is None:
        model = load_resource(resource)
    journal = Journal.in_folder(out_dir, settings=batch_settings(model_path, options, method)) if out_dir is not None else None
    with journal if journal is not None else contextlib.nullcontext():
        jobs, skipped = plan_batch(pairs, out_dir, journal=journal, overwrite=options.overwrite)
        if skipped:
            logger.info("%d file(s) already done according to %s", skipped, one_line(str(journal.path)))
        task = colorize_task(options, semantic_targets or {})
        if not workers and not scheduler:  # this process: the caller's model, no second load
            task = functools.partial(_with_model, task, model)
        try:
            report = run_batch(
                jobs, task, resource=resource if (workers or scheduler) else None, journal=journal, workers=workers,
                scheduler=scheduler, progress=progress, desc="colorize",
            )
        except KeyboardInterrupt:  # workers ended mid-file leave their claims and temps (a video's partial): take them back
            if workers:
                clear_stale_claims([job.target for job in jobs])
            raise
    report.skipped = skipped
    return report


def _with_model(task: Any, model: Any, job: Job, _resource: Any) -> str:
    return task(job, model)


def colorize_task(options: ApplyOptions = ApplyOptions(), semantic_targets: dict[Path, Path] | None = None) -> functools.partial:
    """The picklable per-file task for `run_batch`, with the apply options bound."""
    return functools.partial(colorize_job, options=options, semantic_targets=semantic_targets or {})


_STATUS = {"colorized": "done", "kept": "kept", "claimed": "held"}


def colorize_job(job: Job, model: Any, *, options: ApplyOptions, semantic_targets: dict[Path, Path]) -> tuple[str, tuple[str, ...]]:
    """Run one job through `apply_file`: its status for the journal and its notices; a failed file raises its one-line reason."""
    # job.overwrite: the journal knows this output is ours and stale (its input changed)
    if job.overwrite and not options.overwrite:
        options = dataclasses.replace(options, overwrite=True)
    result = apply_file(job.source, job.target, model, options, semantic_target=semantic_targets.get(job.target))
    if result.status == "failed":
        raise TaskFailed(result.message)
    return _STATUS[result.status], tuple(result.info.get("notes", ()))
