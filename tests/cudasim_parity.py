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

KERNELS = ("patch", "daisy", "bilateral", "domain_transform", "upsample", "semantic")
# Where each kernel's PARITY_ATOL lives.
MODULES = {k: f"deepcolor.kernels.{k}_cuda" for k in KERNELS[:5]} | {"semantic": "deepcolor.features.semantic"}


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
    from deepcolor import kernels
    from deepcolor.features.patch import pad_luma, patch_features
    from deepcolor.kernels.patch_cuda import patch_features_cuda

    out = {name: (patch_features_cuda(img), patch_features(img)) for name, img in images.items()}
    # The seam's gather_patches with backend="cuda" against "cpu", at shuffled pixels, into columns of a wider out.
    img = images["random_12x17"]
    index = np.random.default_rng(1).permutation(img.size).astype(np.int64)
    got, ref = (
        kernels.gather_patches(pad_luma(img), img.shape[1], index, size=7, out=np.zeros((img.size, 60), np.float32), backend=b)
        for b in ("cuda", "cpu")
    )
    out["seam_gather_patches"] = (got, ref)
    return out


def _daisy(images):
    from deepcolor import kernels
    from deepcolor.features.daisy import daisy_features
    from deepcolor.kernels.params import DAISY_COS, DAISY_KAPPA, DAISY_RADIUS, DAISY_RING_OFFSETS, DAISY_SIN, DAISY_TAPS
    from deepcolor.kernels.daisy_cuda import daisy_features_cuda

    out = {name: (daisy_features_cuda(img), daisy_features(img)) for name, img in images.items()}
    img = images["step_9x11"]
    padded = np.ascontiguousarray(np.pad(img, DAISY_RADIUS, mode="reflect"))
    args = dict(taps=DAISY_TAPS, cos=DAISY_COS, sin=DAISY_SIN, kappa=DAISY_KAPPA, ring_offsets=DAISY_RING_OFFSETS, margin=DAISY_RADIUS)
    got, ref = (kernels.dense_daisy(padded, *img.shape, **args, backend=b) for b in ("cuda", "cpu"))
    out["seam_dense_daisy"] = (got, ref)
    return out


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
    # The seam's joint_bilateral with backend="cuda" against "cpu", on the CPU's prepared (padded, channel-first) inputs.
    from deepcolor import kernels
    from deepcolor.kernels.params import inverse_sigma, spatial_kernel

    chroma = rng.normal(0.0, 0.2, (2,) + plain.shape).astype(np.float32)
    dy, dx, space = spatial_kernel(4, 3.0)
    guide_pad = np.ascontiguousarray(np.pad(plain, 4, mode="reflect"))
    planes_pad = np.ascontiguousarray(np.pad(chroma, ((0, 0), (4, 4), (4, 4)), mode="reflect"))
    got, ref = (kernels.joint_bilateral(guide_pad, planes_pad, dy, dx, space, inverse_sigma(0.05), 4, backend=b) for b in ("cuda", "cpu"))
    out["seam_joint_bilateral"] = (got, ref)
    return out


def _upsample(images):
    # The seam's merge_normalize with backend="cuda" against "cpu": FCN-like groups of 4, 4, 3 classes.
    from deepcolor import kernels

    rng = np.random.default_rng(8)
    out = {}
    for name, n in (("rows_200", 200), ("row_1", 1)):
        groups = [rng.normal(0.1, 0.2, (n, c)).astype(np.float32) for c in (4, 4, 3)]
        for g in groups:
            g[0] = -1.0  # all negative: the uniform fallback
        got, ref = (kernels.merge_normalize(*groups, backend=b) for b in ("cuda", "cpu"))
        out[name] = (got, ref)
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


def _semantic(images):
    # The GPU semantic stage against the CPU one: smoothing of given maps (PARITY_ATOL), and the
    # whole stage with the shipped FCN as the model runs it on the CPU (the whole image as a region).
    from deepcolor.features.semantic import FEATURES_ATOL, load_fcn, semantic_features, small_probabilities, smooth_probabilities

    rng = np.random.default_rng(4)
    out = {}
    for name in ("random_12x17", "step_9x11", "single_1x1"):
        guide = images[name]
        logits = rng.normal(0.0, 2.0, guide.shape + (11,))
        maps = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
        maps[0, 0] = -0.1  # all negative: the uniform fallback
        out[f"smooth_{name}"] = (smooth_probabilities(maps, guide, backend="cuda"), smooth_probabilities(maps, guide))
    fcn = load_fcn()
    yy, xx = np.mgrid[0:37, 0:45]
    smooth = (0.5 + 0.3 * np.sin(xx / 6.0) * np.cos(yy / 5.0) + 0.2 * (xx > 25)).astype(np.float32)
    for name, luma, max_side in (("fcn_37x45", smooth, None), ("fcn_37x45_upsampled", smooth, 16), ("fcn_step_9x11", images["step_9x11"], None)):
        got = semantic_features(luma, fcn, max_side=max_side, device="cuda")
        whole = (slice(0, luma.shape[0]), slice(0, luma.shape[1]))
        ref = semantic_features(luma, small=small_probabilities(luma, fcn, max_side=max_side), region=whole)
        out[f"features_{name}"] = (got, ref, FEATURES_ATOL)
    return out


def main(kernels: list[str]) -> dict:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("cudasim_parity.py: set NUMBA_ENABLE_CUDASIM=1 (it must be set before numba.cuda is imported)")
    from numba import config

    if not config.ENABLE_CUDASIM:
        raise SystemExit("cudasim_parity.py: numba.cuda is not the simulator")
    images = _images()
    runners = {
        "patch": _patch,
        "daisy": _daisy,
        "bilateral": _bilateral,
        "domain_transform": _domain_transform,
        "upsample": _upsample,
        "semantic": _semantic,
    }
    report = {}
    for kernel in kernels:
        atol = importlib.import_module(MODULES[kernel]).PARITY_ATOL
        for case, (got, ref, *case_atol) in runners[kernel](images).items():
            report[f"{kernel}/{case}"] = {
                "kernel": kernel,
                "shape": list(ref.shape),
                "max_abs": _max_abs(got, ref),
                "parity_atol": case_atol[0] if case_atol else atol,
            }
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or list(KERNELS))))
