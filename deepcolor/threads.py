"""One thread setting for every pool deepcolor runs on: torch's, numba's, OpenMP's waiting policy.

The pipeline mixes three thread pools: torch's (the encoder, the FCN, the MLPs), numba's (DAISY,
the refinement) and OpenBLAS's. Each sized to the cores and each spinning while it waits, they
fight on a shared machine: measured under a load of 12 on 2 cores, the scene FCN on one 1024^2
image took 6.0 s of wall time with torch's 2 threads spinning, 0.33-0.73 s with passive waits
(docs/speed.md). So ``import deepcolor`` asks OpenMP for passive waits (`passive_waits`, before
torch starts; the user's own ``OMP_WAIT_POLICY`` wins), and the first prediction sets torch's and
numba's pools once (`configure_threads`) to ``OMP_NUM_THREADS`` when given, else the CPUs this
process may run on.
"""

from __future__ import annotations

import os

__all__ = ["passive_waits", "thread_count", "configure_threads"]

_DONE: dict[str, int] = {}


def passive_waits() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless set: read once, when the OpenMP runtime starts (with torch or numba)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def thread_count() -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer, else the CPUs this process may use (at least 1)."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """Size torch's and numba's pools to `thread_count` once per process; returns the count."""
    if "threads" in _DONE:
        return _DONE["threads"]
    import numba
    import torch

    n = thread_count()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    _DONE["threads"] = n
    return n
