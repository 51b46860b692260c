"""Connecting to dask.distributed: the only module of deepcolor that imports Dask.

Dask is the ``distributed`` extra (``pip install .[distributed]``); without it
``--workers``/``--scheduler`` fail with one line saying how to install it, and
everything else works.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from deepcolor.errors import DeepcolorError

__all__ = ["WORKER_ENV", "DaskMissing", "require_dask", "dask_client", "local_cluster"]

logger = logging.getLogger("deepcolor")

# Each local worker is one single-threaded process; numeric libraries must not start their own pools.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
}


class DaskMissing(DeepcolorError, ImportError):
    """dask.distributed is not installed."""


def require_dask() -> None:
    """Raise `DaskMissing` (one line, with the fix) when dask.distributed cannot be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DaskMissing(
            "--workers/--scheduler need dask.distributed: pip install 'deepcolor[distributed]' (or: pip install dask distributed)"
        ) from None


def _worker_env() -> dict[str, str]:
    env = dict(WORKER_ENV)
    # A checkout run in place (not installed) must be importable by the worker processes too.
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in paths:
        paths.insert(0, package_root)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


_TRACKER_WARNING = "ignore:resource_tracker:UserWarning"


def quiet_resource_tracker() -> None:
    """No "resource_tracker: ... leaked semaphore objects" warning after Ctrl-C.

    Workers ended by Ctrl-C leave their semaphores registered; Python's
    resource tracker (a process of its own, started with this interpreter's
    ``-W`` options) frees them at exit anyway and warns about each. The
    filter goes into ``sys.warnoptions`` before the tracker starts, with the
    cluster's first process, so the tracker inherits it.
    """
    if _TRACKER_WARNING not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNING)


def local_cluster(workers: int, **kwargs: Any):
    """A `distributed.LocalCluster` of ``workers`` single-threaded processes, no dashboard, quiet logs."""
    require_dask()
    import dask
    from distributed import LocalCluster

    from deepcolor.batch.halt import children_ignore_sigint

    # Dask sets MALLOC_TRIM_THRESHOLD_ in every worker it spawns; setting it at all stops glibc
    # from raising its mmap threshold, so each image-sized array is mmapped and page-faulted anew:
    # measured +35% CPU per image. Our workers keep glibc's dynamic default.
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if k != "MALLOC_TRIM_THRESHOLD_"}
    options = dict(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # None still takes 8787 and warns on stderr when another cluster holds it
        silence_logs=logging.CRITICAL,  # a dead worker is our outcome to report, not a log traceback
        env=_worker_env(),
    )
    options.update(kwargs)
    quiet_resource_tracker()
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), children_ignore_sigint():
        return LocalCluster(**options)  # the environ is read when the nannies are made; Ctrl-C is the driver's


@contextlib.contextmanager
def dask_client(*, client: Any = None, workers: int = 0, scheduler: str | None = None) -> Iterator[Any]:
    """The client to submit to: the caller's, a new local cluster's (closed afterwards) or a running scheduler's."""
    if client is not None:
        yield client
        return
    require_dask()
    from distributed import Client

    from deepcolor.batch.halt import quiet_after_interrupt, silence_loggers

    # Importing distributed set its loggers to INFO: its cluster's start, stop and worker restarts
    # would reach the user's terminal. The batch reports what matters (failed files).
    logging.getLogger("distributed").setLevel(logging.ERROR)
    # A Ctrl-C closes the cluster under the background fetches of finished results: their closed
    # connections are logged by asyncio and tornado as tracebacks. The driver's one line says it all.
    silence_loggers(("asyncio", "tornado"), logging.CRITICAL)
    if scheduler:
        try:
            connected = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise OSError(f"--scheduler {scheduler}: cannot connect ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        with connected:
            if not connected.nthreads():
                logger.info("scheduler %s has no workers yet; tasks wait for the first one", scheduler)
            yield connected
        return
    logger.info("starting a local Dask cluster of %d single-threaded worker process(es)", workers)
    with local_cluster(workers) as cluster, Client(cluster) as local, quiet_after_interrupt():
        yield local
