"""The batch journal: one SQLite row per input file, in the output folder.

A batch records every file it finished (``done``), kept (an output that was
already there, not replaced) or failed on (with its one-line reason), one
committed transaction per file. A rerun after a crash, a Ctrl-C or a
``kill -9`` of the driver reads the journal and skips every input whose row
says ``done`` for the same input bytes (size and modification time) and the
same settings, as long as the output is still there: nothing finished is done
twice. A changed input, a deleted output or changed settings make the file
due again.

Only the driver writes the journal (workers return their outcome to it), so
SQLite's single-writer rule holds and the file may live on a local disk even
when the workers run elsewhere. WAL mode with ``synchronous=NORMAL`` makes a
commit survive the process being killed (not a power cut, which may lose the
last few rows: those files are then redone, never half-done, because every
output is written atomically).

Schema (``SCHEMA_VERSION`` 1)::

    files(input TEXT PRIMARY KEY,   -- input path relative to the batch root, '/'-separated
          output TEXT NOT NULL,     -- output path relative to the output folder
          status TEXT NOT NULL,     -- 'done' | 'kept' | 'failed'
          reason TEXT NOT NULL,     -- one line; empty unless failed
          size INTEGER NOT NULL,    -- input size in bytes when it was planned
          mtime_ns INTEGER NOT NULL,-- input modification time (ns) when it was planned
          settings TEXT NOT NULL,   -- what shaped the output (model, options), as the caller spells it
          seconds REAL NOT NULL,    -- time spent on the file by its worker
          worker TEXT NOT NULL,     -- host:pid that ran it
          finished REAL NOT NULL)   -- Unix time the driver recorded it
    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)   -- 'schema_version'
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deepcolor.errors import DeepcolorError, InputError

__all__ = ["JOURNAL_NAME", "SCHEMA_VERSION", "STATUSES", "JournalError", "JournalWriteError", "JournalRow", "Journal"]

JOURNAL_NAME = ".deepcolor-journal.sqlite"  # hidden: listing the output folder as input never picks it up
SCHEMA_VERSION = 1
STATUSES = ("done", "kept", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    input TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'kept', 'failed')),
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    settings TEXT NOT NULL,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("input", "output", "status", "reason", "size", "mtime_ns", "settings", "seconds", "worker", "finished")


class JournalError(DeepcolorError, ValueError):
    """A journal that cannot be opened or is not ours; one line."""


class JournalWriteError(DeepcolorError, OSError):
    """The journal cannot be written (a full disk, a read-only folder); one line naming the journal and why.

    A batch ends on it: what is done is kept, the rest is done by a rerun.
    """

    def __str__(self) -> str:
        return str(self.args[0])


def _write_error(path: Path, what: str, exc: BaseException) -> JournalWriteError:
    from deepcolor.io.common import one_line

    return JournalWriteError(f"{one_line(str(path))}: cannot {what} the batch journal ({exc})")


def _unusable(exc: sqlite3.Error) -> bool:
    """True for a file that is not an SQLite journal (as opposed to one that cannot be written)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or "not a database" in text or "malformed" in text


@dataclass(frozen=True)
class JournalRow:
    """One file's row; field meanings as in the module's schema."""

    input: str
    output: str
    status: str
    reason: str
    size: int
    mtime_ns: int
    settings: str
    seconds: float
    worker: str
    finished: float


class Journal:
    """The journal of one output folder; a context manager that closes it.

    Parameters
    ----------
    path : path-like
        The SQLite file (created with its schema when missing). Its folder
        must exist.
    settings : str, keyword-only
        This run's settings, compared with a row's to decide whether a
        finished file is still up to date.
    """

    def __init__(self, path: str | os.PathLike, *, settings: str = "") -> None:
        if not isinstance(settings, str):
            raise InputError(f"settings must be a string, got {type(settings).__name__}")
        self.path = Path(os.fspath(path))
        self.settings = settings
        self._db: sqlite3.Connection | None = None
        if not self.path.parent.is_dir():
            raise JournalError(f"{self.path}: folder {self.path.parent} does not exist")
        if self.path.exists() or self.path.is_symlink():
            self._connect()
        # else: created by the first record, so a run refused before any file leaves no journal behind

    def _connect(self) -> sqlite3.Connection:
        """Open (creating when missing) the database and check its schema version."""
        if self._db is not None:
            return self._db
        try:
            # isolation_level=None: we open and commit each transaction ourselves.
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._initialize()
            version = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        except sqlite3.Error as exc:
            self._close_quietly()
            if _unusable(exc):
                raise JournalError(f"{self.path}: not a usable journal ({exc}); move it away to start afresh") from None
            raise _write_error(self.path, "open", exc) from None
        if version != str(SCHEMA_VERSION):
            self._close_quietly()
            raise JournalError(f"{self.path}: journal schema {version}, this deepcolor reads {SCHEMA_VERSION}; move it away to start afresh")
        return self._db

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _initialize(self, wait_s: float = 30.0) -> None:
        """WAL mode, the schema and its version row, safe when several runs open a new journal at once.

        Switching a fresh file to WAL answers "database is locked" at once (no
        busy wait) while another connection is doing the same, so that step is
        retried; the version row is inserted only if no one else has.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def in_folder(cls, folder: str | os.PathLike, *, settings: str = "") -> Journal:
        """The journal of an output folder (``folder/.deepcolor-journal.sqlite``)."""
        return cls(Path(os.fspath(folder)) / JOURNAL_NAME, settings=settings)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (the WAL is folded back into the file)."""
        self._close_quietly()

    def rows(self) -> dict[str, JournalRow]:
        """Every row, keyed by relative input path."""
        if self._db is None:
            return {}
        cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM files")
        return {row[0]: JournalRow(*row) for row in cursor}

    def is_current(self, row: JournalRow | None, *, size: int, mtime_ns: int) -> bool:
        """True when ``row`` says done for these input bytes under this run's settings."""
        return (
            row is not None
            and row.status == "done"
            and row.size == size
            and row.mtime_ns == mtime_ns
            and row.settings == self.settings
        )

    def record(
        self,
        input: str,
        output: str,
        status: str,
        *,
        reason: str = "",
        size: int,
        mtime_ns: int,
        seconds: float = 0.0,
        worker: str = "",
    ) -> None:
        """Write (or replace) one file's row and commit it before returning."""
        if status not in STATUSES:
            raise InputError(f"status must be one of {STATUSES}, got {status!r}")
        row = (input, output, status, reason, int(size), int(mtime_ns), self.settings, float(seconds), worker, time.time())
        db = self._connect()
        try:
            db.execute(f"INSERT OR REPLACE INTO files ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", row)
        except sqlite3.Error as exc:  # 'database or disk is full', a read-only folder: the batch must end cleanly
            raise _write_error(self.path, f"record {input} in", exc) from None

    def record_many(self, rows: Iterable[dict]) -> None:
        """`record` for many rows in one transaction (used to measure and seed large journals)."""
        self._connect().execute("BEGIN")
        try:
            for r in rows:
                self.record(**r)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        if self._db is None:
            return dict.fromkeys(STATUSES, 0)
        found = dict(self._db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
        return {s: found.get(s, 0) for s in STATUSES}

    def failures(self) -> Iterator[tuple[str, str]]:
        """(relative input, reason) of every failed file, in input order."""
        if self._db is None:
            return
        yield from self._db.execute("SELECT input, reason FROM files WHERE status = 'failed' ORDER BY input")
