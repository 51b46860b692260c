"""`apply --recursive` with the real model through the batch engine: mirrored tree, journal, Dask workers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deepcolor.batch import JOURNAL_NAME, Journal
from deepcolor.cli import apply_main
from deepcolor.colorspace import rgb_to_luma
from deepcolor.io import read_image
from deepcolor.metrics import to_uint8

ROOT = Path(__file__).resolve().parents[1]
needs_dask = pytest.mark.skipif(
    find_spec("distributed") is None, reason="dask.distributed is not installed (pip install '.[distributed]')"
)
PHOTOS = [data.coffee(), data.chelsea(), data.astronaut(), data.rocket()]


def _tree(root: Path, n: int) -> list[Path]:
    """``n`` tiny gray photographs (about 64x96) over root, root/x, root/x/y; plus one bad file in root/x."""
    files = []
    for i in range(n):
        folder = [root, root / "x", root / "x" / "y"][i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        photo = np.roll(PHOTOS[i % len(PHOTOS)], 11 * i, axis=1)
        step = max(1, photo.shape[0] // 64)
        gray = to_uint8(rgb_to_luma(photo[::step, ::step][:64, :96] / 255.0))
        path = folder / f"p{i:02d}.png"
        Image.fromarray(gray).save(path)
        files.append(path)
    (root / "x" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return files


def _check_outputs(src: Path, out: Path, files: list[Path]) -> None:
    for f in files:
        result = read_image(out / f.relative_to(src))
        assert result.pixels.ndim == 3, f"{f.name}: output not in colour"
        assert np.abs(rgb_to_luma(result.pixels) - read_image(f).pixels).max() < 2 / 255  # luma kept
    images = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert images == sorted(str(f.relative_to(src)) for f in files)


def test_recursive_apply_mirrors_the_tree_and_resumes_from_its_journal(tmp_path, capsys):
    """Without Dask: outputs mirror the input tree, the bad file is journaled with its reason, a rerun redoes nothing."""
    src, out = tmp_path / "in", tmp_path / "out"
    files = _tree(src, 5)
    assert apply_main([str(src), "-o", str(out), "--recursive", "-q"]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "Traceback" not in err
    _check_outputs(src, out, files)
    with Journal.in_folder(out) as journal:
        assert journal.counts() == {"done": 5, "kept": 0, "failed": 1}
        assert [key for key, _ in journal.failures()] == ["x/broken.jpg"]
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("p*.png")}
    assert apply_main([str(src), "-o", str(out), "--recursive", "--overwrite", "-q"]) == 1  # only the bad file again
    assert {p: p.stat().st_mtime_ns for p in out.rglob("p*.png")} == mtimes


@needs_dask
def test_workers_give_the_serial_outputs(tmp_path, capsys):
    """--workers 2 (a real LocalCluster) writes the same mirrored tree as the serial path."""
    src = tmp_path / "in"
    files = _tree(src, 6)
    assert apply_main([str(src), "-o", str(tmp_path / "serial"), "--recursive", "-q"]) == 1
    assert apply_main([str(src), "-o", str(tmp_path / "dask"), "--recursive", "--workers", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "Traceback" not in err
    _check_outputs(src, tmp_path / "dask", files)
    for f in files:
        rel = f.relative_to(src)
        a = read_image(tmp_path / "serial" / rel).pixels
        b = read_image(tmp_path / "dask" / rel).pixels
        assert np.abs(a - b).max() <= 2 / 255  # single- vs multi-threaded float sums may differ in the last bit
    with Journal.in_folder(tmp_path / "dask") as journal:
        workers = {row.worker for row in journal.rows().values() if row.status == "done"}
    assert len(workers) == 2 and str(os.getpid()) not in {w.split(":")[-1] for w in workers}


@needs_dask
def test_killed_apply_driver_resumes_without_redoing_a_file(tmp_path):
    """SIGKILL `python -m deepcolor.apply --workers 2` mid-batch; the rerun finishes the rest, finished files untouched."""
    src, out = tmp_path / "in", tmp_path / "out"
    files = _tree(src, 12)
    command = [sys.executable, "-m", "deepcolor.apply", str(src), "-o", str(out), "--recursive", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(command + ["--workers", "2"], env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done: list[tuple[str, str]] = []
    deadline = time.time() + 240
    try:
        while len(done) < 3:
            assert driver.poll() is None, f"driver ended before the kill: {driver.stderr.read().decode()[-300:]}"
            assert time.time() < deadline, "the batch never got going"
            time.sleep(0.05)
            if (out / JOURNAL_NAME).exists():
                with sqlite3.connect(f"file:{out / JOURNAL_NAME}?mode=ro", uri=True, timeout=10) as db:
                    try:
                        done = db.execute("SELECT input, output FROM files WHERE status = 'done'").fetchall()
                    except sqlite3.OperationalError:
                        done = []
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        time.sleep(1.0)  # its workers notice the driver is gone and exit; make sure of it
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        driver.stderr.close()
    with sqlite3.connect(f"file:{out / JOURNAL_NAME}?mode=ro", uri=True) as db:
        done = db.execute("SELECT input, output FROM files WHERE status = 'done'").fetchall()
    assert 3 <= len(done) < 12, "the kill did not land mid-batch"
    before = {o: (out / o).stat().st_mtime_ns for _, o in done}
    rerun = subprocess.run(command + ["--overwrite"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1 and "broken.jpg" in rerun.stderr and "Traceback" not in rerun.stderr
    assert {o: (out / o).stat().st_mtime_ns for _, o in done} == before  # --overwrite, yet no finished file redone
    _check_outputs(src, out, files)
