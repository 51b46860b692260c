"""The GPU colorization path and ``--device``: under numba's simulator everywhere, on a real GPU where there is one.

The whole GPU path (``deepcolor.pipeline.colorize_tiles_on(device="cuda")``: device feature maps, GPU
semantics, the MLP through DLPack, the refinement kernel) runs under the
simulator in a subprocess (``tests/cudasim_pipeline.py``, about 15 s of CPU)
and is compared with the CPU path on a small photograph with the shipped
model. The CPU path must not load CuPy or numba.cuda, and the commands must
say which device they run on, or refuse ``--device cuda`` in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepcolor.kernels.device import cuda_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = cuda_unavailable_reason()
needs_gpu = pytest.mark.skipif(NO_GPU is not None, reason=f"needs a real CUDA GPU: {NO_GPU}")
without_gpu = pytest.mark.skipif(NO_GPU is None, reason="a usable GPU is present: the no-GPU behaviour cannot be observed")
# End to end, the GPU chroma (U, V in about [-0.5, 0.5]) is held to this against the CPU path.
CHROMA_ATOL = 1e-4


def _python(args: list[str], *, simulator: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_gpu_path_matches_cpu_path_under_simulator():
    """The GPU path picks the CPU's cluster and gives the CPU's chroma within 1e-4, returned on the host."""
    proc = _python([str(ROOT / "tests" / "cudasim_pipeline.py")], simulator=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    fit = report.pop("fit_samples")
    prior = report.pop("global-prior")
    encoder_prior = report.pop("global-prior-encoder")
    tiled = report.pop("tiled")
    stacked = report.pop("stacked_mlp")
    assert set(report) == {"semantic+clusters", "plain", "dense"}
    for name, row in report.items():
        assert row["cluster_gpu"] == row["cluster_cpu"], name
        assert row["chroma_type"] == "numpy.ndarray float32" and row["shape"] == [22, 29, 2], name
        assert row["max_abs_chroma"] <= CHROMA_ATOL, f"{name}: {row['max_abs_chroma']:g}"
        grid = [] if name == "dense" else ["upsampling"]  # the default: chroma on a grid, guided-upsampled
        assert row["stages"] == sorted(["choice", "features", "refinement", "regression", *grid]), name
        assert row["gpu_predictions"] == 1, f"{name}: the model's GPU prediction did not run"
    # The batched MLPs' device branch (one matmul per layer): the CPU's torch branch and the nets one by one.
    assert stacked["nets"] == 2 and stacked["max_abs"] > 0.01, stacked
    assert stacked["max_abs_device_cpu"] <= 1e-5 and stacked["max_abs_device_loop"] <= 1e-5, stacked
    assert report["semantic+clusters"]["cluster_cpu"] != "global"  # the cluster choice was exercised
    # fit --device cuda: the same sampled pixels, descriptors within the semantic stage's 1e-4.
    assert fit["same_pixels"] and fit["shape"] == [200, 105]
    assert fit["max_abs_descriptor"] <= 1e-4 and fit["max_abs_histogram"] <= 1e-5, fit
    # Tiles on the device: the CPU's tiles (real crops, halo cut to 6) and cluster, the CPU's tiled chroma.
    assert tiled["tiles"] == 4 and tiled["same_info"], tiled
    assert all(shape != [22, 29] for shape in tiled["outer_shapes"]), tiled
    assert tiled["max_abs_chroma"] <= CHROMA_ATOL and tiled["max_abs_dense"] <= CHROMA_ATOL, tiled
    # The global-prior CNN on the device (a tiny random net, with a style image): the CPU's chroma and scene.
    assert prior["gpu_predictions"] == 1 and prior["same_info"], prior
    assert prior["max_abs_chroma"] <= CHROMA_ATOL, prior
    # The shipped encoder-based CNN on the device, whole and in 2 x 2 tiles, at both vividness ends.
    assert encoder_prior["encoder_based"] and encoder_prior["gpu_predictions"] == 2 and encoder_prior["gpu_prepares"] == 2, encoder_prior
    for v in ("V0", "V1"):
        assert encoder_prior[v]["same_info"], encoder_prior
        assert encoder_prior[v]["max_abs_chroma"] <= CHROMA_ATOL and encoder_prior[v]["max_abs_tiled"] <= CHROMA_ATOL, encoder_prior


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cpu_colorize_never_loads_cupy_or_numba_cuda(device):
    """After a CPU colorization (asked for, or auto without a GPU) neither CuPy nor numba.cuda is imported."""
    if device == "auto" and NO_GPU is None:
        pytest.skip("a usable GPU is present: auto runs on it")
    code = (
        "import sys, numpy as np, deepcolor\n"
        "gray = (np.arange(24 * 31, dtype=np.float32).reshape(24, 31) % 17 / 16).astype(np.float32)\n"
        f"rgb = deepcolor.colorize(gray, device={device!r})\n"
        "assert rgb.shape == (24, 31, 3)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cupy' or m.startswith('numba.cuda')))"
    )
    proc = _python(["-c", code])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_device_cpu_is_the_default_cpu_path():
    """The default, device="cpu" and (without a GPU) device="auto" give identical bytes; an unknown device is a ValueError."""
    import deepcolor

    gray = np.random.default_rng(3).integers(0, 256, (20, 27), dtype=np.uint8)
    expected = deepcolor.colorize(gray)
    assert np.array_equal(deepcolor.colorize(gray, device="cpu"), expected)
    if NO_GPU is not None:
        assert np.array_equal(deepcolor.colorize(gray, device="auto"), expected)
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda"):
        deepcolor.colorize(gray, device="gpu")


@pytest.fixture(scope="module")
def gray_png(tmp_path_factory):
    from deepcolor.io import write_image

    folder = tmp_path_factory.mktemp("device")
    path = folder / "gray.png"
    luma = np.tile(np.linspace(0.1, 0.9, 33, dtype=np.float32), (25, 1))
    write_image(path, luma, bit_depth=8)
    return path


@without_gpu
def test_apply_auto_says_it_runs_on_cpu(gray_png, tmp_path, capsys):
    """apply --device auto without a GPU colorizes and says so in exactly one line on stderr."""
    from deepcolor.apply import main

    out = tmp_path / "out.png"
    assert main([str(gray_png), "-o", str(out), "--device", "auto"]) == 0
    assert out.is_file()
    lines = [line for line in capsys.readouterr().err.splitlines() if "running on" in line]
    assert len(lines) == 1 and lines[0].startswith("deepcolor: running on cpu (no usable GPU: "), lines


@without_gpu
@pytest.mark.parametrize("command", ["apply", "evaluate", "fit"])
def test_device_cuda_without_gpu_is_one_line_error(command, gray_png, tmp_path, capsys):
    """--device cuda without a GPU: one line on stderr, non-zero exit, nothing written."""
    import importlib

    main = importlib.import_module(f"deepcolor.{command}").main
    out = tmp_path / "out.png"
    argv = {
        "apply": [str(gray_png), "-o", str(out)],
        "evaluate": ["--images", str(gray_png.parent)],
        "fit": ["--images", str(gray_png.parent), "--out", str(tmp_path / "m.safetensors"), "-q"],
    }[command]
    assert main([*argv, "--device", "cuda"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"deepcolor.{command}: error: --device cuda: no usable GPU: "), err
    assert not out.exists() and not (tmp_path / "m.safetensors").exists()


# ---- real GPU ------------------------------------------------------------------------------------


@needs_gpu
def test_gpu_colorization_matches_cpu():
    """On a real GPU, a 257x383 photo-like image: same cluster, chroma within 1e-4 of the CPU path."""
    import cv2
    from skimage import data

    from deepcolor.pipeline import colorize_luma, load_model

    luma = cv2.resize(data.camera().astype(np.float32) / 255.0, (383, 257), interpolation=cv2.INTER_AREA)
    model = load_model("cheng")
    for options in ({"semantic": True, "clusters": True}, {"semantic": False, "clusters": False}):
        cpu = colorize_luma(luma, model, **options)
        gpu = colorize_luma(luma, model, device="cuda", **options)
        assert gpu.info == cpu.info
        assert isinstance(gpu.chroma, np.ndarray) and gpu.chroma.dtype == np.float32
        assert float(np.abs(gpu.chroma - cpu.chroma).max()) <= CHROMA_ATOL


@needs_gpu
def test_mlp_trains_on_the_gpu():
    """fit_regressor(device="cuda") learns a linear map and returns a CPU regressor."""
    from deepcolor.train.mlp import fit_regressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 12)).astype(np.float32)
    y = (x[:, :2] * 0.1).astype(np.float32)
    reg = fit_regressor(x, y, epochs=30, batch_size=256, device="cuda")
    assert next(reg.net.parameters()).device.type == "cpu"
    assert float(np.abs(reg.predict(x) - y).mean()) < 0.01


@needs_gpu
def test_networks_are_copied_to_the_gpu_once():
    """module_on keeps one CUDA copy of a net and leaves the original on the CPU."""
    from deepcolor.kernels.device import module_on
    from deepcolor.pipeline import load_model

    fcn = load_model("cheng").fcn
    first, second = module_on(fcn, "cuda"), module_on(fcn, "cuda")
    assert first is second and next(first.parameters()).device.type == "cuda"
    assert next(fcn.parameters()).device.type == "cpu"
