"""Run every CUDA kernel under numba's CUDA simulator and compare it with its CPU twin.

Not a test module (pytest does not collect it): ``tests/test_kernels_cuda.py``
runs it in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``, because numba reads
that variable once, when ``numba.cuda`` is first imported, and the pytest
process itself must keep the real numba.cuda. Prints one JSON object:
``{case: {"kernel", "shape", "max_abs", "parity_atol"}}``, where
``max_abs`` is the largest absolute difference from the CPU twin. Inputs are
tiny (the simulator runs each GPU thread as Python): odd sizes, 1x1 and 2x3
images, constant images and step edges, from a seeded RNG.

    NUMBA_ENABLE_CUDASIM=1 python tests/cudasim_parity.py [kernel ...]
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KERNELS = ("patch", "daisy", "bilateral", "domain_transform")


def _images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12)
    step = np.zeros((9, 11), dtype=np.float32)
    step[:, 5:] = 0.8
    return {
        "random_12x17": rng.random((12, 17), dtype=np.float32),
        "step_9x11": step,
        "constant_5x7": np.full((5, 7), 0.37, dtype=np.float32),
        "tiny_2x3": rng.random((2, 3), dtype=np.float32),
        "single_1x1": np.array([[0.6]], dtype=np.float32),
    }


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape or a.dtype != np.float32:
        raise AssertionError(f"GPU result {a.shape} {a.dtype} vs CPU {b.shape} {b.dtype}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def _patch(images):
    from deepcolor.features.patch import patch_features
    from deepcolor.kernels.patch_cuda import patch_features_cuda

    return {name: (patch_features_cuda(img), patch_features(img)) for name, img in images.items()}


def _daisy(images):
    from deepcolor.features.daisy import daisy_features
    from deepcolor.kernels.daisy_cuda import daisy_features_cuda

    return {name: (daisy_features_cuda(img), daisy_features(img)) for name, img in images.items()}


def _bilateral(images):
    from deepcolor.kernels.bilateral_cuda import joint_bilateral_cuda
    from deepcolor.refine import joint_bilateral

    rng = np.random.default_rng(7)
    out = {}
    for name, guide in images.items():
        chroma = rng.normal(0.0, 0.2, guide.shape + (2,)).astype(np.float32)
        for diameter, sigma_color in ((9, 0.05), (5, 0.5)):
            args = dict(diameter=diameter, sigma_color=sigma_color, sigma_space=3.0)
            out[f"{name}_d{diameter}"] = (joint_bilateral_cuda(chroma, guide, **args), joint_bilateral(chroma, guide, **args))
    plain = images["random_12x17"]
    args = dict(diameter=1, sigma_color=0.1, sigma_space=2.0)
    out["identity_d1"] = (joint_bilateral_cuda(plain, plain, **args), joint_bilateral(plain, plain, **args))
    return out


def _dt_reference(source: np.ndarray, guide: np.ndarray, sigma_spatial, sigma_color, iterations) -> np.ndarray:
    # As features/semantic.py calls OpenCV: one filter object, groups of <= 4 channels.
    import cv2

    dt = cv2.ximgproc.createDTFilter(guide, float(sigma_spatial), float(sigma_color), cv2.ximgproc.DTF_RF, iterations)
    groups = [np.ascontiguousarray(source[..., a : a + 4]) for a in range(0, source.shape[2], 4)]
    return np.concatenate([dt.filter(g).reshape(g.shape) for g in groups], axis=2)


def _domain_transform(images):
    from deepcolor.kernels.domain_transform_cuda import domain_transform_cuda

    rng = np.random.default_rng(3)
    out = {}
    for name, guide in images.items():
        # Softmax-like maps in [0, 1], as the semantic stage smooths.
        logits = rng.normal(0.0, 2.0, guide.shape + (11,))
        maps = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
        for sigma_spatial, sigma_color, iterations in ((16.0, 0.08, 2), (3.0, 0.3, 3)):
            got = domain_transform_cuda(maps, guide, sigma_spatial=sigma_spatial, sigma_color=sigma_color, iterations=iterations)
            ref = _dt_reference(maps, guide, sigma_spatial, sigma_color, iterations)
            out[f"{name}_s{sigma_spatial:g}_i{iterations}"] = (got, ref)
    # Long recursions (the filter is cheap to simulate): a smooth 41x53 guide with one edge.
    yy, xx = np.mgrid[0:41, 0:53]
    guide = (0.5 + 0.3 * np.sin(xx / 9.0) * np.cos(yy / 7.0) + 0.2 * (xx > 30)).astype(np.float32)
    maps = rng.random((41, 53, 5), dtype=np.float32)
    got = domain_transform_cuda(maps, guide, sigma_spatial=16.0, sigma_color=0.08, iterations=2)
    out["smooth_41x53_s16_i2"] = (got, _dt_reference(maps, guide, 16.0, 0.08, 2))
    return out


def main(kernels: list[str]) -> dict:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("cudasim_parity.py: set NUMBA_ENABLE_CUDASIM=1 (it must be set before numba.cuda is imported)")
    from numba import config

    if not config.ENABLE_CUDASIM:
        raise SystemExit("cudasim_parity.py: numba.cuda is not the simulator")
    images = _images()
    runners = {"patch": _patch, "daisy": _daisy, "bilateral": _bilateral, "domain_transform": _domain_transform}
    report = {}
    for kernel in kernels:
        atol = importlib.import_module(f"deepcolor.kernels.{kernel}_cuda").PARITY_ATOL
        for case, (got, ref) in runners[kernel](images).items():
            report[f"{kernel}/{case}"] = {
                "kernel": kernel,
                "shape": list(ref.shape),
                "max_abs": _max_abs(got, ref),
                "parity_atol": atol,
            }
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or list(KERNELS))))
