"""The batch engine: journal, mirrored plan, serial path, and a real dask.distributed LocalCluster.

The per-file function here is `batch_tasks.reverse_file` (no model), so these
tests pin down the engine itself; tests/test_batch_apply.py runs the real
colorizer through it.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from batch_tasks import counted_resource, read_log, reverse_file
from deepcolor.batch import JOURNAL_NAME, Journal, JournalError, Resource, mirrored_outputs, plan_batch, run_batch
from deepcolor.io import output_paths

needs_dask = pytest.mark.skipif(
    find_spec("distributed") is None, reason="dask.distributed is not installed (pip install '.[distributed]')"
)
TESTS = Path(__file__).resolve().parent


def _tree(root: Path, n: int = 6, bad: tuple[str, ...] = ()) -> list[Path]:
    """``n`` small files spread over root, root/a, root/a/b; names in ``bad`` hold a bad input."""
    folders = [root, root / "a", root / "a" / "b"]
    files = []
    for i in range(n):
        folder = folders[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"f{i:03d}.png"
        path = folder / name
        path.write_bytes((b"BAD" if name in bad else b"IMG") + os.urandom(64))
        files.append(path)
    return files


def _plan(src: Path, out: Path, journal: Journal | None, *, overwrite: bool = True):
    files = sorted(p for p in src.rglob("*.png") if not p.name.startswith("."))
    pairs = mirrored_outputs([(src, p) for p in files], out, name_outputs=output_paths)
    return plan_batch(pairs, out, journal=journal, overwrite=overwrite)


def _task(log: Path, delay: float = 0.0):
    return functools.partial(reverse_file, log=str(log), delay=delay)


def _starts(log: Path) -> list[str]:
    return [w[1] for w in read_log(log) if w[0] == "start"]


# ------------------------------------------------------------------ journal and plan
def test_journal_rows_survive_reopen_and_decide_what_is_current(tmp_path):
    """A committed row is there after reopening; done + same stamp + same settings is current, nothing else."""
    with Journal.in_folder(tmp_path, settings="s1") as journal:
        journal.record("a/x.png", "a/x.png", "done", size=10, mtime_ns=5, seconds=0.5, worker="h:1")
        journal.record("y.png", "y.png", "failed", reason="y.png: truncated", size=3, mtime_ns=4)
    with Journal.in_folder(tmp_path, settings="s1") as journal:
        rows = journal.rows()
        assert journal.counts() == {"done": 1, "kept": 0, "failed": 1}
        assert list(journal.failures()) == [("y.png", "y.png: truncated")]
        assert journal.is_current(rows["a/x.png"], size=10, mtime_ns=5)
        assert not journal.is_current(rows["a/x.png"], size=11, mtime_ns=5)
        assert not journal.is_current(rows["y.png"], size=3, mtime_ns=4)
    with Journal.in_folder(tmp_path, settings="s2") as journal:
        assert not journal.is_current(journal.rows()["a/x.png"], size=10, mtime_ns=5)
        with pytest.raises(ValueError, match="status"):
            journal.record("z", "z", "finished", size=0, mtime_ns=0)


def test_journal_refuses_foreign_file_in_one_line(tmp_path):
    """A file that is not a journal is a one-line JournalError, and is left as it was."""
    (tmp_path / JOURNAL_NAME).write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(JournalError) as err:
        Journal.in_folder(tmp_path)
    assert "\n" not in str(err.value) and "journal" in str(err.value)
    assert (tmp_path / JOURNAL_NAME).read_bytes() == b"not sqlite at all" * 100
    with pytest.raises(JournalError, match="does not exist"):
        Journal.in_folder(tmp_path / "missing")


def test_journal_opened_by_several_runs_at_once(tmp_path):
    """Two runs started together on one new output folder both open its journal (WAL switch and version row race)."""
    import multiprocessing

    from batch_tasks import open_journal

    folders = []
    for i in range(300):
        (tmp_path / str(i)).mkdir()
        folders += [str(tmp_path / str(i))] * 4
    with multiprocessing.get_context("fork").Pool(4) as pool:
        errors = [e for e in pool.map(open_journal, folders, chunksize=1) if e]
    assert errors == []
    with Journal.in_folder(tmp_path / "0") as journal:
        assert journal._db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 1


def test_mirrored_outputs_keep_the_tree_and_name_clashes_apart(tmp_path):
    """sub/x.jpg -> out/sub/x.jpg; x.jpg and x.png forced to png get distinct names; outputs inside the tree are not inputs."""
    src = tmp_path / "in"
    for rel in ("top.jpg", "s/x.jpg", "s/x.png", "s/t/deep.tif", "out/old.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"x")
    sources = [(src, src / rel) for rel in ("top.jpg", "s/x.jpg", "s/x.png", "s/t/deep.tif", "out/old.png")]
    pairs = mirrored_outputs(sources, src / "out", name_outputs=output_paths, ext="png")
    got = {str(a.relative_to(src)): str(b.relative_to(src / "out")) for a, b in pairs}
    assert got == {"top.jpg": "top.png", "s/x.jpg": "s/x_jpg.png", "s/x.png": "s/x_png.png", "s/t/deep.tif": "s/t/deep.png"}


def test_plan_refuses_an_output_that_is_an_input(tmp_path):
    """An output path that is another input of the batch stops the plan before any work."""
    (tmp_path / "a.png").write_bytes(b"IMG")
    (tmp_path / "b.png").write_bytes(b"IMG")
    pairs = [(tmp_path / "a.png", tmp_path / "b.png"), (tmp_path / "b.png", tmp_path / "out" / "b.png")]
    with pytest.raises(OSError, match="refusing to overwrite an input"):
        plan_batch(pairs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_serial_batch_journal_skips_done_and_redoes_changed(tmp_path):
    """Rerun: nothing redone; a changed input, a deleted output or new settings make exactly that work due."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    files = _tree(src, 6)
    out.mkdir()
    with Journal.in_folder(out, settings="v1") as journal:
        jobs, skipped = _plan(src, out, journal)
        assert (len(jobs), skipped) == (6, 0)
        report = run_batch(jobs, _task(log), journal=journal, progress=False)
        assert (report.done, report.failed) == (6, [])
    assert (out / "a" / "b" / "f002.png").read_bytes() == files[2].read_bytes()[::-1]
    with Journal.in_folder(out, settings="v1") as journal:
        assert _plan(src, out, journal)[1] == 6
        files[1].write_bytes(b"IMG changed")  # new size: the input changed
        (out / "f003.png").unlink()
        jobs, skipped = _plan(src, out, journal)
        assert sorted(j.key for j in jobs) == ["a/f001.png", "f003.png"] and skipped == 4
        run_batch(jobs, _task(log), journal=journal, progress=False)
    assert (out / "a" / "f001.png").read_bytes() == b"IMG changed"[::-1]
    with Journal.in_folder(out, settings="v2") as journal:
        assert len(_plan(src, out, journal)[0]) == 6
    assert len(_starts(log)) == 8


def test_changed_input_replaces_our_output_without_overwrite(tmp_path):
    """Without --overwrite an existing output is kept, unless the journal shows it is ours and its input changed."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    files = _tree(src, 2)
    (out / "a").mkdir(parents=True)
    (out / "a" / "f001.png").write_bytes(b"someone else's")  # not in the journal: kept
    with Journal.in_folder(out) as journal:
        report = run_batch(_plan(src, out, journal, overwrite=False)[0], _task(log), journal=journal, progress=False)
        assert (report.done, report.kept) == (1, 1)
        files[0].write_bytes(b"IMG new")
        jobs, _ = _plan(src, out, journal, overwrite=False)
        assert [(j.key, j.overwrite) for j in jobs] == [("a/f001.png", False), ("f000.png", True)]
        run_batch(jobs, _task(log), journal=journal, progress=False)
    assert (out / "f000.png").read_bytes() == b"IMG new"[::-1]
    assert (out / "a" / "f001.png").read_bytes() == b"someone else's"


def test_serial_batch_goes_past_a_bad_file_and_records_its_reason(tmp_path):
    """A failing file is reported and journaled with its first line only; the rest is done; a rerun tries it again."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    _tree(src, 4, bad=("f001.png",))
    out.mkdir()
    with Journal.in_folder(out) as journal:
        report = run_batch(_plan(src, out, journal)[0], _task(log), journal=journal, progress=False)
        assert report.done == 3 and len(report.failed) == 1
        path, reason = report.failed[0]
        assert path.name == "f001.png" and reason.endswith("not a valid input") and "\n" not in reason
        assert list(journal.failures()) == [("a/f001.png", reason)]
        assert [j.key for j in _plan(src, out, journal)[0]] == ["a/f001.png"]


def test_resource_is_loaded_once_per_process(tmp_path):
    """The serial path loads the resource once for all files."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    _tree(src, 4)
    out.mkdir()
    resource = Resource(("test", str(log)), functools.partial(counted_resource, str(log)))
    run_batch(_plan(src, out, None)[0], _task(log), resource=resource, progress=False)
    assert [w[0] for w in read_log(log)].count("load") == 1


@pytest.mark.slow
def test_serial_path_never_imports_dask(tmp_path):
    """Importing deepcolor, a batch without workers and a plain `apply -o DIR` leave dask unimported."""
    code = (
        "import sys, functools; from pathlib import Path; import numpy as np; from PIL import Image;"
        "import deepcolor, deepcolor.batch as b; from deepcolor.apply import main;"
        "from batch_tasks import reverse_file; from deepcolor.io import output_paths;"
        f"src = Path({str(tmp_path)!r}); (src / 'x.png').write_bytes(b'IMG1');"
        "pairs = b.mirrored_outputs([(src, src / 'x.png')], src / 'o', name_outputs=output_paths);"
        "r = b.run_batch(b.plan_batch(pairs, src / 'o')[0], reverse_file, progress=False); assert r.done == 1;"
        "(src / 'g').mkdir(); Image.fromarray(np.arange(32 * 48, dtype=np.uint8).reshape(32, 48)).save(src / 'g' / 'y.png');"
        "assert main([str(src / 'g'), '-o', str(src / 'c'), '--recursive', '-q']) == 0 and (src / 'c' / 'y.png').is_file();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bad_arguments_are_value_errors(tmp_path):
    """workers and scheduler together, or negative workers, are refused before any work."""
    with pytest.raises(ValueError, match="not both"):
        run_batch([], reverse_file, workers=2, scheduler="tcp://x:1")
    with pytest.raises(ValueError, match="workers"):
        run_batch([], reverse_file, workers=-1)


# ------------------------------------------------------------------ dask.distributed
@pytest.fixture(scope="module")
def client():
    """A real LocalCluster of 2 single-threaded worker processes, shared by this module's Dask tests."""
    if find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed (pip install '.[distributed]')")
    from distributed import Client

    from deepcolor.batch.cluster import local_cluster

    with local_cluster(2) as cluster, Client(cluster) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.mark.slow
@needs_dask
def test_local_cluster_mirrors_the_tree_loading_the_resource_once_per_worker(client, tmp_path):
    """2 workers: every file lands in its mirrored place; each worker process loads the resource once."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    files = _tree(src, 12, bad=("f004.png",))
    out.mkdir()
    resource = Resource(("test", str(log)), functools.partial(counted_resource, str(log)))
    with Journal.in_folder(out) as journal:
        report = run_batch(_plan(src, out, journal)[0], _task(log, 0.05), resource=resource, journal=journal, client=client, progress=False)
        assert report.done == 11 and [p.name for p, _ in report.failed] == ["f004.png"]
        assert journal.counts() == {"done": 11, "kept": 0, "failed": 1}
    for f in files:
        if f.name != "f004.png":
            assert (out / f.relative_to(src)).read_bytes() == f.read_bytes()[::-1]
    lines = read_log(log)
    loads = [w[1] for w in lines if w[0] == "load"]
    ran_in = {w[2] for w in lines if w[0] == "start"}
    assert len(loads) == len(set(loads)) == len(ran_in) == 2  # both workers worked, each loaded once


@pytest.mark.slow
@needs_dask
@pytest.mark.filterwarnings("ignore:Port .* is already in use")  # the second cluster's dashboard port
def test_batch_on_a_client_that_is_not_the_default_one(client, tmp_path):
    """A second Client in the process (now the default) must not stall a batch run on the first one."""
    from distributed import Client

    from deepcolor.batch.cluster import local_cluster

    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    _tree(src, 40)
    out.mkdir()
    resource = Resource(("test", str(log)), functools.partial(counted_resource, str(log)))
    reports = []
    with local_cluster(1) as other_cluster, Client(other_cluster) as other:
        other.wait_for_workers(1, timeout=60)
        jobs = _plan(src, out, None)[0]
        runner = threading.Thread(
            target=lambda: reports.append(run_batch(jobs, _task(log, 0.02), resource=resource, client=client, progress=False)),
            daemon=True,
        )
        runner.start()
        runner.join(timeout=90)
    assert not runner.is_alive(), "run_batch on the first client never finished"
    assert reports[0].done == 40 and not reports[0].failed


def _kill_a_busy_worker(log: Path, after: int, killed: list[int], stop: threading.Event) -> None:
    """Once ``after`` files are done, SIGKILL a worker that has been inside a task for >= 0.1 s."""
    while not stop.is_set():
        lines = read_log(log)
        if sum(w[0] == "end" for w in lines) >= after:
            open_task: dict[str, tuple[str, float]] = {}
            for w in lines:
                if w[0] == "start":
                    open_task[w[2]] = (w[1], float(w[3]))
                elif w[0] == "end":
                    open_task.pop(w[2], None)
            for pid, (_, started) in open_task.items():
                if time.time() - started >= 0.1:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(int(pid))
                    return
        time.sleep(0.01)


@pytest.mark.slow
@needs_dask
def test_killed_worker_costs_only_its_file_in_flight(client, tmp_path):
    """SIGKILL one of 2 workers mid-batch: the batch completes, and only the killed file runs twice."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    files = _tree(src, 16)
    out.mkdir()
    jobs, _ = _plan(src, out, None)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(log, 4, killed, stop), daemon=True)
    killer.start()
    try:
        report = run_batch(jobs, _task(log, 0.4), client=client, progress=False)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1, "the worker was never caught mid-task"
    assert report.done == 16 and not report.failed
    assert all((out / f.relative_to(src)).read_bytes() == f.read_bytes()[::-1] for f in files)
    starts = _starts(log)
    assert len(starts) == 17 and len(set(starts)) == 16  # one file ran twice: the one in flight
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


_DRIVER = """
import functools, sys
from pathlib import Path
from batch_tasks import reverse_file
from deepcolor.batch import Journal, mirrored_outputs, plan_batch, run_batch
from deepcolor.io import output_paths
src, out, log = map(Path, sys.argv[1:4])
files = sorted(src.rglob("*.png"))
pairs = mirrored_outputs([(src, p) for p in files], out, name_outputs=output_paths)
with Journal.in_folder(out) as journal:
    jobs, _ = plan_batch(pairs, out, journal=journal, overwrite=True)
    run_batch(jobs, functools.partial(reverse_file, log=str(log), delay=0.15), journal=journal, workers=2, progress=False)
"""


def _done_rows(journal_path: Path) -> list[tuple[str, str]]:
    if not journal_path.exists():
        return []
    with sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=10) as db:
        try:
            return db.execute("SELECT input, output FROM files WHERE status = 'done'").fetchall()
        except sqlite3.OperationalError:  # schema not there yet
            return []


@pytest.mark.slow
@needs_dask
def test_driver_killed_mid_batch_then_rerun_redoes_no_finished_file(client, tmp_path):
    """SIGKILL the driver (own LocalCluster, 2 workers) mid-batch; a rerun does only the rest (mtimes prove it)."""
    src, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    files = _tree(src, 24)
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(src), str(out), str(log)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    try:
        while len(_done_rows(out / JOURNAL_NAME)) < 4:
            assert driver.poll() is None, f"driver ended early: {driver.stderr.read().decode()[-500:]}"
            assert time.time() < deadline, "the driver never got going"
            time.sleep(0.02)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:  # the driver's worker processes exit when it dies; make sure before going on
        time.sleep(1.0)
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        driver.stderr.close()
    done = _done_rows(out / JOURNAL_NAME)
    assert 4 <= len(done) < 24, "the kill did not land mid-batch"
    before = {output: (out / output).stat().st_mtime_ns for _, output in done}
    starts_before = len(_starts(log))
    with Journal.in_folder(out) as journal:
        jobs, skipped = _plan(src, out, journal)
        assert skipped == len(done) and len(jobs) == 24 - len(done)
        report = run_batch(jobs, _task(log), journal=journal, client=client, progress=False)
        assert report.done == len(jobs) and journal.counts()["done"] == 24
    assert {output: (out / output).stat().st_mtime_ns for _, output in done} == before
    rerun = _starts(log)[starts_before:]
    assert not set(rerun) & {key for key, _ in done}  # no finished file ran again
    assert all((out / f.relative_to(src)).read_bytes() == f.read_bytes()[::-1] for f in files)


def _buggy(job, resource):
    if job.key.endswith("f001.png"):
        raise RuntimeError("a bug\nwith a second line")
    return reverse_file(job, resource)


def test_unexpected_error_fails_only_its_file(tmp_path):
    """An exception that is not a bad-input error (a bug) fails its file with type and first line; the batch goes on."""
    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src, 3)
    out.mkdir()
    report = run_batch(_plan(src, out, None)[0], _buggy, progress=False)
    assert report.done == 2 and [(p.name, r) for p, r in report.failed] == [("f001.png", "internal error (RuntimeError: a bug); rerun with -v for the traceback")]
