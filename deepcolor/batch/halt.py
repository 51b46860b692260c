"""When a batch must stop instead of going on: a full disk, and Ctrl-C.

Every file failing in turn with "No space left on device" would take as long
as the batch and say the same thing thousands of times; the journal cannot
record anything either. So the engine stops at the first such outcome (or at
the first journal write that fails), keeps what is done, and the command says
in one line what could not be written and why; a rerun after space is freed
resumes where it stopped (finished files are in the journal or on disk).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["halt_reason", "children_ignore_sigint", "quiet_after_interrupt", "silence_loggers", "DISK_FULL_TEXTS"]

# strerror texts of "this file system takes no more data", as write errors carry them
DISK_FULL_TEXTS = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT)) + ("database or disk is full",)


def halt_reason(status: str, reason: str) -> str:
    """The reason a batch must stop after an outcome (its one-line reason when the disk is full), else ''."""
    if status == "failed" and any(text in reason for text in DISK_FULL_TEXTS):
        return reason
    return ""


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Processes started inside the block ignore Ctrl-C; the driver alone handles it.

    Ctrl-C reaches every process of the terminal's group: worker processes
    would each die with a page of KeyboardInterrupt traceback while the driver
    says its one "interrupted" line and closes the cluster (which ends them).
    An ignored SIGINT is inherited across fork and exec, and Python (asyncio
    included) installs its KeyboardInterrupt handler only where SIGINT is at
    its default, so the workers stay quiet. Only the main thread may change
    signal handlers; elsewhere the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def quiet_after_interrupt(loggers: tuple[str, ...] = ("distributed", "tornado", "asyncio")) -> Iterator[None]:
    """On Ctrl-C inside the block, silence the cluster's loggers before it is closed, then let the interrupt go on.

    Closing a cluster under running tasks makes Dask, tornado and asyncio log
    lost connections and cancelled tasks; after an interrupt none of that is
    news, and the command's one "interrupted" line is all the user should see.
    """
    try:
        yield
    except KeyboardInterrupt:
        silence_loggers(loggers)
        raise


def silence_loggers(prefixes: tuple[str, ...], level: int = logging.CRITICAL + 1) -> None:
    """Set ``level`` on the loggers named by ``prefixes`` and on every existing logger below them.

    Children need it too: Dask's logging config gives some of them their own
    levels (``distributed.client``, ``tornado.application``), which a parent's
    level does not override.
    """
    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith(tuple(f"{p}." for p in prefixes))]
    for name in (*prefixes, *names):
        logging.getLogger(name).setLevel(level)
