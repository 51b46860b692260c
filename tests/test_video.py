"""Video: PyAV round trips, audio copied untouched, luma kept, bad inputs, cuts, temporal propagation."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from deepcolor import temporal  # noqa: E402
from deepcolor.io.video import VideoError, probe, read_luma  # noqa: E402
from deepcolor.video import colorize_video, partial_files, shot_frames  # noqa: E402

W, H = 64, 48
FAST = {"method": "cheng", "semantic": False}  # Cheng's 81-d variant: no FCN, so a frame costs a few ms


def moving_pattern(i: int, w: int = W, h: int = H, shift: int = 1) -> np.ndarray:
    """A textured gray frame (uint8) whose content moves ``shift`` pixels right per frame."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x = xs - shift * i
    value = 128 + 60 * np.sin(x / 3.0) * np.cos(ys / 4.0) + 40 * np.sin((x + ys) / 7.0)
    return np.clip(value, 0, 255).astype(np.uint8)


def make_clip(path: Path, frames: int, *, rate: int = 15, tone: bool = False, frame=moving_pattern, size: tuple[int, int] = (W, H)) -> Path:
    """A gray H.264 clip (yuv420p, chroma 128) made with PyAV, optionally with a 440 Hz AAC tone."""
    W, H = size  # noqa: N806
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.options = {"crf": "0"}
        audio = out.add_stream("aac", rate=16000) if tone else None
        for i in range(frames):
            y = frame(i)
            planes = np.concatenate([y, np.full((H // 2, W), 128, np.uint8)], axis=0)
            vf = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            vf.pts = i
            for packet in video.encode(vf):
                out.mux(packet)
        if audio is not None:
            samples = np.sin(2 * np.pi * 440 * np.arange(int(16000 * frames / rate)) / 16000).astype(np.float32)[None] * 0.3
            for start in range(0, samples.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, start
                for packet in audio.encode(af):
                    out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [bytes(p) for p in container.demux(stream) if p.dts is not None]


@pytest.mark.slow  # 100 frames through the model: about 20 s on a shared 2-core CPU
def test_round_trip_keeps_count_rate_size_and_time_base(tmp_path):
    src = make_clip(tmp_path / "in.mp4", 100)
    out = tmp_path / "out.mp4"
    result = colorize_video(src, out, **FAST)
    a, b = probe(src), probe(out)
    assert result["frames"] == 100 and result["shots"] == 1
    assert (b.frames, b.rate, b.width, b.height, b.time_base) == (100, Fraction(15), W, H, a.time_base)
    assert sum(1 for _ in read_luma(b)) == 100
    assert not partial_files(out)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        frame = next(c.decode(video=0))
        chroma = np.frombuffer(frame.planes[1], np.uint8)
        assert np.abs(chroma.astype(int) - 128).max() > 3  # it is coloured


def test_audio_stream_copied_bit_identical(tmp_path):
    src = make_clip(tmp_path / "tone.mp4", 30, tone=True)
    out = tmp_path / "out.mp4"
    colorize_video(src, out, **FAST)
    before, after = packets(src, "audio"), packets(out, "audio")
    assert len(before) > 10 and after == before
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"


def test_output_luma_equals_input_on_lossless_setting(tmp_path):
    src = make_clip(tmp_path / "in.mkv", 12)
    out = tmp_path / "out.mkv"
    colorize_video(src, out, crf=0, **FAST)
    frames_in = [f.y for f in read_luma(probe(src))]
    frames_out = [f.y for f in read_luma(probe(out))]
    assert len(frames_in) == len(frames_out) == 12
    assert all(np.array_equal(a, b) for a, b in zip(frames_in, frames_out))


def test_colour_input_is_reduced_to_its_luma(tmp_path, caplog):
    src = tmp_path / "colour.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(5):
            rgb = np.zeros((H, W, 3), np.uint8)
            rgb[..., 0] = 200
            rgb[..., 2] = moving_pattern(i)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with caplog.at_level("INFO", logger="deepcolor"):
        result = colorize_video(src, tmp_path / "out.mp4", **FAST)
    assert result["frames"] == 5
    assert sum("converted to gray" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("kind", ["not_video", "truncated", "audio_only"])
def test_bad_inputs_are_one_line_errors_and_leave_nothing(tmp_path, kind):
    target = tmp_path / "out.mp4"
    if kind == "not_video":
        src = tmp_path / "notes.mp4"
        src.write_text("these are not frames\n")
    elif kind == "truncated":
        whole = make_clip(tmp_path / "whole.mp4", 40).read_bytes()
        src = tmp_path / "cut.mp4"
        src.write_bytes(whole[: len(whole) // 2])
    else:
        src = tmp_path / "sound.m4a"
        with av.open(str(src), "w", format="mp4") as out:
            audio = out.add_stream("aac", rate=16000)
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, 0
            for packet in [*audio.encode(af), *audio.encode(None)]:
                out.mux(packet)
    with pytest.raises(VideoError) as err:
        colorize_video(src, target, **FAST)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(src))
    assert ("no video stream" in message) if kind == "audio_only" else ("video" in message or "truncated" in message)
    assert not target.exists() and not partial_files(target)


@pytest.mark.slow  # two command runs, each loading the model
def test_apply_command_colorizes_a_video_and_reports_a_bad_one(tmp_path):
    folder = tmp_path / "reels"
    folder.mkdir()
    make_clip(folder / "good.mp4", 8)
    (folder / "bad.mov").write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "deepcolor.apply", str(folder), "-o", str(out), "--method", "cheng", "--no-semantic", "-q"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert [line for line in run.stderr.splitlines() if "bad.mov" in line] == [f"  {folder / 'bad.mov'}: not a readable video "
                                                                                "(Invalid data found when processing input)"]
    assert probe(out / "good.mp4").frames == 8
    again = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))  # the journal: done once
    assert again.returncode != 0 and probe(out / "good.mp4").frames == 8


def test_interrupted_run_leaves_nothing_under_the_final_name(tmp_path):
    src = make_clip(tmp_path / "in.mp4", 10)
    target = tmp_path / "out.mp4"
    seen = []

    def stop(frame, prediction, chroma):
        seen.append(frame.index)
        if frame.index == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        colorize_video(src, target, observe=stop, **FAST)
    assert seen == [0, 1, 2, 3, 4] and not target.exists() and not partial_files(target)
    assert colorize_video(src, target, **FAST)["frames"] == 10  # a rerun starts over cleanly


def test_cut_is_detected_and_starts_a_new_shot():
    def frame(i):
        return moving_pattern(i) if i < 6 else (255 - moving_pattern(i, shift=2)) // 3

    frames = [type("F", (), {"y": frame(i), "index": i}) for i in range(12)]
    starts = [(f.index, len(ahead)) for f, s, ahead in shot_frames(frames, lookahead=4) if s]
    assert starts == [(0, 4), (6, 4)]
    assert not temporal.is_cut(frame(0), frame(1)) and temporal.is_cut(frame(5), frame(6))


def test_cut_in_a_clip_resets_the_propagation(tmp_path):
    src = make_clip(tmp_path / "cut.mp4", 12, frame=lambda i: moving_pattern(i) if i < 6 else (255 - moving_pattern(i)) // 3)
    kept = {}
    result = colorize_video(src, tmp_path / "out.mp4", observe=lambda f, p, c: kept.update({f.index: (p, c)}), **FAST)
    assert result["shots"] == 2
    prediction, chroma = kept[6]
    assert np.array_equal(prediction, chroma)  # the first frame of the new shot is its own prediction only
    assert not np.array_equal(*kept[7])


def test_propagation_reduces_warping_error_on_a_moving_pattern():
    rng = np.random.default_rng(0)
    frames = [moving_pattern(i, 96, 80, shift=2) for i in range(8)]
    truth = np.stack(np.broadcast_arrays(np.float32(0.1), np.float32(-0.05)), axis=-1) * np.ones((80, 96, 1), np.float32)
    per_frame = [truth + rng.normal(0, 0.03, truth.shape).astype(np.float32) for _ in frames]  # flickering predictions
    stable = [per_frame[0]]
    for t in range(1, len(frames)):
        backward, valid = temporal.consistent_flow(frames[t], frames[t - 1])
        assert valid.mean() > 0.7
        assert np.abs(backward[valid][:, 0] + 2).mean() < 0.5  # content moves 2 px right: the flow points 2 px left
        stable.append(temporal.propagate_chroma(per_frame[t], stable[-1], backward, valid))
    errors = {}
    for name, seq in (("per_frame", per_frame), ("stable", stable)):
        pairs = [temporal.warping_error(seq[t], seq[t - 1], *temporal.consistent_flow(frames[t], frames[t - 1])) for t in range(1, 8)]
        errors[name] = float(np.mean(pairs))
    assert errors["stable"] < 0.5 * errors["per_frame"]
    assert np.abs(stable[-1] - truth).mean() < np.abs(per_frame[-1] - truth).mean()  # the average is nearer the truth


def test_temporal_rejects_bad_arrays():
    with pytest.raises(ValueError, match="uint8"):
        temporal.dense_flow(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="carry"):
        temporal.propagate_chroma(np.zeros((4, 4, 2), np.float32), np.zeros((4, 4, 2), np.float32),
                                  np.zeros((4, 4, 2), np.float32), np.ones((4, 4), bool), carry=1.0)


def test_shot_state_fixes_the_cluster_choice(monkeypatch):
    from deepcolor.pipeline import load_model

    model = load_model("cheng")
    lumas = [moving_pattern(i).astype(np.float32) / 255 for i in range(3)]
    state = model.shot_state(lumas, semantic=False)
    assert state == "global" or state in {c.key for c in model.clusters}
    called = []
    monkeypatch.setattr(model, "image_cues", lambda *a: called.append(1))
    assert model.prepare(lumas[0], semantic=False, state=state).source == state and not called


def test_global_prior_shot_state_is_one_of_the_frames_global_inputs():
    from deepcolor.models.global_prior import global_input
    from deepcolor.pipeline import load_model

    model = load_model(method="global-prior")
    lumas = [moving_pattern(i, shift=5).astype(np.float32) / 255 for i in range(3)]
    state = model.shot_state(lumas)
    assert any(np.array_equal(state, global_input(luma)) for luma in lumas)
    with_state = model.predict_chroma(lumas[2], state=state).chroma
    assert np.allclose(with_state, model.predict_chroma(lumas[2], style=state).chroma)
    with pytest.raises(ValueError, match="unknown option"):
        model.shot_state(lumas, clusters=False)


def test_folder_of_numbered_frames_is_a_video(tmp_path):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):  # numeric order, not name order: frame2 before frame10
        Image.fromarray(moving_pattern(i)).save(folder / f"frame{i}.png")
    out = tmp_path / "out.mp4"
    assert colorize_video(folder, out, fps=12, crf=0, **FAST)["frames"] == 3
    info = probe(out)
    assert (info.frames, info.rate, info.width, info.height) == (3, Fraction(12), W, H)
    assert all(np.array_equal(f.y, moving_pattern(i)) for f, i in zip(read_luma(info), (1, 2, 10)))
    with pytest.raises(VideoError, match="--fps"):
        colorize_video(folder, tmp_path / "again.mp4", **FAST)


def test_odd_frame_size_from_a_folder_keeps_its_size(tmp_path):
    from PIL import Image

    folder = tmp_path / "odd"
    folder.mkdir()
    Image.fromarray(moving_pattern(0)[:47, :63]).save(folder / "f1.png")
    colorize_video(folder, tmp_path / "out.mp4", fps=10, crf=0, **FAST)
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height) == (63, 47) and not partial_files(tmp_path / "out.mp4")
    assert np.array_equal(next(read_luma(info)).y, moving_pattern(0)[:47, :63])


def square_frame(i: int, w: int = 128, h: int = 96, size: int = 24, step: tuple[int, int] = (3, 1)) -> np.ndarray:
    """A textured square moving ``step`` pixels per frame over a still textured background (uint8)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    frame = 110 + 40 * np.sin(xs / 5.0) * np.cos(ys / 6.0)
    x0, y0 = 20 + step[0] * i, 30 + step[1] * i
    sy, sx = ys[y0:y0 + size, x0:x0 + size] - y0, xs[y0:y0 + size, x0:x0 + size] - x0
    frame[y0:y0 + size, x0:x0 + size] = 170 + 30 * np.sin(sx / 2.5 + sy / 3.5)
    return np.clip(frame, 0, 255).astype(np.uint8)


def test_track_points_follows_a_moving_square_and_drops_what_leaves():
    point = np.float32([[32, 42]])  # inside the square on frame 0
    for i in range(1, 13):
        point, alive = temporal.track_points(point, square_frame(i - 1), square_frame(i))
        assert alive.all()
    assert np.hypot(*(point[0] - (32 + 3 * 12, 42 + 12))) < 4.0  # the square moved 36, 12; drift stays small
    still, alive = temporal.track_points(np.float32([[100, 10]]), square_frame(0), square_frame(1))
    assert alive.all() and np.hypot(*(still[0] - (100, 10))) < 0.5  # the background does not move
    gone, alive = temporal.track_points(np.float32([[126, 50]]), moving_pattern(0, 128, 96, shift=6), moving_pattern(1, 128, 96, shift=6))
    assert not alive.any()  # carried out of the frame


def test_chroma_carrier_in_low_resolution_keeps_detail_and_resets():
    frames = [moving_pattern(i, 192, 160, shift=2) for i in range(6)]
    rng = np.random.default_rng(1)
    detail = np.zeros((160, 192, 2), np.float32)
    detail[::2, ::2] = 0.05  # fine detail of the prediction that the low-resolution blend must not wash out
    predictions = [detail + rng.normal(0, 0.02, (1, 1, 2)).astype(np.float32) for _ in frames]  # a flickering tint
    carrier = temporal.ChromaCarrier(side=48)
    out = [carrier.step(f, p) for f, p in zip(frames, predictions)]
    assert out[0] is predictions[0]
    tints = [float(o.mean(axis=(0, 1))[0]) for o in out]
    own = [float(p.mean(axis=(0, 1))[0]) for p in predictions]
    assert np.std(np.diff(tints[1:])) < 0.5 * np.std(np.diff(own[1:]))  # the tint flickers less
    centre = out[-1][40:120, 40:150]
    assert np.allclose(centre - centre.mean(axis=(0, 1)), predictions[-1][40:120, 40:150] - predictions[-1][40:120, 40:150].mean(axis=(0, 1)), atol=0.01)
    carrier.reset()
    assert carrier.step(frames[0], predictions[3]) is predictions[3]


def test_read_ahead_keeps_order_raises_where_the_decoder_failed_and_stops_when_closed():
    import threading

    from deepcolor.io.video import read_ahead

    def frames(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise VideoError("clip.mp4", f"damaged or truncated after {i} frame(s)")
            yield i

    assert list(read_ahead(frames(20), depth=3)) == list(range(20))
    seen = []
    with pytest.raises(VideoError, match="after 7 frame"):
        for i in read_ahead(frames(20, fail_at=7)):
            seen.append(i)
    assert seen == list(range(7))
    early = read_ahead(frames(10**6), depth=2)
    assert next(early) == 0
    early.close()
    assert not any(t.name == "deepcolor-decode" and t.is_alive() for t in threading.enumerate())


def test_a_hint_on_frame_0_follows_a_moving_square_to_the_shots_last_frame(tmp_path):
    from deepcolor.hints import Hint, hint_chroma
    from deepcolor.io.video import luma_unit

    src = make_clip(tmp_path / "square.mp4", 12, frame=square_frame, size=(128, 96))
    hint = Hint(32, 42, (230, 120, 40), frame=0)  # orange, inside the square on frame 0
    kept = {}
    colorize_video(src, tmp_path / "out.mp4", crf=0, hints=[hint], observe=lambda f, p, c: kept.update({f.index: (f.y, c)}), **FAST)
    y, chroma = kept[11]
    x, row = 32 + 3 * 11, 42 + 11  # where the square carried the hinted point
    wanted = hint_chroma([Hint(x, row, hint.rgb)], luma_unit(y, 1))[0]
    assert np.abs(wanted).max() > 0.1  # a strong colour, not one the gamut pulled to gray
    assert np.abs(chroma[row, x] - wanted).max() <= 3 / 255  # within 3 levels of U and V
    y0, first = kept[0]
    assert np.abs(first[42, 32] - hint_chroma([hint], luma_unit(y0, 1))[0]).max() <= 3 / 255
    plain = {}
    colorize_video(src, tmp_path / "plain.mp4", crf=0, observe=lambda f, p, c: plain.update({f.index: c}), **FAST)
    assert np.abs(plain[11][row, x] - wanted).max() > 0.05  # without the hint the model's colour there is another


@pytest.mark.slow  # 150 frames of 640x360 through the model: 1-8 minutes on a shared 2-core CPU
def test_a_hint_on_frame_0_holds_on_the_last_frame_of_the_highway_clip(tmp_path, monkeypatch):
    from conftest import shared_data_or_skip

    from deepcolor.hints import Hint, hint_chroma
    from deepcolor.io.video import luma_unit

    clip = shared_data_or_skip() / "video" / "highway_traffic.mp4"
    if not clip.is_file():
        pytest.skip(f"needs {clip}")
    hint = Hint(250, 177, (70, 120, 60), frame=0)  # the distant hills, in view for the whole shot
    kept, live = {}, {}
    original = temporal.PointTracks.step

    def step(self, index, gray, starts_shot):  # the tracker's own answer: where the hint is on each frame
        ids, points, placed = original(self, index, gray, starts_shot)
        live[index] = points
        return ids, points, placed

    monkeypatch.setattr(temporal.PointTracks, "step", step)
    result = colorize_video(clip, tmp_path / "out.mp4", hints=[hint],
                            observe=lambda f, p, c: kept.update({f.index: (f.y, c)} if f.index == 149 else {}), **FAST)
    assert result["frames"] == 150 and result["shots"] == 1
    assert len(live[149]) == 1  # followed to the shot's last frame
    x, y = live[149][0]
    assert np.hypot(x - 250, y - 177) < 40  # the hills drift slowly
    luma8, chroma = kept[149]
    col, row = int(x), int(y)
    wanted = hint_chroma([Hint(col, row, hint.rgb)], luma_unit(luma8, 1))[0]
    assert np.abs(chroma[row, col] - wanted).max() <= 3 / 255


def test_bad_video_hints_are_one_line_before_any_work(tmp_path):
    from deepcolor.hints import Hint, HintError

    src = make_clip(tmp_path / "in.mp4", 4)
    target = tmp_path / "out.mp4"
    with pytest.raises(HintError) as err:
        colorize_video(src, target, hints=[Hint(W + 5, 3, (200, 40, 40), frame=0)], **FAST)
    assert "\n" not in str(err.value) and "outside" in str(err.value)
    (tmp_path / "hints.json").write_text("[{\"x\": 1}")
    with pytest.raises(HintError, match="hints.json"):
        colorize_video(src, target, hints=tmp_path / "hints.json", **FAST)
    assert not target.exists() and not partial_files(target)
