"""Run the whole GPU colorization path under numba's CUDA simulator and compare it with the CPU path.

Not a test module: ``tests/test_pipeline_cuda.py`` runs it in a subprocess
with ``NUMBA_ENABLE_CUDASIM=1`` (numba reads the variable once, when
``numba.cuda`` is first imported). Under the simulator the device arrays are
numpy arrays and torch runs on the CPU, so this is the code a GPU runs, on a
small image, with the shipped model. Prints one JSON object
``{setting: {"cluster_cpu", "cluster_gpu", "max_abs_chroma", "chroma_type", "shape"}}``,
plus ``"fit_samples"``: fit's training samples of a small colour photo
extracted with ``device="cuda"`` against ``"cpu"``.

    NUMBA_ENABLE_CUDASIM=1 python tests/cudasim_pipeline.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = {  # the default is Cheng's chroma on a grid (features.grid) through the batched MLPs; "dense" every pixel
    "semantic+clusters": dict(semantic=True, clusters=True),
    "plain": dict(semantic=False, clusters=False, refine=False, saturation=1.3),
    "dense": dict(semantic=True, clusters=True, dense=True),
}


def _luma() -> np.ndarray:
    # A real photograph's structure (skimage's camera man), small enough for the simulator.
    import cv2
    from skimage import data

    return cv2.resize(data.camera().astype(np.float32) / 255.0, (29, 22), interpolation=cv2.INTER_AREA)


def main() -> dict:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("cudasim_pipeline.py: set NUMBA_ENABLE_CUDASIM=1 (before numba.cuda is imported)")
    from deepcolor.models.cheng import ChengModel
    from deepcolor.pipeline import colorize_luma, load_model

    # Count the model's GPU predictions: a silent fallback to the CPU prediction must not pass.
    calls = _count_device_prepares(ChengModel)
    model = load_model("cheng")
    luma = _luma()
    report = {}
    for name, options in SETTINGS.items():
        cpu = colorize_luma(luma, model, **options)
        before = len(calls)
        gpu = _gpu_colorize(luma, model, **options)
        report[name] = {
            "cluster_cpu": cpu.info["cluster"],
            "cluster_gpu": gpu.info["cluster"],
            "max_abs_chroma": float(np.abs(gpu.chroma.astype(np.float64) - cpu.chroma).max()),
            "chroma_type": f"{type(gpu.chroma).__module__}.{type(gpu.chroma).__name__} {gpu.chroma.dtype}",
            "shape": list(gpu.chroma.shape),
            "stages": sorted(gpu.seconds),
            "gpu_predictions": len(calls) - before,
        }
    report["stacked_mlp"] = _stacked_mlp(model)
    report["tiled"] = _tiled(model, luma)
    report["fit_samples"] = _fit_samples(model.fcn)
    report["global-prior"] = _global_prior(luma)
    report["global-prior-encoder"] = _global_prior_encoder(luma)
    return report


def _gpu_colorize(luma: np.ndarray, model, **options):
    """`colorize_luma` on the simulated device: ``resolve_device`` refuses the simulator, so go one step below it."""
    from deepcolor.pipeline import Colorization, colorize_tiles_on

    chroma = np.full(luma.shape + (2,), np.nan, np.float32)

    def keep(t, core):
        assert isinstance(core, np.ndarray)
        chroma[t.core] = core

    info, seconds = colorize_tiles_on(luma, model, keep, device="cuda", **options)
    return Colorization(luma=luma, chroma=chroma, info=info, seconds=seconds)


def _count_device_prepares(cls) -> list:
    """Wrap ``cls.prepare`` so that each call on the device's array module (not numpy) appends to the returned list."""
    from deepcolor.kernels.device import device_of

    calls = []
    original = cls.prepare

    def counted(self, luma, xp=np, **kwargs):
        if device_of(xp) == "cuda":
            calls.append(1)
        return original(self, luma, xp, **kwargs)

    cls.prepare = counted
    return calls


def _global_prior(luma: np.ndarray) -> dict:
    # A tiny random global-prior net (no weights are shipped for it), BatchNorm statistics moved off (0, 1).
    import torch

    from deepcolor.models.global_prior import GlobalPriorModel, GlobalPriorNet
    from deepcolor.pipeline import colorize_luma

    torch.manual_seed(0)
    net = GlobalPriorNet(width=0.0625, n_classes=3)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    config = {"architecture": "iizuka2016", "width": 0.0625, "classes": ["a", "b", "c"], "normalization": {"luma_mean": 0.45, "luma_std": 0.25}}
    model = GlobalPriorModel(net.eval(), config)
    calls = _count_device_prepares(GlobalPriorModel)
    style = luma[::-1].copy()
    cpu = colorize_luma(luma, model, style=style)
    gpu = _gpu_colorize(luma, model, style=style)
    return {
        "max_abs_chroma": float(np.abs(gpu.chroma.astype(np.float64) - cpu.chroma).max()),
        "same_info": gpu.info == cpu.info,
        "gpu_predictions": len(calls),
    }


def _global_prior_encoder(luma: np.ndarray) -> dict:
    # The shipped encoder-based global-prior CNN: whole and tiled (tile 16) on the device, both vividness ends.
    from deepcolor.models.global_prior import GlobalPriorModel
    from deepcolor.models.registry import load_model
    from deepcolor.pipeline import colorize_luma

    model = load_model(method="global-prior")
    calls = _count_device_prepares(GlobalPriorModel)
    whole = tiles = 0
    out = {"encoder_based": bool(model.encoder_based)}
    for v in (0.0, 1.0):
        cpu = colorize_luma(luma, model, vividness=v)
        before = len(calls)
        gpu = _gpu_colorize(luma, model, vividness=v)
        whole, before = whole + len(calls) - before, len(calls)
        tiled = _gpu_colorize(luma, model, vividness=v, tile=16)
        tiles += len(calls) - before
        out[f"V{v:g}"] = {"max_abs_chroma": float(np.abs(gpu.chroma.astype(np.float64) - cpu.chroma).max()),
                          "max_abs_tiled": float(np.abs(tiled.chroma.astype(np.float64) - cpu.chroma).max()),
                          "same_info": gpu.info == cpu.info == tiled.info}
    out["gpu_predictions"], out["gpu_prepares"] = whole, tiles
    return out


def _stacked_mlp(model) -> dict:
    # The device branch of the batched MLPs (one matmul per layer of the array module) against the CPU's torch branch
    # and against the nets one after the other, on a cluster that blends its MLP with the global one (K = 2).
    from deepcolor.models.stacked_mlp import WeightedSum

    source = next(c.key for c in model.clusters if c.uses_own_mlp("semantic") and c.blend.get("semantic", (1, 0))[1] != 0)
    stacked = model.stacked(source, semantic=True)
    rows = np.random.default_rng(1).normal(0, 1, (300, stacked.in_features)).astype(np.float32)
    device, cpu = stacked.predict(rows, device="cuda"), stacked.predict(rows)
    loop = WeightedSum(model.combination(source, semantic=True)).predict(rows)
    return {"nets": int(stacked.weights[0].shape[0]), "max_abs_device_cpu": float(np.abs(device - cpu).max()),
            "max_abs_device_loop": float(np.abs(device - loop).max()), "max_abs": float(np.abs(loop).max())}


def _tiled(model, luma: np.ndarray) -> dict:
    # The same tiles as the CPU (tile 16: 2 x 2 tiles of the 22 x 29 image), each on the device. The
    # halo is cut to 6 pixels (both paths read it from deepcolor.colorizer) so that tiles are real
    # crops of the image: region features, offsets and stitching are exercised, not the whole image 4 times.
    import deepcolor.colorizer as colorizer
    from deepcolor.pipeline import colorize_luma, colorize_tiles_on

    colorizer.HALO = 6
    cpu = colorize_luma(luma, model, tile=16)
    chroma = np.full(luma.shape + (2,), np.nan, np.float32)
    tiles = []

    def keep(t, core):
        tiles.append(t)
        chroma[t.core] = core

    info, _ = colorize_tiles_on(luma, model, keep, refine=True, saturation=1.0, tile=16, device="cuda")
    dense_cpu = colorize_luma(luma, model, tile=16, dense=True)
    dense_chroma = np.full(luma.shape + (2,), np.nan, np.float32)

    def keep_dense(t, core):
        dense_chroma[t.core] = core

    colorize_tiles_on(luma, model, keep_dense, tile=16, device="cuda", dense=True)
    return {
        "max_abs_dense": float(np.abs(dense_chroma.astype(np.float64) - dense_cpu.chroma).max()),
        "tiles": len(tiles),
        "same_info": info == cpu.info,
        "max_abs_chroma": float(np.abs(chroma.astype(np.float64) - cpu.chroma).max()),
        "outer_shapes": sorted({t.outer_shape for t in tiles}),
    }


def _fit_samples(fcn) -> dict:
    import tempfile

    import cv2
    from skimage import data

    from deepcolor.io import write_image
    from deepcolor.train.samples import extract_samples

    rgb = cv2.resize(data.astronaut(), (27, 21), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.png"
        write_image(path, rgb)
        cpu, gpu = (extract_samples(path, fcn=fcn, n_samples=200, seed=3, device=d) for d in ("cpu", "cuda"))
    return {
        "same_pixels": bool(np.array_equal(cpu.luma, gpu.luma) and np.array_equal(cpu.chroma, gpu.chroma)),
        "max_abs_descriptor": float(np.abs(cpu.descriptors.astype(np.float64) - gpu.descriptors).max()),
        "max_abs_histogram": float(np.abs(cpu.histogram.astype(np.float64) - gpu.histogram).max()),
        "shape": list(gpu.descriptors.shape),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
