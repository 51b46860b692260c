"""Helpers shared by the benchmark scripts: paths, atomic writes, resumable row logs.

The scripts import the installed package (``pip install -e .``, or ``PYTHONPATH=.`` in a checkout);
they never edit ``sys.path``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
SPLITS = ROOT / "data" / "splits"

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does: no spinning OpenMP waits on a shared machine


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a whole file via a temp file and a rename."""
    from deepcolor.io import atomic_write_bytes

    atomic_write_bytes(path, data.encode() if isinstance(data, str) else data)


class RowLog:
    """An append-only JSON-lines file of finished items, so an interrupted benchmark resumes.

    Each line is one finished item with its key; a torn last line (killed mid-write) is ignored.
    """

    def __init__(self, path: Path, *, fresh: bool = False) -> None:
        self.path = path
        self.rows: dict[str, dict] = {}
        if fresh:
            path.unlink(missing_ok=True)
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.rows[row["key"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def add(self, key: str, row: dict) -> None:
        row = {"key": key, **row}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.rows[key] = row


def need_shared() -> None:
    if not (SHARED_DATA / "camvid").is_dir():
        raise SystemExit(f"benchmark needs the shared datasets at {SHARED_DATA}")


def protocol_images(path: Path):
    """``(original, luma, gray, gray_psnr)`` of a report photo under the README protocol, or None (one line printed)
    when it cannot be read: the 8-bit original, its rounded BT.601 luma, the gray baseline and the baseline's PSNR."""
    from deepcolor.evaluation import gray_version
    from deepcolor.metrics import psnr
    from deepcolor.train.global_prior import read_colour

    try:
        original = read_colour(path)
    except (ValueError, OSError) as exc:
        print(f"skipped: {str(exc).splitlines()[0]}")
        return None
    luma, gray = gray_version(original)
    return original, luma, gray, psnr(gray, original)


def read_photo(path: Path):
    """``(original (H, W, 3) uint8, luma (H, W) float32, gray (H, W, 3) uint8)`` of a colour photo, or None
    (a line printed) when it is gray or unreadable: `protocol_images` without the baseline's PSNR."""
    images = protocol_images(path)
    return None if images is None else images[:3]


def draw_panels(axes, panels, *, side: int, fontsize: int) -> None:
    """One gallery row: each ``(rgb, title)`` of ``panels`` shrunk to ``side`` pixels on its longer side, titled, no axes."""
    import cv2

    for ax, (rgb, title) in zip(axes, panels):
        h, w = rgb.shape[:2]
        scale = side / max(h, w)
        ax.imshow(cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA))
        ax.set_title(title, fontsize=fontsize)
        ax.axis("off")
