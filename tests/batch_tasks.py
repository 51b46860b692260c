"""Per-file functions for the batch engine's tests: small, real, and importable by Dask worker processes.

`reverse_file` does what an apply task does, without a model: read the input,
write a derived output atomically, keep an existing output unless allowed to
replace it, fail on a bad input with a declared (one-line) error. It appends ``start`` and
``end`` lines (with its process id) to a log, so tests can count how often each
file ran and where. `counted_resource` is a loader that logs each load, so
tests can check that every process loads it once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from deepcolor.batch.engine import TaskFailed
from deepcolor.io import atomic_write_bytes


def _log(log: str | None, line: str) -> None:
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)


def counted_resource(log: str | None = None) -> dict:
    """A stand-in for a model: a dict, with a ``load <pid>`` line logged per load."""
    _log(log, f"load {os.getpid()}")
    return {"pid": os.getpid()}


def reverse_file(job, resource, *, log: str | None = None, delay: float = 0.0) -> str:
    """Write the input's bytes reversed to ``job.target``; 'kept' when it exists and may not be replaced."""
    _log(log, f"start {job.key} {os.getpid()} {time.time():.6f}")
    if resource is not None and resource.get("pid") != os.getpid():
        raise RuntimeError("resource loaded in another process")
    if job.target.exists() and not job.overwrite:
        return "kept"
    data = Path(job.source).read_bytes()
    if data.startswith(b"BAD"):
        raise TaskFailed(f"{job.source}: not a valid input\n(second line that must not reach the report)")
    time.sleep(delay)
    atomic_write_bytes(job.target, data[::-1])
    _log(log, f"end {job.key} {os.getpid()} {time.time():.6f}")
    return "done"


def read_log(log: Path) -> list[list[str]]:
    """The log's lines, split into words."""
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def open_journal(folder: str) -> str:
    """Open and close the journal of ``folder``: '' or the error's text (for the concurrent-open test)."""
    from deepcolor.batch import Journal

    try:
        with Journal.in_folder(folder) as journal:  # the first record creates it
            journal.record(f"{os.getpid()}.jpg", "o.jpg", "done", size=1, mtime_ns=1)
    except Exception as exc:  # noqa: BLE001 - the test wants to see any failure
        return repr(exc)
    return ""
