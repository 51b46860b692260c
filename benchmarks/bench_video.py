"""Temporal stability and speed of video colorization on real clips (CamVid frames).

Clips (gray, from the colour frames' BT.601 luma, written as numbered PNGs and
read back as a video at their rate):

- ``0016E5``: CamVid val, 101 consecutive frames at 15 Hz (every 2nd of the 30 Hz camera);
- ``Seq05VD``: CamVid test, its first 60 frames, 1 Hz (the only rate CamVid has outside
  0016E5: large motion between frames);
- ``cut``: 0016E5's first 40 frames then 0006R0's first 40 (train, 1 Hz): one cut at frame 40.

For each clip, three ways of colouring with the shipped Cheng model:
``per-frame`` (every frame on its own, its own cluster choice), ``per-shot``
(one cluster choice per shot, frames on their own) and ``stable``
(`deepcolor.video`: per shot and chroma carried along the motion). Measured:

- warping error (Lai et al. 2018) on chroma: mean over non-occluded pixels of
  ``|UV_t - warp(UV_{t-1})|`` (Euclidean, U, V in BT.601 units), averaged over
  the frame pairs inside shots. The flow of the metric is NOT the method's: it
  is Farneback's on the colour frames' luma (the method uses DIS), with the
  same forward-backward check; ``ground truth`` is the colour video's own error
  (what the metric gives a perfectly consistent real video: its floor);
- per-frame PSNR gain over gray (8-bit RGB, peak 255), mean over frames;
- speed: frames per second of `colorize_video` (stable, H.264 output) at
  480x360 and 1920x1080 (CamVid frames upscaled), wall clock and CPU seconds
  a frame (all threads), with the load average (the CPU is shared).

Real footage (``--real``): the two colour clips of ``../shared/data/video``
(``highway_traffic`` 25 fps, 150 frames, dash-cam; ``asl_walk`` 30 fps, 89
frames, a person signing); the gray input is each original's Y plane, the
output is scored against the original (`_video_real`): ``per-shot`` is what
``--per-frame`` writes (each frame alone, one decision per shot), ``own`` each
frame fully alone, ``stable`` the default. The warping error is the one above
on each output's own chroma (Farneback flow on the gray frames), the gain and
colorfulness are means over frames. Speed: `colorize_video` end to end on the
clip (stable, defaults, libx264 crf 18), frames per second wall and per CPU
second (all threads).

Writes benchmarks/results/video.md, video.json and video_cut_strip.png.
Usage: ``PYTHONPATH=. python benchmarks/bench_video.py [--quick] [--real --cache DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (passive OpenMP waits, paths)
import _video_real
import cv2
import numpy as np
from PIL import Image

from deepcolor import temporal
from deepcolor.colorspace import merge_luma_chroma, rgb_to_yuv
from deepcolor.metrics import psnr
from deepcolor.pipeline import colorize_luma, load_model, quantize_rgb
from deepcolor.video import colorize_video

CAMVID = _common.SHARED_DATA / "camvid"
VARIANTS = ("per-frame", "per-shot", "stable")


def _frames(split: str, sequence: str, count: int) -> list[Path]:
    stems = sorted(s for s in (CAMVID / f"{split}.txt").read_text().split() if s.startswith(sequence))
    return [CAMVID / "images" / split / f"{s}.jpg" for s in stems[:count]]


def clips(quick: bool) -> dict[str, tuple[list[Path], float, int | None]]:
    """name -> (colour frame files, frame rate, index of the cut or None)."""
    n = 20 if quick else None
    a = _frames("val", "0016E5", n or 101)
    b = _frames("test", "Seq05VD", n or 60)
    c = _frames("val", "0016E5", (n or 80) // 2) + _frames("train", "0006R0", (n or 80) // 2)
    return {"0016E5 (15 Hz)": (a, 15.0, None), "Seq05VD (1 Hz)": (b, 1.0, None), "cut 0016E5 / 0006R0": (c, 15.0, len(c) // 2)}


def metric_flow(current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The metric's flow (Farneback, current -> previous) and its forward-backward-consistent pixels."""
    args = (None, 0.5, 4, 21, 3, 7, 1.5, 0)
    backward = cv2.calcOpticalFlowFarneback(current, previous, *args)
    forward = cv2.calcOpticalFlowFarneback(previous, current, *args)
    forward_at, inside = temporal.warp(forward, backward)
    gap = np.sum((backward + forward_at) ** 2, axis=-1)
    bound = temporal.FB_ALPHA * (np.sum(backward ** 2, axis=-1) + np.sum(forward_at ** 2, axis=-1)) + temporal.FB_BETA
    return backward, (gap < bound) & inside


def measure_clip(files: list[Path], rate: float, cut: int | None, model, work: Path) -> dict:
    """Run `colorize_video` on the clip (stable) and score the three variants frame by frame."""
    folder = work / "frames"
    folder.mkdir()
    truth = {}
    for i, f in enumerate(files):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        luma8 = quantize_rgb(rgb_to_yuv(rgb.astype(np.float32) / 255.0)[..., 0], np.uint8)
        Image.fromarray(luma8).save(folder / f"f{i:04d}.png")
    rows: list[dict] = []
    previous: dict = {}
    state_log = []

    def observe(frame, prediction, chroma):
        rgb = np.asarray(Image.open(files[frame.index]).convert("RGB"))
        luma = frame.y.astype(np.float32) / 255.0
        own = colorize_luma(luma, model)  # per-frame: its own cluster choice
        chromas = {"per-frame": own.chroma, "per-shot": prediction, "stable": chroma,
                   "ground truth": rgb_to_yuv(rgb.astype(np.float32) / 255.0)[..., 1:]}
        state_log.append(own.info.get("cluster"))
        gray_psnr = psnr(quantize_rgb(merge_luma_chroma(luma, np.zeros_like(chroma)), np.uint8), rgb)
        row = {"frame": frame.index, "gray_psnr": gray_psnr, "own_cluster": own.info.get("cluster")}
        for name, uv in chromas.items():
            if name != "ground truth":
                row[f"gain {name}"] = psnr(quantize_rgb(merge_luma_chroma(luma, uv), np.uint8), rgb) - gray_psnr
        if previous and frame.index != cut:
            backward, valid = metric_flow(frame.y, previous["y"])
            row["trusted"] = float(valid.mean())
            for name, uv in chromas.items():
                row[f"warp {name}"] = temporal.warping_error(uv, previous[name], backward, valid)
        previous.clear()
        previous.update(chromas, y=frame.y)
        rows.append(row)
        truth[frame.index] = {k: v for k, v in chromas.items()} if cut is not None and abs(frame.index - cut) <= 3 else None

    t0 = time.perf_counter()
    result = colorize_video(folder, work / "out.mp4", model=model, fps=rate, observe=observe)
    seconds = time.perf_counter() - t0
    summary = {"frames": result["frames"], "shots": result["shots"], "decisions": result["decisions"],
               "per-frame clusters": sorted({r["own_cluster"] for r in rows}), "seconds_with_scoring": seconds,
               "trusted_pixels": float(np.nanmean([r.get("trusted", np.nan) for r in rows]))}
    for name in (*VARIANTS, "ground truth"):
        summary[f"warp {name}"] = float(np.nanmean([r[f"warp {name}"] for r in rows if f"warp {name}" in r]))
        if name != "ground truth":
            summary[f"gain {name}"] = float(np.mean([r[f"gain {name}"] for r in rows]))
    if cut is not None:
        summary["cut"] = cut_report(files, cut, truth, result)
        for part, chosen in (("before the cut", [r for r in rows if r["frame"] < cut]), ("after the cut", [r for r in rows if r["frame"] >= cut])):
            summary["cut"][part] = {f"warp {n}": float(np.nanmean([r[f"warp {n}"] for r in chosen if f"warp {n}" in r])) for n in VARIANTS}
            summary["cut"][part].update({f"gain {n}": float(np.mean([r[f"gain {n}"] for r in chosen])) for n in VARIANTS})
    return summary


def cut_report(files: list[Path], cut: int, kept: dict, result: dict) -> dict:
    """Whether the cut is found, and whether the first frame after it inherits the shot before's colour."""
    after, before = kept[cut], kept[cut - 1]
    stable_vs_own = float(np.abs(after["stable"] - after["per-shot"]).max())
    strip(files, cut, kept)
    return {"detected_shots": result["shots"], "first_after_cut_equals_own_prediction_max_abs": stable_vs_own,
            "mean_uv_after": after["stable"].reshape(-1, 2).mean(0).round(4).tolist(),
            "mean_uv_before": before["stable"].reshape(-1, 2).mean(0).round(4).tolist()}


def strip(files: list[Path], cut: int, kept: dict) -> None:
    """benchmarks/results/video_cut_strip.png: frames cut-3 .. cut+2; rows: colour, gray, per-frame, stable."""
    cells = []
    for name in ("ground truth", "gray", "per-frame", "stable"):
        row = []
        for i in range(cut - 3, cut + 3):
            rgb = np.asarray(Image.open(files[i]).convert("RGB")).astype(np.float32) / 255.0
            luma = rgb_to_yuv(rgb)[..., 0]
            uv = np.zeros(luma.shape + (2,), np.float32) if name == "gray" else kept[i][name]
            tile = quantize_rgb(merge_luma_chroma(luma, uv), np.uint8)
            row.append(cv2.resize(tile, (240, 180), interpolation=cv2.INTER_AREA))
        cells.append(np.concatenate(row, axis=1))
    grid = np.concatenate(cells, axis=0)
    grid[:, [240 * 3 - 1, 240 * 3, 240 * 3 + 1]] = (255, 0, 0)  # the cut
    Image.fromarray(grid).save(_common.RESULTS / "video_cut_strip.png")


def throughput(model, work: Path, size: tuple[int, int], count: int, runs: int) -> dict:
    """Frames/s of `colorize_video` (stable, libx264 crf 18) on ``count`` CamVid frames resized to ``size``."""
    folder = work / f"speed{size[0]}"
    folder.mkdir()
    for i, f in enumerate(_frames("val", "0016E5", count)):
        gray = np.asarray(Image.open(f).convert("L").resize(size, Image.BICUBIC))
        Image.fromarray(gray).save(folder / f"f{i:04d}.png")
    walls, cpus, images = [], [], []
    lumas = [np.asarray(Image.open(f)).astype(np.float32) / 255.0 for f in sorted(folder.iterdir())]
    for r in range(runs):  # the video path, then the image path on the same frames (the same run's reference)
        out = work / f"speed{size[0]}_{r}.mp4"
        w0, c0 = time.perf_counter(), time.process_time()
        colorize_video(folder, out, model=model, fps=15.0)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        c0 = time.process_time()
        for luma in lumas:
            colorize_luma(luma, model)
        images.append(time.process_time() - c0)
    wall, cpu, image = float(np.median(walls)), float(np.median(cpus)), float(np.median(images))
    return {"size": f"{size[0]}x{size[1]}", "frames": count, "runs": runs, "wall_s": wall, "frames_per_s": count / wall,
            "cpu_s_per_frame": cpu / count, "frames_per_cpu_s": count / cpu, "image_cpu_s_per_frame": image / count,
            "video_over_image": cpu / image, "load_average": os.getloadavg()}


_PEAK = """
import resource, sys
from deepcolor.video import colorize_video
colorize_video(sys.argv[1], sys.argv[2], fps=15.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(work: Path, counts: tuple[int, ...]) -> list[dict]:
    """Peak resident memory (MB) of a process colouring the first ``count`` frames of 0016E5 (flat in the length?)."""
    import subprocess
    import sys

    rows = []
    for count in counts:
        folder = work / f"memory{count}"
        folder.mkdir()
        for i, f in enumerate(_frames("val", "0016E5", count)):
            Image.open(f).convert("L").save(folder / f"f{i:04d}.png")
        run = subprocess.run([sys.executable, "-c", _PEAK, str(folder), str(work / f"memory{count}.mp4")],
                             capture_output=True, text=True, check=True)
        rows.append({"frames": count, "peak_mb": int(run.stdout.split()[-1]) / 1024})
    return rows


def measure_real(model, cache: Path, runs: int) -> dict:
    """The shared real clips: warping error, gain and colorfulness of per-shot, own and stable; speed end to end."""
    out = {}
    for stem in _video_real.REAL_CLIPS:
        data = np.load(_video_real.cache_predictions(stem, model, cache))
        meta = json.loads(str(data["meta"]))
        ys = data["y"]
        _, rgb, color_range = _video_real.decode_rgb(_video_real.REAL / f"{stem}.mp4")
        cuts = {t for t in range(1, len(ys)) if temporal.is_cut(ys[t - 1], ys[t])}
        flows = _video_real.metric_flows(stem, ys, cache, metric_flow)
        walls, cpus, stable = [], [], []
        for r in range(runs):
            kept = []
            w0, c0 = time.perf_counter(), time.process_time()
            colorize_video(_video_real.REAL / f"{stem}.mp4", cache / f"{stem}_stable.mp4", model=model, overwrite=True,
                           observe=lambda frame, prediction, chroma: kept.append(chroma.astype(np.float16)))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            stable = kept
        row = {"frames": len(ys), "shots": meta["shots"], "decisions": meta["decisions"], "cuts": sorted(cuts),
               "own clusters": sorted(set(meta["own_clusters"]))}
        for name, chroma in (("per-shot", data["per_shot"]), ("own", data["own"]), ("stable", np.stack(stable))):
            scored = _video_real.score(ys, rgb, chroma, color_range, flows, cuts)
            row.update({f"{k} {name}": v for k, v in scored.items() if k not in ("warp_pairs", "colorfulness_original")})
            row["colorfulness original"] = scored["colorfulness_original"]
        wall, cpu = float(np.median(walls)), float(np.median(cpus))
        row.update({"size": f"{ys.shape[2]}x{ys.shape[1]}", "runs": runs, "wall_s": wall, "frames_per_s": len(ys) / wall,
                    "frames_per_cpu_s": len(ys) / cpu, "load_average": os.getloadavg()})
        out[stem] = row
        print(stem, json.dumps(row), flush=True)
    return out


def real_lines(real: dict) -> list[str]:
    """The report's table of the shared real clips."""
    lines = ["", "## Real footage (../shared/data/video)", "",
             "`PYTHONPATH=. python benchmarks/bench_video.py --real --cache DIR` (gray input = the colour original's Y plane;",
             "scored against the original). per-shot = `--per-frame` (each frame alone, one decision per shot); own = each",
             "frame fully alone; stable = the default. Ratios: stable's warping error over per-shot's and over own's.", "",
             "| clip | frames | size | warp per-shot | warp own | warp stable | stable / per-shot | stable / own | gain per-shot "
             "| gain own | gain stable | colorfulness per-shot / stable / original | frames/s wall | frames per CPU s | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for stem, r in real.items():
        lines.append(f"| {stem} | {r['frames']} | {r['size']} | {r['warp per-shot']:.5f} | {r['warp own']:.5f} | {r['warp stable']:.5f} | "
                     f"**{r['warp stable'] / r['warp per-shot']:.2f}** | {r['warp stable'] / r['warp own']:.2f} | {r['gain per-shot']:+.3f} | "
                     f"{r['gain own']:+.3f} | {r['gain stable']:+.3f} | {r['colorfulness per-shot']:.1f} / {r['colorfulness stable']:.1f} / "
                     f"{r['colorfulness original']:.1f} | {r['frames_per_s']:.2f} | {r['frames_per_cpu_s']:.2f} | "
                     f"{', '.join(f'{x:.1f}' for x in r['load_average'])} |")
    return lines


def write_report(results: dict, speed: list[dict], peaks: list[dict], path: Path, real: dict | None = None) -> None:
    lines = ["# Video: temporal stability and speed", "",
             "`PYTHONPATH=. python benchmarks/bench_video.py` (shipped Cheng model, CamVid frames; see the script's docstring).",
             "Warping error: mean |UV_t - warp(UV_t-1)| over non-occluded pixels (Farneback flow on the colour frames'",
             "luma, not the method's DIS), pairs inside shots; gain: mean per-frame PSNR gain over gray (dB).", "",
             "| clip | frames | shots | warp per-frame | warp per-shot | warp stable | stable / per-frame | warp ground truth "
             "| gain per-frame | gain per-shot | gain stable | trusted pixels |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        lines.append(f"| {name} | {s['frames']} | {s['shots']} | {s['warp per-frame']:.5f} | {s['warp per-shot']:.5f} | "
                     f"{s['warp stable']:.5f} | {s['warp stable'] / s['warp per-frame']:.2f} | {s['warp ground truth']:.5f} | "
                     f"{s['gain per-frame']:+.3f} | {s['gain per-shot']:+.3f} | {s['gain stable']:+.3f} | {s['trusted_pixels']:.2f} |")
    lines += ["", "Per-frame cluster choices and per-shot decisions:", ""]
    for name, s in results.items():
        lines.append(f"- {name}: per-frame {s['per-frame clusters']}; per-shot {s['decisions']}")
        if "cut" in s:
            lines.append(f"  - cut: {json.dumps(s['cut'])}")
    lines += ["", "Speed: `colorize_video` stable, libx264 crf 18, frames read from PNG; CPU s = process time of all threads;",
              "image path = `colorize_luma` on the same frames in the same run (the reference).", "",
              "| size | frames | runs | wall s (median) | frames/s | CPU s a frame | frames per CPU s | image path CPU s a frame "
              "| video / image | load average (1, 5, 15 min) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in speed:
        lines.append(f"| {s['size']} | {s['frames']} | {s['runs']} | {s['wall_s']:.2f} | {s['frames_per_s']:.2f} | "
                     f"{s['cpu_s_per_frame']:.3f} | {s['frames_per_cpu_s']:.2f} | {s['image_cpu_s_per_frame']:.3f} | "
                     f"{s['video_over_image']:.2f} | {', '.join(f'{x:.2f}' for x in s['load_average'])} |")
    if peaks:
        lines += ["", "Peak resident memory of a process colouring the clip (480x360, stable): "
                  + ", ".join(f"{p['frames']} frames {p['peak_mb']:.0f} MB" for p in peaks) + "."]
    if real:
        lines += real_lines(real)
    _common.write_atomic(path, "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 frames a clip, one speed run")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-clips", action="store_true", help="keep the clip results of results/video.json, time again")
    parser.add_argument("--only", metavar="WORD", help="measure only the clips whose name holds WORD (the others kept from video.json)")
    parser.add_argument("--real", action="store_true", help="measure only the shared real clips (the rest kept from video.json)")
    parser.add_argument("--cache", type=Path, help="folder of the real clips' cached predictions and metric flows")
    parser.add_argument("--runs", type=int, default=1, help="timed end-to-end runs of each real clip (median)")
    parser.add_argument("--throughput-only", type=int, metavar="FRAMES",
                        help="only time 480x360 stable mode on FRAMES CamVid frames (one JSON line; PYTHONPATH picks the tree)")
    args = parser.parse_args()
    model = load_model()
    if args.throughput_only:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(throughput(model, Path(tmp), (480, 360), args.throughput_only, args.runs)), flush=True)
        return
    if args.real:
        earlier = json.loads((_common.RESULTS / "video.json").read_text())
        cache = args.cache or Path(tempfile.mkdtemp(prefix="bench_video_"))
        cache.mkdir(parents=True, exist_ok=True)
        earlier["real"] = measure_real(model, cache, args.runs)
        _common.write_atomic(_common.RESULTS / "video.json", json.dumps(earlier, indent=1))
        write_report(earlier["clips"], earlier["speed"], earlier["memory"], _common.RESULTS / "video.md", earlier["real"])
        return
    results, speed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        earlier = json.loads((_common.RESULTS / "video.json").read_text()) if args.skip_clips or args.only or args.skip_speed else {}
        results = {k.replace(" | ", " / "): v for k, v in earlier.get("clips", {}).items()}
        chosen = {} if args.skip_clips else {k: v for k, v in clips(args.quick).items() if not args.only or args.only in k}
        for i, (name, (files, rate, cut)) in enumerate(chosen.items()):
            work = Path(tmp) / f"clip{i}"
            work.mkdir()
            results[name] = measure_clip(files, rate, cut, model, work)
            print(name, json.dumps({k: v for k, v in results[name].items() if k != "cut"}), flush=True)
        if args.skip_speed:
            speed = earlier.get("speed", [])
        else:
            for size, count in (((480, 360), 20 if args.quick else 40), ((1920, 1080), 5 if args.quick else 10)):
                speed.append(throughput(model, Path(tmp), size, count, 1 if args.quick else 3))
                print(json.dumps(speed[-1]), flush=True)
        peaks = earlier.get("memory", []) if args.skip_speed else memory(Path(tmp), (10, 20) if args.quick else (20, 101))
        print(json.dumps(peaks), flush=True)
    real = json.loads((_common.RESULTS / "video.json").read_text()).get("real") if (_common.RESULTS / "video.json").is_file() else None
    _common.write_atomic(_common.RESULTS / "video.json", json.dumps({"clips": results, "speed": speed, "memory": peaks, "real": real}, indent=1))
    write_report(results, speed, peaks, _common.RESULTS / "video.md", real)


if __name__ == "__main__":
    main()
