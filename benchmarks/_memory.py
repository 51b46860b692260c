"""Peak resident memory of a command, measured on its own process.

`measure(argv)` starts the command, reaps it with ``os.wait4`` and reads the
peak resident set size (``ru_maxrss``) of exactly that child from the kernel's
accounting: no polling, so a short spike is not missed, and no third-party
package. A child's own children are not counted (the CLI spawns none).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measurement", "measure", "write_gray_png"]


@dataclass
class Measurement:
    returncode: int
    peak_mb: float  # peak resident memory, MiB
    seconds: float  # wall-clock
    stdout: str
    stderr: str


def measure(argv: list[str], *, cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None,
            timeout: float | None = None) -> Measurement:
    """Run ``argv`` to the end; its exit code, peak resident memory and wall time."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        scale = 1024 if sys.platform != "darwin" else 1  # Linux reports KiB, macOS bytes
        return Measurement(proc.returncode, usage.ru_maxrss * scale / 2**20, seconds,
                           out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def write_gray_png(path: Path, height: int, width: int, *, seed: int = 0) -> Path:
    """A gray test photograph of any size, written in bands so the writer itself stays small.

    A smooth scene with edges and mild noise (so every stage has work to do),
    PNG-compressed with OpenCV.
    """
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image = np.empty((height, width), np.uint8)
    x = np.arange(width, dtype=np.float32)
    band = 1024
    for y0 in range(0, height, band):
        y = np.arange(y0, min(height, y0 + band), dtype=np.float32)[:, None]
        rows = 0.5 + 0.3 * np.sin(x / 97.0) * np.cos(y / 61.0) + 0.15 * ((x // 512 + y // 512) % 2)
        rows += rng.normal(0, 0.02, rows.shape).astype(np.float32)
        image[y0 : y0 + len(y)] = np.clip(rows * 255, 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: cannot write")
    return path
