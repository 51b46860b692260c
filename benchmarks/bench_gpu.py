"""Dense stages on CPU and GPU, timed in the same run: the CUDA twins against the CPU kernels.

For each size N (default 256 .. 4096) and each dense stage, on an N x N
luma (skimage's ``camera`` resized, as in ``bench_kernels.py``):

- patch: 7x7 patches (N, N, 49); `patch_features` vs `patch_features_cuda`;
- DAISY (N, N, 32): `daisy_features` vs `daisy_features_cuda`;
- refine: joint bilateral of (N, N, 2) chroma, d = 9; `refine_chroma` vs
  `joint_bilateral_cuda`;
- smooth: domain transform of (N, N, 11) maps (sigma 16 / 0.08, 2
  iterations) then clip and renormalise; `smooth_probabilities` (OpenCV) vs
  `smooth_probabilities(backend="cuda")`;
- apply end to end: `colorize_luma` with the shipped model (features, FCN,
  cluster choice, MLP, refinement) on the CPU vs ``device="cuda"``; the GPU
  time includes the luma's upload and the chroma's download (the whole apply
  but reading and writing the file). Beside it: Cheng et al.'s Table II
  (Matlab, CPU) and Iizuka et al.'s GPU timings (0.080 s at 224^2, 1.08 s at
  1024^2 on a Titan X). Goal: 1024^2 in at most 0.1 s on an H100.

Each stage runs once to warm up (JIT compile), then CPU and GPU alternate
``--repeats`` times (median reported; GPU times include a device
synchronisation, not host transfers: inputs are already on the device).
Peak memory: GPU = bytes CuPy's memory pool had to hold for one call (the
pool is emptied before it); CPU = peak of numpy allocations seen by
``tracemalloc`` in one call. The max abs difference of the outputs is
reported as a parity check.

Without a usable GPU it prints one line saying why and exits 0.

    python benchmarks/bench_gpu.py [--sizes 256 512 1024 2048 4096] [--repeats 5]
                                   [--out benchmarks/results/gpu.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from _common import RESULTS, write_atomic
from bench_apply import CHENG_TABLE_II

SIZES = (256, 512, 1024, 2048, 4096)


def _stages(cp, size: int):
    """(name, cpu(), gpu()) per dense stage; cpu() returns numpy, gpu() CuPy, of the same shape."""
    from bench_kernels import _chroma, _luma

    from deepcolor.features.daisy import daisy_features
    from deepcolor.features.patch import patch_features
    from deepcolor.features.semantic import smooth_probabilities
    from deepcolor.kernels.bilateral_cuda import joint_bilateral_cuda
    from deepcolor.kernels.daisy_cuda import daisy_features_cuda
    from deepcolor.kernels.patch_cuda import patch_features_cuda
    from deepcolor.pipeline import colorize_luma, load_model
    from deepcolor.refine import DEFAULT_DIAMETER, DEFAULT_SIGMA_COLOR, DEFAULT_SIGMA_SPACE, refine_chroma

    luma, chroma = _luma(size), _chroma(size)
    logits = np.random.default_rng(size).normal(0.0, 2.0, (size, size, 11)).astype(np.float32)
    probs = np.exp(logits)
    probs /= probs.sum(-1, keepdims=True)
    d_luma, d_chroma, d_probs = cp.asarray(luma), cp.asarray(chroma), cp.asarray(probs)
    bil = dict(diameter=DEFAULT_DIAMETER, sigma_color=DEFAULT_SIGMA_COLOR, sigma_space=DEFAULT_SIGMA_SPACE)

    model = load_model()
    yield "patch (N, N, 49)", lambda: patch_features(luma), lambda: patch_features_cuda(d_luma)
    yield "DAISY (N, N, 32)", lambda: daisy_features(luma), lambda: daisy_features_cuda(d_luma)
    yield (
        "refine: joint bilateral d=9",
        lambda: refine_chroma(luma, chroma, **bil),
        lambda: joint_bilateral_cuda(d_chroma, d_luma, **bil),
    )
    yield "smooth: domain transform 11 maps", lambda: smooth_probabilities(probs, luma), lambda: smooth_probabilities(d_probs, d_luma, backend="cuda")
    yield (
        "apply end to end",
        lambda: colorize_luma(luma, model, device="cpu").chroma,
        lambda: colorize_luma(luma, model, device="cuda").chroma,
    )


def _gpu_call(cp, fn):
    """(seconds, peak pool bytes, result) of one synchronised call."""
    pool = cp.get_default_memory_pool()
    cp.cuda.Device().synchronize()
    pool.free_all_blocks()
    base = pool.total_bytes()
    t0 = time.perf_counter()
    out = fn()
    cp.cuda.Device().synchronize()
    return time.perf_counter() - t0, pool.total_bytes() - base, out


def _cpu_call(fn, *, trace: bool):
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak, out


def run(cp, sizes: list[int], repeats: int) -> list[dict]:
    rows = []
    for size in sizes:
        for name, cpu, gpu in _stages(cp, size):
            _cpu_call(cpu, trace=False)  # warm-up: numba compiles or loads its cache
            _gpu_call(cp, gpu)  # warm-up: JIT compile
            _, cpu_peak, ref = _cpu_call(cpu, trace=True)  # traced apart: tracemalloc slows numpy
            _, gpu_peak, got = _gpu_call(cp, gpu)
            diff = float(np.abs(cp.asnumpy(got).astype(np.float64) - ref).max())
            del got, ref
            cpu_s, gpu_s = [], []
            for _ in range(repeats):
                cpu_s.append(_cpu_call(cpu, trace=False)[0])
                seconds, peak, _ = _gpu_call(cp, gpu)
                gpu_s.append(seconds)
                gpu_peak = max(gpu_peak, peak)
            row = dict(size=size, stage=name, cpu_s=statistics.median(cpu_s), gpu_s=statistics.median(gpu_s),
                       cpu_peak=cpu_peak, gpu_peak=gpu_peak, max_abs=diff)
            rows.append(row)
            print(f"{size:5d}  {name:34s} cpu {row['cpu_s']:.4f} s  gpu {row['gpu_s']:.4f} s  "
                  f"x{row['cpu_s'] / row['gpu_s']:.1f}  gpu peak {gpu_peak / 2**20:.0f} MiB  diff {diff:.2g}", flush=True)
    return rows


def to_markdown(rows: list[dict], *, header: str, repeats: int) -> str:
    lines = [
        "# GPU vs CPU: dense stages and the whole apply",
        "",
        header,
        "References for the end-to-end rows: Cheng et al. Table II (Matlab, CPU): "
        + ", ".join(f"{n}^2 {s} s" for n, s in CHENG_TABLE_II.items())
        + "; Iizuka et al. (Titan X GPU): 224^2 0.080 s, 1024^2 1.08 s. Goal: 1024^2 end to end <= 0.1 s on an H100.",
        f"Median of {repeats} runs after one warm-up; GPU inputs already on the device; peak memory as in",
        "`benchmarks/bench_gpu.py`'s docstring. Command: `python benchmarks/bench_gpu.py`.",
        "",
        "| N | stage | CPU s | GPU s | speed-up | CPU peak MiB | GPU peak MiB | max abs diff |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['stage']} | {r['cpu_s']:.4f} | {r['gpu_s']:.4f} | {r['cpu_s'] / r['gpu_s']:.1f} | "
            f"{r['cpu_peak'] / 2**20:.0f} | {r['gpu_peak'] / 2**20:.0f} | {r['max_abs']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu.md")
    args = parser.parse_args(argv)
    if args.repeats < 1 or min(args.sizes) < 1:
        parser.error("--repeats and --sizes must be >= 1")
    from deepcolor.kernels.device import cuda_unavailable_reason

    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"bench_gpu.py: no usable GPU ({reason}); nothing measured")
        return 0
    import cupy as cp
    import numba

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    header = (f"GPU: {gpu_name}, CuPy {cp.__version__}; CPU: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, numba {numba.__version__} with {numba.get_num_threads()} threads.")
    rows = run(cp, args.sizes, args.repeats)
    write_atomic(args.out, to_markdown(rows, header=header, repeats=args.repeats))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
