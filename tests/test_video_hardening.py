"""Issue 29's video cases, on a corpus generated here with PyAV: a full disk at the container's close, a user's
file named like a partial, odd sizes, rotation and aspect tags, a truncated MKV, AVI timestamps, frame folders,
and the video flags checked before any work."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from deepcolor.io.video import VideoError, probe, read_luma  # noqa: E402
from deepcolor.video import colorize_video  # noqa: E402
from hardening_helpers import Tint, make_video, pattern, run_colorize  # noqa: E402


def leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".") and ("partial" in n or n.endswith((".claim", ".tmp"))))


def run_cli(argv, monkeypatch, capsys):
    return run_colorize(argv, monkeypatch, capsys)[:2]


# -- 1. a full disk at the container's close ---------------------------------------------------------------


class _FullDiskAtClose:
    """An output container whose close (the MP4 trailer) fails as on a full disk."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def close(self):
        name = self._real.name
        self._real.close()
        raise av.error.OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


def fill_disk_at_close(patch) -> None:
    """From now on every container opened for writing fails at its close with ENOSPC."""
    real_open = av.open

    def fake_open(file, mode="r", **kwargs):
        container = real_open(file, mode, **kwargs)
        return _FullDiskAtClose(container) if mode == "w" else container

    patch.setattr(av, "open", fake_open)


def test_full_disk_at_the_video_trailer_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    src = make_video(tmp_path / "clip.mp4")
    target = tmp_path / "out.mp4"
    fill_disk_at_close(monkeypatch)
    with pytest.raises(VideoError) as caught:
        colorize_video(src, target, model=Tint())
    assert str(caught.value).startswith(str(target)) and "No space left on device" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not target.exists() and not leftovers(tmp_path)


def test_full_disk_in_a_batch_is_not_journaled_and_a_rerun_redoes_it(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.mp4")
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        fill_disk_at_close(patch)
        code, err = run_cli([src, "-o", out], monkeypatch, capsys)
    assert code == 1, err
    said = [line for line in err.splitlines() if "No space left on device" in line]  # one line, naming the output
    assert len(said) == 1 and said[0].startswith("deepcolor.apply: stopped:") and "out/clip.mp4" in said[0], err
    assert not (out / "clip.mp4").exists() and not leftovers(out)
    code, err = run_cli([src, "-o", out], monkeypatch, capsys)  # space freed: the rerun makes it
    assert code == 0 and (out / "clip.mp4").exists(), err
    assert probe(out / "clip.mp4").frames == 3


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_on_a_real_small_file_system(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this container may not mount a tmpfs")
    try:
        noise = np.random.default_rng(0).integers(16, 235, (4, 64, 96), dtype=np.uint8)
        src = make_video(tmp_path / "clip.mp4", frames=4, w=96, h=64, luma=lambda i, w, h: noise[i])  # ~6 KB a frame
        with pytest.raises(VideoError, match="No space left on device"):
            colorize_video(src, mount / "out.mp4", model=Tint())
        assert os.listdir(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# -- 2. a user's file named like a partial -------------------------------------------------------------------


@pytest.mark.parametrize("fails", [False, True])
def test_a_users_file_named_like_a_video_partial_is_never_touched(tmp_path, fails):
    src = make_video(tmp_path / "clip.mp4")
    mine = tmp_path / ".out.partial.mp4"
    mine.write_bytes(b"my notes")
    target = tmp_path / "out.mp4"
    if fails:
        class Broken(Tint):
            def predict_chroma(self, luma, **options):
                raise ValueError("model broke")

        with pytest.raises(ValueError):
            colorize_video(src, target, model=Broken())
    else:
        colorize_video(src, target, model=Tint())
        assert probe(target).frames == 3
    assert mine.read_bytes() == b"my notes"
    assert [n for n in leftovers(tmp_path) if n != mine.name] == []


# -- 4. any size, odd sides included ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(480, 270), (160, 122), (161, 120), (63, 47)])
def test_odd_and_not_multiple_of_four_sizes_keep_their_size_and_luma(tmp_path, size):
    w, h = size
    src = make_video(tmp_path / "clip.mp4", w=w, h=h, frames=2)
    out = tmp_path / "out.mp4"
    colorize_video(src, out, model=Tint(), crf=0)
    info = probe(out)
    assert (info.width, info.height, info.frames) == (w, h, 2)
    for frame, i in zip(read_luma(info), range(2)):
        assert np.array_equal(frame.y, pattern(i, w, h))
    with av.open(str(out)) as container:
        decoded = next(container.decode(video=0))
        chroma = np.frombuffer(decoded.planes[1], np.uint8)
        assert np.abs(chroma.astype(int) - 128).max() > 3  # coloured


def test_odd_size_with_the_encoder_named_by_its_format(tmp_path):
    src = make_video(tmp_path / "clip.mp4", w=161, h=121, frames=1)
    colorize_video(src, tmp_path / "out.mp4", model=Tint(), codec="h264")  # FFmpeg's libx264
    assert (probe(tmp_path / "out.mp4").width, probe(tmp_path / "out.mp4").height) == (161, 121)


def test_odd_size_into_vp9_stays_four_two_zero(tmp_path):
    src = make_video(tmp_path / "clip.mp4", w=161, h=121, frames=1)
    out = tmp_path / "out.webm"
    colorize_video(src, out, model=Tint())
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, frame.format.name) == (161, 121, "yuv420p")


# -- 5. rotation and sample aspect ratio ----------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_display_rotation_and_sample_aspect_ratio_are_kept(tmp_path, ext):
    src = make_video(tmp_path / f"phone{ext}", rotation=90, aspect=Fraction(4, 3))
    out = tmp_path / f"out{ext}"
    colorize_video(src, out, model=Tint())
    info = probe(out)
    assert info.rotation == probe(src).rotation == 90
    assert info.sample_aspect == Fraction(4, 3)
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(4, 3)


# -- 6. a truncated MKV --------------------------------------------------------------------------------------


def test_truncated_mkv_says_how_many_frames_were_read_and_writes_nothing(tmp_path):
    full = make_video(tmp_path / "full.mkv", frames=12, codec="libvpx-vp9")
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.8)])  # a few frames still decode
    assert probe(full).frames == 0  # Matroska declares no frame count: the duration tells
    target = tmp_path / "out.mkv"
    with pytest.raises(VideoError) as caught:
        colorize_video(cut, target, model=Tint())
    message = str(caught.value)
    assert re.search(r"ended early, [1-9]\d* frames read .* about 12$", message), message
    assert not target.exists() and not leftovers(tmp_path)
    colorize_video(full, tmp_path / "whole.mkv", model=Tint())  # the complete file is no error


# -- 12. AVI timestamps --------------------------------------------------------------------------------------


def test_avi_output_timestamps_are_monotonic(tmp_path):
    src = make_video(tmp_path / "clip.mp4", frames=8)
    out = tmp_path / "out.avi"
    colorize_video(src, out, model=Tint())
    with av.open(str(out)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    assert len(pts) == 8 and pts == sorted(pts) and len(set(pts)) == 8


# -- 9. a folder of frames: one numbered pattern ------------------------------------------------------------


def _frames(folder: Path, names) -> Path:
    from PIL import Image

    folder.mkdir()
    for i, name in enumerate(names):
        Image.fromarray(pattern(i, 32, 24)).save(folder / name)
    return folder


def test_a_frame_folder_takes_one_numbered_pattern_and_names_what_it_left_out(tmp_path, caplog):
    folder = _frames(tmp_path / "shots", ["f0001.png", "f0002.png", "f0003.png", "thumb1.png", "cover2.jpg"])
    info = probe(folder, fps=10)
    assert info.frames == 3
    assert "left out 2 file(s)" in caplog.text and "thumb1.png" in caplog.text and "cover2.jpg" in caplog.text


def test_a_frame_folder_does_not_double_frames_numbered_two_ways(tmp_path, caplog):
    folder = _frames(tmp_path / "shots", ["f0001.png", "f0002.png", "f0003.png", "f1.png", "f2.png"])
    assert probe(folder, fps=10).frames == 3
    result = colorize_video(folder, tmp_path / "out.mp4", model=Tint(), fps=10)
    assert result["frames"] == 3 and "f1.png" in caplog.text


def test_gaps_in_a_frame_folder_are_named(tmp_path, caplog):
    folder = _frames(tmp_path / "shots", ["f1.png", "f2.png", "f5.png", "f6.png", "f9.png"])
    assert probe(folder, fps=10).frames == 5
    assert "frame numbers missing: 3-4, 7-8" in caplog.text


# -- 11. Ctrl-C under --workers ------------------------------------------------------------------------------


@pytest.mark.slow  # a Dask worker loads the shipped model: about 30 s on a shared 2-core CPU
def test_ctrl_c_under_workers_removes_the_video_partial_and_claim(tmp_path):
    import signal
    import time

    pytest.importorskip("distributed")
    import deepcolor

    root = Path(deepcolor.__file__).resolve().parents[1]  # the tree under test
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.mp4", frames=400, w=96, h=64)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepcolor.apply", str(src), "-o", str(out), "--workers", "1", "--method", "cheng", "--no-semantic"],
        cwd=root, env=dict(os.environ, PYTHONPATH=str(root)), stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not any("partial" in n for n in _names(out)):
        time.sleep(0.1)
    if proc.poll() is not None or not any("partial" in n for n in _names(out)):
        proc.kill()
        pytest.skip("the video was never caught in flight (machine too loaded or too fast); nothing to interrupt")
    time.sleep(0.5)  # a few frames in
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=240)
    if proc.returncode == 0 and (out / "clip.mp4").exists():
        pytest.skip("the video finished before the interrupt arrived; nothing to interrupt")
    assert proc.returncode == 130, stderr
    assert leftovers(out) == [], leftovers(out)
    if (out / "clip.mp4").exists():  # the worker finished the clip as the driver stopped: only a whole video is there
        assert probe(out / "clip.mp4").frames == 400
    assert "resource_tracker" not in stderr and "Traceback" not in stderr, stderr


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
