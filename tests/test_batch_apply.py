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
from deepcolor.apply import main as apply_main
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@needs_dask
def test_fit_features_on_workers_match_serial_and_resume(tmp_path):
    """fit's feature extraction on 2 workers (FCN loaded per worker) equals the serial one; a rerun recomputes only what is missing."""
    from deepcolor.features.semantic import load_fcn
    from deepcolor.modelfile import default_weights_path
    from deepcolor.train.cheng import FitConfig, collect_samples

    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i, photo in enumerate(PHOTOS):
        paths.append(folder / f"c{i}.png")
        Image.fromarray(photo[::6, ::6][:64, :96]).save(paths[-1])
    fcn_path = default_weights_path("fcn")
    fcn = load_fcn(fcn_path)
    config = FitConfig(samples_per_image=100)
    serial, failed = collect_samples(paths, fcn=fcn, config=config, work=tmp_path / "s", fcn_id="f", progress=False)
    assert not failed
    work = tmp_path / "d"
    dask, failed = collect_samples(paths, fcn=fcn, config=config, work=work, fcn_id="f", progress=False, workers=2, fcn_path=fcn_path)
    assert not failed and [s.path for s in dask] == [str(p) for p in paths]
    for a, b in zip(serial, dask):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_allclose(a.descriptors, b.descriptors, atol=1e-4)
        np.testing.assert_allclose(a.histogram, b.histogram, atol=1e-4)
    caches = sorted((work / "samples").iterdir())
    caches[0].unlink()
    stamps = {p: p.stat().st_mtime_ns for p in caches[1:]}
    again, _ = collect_samples(paths, fcn=fcn, config=config, work=work, fcn_id="f", progress=False)
    assert caches[0].is_file() and {p: p.stat().st_mtime_ns for p in caches[1:]} == stamps
    np.testing.assert_allclose(np.stack([s.gist for s in again]), np.stack([s.gist for s in dask]), atol=1e-5)
