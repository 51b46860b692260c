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

SETTINGS = {
    "semantic+clusters": dict(semantic=True, clusters=True),
    "plain": dict(semantic=False, clusters=False, refine=False, saturation=1.3),
}


def _luma() -> np.ndarray:
    # A real photograph's structure (skimage's camera man), small enough for the simulator.
    import cv2
    from skimage import data

    return cv2.resize(data.camera().astype(np.float32) / 255.0, (29, 22), interpolation=cv2.INTER_AREA)


def main() -> dict:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("cudasim_pipeline.py: set NUMBA_ENABLE_CUDASIM=1 (before numba.cuda is imported)")
    from deepcolor.pipeline import colorize_luma, load_model
    from deepcolor.pipeline_cuda import colorize_luma_cuda

    model = load_model()
    luma = _luma()
    report = {}
    for name, options in SETTINGS.items():
        cpu = colorize_luma(luma, model, **options)
        gpu = colorize_luma_cuda(luma, model, **options)
        report[name] = {
            "cluster_cpu": cpu.info["cluster"],
            "cluster_gpu": gpu.info["cluster"],
            "max_abs_chroma": float(np.abs(gpu.chroma.astype(np.float64) - cpu.chroma).max()),
            "chroma_type": f"{type(gpu.chroma).__module__}.{type(gpu.chroma).__name__} {gpu.chroma.dtype}",
            "shape": list(gpu.chroma.shape),
            "stages": sorted(gpu.seconds),
        }
    report["fit_samples"] = _fit_samples(model.fcn)
    return report


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
