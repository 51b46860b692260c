"""When a batch must stop instead of going on: a full disk.

Every file failing in turn with "No space left on device" would take as long
as the batch and say the same thing thousands of times; the journal cannot
record anything either. So the engine stops at the first such outcome (or at
the first journal write that fails), keeps what is done, and the command says
in one line what could not be written and why; a rerun after space is freed
resumes where it stopped (finished files are in the journal or on disk).
"""

from __future__ import annotations

import errno
import os

__all__ = ["halt_reason", "DISK_FULL_TEXTS"]

# strerror texts of "this file system takes no more data", as write errors carry them
DISK_FULL_TEXTS = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT)) + ("database or disk is full",)


def halt_reason(status: str, reason: str) -> str:
    """The reason a batch must stop after an outcome (its one-line reason when the disk is full), else ''."""
    if status == "failed" and any(text in reason for text in DISK_FULL_TEXTS):
        return reason
    return ""
