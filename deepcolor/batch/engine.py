"""One engine for every per-file batch: in this process, or on dask.distributed.

`run_batch` takes a list of `Job` (an input, its output, its journal key) and a
per-file callable ``task(job, resource) -> status``; it runs them either here,
one after the other (``workers=0``, no Dask imported), or on a Dask cluster: a
local one of ``workers`` single-threaded processes, a running one at
``scheduler``, or a ``client`` the caller made. Either way the driver (this
process) shows one progress bar, records each outcome in the `Journal` as it
arrives, and returns a `BatchReport`.

Worker-side cache: a `Resource` is a key and a picklable loader (e.g. "load
the model at this path"). Each process loads a resource the first time a task
needs it and keeps it in a module-level dict, so every worker loads the model
once, however many files it colorizes, and the serial path shares the
driver's copy.

Failures: a task reports a bad file by raising a declared error
(`deepcolor.errors.DeepcolorError`, e.g. `TaskFailed`); its first line becomes
the file's reason and the batch goes on. Any other exception (a ``ValueError``
or ``OSError`` included) is a bug: retried (``retries``) on the cluster, then the file fails
as an internal error (`internal_error_reason`), its traceback kept in
``BatchReport.details`` for ``-v``. A worker process that dies (killed, out of memory) costs only the task it
was running: the scheduler gives it to another worker (up to Dask's
``distributed.scheduler.allowed-failures`` times, then the file fails with
"killed its worker").
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepcolor.errors import DeepcolorError, InputError, internal_error_message, one_line_message
from deepcolor.batch.cluster import WORKER_ENV, dask_client
from deepcolor.batch.halt import halt_reason
from deepcolor.batch.journal import Journal, JournalWriteError

__all__ = ["Job", "Resource", "Outcome", "BatchReport", "run_batch", "load_resource", "one_line_reason", "internal_error_reason", "TaskFailed",
           "WORKER_ENV"]

logger = logging.getLogger("deepcolor")

IN_FLIGHT_PER_THREAD = 4  # tasks handed to the scheduler ahead of need: keeps workers fed, memory flat


@dataclass(frozen=True)
class Job:
    """One file of a batch.

    Attributes
    ----------
    key : str
        The journal key: the input's path relative to the batch root, '/'-separated.
    source : Path
        The input file.
    target : Path
        The output file.
    output_key : str
        ``target`` relative to the output folder (recorded in the journal).
    size, mtime_ns : int
        The input's size and modification time when the batch was planned.
    overwrite : bool
        Whether the task may replace an existing ``target``.
    """

    key: str
    source: Path
    target: Path
    output_key: str
    size: int
    mtime_ns: int
    overwrite: bool = False


@dataclass(frozen=True)
class Resource:
    """Something each worker process loads once (a model): ``loader()`` under a cache ``key``."""

    key: Hashable
    loader: Callable[[], Any]


@dataclass(frozen=True)
class Outcome:
    """What became of one job: status ``done``, ``kept``, ``held`` (another run owns the output) or ``failed``."""

    key: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""
    notes: tuple[str, ...] = ()  # one-line notices for the user, said by the driver


@dataclass
class BatchReport:
    """Counts of a finished batch and its failures as ``(input path, one-line reason)``."""

    done: int = 0
    kept: int = 0
    held: int = 0
    skipped: int = 0  # already done according to the journal
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    details: dict[Path, str] = field(default_factory=dict)  # input -> traceback of an internal error
    halted: str = ""  # why the batch stopped early (a full disk: what could not be written), else ''


_RESOURCES: dict[Hashable, Any] = {}
_RESOURCE_LOCK = threading.Lock()


def load_resource(resource: Resource | None) -> Any:
    """This process's copy of ``resource`` (loaded on first use), or None."""
    if resource is None:
        return None
    with _RESOURCE_LOCK:
        if resource.key not in _RESOURCES:
            _RESOURCES[resource.key] = resource.loader()
        return _RESOURCES[resource.key]


one_line_reason = one_line_message  # first line of an exception's message (its type name when empty)


class TaskFailed(DeepcolorError):
    """A task's declared failure of its file: ``str(err)`` is the one-line reason."""


def internal_error_reason(exc: BaseException) -> str:
    """The one-line reason of a file whose task raised an unexpected exception (a bug)."""
    return internal_error_message(exc)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _execute(job: Job, task: Callable[[Job, Any], str | None], resource: Resource | None) -> Outcome:
    """Run one job where it lands; expected per-file errors become a failed outcome."""
    t0 = time.perf_counter()
    try:
        status, notes = _status_and_notes(task(job, load_resource(resource)))
        reason = ""
    except DeepcolorError as exc:  # the user's (a bad file, a model file that will not load); anything else is a bug
        status, reason, notes = "failed", one_line_message(exc), ()
    if status not in ("done", "kept", "held", "failed"):
        raise RuntimeError(f"task returned status {status!r}; expected 'done', 'kept' or 'held'")
    return Outcome(job.key, status, reason, time.perf_counter() - t0, _worker_name(), notes)


def _status_and_notes(returned: Any) -> tuple[str, tuple[str, ...]]:
    """A task returns a status, None (done), or (status, notices)."""
    if isinstance(returned, tuple):
        return returned[0] or "done", tuple(returned[1])
    return returned or "done", ()


def _record(outcome: Outcome, job: Job, journal: Journal | None, report: BatchReport) -> None:
    for note in outcome.notes:
        logger.info("%s", note)
    if outcome.status == "held":  # another live run is writing it: its row is that run's to write
        report.held += 1
        return
    if outcome.status == "failed":
        report.failed.append((job.source, outcome.reason))
    else:
        setattr(report, outcome.status, getattr(report, outcome.status) + 1)
    if journal is not None:
        journal.record(
            job.key, job.output_key, outcome.status, reason=outcome.reason, size=job.size, mtime_ns=job.mtime_ns,
            seconds=outcome.seconds, worker=outcome.worker,
        )


def _record_or_halt(outcome: Outcome, job: Job, journal: Journal | None, report: BatchReport) -> bool:
    """`_record`, then True when the batch must stop (see `deepcolor.batch.halt`)."""
    try:
        _record(outcome, job, journal, report)
    except JournalWriteError as exc:
        report.halted = str(exc)
    report.halted = report.halted or halt_reason(outcome.status, outcome.reason)
    return bool(report.halted)


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=not progress, smoothing=0.05, dynamic_ncols=True)


def run_batch(
    jobs: Sequence[Job],
    task: Callable[[Job, Any], str | None],
    *,
    resource: Resource | None = None,
    journal: Journal | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "batch",
    retries: int = 1,
) -> BatchReport:
    """Run ``task`` on every job, here or on Dask, recording each outcome as it arrives.

    Parameters
    ----------
    jobs : sequence of Job
        The files still to do (see `deepcolor.batch.plan_batch`).
    task : callable ``(job, resource) -> "done" | "kept" | "held" | None | (status, notices)``
        The per-file function. It must be picklable (a module-level function
        or a ``functools.partial`` of one) for the Dask path. ``None`` means done; notices (one-line strings) are logged by the driver.
    resource : Resource, optional, keyword-only
        Loaded once per process and passed to ``task``.
    journal : Journal, optional, keyword-only
        Where each outcome is committed (by this process only).
    workers : int, keyword-only
        0: in this process, without Dask. N >= 1: a local Dask cluster of N
        single-threaded worker processes, closed at the end.
    scheduler : str, optional, keyword-only
        Address of a running dask.distributed scheduler (``tcp://host:8786``).
    client : distributed.Client, optional, keyword-only
        A client the caller manages (tests, notebooks); wins over the above.
    progress : bool, keyword-only
        One tqdm bar: files done, files/s, ETA.
    retries : int, keyword-only
        Extra attempts of a task that raised an unexpected exception on Dask.

    Returns
    -------
    BatchReport
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be an integer >= 0, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"retries must be an integer >= 0, got {retries!r}")
    if workers and scheduler:
        raise InputError("give either workers (a local cluster) or scheduler (a running one), not both")
    report = BatchReport()
    t0 = time.perf_counter()
    if not jobs:
        return report
    if client is None and not workers and not scheduler:
        _run_serial(jobs, task, resource, journal, report, _bar(len(jobs), desc, progress))
    else:
        with dask_client(client=client, workers=workers, scheduler=scheduler) as dask:
            _run_dask(dask, jobs, task, resource, journal, report, _bar(len(jobs), desc, progress), retries)
    report.seconds = time.perf_counter() - t0
    return report


def _run_serial(jobs, task, resource, journal, report, bar) -> None:
    with bar:
        for job in jobs:
            try:
                outcome = _execute(job, task, resource)
            except Exception as exc:  # a bug: as on Dask, where such a task fails after its retries, the batch goes on
                outcome = Outcome(job.key, "failed", internal_error_reason(exc))
                report.details[job.source] = traceback.format_exc()
            if _record_or_halt(outcome, job, journal, report):
                return
            bar.update(1)
            bar.set_postfix(failed=len(report.failed), refresh=False)


def _run_dask(client, jobs: Sequence[Job], task, resource, journal, report: BatchReport, bar, retries: int) -> None:
    """Keep a bounded window of tasks on the cluster; record results in completion order, refill as they come."""
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    window = max(16, IN_FLIGHT_PER_THREAD * threads)
    pending: Iterable[Job] = iter(jobs)
    by_key: dict[str, Job] = {}

    def submit(job: Job):
        future = client.submit(_execute, job, task, resource, pure=False, retries=retries)
        by_key[future.key] = job
        return future

    # with_results: results are fetched in the background as tasks finish, so a worker that
    # dies later loses nothing already done; raise_errors=False hands us the exception instead.
    # loop=client.loop: as_completed otherwise waits on the *default* client's loop, and with two
    # clients in one process (the newest is the default) the futures of the other never arrive.
    running = as_completed(
        [submit(j) for j in itertools.islice(pending, window)], loop=client.loop, with_results=True, raise_errors=False
    )
    with bar:
        for batch in running.batches():
            for future, result in batch:
                job = by_key.pop(future.key)
                error = _task_error(future, result)
                if error is not None and type(error).__name__ == "KilledWorker":  # not a bug: out of memory, killed
                    result = Outcome(job.key, "failed", f"{type(error).__name__}: {one_line_message(error)}")
                elif error is not None:  # the task kept raising: a bug (declared errors came back as failed outcomes)
                    report.details[job.source] = "".join(traceback.format_exception(type(error), error, error.__traceback__))
                    result = Outcome(job.key, "failed", internal_error_reason(error))
                future.release()
                if _record_or_halt(result, job, journal, report):
                    running.clear()  # in-flight tasks are cancelled; their outputs are atomic, their claims released
                    return
            bar.update(len(batch))
            bar.set_postfix(failed=len(report.failed), refresh=False)
            for nxt in itertools.islice(pending, len(batch)):
                running.add(submit(nxt))


def _task_error(future: Any, result: Any) -> BaseException | None:
    """The exception of a task that raised, else None.

    With ``raise_errors=False``, `distributed.as_completed` hands an errored
    future's result over as the ``(type, exception, traceback)`` tuple, not the
    exception itself; `Outcome` is what a task that ran returns.
    """
    if isinstance(result, Outcome):
        return None
    if isinstance(result, BaseException):
        return result
    if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
        return result[1].with_traceback(result[2]) if result[2] is not None else result[1]
    if future.status == "error":
        return future.exception()
    return RuntimeError(f"task returned {type(result).__name__}, not an Outcome")
