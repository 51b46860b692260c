"""`apply` over the whole hostile-input corpus (tests/hostile_corpus.py), as a user would run it.

One test runs the CLI in subprocesses (real exit codes, real stderr) over a
corpus covering every defect of issue 9 and checks: the exit code, one line per
failure and nothing else that looks like one, no traceback or warning dump, no
temp or claim file left, every input byte-for-byte unchanged, every good file
colorized exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_corpus import ESCAPE_NAME, NEWLINE_NAME, STALE_TEMP_NAME, make_corpus, snapshot

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here runs the commands as subprocesses


def _cli(tool: str, *args: str, wait: bool = True):
    argv = [sys.executable, "-m", f"deepcolor.{tool}", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if not wait:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _clean(stderr: str) -> None:
    """No traceback, no numpy/Python warning dump, no raw control character."""
    assert "Traceback" not in stderr
    assert "Warning:" not in stderr, stderr
    assert "\x1b" not in stderr


def _failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("  ") and line.strip()]  # not a bar's blanking


def _leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".") and (".tmp" in n or n.endswith((".claim", ".partial"))))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "in")


def test_apply_over_the_corpus(corpus, tmp_path):
    """Cases 1-4, 9: a folder batch with --save-semantic goes past every bad entry, listing each once, on one line."""
    before = snapshot(corpus.folder)
    out = tmp_path / "out"
    out.mkdir()
    users = {  # hidden files of the user's, named like our claim and temp files: never ours to remove
        STALE_TEMP_NAME: b"a file of the user's named like a temp of ours",
        ".good_colour.jpg.claim": b"the user's own notes",
        ".x_colorized.deadbeef.tmp.jpg": b"the user's draft",
    }
    for name, data in users.items():
        (out / name).write_bytes(data)
    run = _cli("apply", str(corpus.folder), "-o", str(out), "--save-semantic")
    _clean(run.stderr)
    assert run.returncode == 1, run.stderr
    bad, good = corpus.names("bad") + ["good_colour.jpg"], [n for n in corpus.names("good") if n != "good_colour.jpg"]
    lines = _failure_lines(run.stderr)
    assert any("good_colour.jpg" in line and "not made by deepcolor" in line for line in lines), lines  # the user's .claim is in its way
    assert all((out / name).read_bytes() == data for name, data in users.items())
    for name in users:
        (out / name).unlink()
    assert f"{len(bad)} file(s) failed" in run.stderr
    assert len(lines) == len(bad), lines  # one line each: a newline in a name forges nothing
    for name in bad:
        shown = name.encode("unicode_escape").decode()
        assert sum(shown in line for line in lines) == 1, (name, lines)
    assert any("symbolic link loop" in line for line in lines)
    assert any("fifo.jpg" in line and "not a regular file" in line for line in lines)
    assert any("huge_header.png" in line and "over the limit" in line for line in lines)
    assert snapshot(corpus.folder) == before  # inputs unchanged, nothing added beside them
    assert _leftovers(out) == []
    made = sorted(n for n in os.listdir(out) if not n.startswith(".deepcolor-journal"))  # the batch journal is ours
    assert set(good) <= set(made), made  # every good file colorized under its own name
    assert len(made) == 3 * len(good)  # and a label map with its legend each: none lost to the street.semantic.png clash
    assert sum(n.endswith(".semantic.json") for n in made) == len(good)
    assert len(set(n.casefold() for n in made)) == len(made)

    # Re-running keeps everything (no --overwrite) and colorizes nothing twice.
    again = _cli("apply", str(corpus.folder), "-o", str(out), "--save-semantic")
    _clean(again.stderr)
    assert sorted(n for n in os.listdir(out) if not n.startswith(".deepcolor-journal")) == sorted(
        made + ["good_colour.jpg", "good_colour.semantic.png", "good_colour.semantic.json"])
    assert "1 colorized" in again.stderr  # good_colour.jpg, now that the user's file is out of its way


def test_default_mode_reruns_do_not_pile_up(tmp_path):
    """Cases 1, 9: beside the inputs, three runs leave one output (and one map) an image; own *_colorized photos count."""
    corpus = make_corpus(tmp_path / "in", large=False)
    before = set(os.listdir(corpus.folder))
    for _ in range(3):
        run = _cli("apply", str(corpus.folder), "--save-semantic", "-q")
        _clean(run.stderr)
        assert run.returncode == 1
    added = set(os.listdir(corpus.folder)) - before
    assert len(added) == 3 * len(corpus.names("good")), sorted(added)  # NAME_colorized.EXT, its label map and legend, once
    assert not any("_colorized_colorized" in n or "semantic_colorized.semantic" in n for n in added if not n.startswith(("holiday", "street.semantic")))
    assert "holiday_colorized_colorized.jpg" in added  # a photo of one's own named *_colorized is colorized
    assert "street.semantic_colorized.png" in added  # so is one named *.semantic.png
    assert _leftovers(corpus.folder) == []


def test_bad_arguments_stop_before_any_work(corpus, tmp_path):
    """Cases 5, 6, 7, 9: one line, exit 2, nothing written, before the model is even loaded."""
    good = str(corpus.folder / "good_gray.jpg")
    cases = [
        ("apply", [str(corpus.folder), "-o", str(tmp_path / "no" / "such" / "deep")], "does not exist"),
        ("apply", [good, "-o", str(tmp_path / "x.jpg"), "--max-pixels", "-5"], "--max-pixels"),
        ("apply", [good, "-o", str(tmp_path / "x.jpg"), "--max-pixels", "0"], "--max-pixels"),
        ("apply", [good, "-o", str(tmp_path / "x.jpg"), "--saturation", "inf"], "--saturation"),
        ("apply", [good, "-o", str(tmp_path / "x.jpg"), "--saturation", "nan"], "--saturation"),
        ("apply", [good, "-o", str(tmp_path / "x.jpg"), "--saturation", "1e39"], "--saturation"),
        ("apply", [good, "-o", str(tmp_path / "out.gif")], "out.gif"),
        ("apply", [good, "-o", str(tmp_path / "result.txt")], "result.txt"),
        ("evaluate", ["--images", str(corpus.folder), "--csv", str(tmp_path / "no" / "dir" / "x.csv")], "does not exist"),
        ("evaluate", ["--images", str(corpus.folder), "--csv", str(tmp_path)], "is a folder"),
        ("evaluate", ["--images", str(corpus.folder), "--limit", "-1"], "--limit"),
        ("evaluate", ["--images", str(corpus.folder / "manifest_latin1.txt")], "manifest_latin1.txt"),
        ("fit", ["--images", str(corpus.folder), "--out", str(tmp_path)], "is a folder"),
    ]
    for tool, args, message in cases:
        run = _cli(tool, *args)
        _clean(run.stderr)
        assert run.returncode == 2, (args, run.stderr)
        said = [line for line in run.stderr.strip().splitlines() if "sub-folder(s) not searched" not in line]  # folder.jpg/ is one
        assert len(said) == 1 and message in run.stderr, (args, run.stderr)
    assert sorted(os.listdir(tmp_path)) == []  # no folder made: not out.gif, not no/dir, not x.jpg


def test_evaluate_goes_past_missing_and_bad_entries(corpus, tmp_path):
    """Cases 2, 6: a manifest naming a missing file and a folder holding symlink loops: listed, the rest evaluated."""
    manifest = tmp_path / "list.txt"
    manifest.write_text("good_colour.jpg\nmissing.jpg\nloopA.jpg\n")
    os.symlink(corpus.folder / "good_colour.jpg", tmp_path / "good_colour.jpg")
    os.symlink("loopB.jpg", tmp_path / "loopA.jpg")
    os.symlink("loopA.jpg", tmp_path / "loopB.jpg")
    run = _cli("evaluate", "--images", str(manifest), "-q")
    _clean(run.stderr)
    assert run.returncode == 1
    assert '"n": 1' in run.stdout
    lines = _failure_lines(run.stderr)
    assert len(lines) == 2 and any("missing.jpg" in line for line in lines) and any("loop" in line for line in lines)


def test_concurrent_runs_colorize_each_image_once(corpus, tmp_path):
    """Case 8: two runs started together on one output folder share the work; each image is colorized once."""
    out = tmp_path / "out"
    out.mkdir()
    runs = [_cli("apply", str(corpus.folder), "-o", str(out), wait=False) for _ in range(2)]
    results = [r.communicate(timeout=600) for r in runs]
    done = 0
    for proc, (_, stderr) in zip(runs, results):
        _clean(stderr)
        assert proc.returncode == 1
        summary = [line for line in stderr.splitlines() if " colorized, " in line][-1]
        done += int(summary.split("deepcolor: ")[-1].split()[0])
    assert done == len(corpus.names("good"))
    assert len([n for n in os.listdir(out) if not n.startswith(".deepcolor-journal")]) == len(corpus.names("good"))
    assert _leftovers(out) == []


def test_corpus_covers_every_numbered_case(corpus):
    assert corpus.issues >= set(range(1, 10)) - {5, 6, 7, 8}  # 5-8 are argument and concurrency cases, above
    assert ESCAPE_NAME in corpus.names("bad") and NEWLINE_NAME in corpus.names("bad")


# --------------------------------------------------------------------------- second round


@pytest.fixture()
def small_disk(tmp_path):
    """A 640 KiB tmpfs (the tests run as root here and in CI); skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip() or 'mount failed'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _noise_pngs(folder: Path, count: int, side: int = 200) -> list[Path]:
    """Gray PNGs of noise: their colorized PNGs are ~100 KiB each, so a few fill the small disk."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        paths.append(folder / f"n{i}.png")
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(paths[-1])
    return paths


def test_a_full_disk_ends_the_batch_cleanly_and_a_rerun_resumes(small_disk, tmp_path):
    """Outputs fill the disk: one 'stopped' line naming the file and why, the summary, exit 1, nothing half-written; with space, the rerun completes."""
    from PIL import Image

    inputs = _noise_pngs(tmp_path / "in", 12)
    out = small_disk / "out"
    run = _cli("apply", str(tmp_path / "in"), "-o", str(out), "--no-refine")
    _clean(run.stderr)
    assert run.returncode == 1, run.stderr
    stopped = [line for line in run.stderr.splitlines() if "stopped:" in line]
    assert len(stopped) == 1 and ("No space left on device" in stopped[0] or "disk is full" in stopped[0]), run.stderr
    assert any(" colorized, " in line for line in run.stderr.splitlines()), run.stderr
    written = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert 0 < len(written) < len(inputs)
    for name in written:  # every output there is whole
        Image.open(out / name).load()
    assert _leftovers(out) == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = _cli("apply", str(tmp_path / "in"), "-o", str(out), "--no-refine")
    _clean(again.stderr)
    assert again.returncode == 0, again.stderr
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == sorted(p.name for p in inputs)
    assert f"{len(inputs) - len(written)} colorized" in again.stderr, again.stderr
    assert _leftovers(out) == []


def test_a_journal_on_a_full_disk_says_it_cannot_be_written(small_disk, tmp_path):
    """Not 'not a usable journal ... move it away': the journal could not be written, and why; a refused run leaves none."""
    from deepcolor.batch import Journal
    from deepcolor.batch.journal import JOURNAL_NAME, JournalWriteError

    with open(small_disk / "filler", "wb") as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    with Journal.in_folder(small_disk) as journal:
        with pytest.raises(JournalWriteError) as err:
            journal.record("a.jpg", "a.jpg", "done", size=1, mtime_ns=1)
    message = str(err.value)
    assert "cannot" in message and "full" in message and "move it away" not in message and "\n" not in message
    inputs = _noise_pngs(tmp_path / "in", 1)
    run = _cli("apply", str(inputs[0].parent), "-o", str(inputs[0].parent), "--format", "png", "-q")  # refused: the output is the input
    assert run.returncode == 2 and "input" in run.stderr
    assert not (inputs[0].parent / JOURNAL_NAME).exists()


def test_colour_notice_is_said_once_off_the_bar_line_also_with_workers(tmp_path):
    """The colour-to-gray notice: its own line (not glued to the progress bar), from Dask workers too; a gray lossy WebP gets none."""
    import numpy as np
    from PIL import Image

    from hostile_corpus import _scene

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.dstack([_scene(64, 80, s) for s in (1, 2, 3)])).save(folder / "colour.jpg", quality=90)
    Image.fromarray(_scene(64, 80, 4)).convert("RGB").save(folder / "gray_lossy.webp", quality=80)
    for extra in ([], ["--workers", "2"]):
        out = tmp_path / f"out{len(extra)}"
        run = _cli("apply", str(folder), "-o", str(out), *extra)
        _clean(run.stderr)
        assert run.returncode == 0, run.stderr
        notices = [line for line in run.stderr.split("\n") if "converted to gray" in line]
        assert len(notices) == 1 and "colour.jpg" in notices[0], run.stderr
        assert notices[0].split("\r")[-1].startswith("deepcolor: "), notices


def test_concurrent_overwrite_runs_colorize_each_image_once(tmp_path):
    """Two --overwrite runs started together over existing outputs share the work as plain runs do."""
    import numpy as np
    from PIL import Image

    from hostile_corpus import _scene

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(_scene(96, 128, i)).save(folder / f"p{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    for i in range(10):  # outputs from elsewhere: no journal vouches for them, so --overwrite replaces them
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(out / f"p{i}.png")
    runs = [_cli("apply", str(folder), "-o", str(out), "--overwrite", wait=False) for _ in range(2)]
    done = 0
    for proc in runs:
        _, stderr = proc.communicate(timeout=600)
        _clean(stderr)
        assert proc.returncode == 0, stderr
        summary = [line for line in stderr.splitlines() if " colorized, " in line][-1]
        done += int(summary.split("deepcolor: ")[-1].split()[0])
    assert done == 10
    assert all(Image.open(out / f"p{i}.png").size == (128, 96) for i in range(10))
    assert _leftovers(out) == []


def test_ctrl_c_with_workers_is_one_line(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) with --workers 2: exit 130, no worker tracebacks."""
    import signal
    import time

    _noise_pngs(tmp_path / "in", 24, side=300)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepcolor.apply", str(tmp_path / "in"), "-o", str(out), "--workers", "2"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out.is_dir() and sum(n.endswith(".png") for n in os.listdir(out)) >= 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, [line for line in stderr.replace("\r", "\n").splitlines() if not line.startswith(("colorize", " "))][:8]
    _clean(stderr)
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("colorize:")]
    assert sum("interrupted" in line for line in lines) == 1 and len(lines) <= 3, "\n".join(lines)


def test_a_255_byte_name_is_colorized_into_an_output_folder(tmp_path):
    """The longest legal input name: its output keeps the name, its claim and temp names fit; control characters in -o stay escaped."""
    from PIL import Image

    from hostile_corpus import _scene

    folder = tmp_path / "in"
    folder.mkdir()
    name = "n" * 251 + ".png"
    Image.fromarray(_scene(48, 64, 3)).save(folder / name)
    out = tmp_path / "out\x1b[2Jdir"
    for attempt in range(2):  # the second run: "already done according to <journal>" names the folder escaped
        run = _cli("apply", str(folder), "-o", str(out))
        _clean(run.stderr)
        assert run.returncode == 0, run.stderr
    assert "already done according to" in run.stderr
    assert os.listdir(out) == [name] or sorted(os.listdir(out)) == sorted([name, ".deepcolor-journal.sqlite"])
    Image.open(out / name).load()
