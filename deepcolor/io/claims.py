"""Per-output claims, so concurrent runs on one output folder make each output once.

A claim is an exclusive ``flock`` on a hidden file ``.<name>.claim`` beside the
output (shortened, with a hash of the name, where that would not fit the file
system's name limit). The kernel drops the lock when its holder exits,
``kill -9`` included, so the claim of a dead run is stale by construction and
the next run takes it over. Locks work between processes of one machine and,
where the file system honours ``flock`` (local disks, NFSv4), between machines.

Only files deepcolor provably made are ever removed, and each removal is logged:

- a claim file starts with `CLAIM_MARKER`, written by its creator while it
  holds the lock; a file of that name without the marker is the user's, is
  never touched, and the output it stands in the way of fails with a
  one-line reason;
- every temp file the atomic writer creates while this thread holds a claim
  in the same folder is recorded in that claim file (its random name, at
  creation); whoever takes over a stale claim removes exactly the recorded
  temps that are still there. A hidden ``.x.deadbeef.tmp.jpg`` of the user's
  is in no claim, so it stays.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from deepcolor.io.common import ImageWriteError, one_line, error_reason, fitted_hidden_name

__all__ = ["claim_output", "claim_path", "clear_stale_claims", "record_temp", "written_since", "CLAIM_SUFFIX", "CLAIM_MARKER"]

logger = logging.getLogger("deepcolor.io")

CLAIM_SUFFIX = ".claim"
CLAIM_MARKER = b"deepcolor claim 1\n"
_TEMP_PREFIX = "temp "
_EMPTY_RETRIES = 50  # x 20 ms: how long an empty (just created by another run) claim file is waited for

_held = threading.local()  # .claims: list of (folder, fd) this thread holds, innermost last


def claim_path(output: str | os.PathLike) -> Path:
    """The claim file of an output: ``folder/.<name>.claim`` (hidden, so never listed as an input).

    Where that name would be too long for the folder's file system the name
    part is cut and an 8-hex hash of the whole name added, so every output
    whose own name fits has a claim that fits too.
    """
    output = Path(os.fspath(output))
    return output.with_name(fitted_hidden_name(output.name, CLAIM_SUFFIX, output.parent))


def _try_lock(fd: int, *, wait: bool = False) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def record_temp(tmp: str | os.PathLike) -> None:
    """Note a temp file just created, in the claim this thread holds in its folder (if any).

    Called by the atomic writer right after it creates ``tmp``, so a run that
    takes over the claim after a ``kill -9`` knows the file is deepcolor's.
    """
    tmp = Path(os.fspath(tmp))
    folder = os.path.abspath(tmp.parent)
    for claim_folder, fd in reversed(getattr(_held, "claims", [])):
        if claim_folder == folder:
            with contextlib.suppress(OSError):  # a full disk: the temp is then merely not cleaned after a kill
                os.write(fd, f"{_TEMP_PREFIX}{json.dumps(tmp.name)}\n".encode())
            return


def _recorded_temps(content: bytes) -> list[str]:
    names = []
    for line in content.decode("utf-8", "replace").splitlines()[1:]:
        if line.startswith(_TEMP_PREFIX):
            with contextlib.suppress(ValueError):
                name = json.loads(line[len(_TEMP_PREFIX) :])
                if isinstance(name, str) and name.startswith(".") and "/" not in name and name not in (".", ".."):
                    names.append(name)
    return names


def _remove_recorded_temps(folder: Path, content: bytes) -> int:
    """Delete the temps a stale claim's holder recorded and left; returns how many."""
    removed = 0
    for name in _recorded_temps(content):
        tmp = folder / name
        with contextlib.suppress(OSError):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                removed += 1
                logger.info("%s: removed the temp file an interrupted run of deepcolor left", one_line(str(tmp)))
    return removed


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _take(fd: int) -> None:
    """Make a locked claim file ours: marker and holder, nothing else."""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, CLAIM_MARKER + f"holder {os.getpid()} {socket.gethostname()}\n".encode())


def _acquire(output: Path, lock_file: Path) -> int | None:
    """The locked fd of ``output``'s claim, or None when another live process holds it."""
    for attempt in range(_EMPTY_RETRIES + 1):
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                fd = os.open(lock_file, os.O_RDWR | os.O_NOFOLLOW)
            except FileNotFoundError:  # its holder just released it
                continue
            except OSError as exc:
                raise ImageWriteError(output, f"cannot open its claim file {lock_file.name} ({error_reason(exc)})") from None
        except OSError as exc:
            raise ImageWriteError(output, f"cannot create its claim file ({error_reason(exc)})") from None
        else:  # we made it: lock (another run may hold it for an instant, seeing it empty) and mark it
            try:
                _try_lock(fd, wait=True)
                _take(fd)
            except OSError as exc:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(lock_file)
                raise ImageWriteError(output, f"cannot write its claim file ({error_reason(exc)})") from None
            return fd
        if not _try_lock(fd):
            os.close(fd)
            return None
        try:  # the holder before us may have removed the file between our open and our lock
            current = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            current = False
        if not current:
            os.close(fd)
            continue
        content = _read_all(fd)
        if not content.startswith(CLAIM_MARKER):
            os.close(fd)
            if content == b"" and attempt < _EMPTY_RETRIES:  # another run created it and is about to mark it
                time.sleep(0.02)
                continue
            raise ImageWriteError(
                output, f"{one_line(lock_file.name)} is in the way of its claim and was not made by deepcolor; move it away"
            )
        _remove_recorded_temps(lock_file.parent, content)
        _take(fd)
        return fd
    raise ImageWriteError(output, f"cannot take its claim file {one_line(lock_file.name)} (it keeps changing)")


@contextlib.contextmanager
def claim_output(path: str | os.PathLike) -> Iterator[bool]:
    """Claim an output for this process while the block runs.

    Parameters
    ----------
    path : path-like
        The output file; its folder must exist.

    Yields
    ------
    bool
        True: this process holds the claim until the block ends; check inside
        the block whether the output exists (another run may have finished it
        just before). False: another live process holds it: do not write it.

    Raises
    ------
    ImageWriteError
        The claim file cannot be created (folder missing or not writable), or
        a file of the claim's name that deepcolor did not make is there.
    """
    output = Path(os.fspath(path))
    lock_file = claim_path(output)
    fd = _acquire(output, lock_file)
    if fd is None:
        yield False
        return
    claims = _held.__dict__.setdefault("claims", [])
    entry = (os.path.abspath(lock_file.parent), fd)
    claims.append(entry)
    try:
        yield True
    finally:
        claims.remove(entry)
        with contextlib.suppress(OSError):
            os.unlink(lock_file)  # still locked: a process that opened it sees it is stale and retries
        os.close(fd)


def clear_stale_claims(outputs: list[str | os.PathLike], *, wait: float = 5.0) -> int:
    """Take over and release the claims of ``outputs`` whose holders are gone, removing the temps they recorded.

    After Ctrl-C the local workers are ended mid-file: their claims stay on
    disk (stale, since the kernel dropped the locks) with their temps (a
    video's partial). This does what the next run would do, now: only claim
    files deepcolor made, and only the temps they recorded. A claim still
    locked (a worker not yet gone) is waited for up to ``wait`` seconds in all,
    then left to the next run. Returns how many claims were cleared.
    """
    deadline = time.monotonic() + wait
    pending = [Path(os.fspath(o)) for o in outputs if claim_path(o).exists()]
    cleared = 0
    while pending:
        still = []
        for output in pending:
            try:
                with claim_output(output) as mine:
                    cleared += bool(mine)
            except ImageWriteError:  # a file of the claim's name that is not ours: never touched
                continue
            if not mine:
                still.append(output)
        if not still or time.monotonic() > deadline:
            break
        pending = still
        time.sleep(0.05)
    return cleared


def written_since(output: str | os.PathLike, since_ns: int) -> bool:
    """True when ``output`` exists and was written at or after ``since_ns`` (Unix time in ns; 0: never).

    Checked under the claim by an ``--overwrite`` run: an output finished
    after the run started was made by a concurrent run, so this run counts
    it as done instead of colorizing it again.
    """
    if not since_ns:
        return False
    try:
        return os.stat(output).st_mtime_ns >= since_ns
    except OSError:
        return False
