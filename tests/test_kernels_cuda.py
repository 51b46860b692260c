"""CUDA kernels against their CPU twins: under numba's simulator everywhere, on a real GPU where there is one.

The simulator comparisons run ``tests/cudasim_parity.py`` in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``: numba reads that variable when ``numba.cuda`` is
first imported, so setting it here would either come too late or change
numba.cuda for every other test in this process. Tolerances (max absolute
difference from the CPU twin, also in each kernel module's docstring and
``PARITY_ATOL``):

- patch: 0 (a copy);
- daisy: 1e-6 (descriptor values about 1/32);
- joint bilateral: 1e-5 (what the CPU kernel is held to against OpenCV);
- domain transform: 1e-5 against ``cv2.ximgproc`` DTF_RF on maps in [0, 1];
- upsampling merge (clip and renormalise, CuPy array work): 1e-6;
- semantic stage: 1e-5 for the smoothing with clip-and-renormalise, 1e-4 for the
  whole stage with the shipped FCN (torch's bilinear upsampling vs OpenCV's).

Simulator inputs: 12x17 random, 9x11 step edge, 5x7 constant, 2x3 and 1x1
(and a smooth 41x53 guide for the domain transform). The ``seam_*`` cases call
the `deepcolor.kernels` functions with ``backend="cuda"`` and ``"cpu"`` on the
CPU's prepared inputs: the seam dispatches to the twins with one contract.
The simulator runs kernels as Python, so ``tests/cuda_ptx_check.py`` also
compiles each one to PTX with the real CUDA compiler (where libNVVM exists).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepcolor.kernels.device import cuda_unavailable_reason, device_notice, resolve_device

ROOT = Path(__file__).resolve().parents[1]
TOLERANCES = {"patch": 0.0, "daisy": 1e-6, "bilateral": 1e-5, "domain_transform": 1e-5, "upsample": 1e-6, "semantic": 1e-5}
# Cases whose tolerance is not their kernel's (case name prefix after "kernel/").
CASE_TOLERANCES = {"semantic/features_": 1e-4}
# Cases per kernel the parity script must report, so a dropped case fails here.
CASES = {"patch": 6, "daisy": 6, "bilateral": 12, "domain_transform": 11, "upsample": 2, "semantic": 6}
PTX_KERNELS = (
    "patch_kernel",
    "gather_kernel",
    "orientation_kernel",
    "smooth_kernel",
    "assemble_kernel",
    "joint_bilateral_kernel",
    "transform_weights_kernel",
    "recursive_kernel",
)
NO_GPU = cuda_unavailable_reason()
needs_gpu = pytest.mark.skipif(NO_GPU is not None, reason=f"needs a real CUDA GPU: {NO_GPU}")


def _run(args: list[str], *, simulator: bool, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def simulator_report() -> dict:
    proc = _run([str(ROOT / "tests" / "cudasim_parity.py")], simulator=True)
    if proc.returncode != 0:
        pytest.fail(f"cudasim_parity.py failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tolerance(case: str, kernel: str) -> float:
    return next((atol for prefix, atol in CASE_TOLERANCES.items() if case.startswith(prefix)), TOLERANCES[kernel])


def test_simulator_compares_every_kernel(simulator_report):
    """Every CUDA kernel is run under the simulator on every input case and reports its tolerance."""
    counts = {k: 0 for k in TOLERANCES}
    for case, row in simulator_report.items():
        counts[row["kernel"]] += 1
        assert row["parity_atol"] == _tolerance(case, row["kernel"]), f"{case}: the module's tolerance and this test disagree"
    assert counts == CASES


@pytest.mark.parametrize("kernel", sorted(TOLERANCES))
def test_kernel_matches_cpu_twin_under_simulator(simulator_report, kernel):
    """The simulated GPU kernel equals its CPU twin within the documented tolerance on every case."""
    rows = {case: row for case, row in simulator_report.items() if row["kernel"] == kernel}
    assert rows
    worst = {case: row["max_abs"] for case, row in rows.items() if not row["max_abs"] <= _tolerance(case, kernel)}
    assert not worst, f"{kernel}: max abs difference above the tolerance: {worst}"


def test_kernels_compile_for_a_real_gpu_in_float32():
    """Every kernel compiles to sm_90 PTX with numba's real CUDA compiler, with no float64 instruction."""
    proc = _run([str(ROOT / "tests" / "cuda_ptx_check.py")], simulator=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in report:
        pytest.skip(report["skip"])
    assert report["kernels"] == {name: 0 for name in PTX_KERNELS}


def test_device_module_imports_nothing_heavy():
    """Importing the device helpers loads neither CuPy, numba.cuda nor torch."""
    code = (
        "import sys, deepcolor.kernels.device\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('cupy', 'torch') or m.startswith('numba.cuda')])"
    )
    proc = _run(["-c", code], simulator=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_simulator_is_never_taken_for_a_gpu():
    """With NUMBA_ENABLE_CUDASIM set, auto resolves to cpu and cuda is refused."""
    code = (
        "from deepcolor.kernels.device import resolve_device\n"
        "print(resolve_device('auto'))\n"
        "try:\n    resolve_device('cuda')\nexcept ValueError as e:\n    print('refused:', e)"
    )
    proc = _run(["-c", code], simulator=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "cpu"
    assert lines[1].startswith("refused: --device cuda: no usable GPU: numba's CUDA simulator")


def test_resolve_device_names():
    """cpu is always cpu; unknown names are refused with a ValueError naming them."""
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    for bad in ("gpu", "CUDA", "", "cuda:0"):
        with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda"):
            resolve_device(bad)
    assert device_notice("cpu", "cpu") == "deepcolor: running on cpu (as requested)"


@pytest.mark.skipif(NO_GPU is None, reason="a usable GPU is present: the no-GPU fallback cannot be observed")
def test_without_gpu_auto_says_cpu_and_cuda_is_refused():
    """auto falls back to cpu with a one-line notice saying why; cuda raises a one-line ValueError."""
    assert resolve_device("auto") == "cpu"
    notice = device_notice("cpu", "auto")
    assert notice.startswith("deepcolor: running on cpu (no usable GPU: ") and "\n" not in notice
    with pytest.raises(ValueError, match="^--device cuda: no usable GPU: ") as info:
        resolve_device("cuda")
    assert "\n" not in str(info.value)


def _bad_calls():
    from deepcolor.kernels.bilateral_cuda import joint_bilateral_cuda
    from deepcolor.kernels.daisy_cuda import daisy_features_cuda
    from deepcolor.kernels.domain_transform_cuda import domain_transform_cuda
    from deepcolor.kernels.patch_cuda import patch_features_cuda

    g = np.zeros((4, 5), np.float32)
    c = np.zeros((4, 5, 2), np.float32)
    nan = g.copy()
    nan[1, 2] = np.nan
    bil = dict(sigma_color=0.1, sigma_space=2.0)
    dt = dict(sigma_spatial=4.0, sigma_color=0.1)
    return [
        (lambda: patch_features_cuda(g.astype(np.uint8)), "float array"),
        (lambda: patch_features_cuda(np.zeros(5, np.float32)), "2 dims"),
        (lambda: daisy_features_cuda(nan), "finite"),
        (lambda: daisy_features_cuda(np.zeros((0, 3), np.float32)), "non-empty"),
        (lambda: joint_bilateral_cuda(c, g, diameter=4, **bil), "odd integer"),
        (lambda: joint_bilateral_cuda(c, g, sigma_color=0.0, sigma_space=2.0), "sigma_color"),
        (lambda: joint_bilateral_cuda(c[:, :4], g, **bil), r"shape \(4, 5\)"),
        (lambda: joint_bilateral_cuda(np.zeros((4, 5, 9), np.float32), g, **bil), "at most 8 channels"),
        (lambda: domain_transform_cuda(c, g, sigma_spatial=-1.0, sigma_color=0.1), "sigma_spatial"),
        (lambda: domain_transform_cuda(c, g, iterations=0, **dt), "iterations"),
        (lambda: domain_transform_cuda(c, c, **dt), "guide"),
    ]


def test_host_functions_refuse_bad_input():
    """Each host function raises a ValueError naming the problem before launching anything."""
    for call, message in _bad_calls():
        with pytest.raises(ValueError, match=message):
            call()


# ---- real GPU: CuPy arrays, sizes the simulator cannot afford ---------------------------------


@pytest.fixture(scope="module")
def gpu_inputs():
    import cupy
    import cv2

    rng = np.random.default_rng(5)
    luma = cv2.GaussianBlur(rng.random((257, 383), dtype=np.float32), (0, 0), 2.0)
    luma = (luma - luma.min()) / (luma.max() - luma.min())
    chroma = rng.normal(0, 0.2, luma.shape + (2,)).astype(np.float32)
    return cupy, luma, chroma


@needs_gpu
def test_gpu_kernels_match_cpu_twins(gpu_inputs):
    """On a real GPU each kernel matches its CPU twin within the documented tolerance on a 257x383 image."""
    from cudasim_parity import _dt_reference

    from deepcolor.features.daisy import daisy_features
    from deepcolor.features.patch import patch_features
    from deepcolor.kernels.bilateral_cuda import joint_bilateral_cuda
    from deepcolor.kernels.daisy_cuda import daisy_features_cuda
    from deepcolor.kernels.domain_transform_cuda import domain_transform_cuda
    from deepcolor.kernels.patch_cuda import patch_features_cuda
    from deepcolor.refine import joint_bilateral

    cp, luma, chroma = gpu_inputs
    d_luma, d_chroma = cp.asarray(luma), cp.asarray(chroma)
    logits = np.random.default_rng(9).normal(0.0, 2.0, luma.shape + (11,))
    maps = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)  # in [0, 1], as smoothed
    bil = dict(diameter=9, sigma_color=0.05, sigma_space=3.0)
    pairs = {
        "patch": (patch_features_cuda(d_luma), patch_features(luma)),
        "daisy": (daisy_features_cuda(d_luma), daisy_features(luma)),
        "bilateral": (joint_bilateral_cuda(d_chroma, d_luma, **bil), joint_bilateral(chroma, luma, **bil)),
        "domain_transform": (
            domain_transform_cuda(cp.asarray(maps), d_luma, sigma_spatial=16.0, sigma_color=0.08, iterations=2),
            _dt_reference(maps, luma, 16.0, 0.08, 2),
        ),
    }
    for kernel, (got, ref) in pairs.items():
        assert isinstance(got, cp.ndarray) and got.dtype == cp.float32 and got.shape == ref.shape, kernel
        diff = float(np.abs(cp.asnumpy(got).astype(np.float64) - ref).max())
        assert diff <= TOLERANCES[kernel], f"{kernel}: {diff:g} > {TOLERANCES[kernel]:g}"


@needs_gpu
def test_gpu_auto_picks_cuda_and_names_it():
    """With a working GPU, auto resolves to cuda and the notice names the device."""
    assert resolve_device("auto") == "cuda" == resolve_device("cuda")
    notice = device_notice("cuda", "auto")
    assert notice.startswith("deepcolor: running on cuda (") and "CuPy" in notice


@needs_gpu
def test_dlpack_shares_memory_both_ways():
    """cupy_to_torch and torch_to_cupy hand over the same device memory, no copy."""
    import cupy
    import torch

    from deepcolor.kernels.device import cupy_to_torch, torch_to_cupy

    a = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    t = cupy_to_torch(a)
    assert t.device.type == "cuda" and tuple(t.shape) == (3, 4)
    t[1, 2] = -5.0
    assert float(a[1, 2]) == -5.0
    b = torch_to_cupy(t)
    assert b.data.ptr == a.data.ptr
    with pytest.raises(ValueError):
        torch_to_cupy(torch.zeros(2))
