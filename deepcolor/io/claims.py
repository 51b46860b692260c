"""Per-output claims, so concurrent runs on one output folder make each output once.

A claim is an exclusive ``flock`` on a hidden file ``.<name>.claim`` beside the
output. The kernel drops the lock when its holder exits, ``kill -9`` included,
so the claim of a dead run is stale by construction and the next run simply
takes it over; whoever takes a claim also removes the temp files a killed
writer of that output left behind (`deepcolor.io.write` names them
``.<stem>.<8 hex>.tmp<ext>``). Locks work between processes of one machine and,
where the file system honours ``flock`` (local disks, NFSv4), between machines.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from deepcolor.io.common import ImageWriteError, _one_line, _reason

__all__ = ["claim_output", "claim_path", "CLAIM_SUFFIX"]

logger = logging.getLogger("deepcolor.io")

CLAIM_SUFFIX = ".claim"
_HEX = frozenset("0123456789abcdef")


def claim_path(output: str | os.PathLike) -> Path:
    """The claim file of an output: ``folder/.<name>.claim`` (hidden, so never listed as an input)."""
    output = Path(os.fspath(output))
    return output.with_name(f".{output.name}{CLAIM_SUFFIX}")


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temps(output: str | os.PathLike) -> int:
    """Delete the temp files an interrupted writer of ``output`` left; call it only while holding its claim.

    Returns how many were removed.
    """
    output = Path(os.fspath(output))
    stem, suffix = output.stem[:200], output.suffix
    removed = 0
    for tmp in output.parent.glob(f".{glob.escape(stem)}.*.tmp{glob.escape(suffix)}"):
        token = tmp.name[len(stem) + 2 : len(tmp.name) - len(f".tmp{suffix}")]
        if len(token) == 8 and set(token) <= _HEX:
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
                logger.info("%s: removed a temp file an interrupted run left", _one_line(str(tmp)))
    return removed


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
        The claim file cannot be created (folder missing or not writable).
    """
    output = Path(os.fspath(path))
    lock_file = claim_path(output)
    while True:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ImageWriteError(output, f"cannot create its claim file ({_reason(exc)})") from None
        if not _try_lock(fd):
            os.close(fd)
            yield False
            return
        try:  # the holder before us may have removed the file between our open and our lock
            current = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        remove_stale_temps(output)
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_file)  # still locked: a process that opened it sees it is stale and retries
        os.close(fd)
