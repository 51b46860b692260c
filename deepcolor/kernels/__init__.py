"""The dense kernels behind one seam: validate and allocate here, then dispatch to a backend.

Each public function checks its prepared arrays (shape, dtype, contiguity),
allocates the output the caller did not give, and calls the twin of the chosen
``backend``: ``"cpu"`` runs the numba kernels of ``<name>_cpu.py``; ``"cuda"``
runs ``<name>_cuda.py`` (numba.cuda on CuPy arrays; numpy arrays under numba's
CUDA simulator) beside them, with the same contract on device arrays. The
reference each kernel matches lives with its feature (``features/``,
``refine.py``) and in ``tests/naive.py``. Backends are imported on first use, so
the CPU path never imports cupy or numba.cuda.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

__all__ = ["BACKENDS", "gather_patches", "dense_daisy", "joint_bilateral", "merge_normalize"]

BACKENDS = ("cpu", "cuda")


def _backend(name: str, backend: str) -> ModuleType:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        return importlib.import_module(f"deepcolor.kernels.{name}_{backend}")
    except ModuleNotFoundError as exc:
        if exc.name != f"deepcolor.kernels.{name}_{backend}":
            raise
        raise ValueError(f"no {backend} kernel for {name} in this installation") from None


def _xp(array) -> ModuleType:
    # numpy, or cupy for a CuPy array (the cuda backend's inputs); never imports cupy for numpy.
    from deepcolor.kernels.cuda_host import array_module

    return array_module(array)


def _check(array: np.ndarray, name: str, ndim: int, dtype: type = np.float32) -> None:
    if not isinstance(array, (np.ndarray, _xp(array).ndarray)) or array.ndim != ndim or array.dtype != dtype or not array.flags.c_contiguous:
        got = f"{type(array).__name__} {getattr(array, 'shape', '')} {getattr(array, 'dtype', '')}"
        raise ValueError(f"{name} must be a C-contiguous {ndim}-d {np.dtype(dtype).name} array, got {got}")


def gather_patches(
    padded: np.ndarray, width: int, flat_index: np.ndarray, *, size: int, out: np.ndarray | None = None, backend: str = "cpu"
) -> np.ndarray:
    """``size`` x ``size`` patches of a padded luma at row-major pixel indices of the unpadded image.

    ``padded`` (H + size - 1, W + size - 1) float32; ``flat_index`` (N,) int64 in
    ``[0, H * W)``; patches go, row-major, into the first ``size**2`` columns of
    ``out`` (N, >= size**2) float32 (allocated when not given). Returns ``out``.
    """
    _check(padded, "padded", 2)
    _check(flat_index, "flat_index", 1, np.int64)
    if out is None:
        out = _xp(padded).empty((flat_index.shape[0], size * size), dtype=np.float32)
    _check(out, "out", 2)
    if out.shape[0] != flat_index.shape[0] or out.shape[1] < size * size:
        raise ValueError(f"out must have shape ({flat_index.shape[0]}, >= {size * size}), got {out.shape}")
    _backend("patch", backend).gather_patches(padded, int(width), flat_index, int(size), out, 0)
    return out


def dense_daisy(
    padded: np.ndarray,
    h: int,
    w: int,
    *,
    taps: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
    kappa: np.float32,
    ring_offsets: np.ndarray,
    margin: int,
    backend: str = "cpu",
) -> np.ndarray:
    """Dense DAISY of a luma reflect-padded by ``margin``: (h, w * 2 * len(cos) * (1 + rings)) float32.

    ``taps`` are the Gaussian's (radius + 1) float32 taps, centre first; ``cos``,
    ``sin`` the orientations' half-circle unit vectors; ``ring_offsets`` (R, 2)
    int64 the ring histograms' (dy, dx). See `deepcolor.features.daisy`.
    """
    _check(padded, "padded", 2)
    if padded.shape != (h + 2 * margin, w + 2 * margin):
        raise ValueError(f"padded must have shape ({h + 2 * margin}, {w + 2 * margin}), got {padded.shape}")
    orientations = 2 * cos.shape[0]
    out = _xp(padded).empty((h, w * orientations * (1 + ring_offsets.shape[0])), dtype=np.float32)
    _backend("daisy", backend).dense_daisy(padded, h, w, taps, cos, sin, kappa, ring_offsets, margin, out)
    return out


def joint_bilateral(
    guide_pad: np.ndarray,
    planes_pad: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray,
    space: np.ndarray,
    inv_sigma: np.float32,
    radius: int,
    *,
    out: np.ndarray | None = None,
    backend: str = "cpu",
) -> np.ndarray:
    """Joint bilateral filter of channel-first planes, both inputs reflect-padded by ``radius``.

    ``guide_pad`` (H + 2r, W + 2r) and ``planes_pad`` (C, H + 2r, W + 2r) float32;
    the window's taps ``dy``, ``dx`` (K,) int64 and spatial weights ``space``
    (K,) float32. Returns ``out`` (H, W, C) float32. See `deepcolor.refine`.
    """
    _check(guide_pad, "guide_pad", 2)
    _check(planes_pad, "planes_pad", 3)
    if planes_pad.shape[1:] != guide_pad.shape:
        raise ValueError(f"planes_pad must have shape (C, {guide_pad.shape[0]}, {guide_pad.shape[1]}), got {planes_pad.shape}")
    shape = (guide_pad.shape[0] - 2 * radius, guide_pad.shape[1] - 2 * radius, planes_pad.shape[0])
    if out is None:
        out = _xp(guide_pad).empty(shape, dtype=np.float32)
    _check(out, "out", 3)
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    _backend("bilateral", backend).joint_bilateral_rows(guide_pad, planes_pad, dy, dx, space, inv_sigma, int(radius), out)
    return out


def merge_normalize(g0: np.ndarray, g1: np.ndarray, g2: np.ndarray, *, backend: str = "cpu") -> np.ndarray:
    """Three (N, c_k) float32 channel groups -> (N, c0 + c1 + c2) float32, clipped at 0 and summing to 1 per row.

    A row whose sum vanishes becomes uniform. The FCN's upsampled class groups
    are merged this way (`deepcolor.features.semantic`).
    """
    for name, g in (("g0", g0), ("g1", g1), ("g2", g2)):
        _check(g, name, 2)
        if g.shape[0] != g0.shape[0]:
            raise ValueError(f"{name} must have {g0.shape[0]} rows, got {g.shape[0]}")
    out = _xp(g0).empty((g0.shape[0], g0.shape[1] + g1.shape[1] + g2.shape[1]), dtype=np.float32)
    _backend("upsample", backend).merge_normalize(g0, g1, g2, out)
    return out
