"""CUDA twin of OpenCV's domain-transform recursive filter (``cv2.ximgproc.dtFilter``, ``DTF_RF``).

The semantic stage smooths its probability maps with
``cv2.ximgproc.createDTFilter(luma, sigma_spatial, sigma_color, DTF_RF,
iterations).filter(maps)``, which has no CUDA path. This is the same filter
(Gastal & Oliveira 2011, recursive variant) as OpenCV's CPU code computes it:

- ``sigma_spatial`` is raised to at least 1 and ``sigma_color`` to at least
  0.01, as OpenCV does;
- between neighbours p, q along a row or column the transformed distance is
  ``d = 1 + sigma_spatial / sigma_color * |guide[q] - guide[p]|`` and the
  feedback weight ``a0 = exp(ln(alpha) d)``, ``alpha = exp(-sqrt(2/3) /
  sigma_H)``, ``sigma_H = sigma_spatial 2^(N-1) / sqrt(4^N - 1)``;
- iteration k = 1..N uses ``a0`` squared k - 1 times (float32, as OpenCV
  squares its weight table in place) and runs a horizontal pass (left to
  right, then right to left) and then a vertical pass (top to bottom, then
  bottom to top), each step ``f[j] += a (f[j -+ 1] - f[j])``.

Channels are filtered independently, so any channel count works (OpenCV
takes at most 4 per call). Parallelism: one thread per (row, channel) for
horizontal passes and per (column, channel) for vertical ones, so a warp
reads neighbouring memory in the vertical pass.

Parity: on maps in [0, 1] the output matches OpenCV within
``PARITY_ATOL = 1e-5`` absolute; the differences come from ``exp`` (OpenCV's
own float ``cv::exp`` vs the device's) and fused multiply-adds. Measured
under the simulator on 11 softmax maps over random, step-edge, constant, 2x3
and 1x1 guides, (sigma_spatial, sigma_color, iterations) = (16, 0.08, 2) and
(3, 0.3, 3), and on a smooth 41x53 guide with an edge: at most 1.2e-7
(``tests/test_kernels_cuda.py``). The guide must be single-channel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from deepcolor.kernels.cuda_host import check_source_guide, grid_blocks, pixel_grid

__all__ = [
    "PARITY_ATOL",
    "transform_weights_kernel",
    "recursive_kernel",
    "domain_transform_cuda",
]

PARITY_ATOL = 1e-5
_THREADS = 128


@cuda.jit
def transform_weights_kernel(guide, ratio, ln_alpha, a_rows, a_cols):  # pragma: no cover - device code
    """a_rows[y, x] (H, W-1) and a_cols[y, x] (H-1, W): exp(ln_alpha (1 + ratio |guide difference|))."""
    h, w = guide.shape
    x, y = cuda.grid(2)
    if y >= h or x >= w:
        return
    g = guide[y, x]
    one = float32(1.0)
    if x + 1 < w:
        a_rows[y, x] = math.exp(ln_alpha * (one + ratio * abs(guide[y, x + 1] - g)))
    if y + 1 < h:
        a_cols[y, x] = math.exp(ln_alpha * (one + ratio * abs(guide[y + 1, x] - g)))


@cuda.jit(device=True)
def _step(res, a, along_rows, line, j, prev, c, squarings):  # pragma: no cover - device code
    # f[j] += w (f[prev] - f[j]), w = a^(2^squarings) between j and its neighbour prev (= j -+ 1).
    k = j if j < prev else prev  # not min(): numba.cuda 0.68 fails to type min(int, int)
    w = a[line, k] if along_rows else a[k, line]
    for _ in range(squarings):
        w = w * w
    if along_rows:
        res[line, j, c] += w * (res[line, prev, c] - res[line, j, c])
    else:
        res[j, line, c] += w * (res[prev, line, c] - res[j, line, c])


@cuda.jit
def recursive_kernel(res, a, along_rows, squarings):  # pragma: no cover - device code
    """In place on res (H, W, C): causal then anti-causal recursion along every row (a = a_rows) or column (a_cols).

    One thread per (line, channel), channel fastest, so in the vertical pass a
    warp's threads read neighbouring memory.
    """
    h, w, nc = res.shape
    nl = h if along_rows else w
    n = w if along_rows else h
    i = cuda.grid(1)
    if i >= nl * nc:
        return
    line = i // nc
    c = i - line * nc
    for j in range(1, n):
        _step(res, a, along_rows, line, j, j - 1, c, squarings)
    for j in range(n - 2, -1, -1):
        _step(res, a, along_rows, line, j, j + 1, c, squarings)


def _alpha_constants(sigma_spatial: float, sigma_color: float, iterations: int) -> tuple[np.float32, np.float32]:
    """(sigma_spatial / sigma_color, ln alpha of iteration 1), float32 with OpenCV's clamps."""
    s = np.float32(max(1.0, float(np.float32(sigma_spatial))))
    c = np.float32(max(0.01, float(np.float32(sigma_color))))
    sigma_h = float(s) * 2.0 ** (iterations - 1) / math.sqrt(4.0**iterations - 1.0)
    alpha = np.float32(math.exp(-math.sqrt(2.0 / 3.0) / sigma_h))
    return np.float32(s / c), np.log(alpha)


def domain_transform_cuda(source, guide, *, sigma_spatial, sigma_color, iterations=3):
    """Edge-aware recursive domain-transform filter of ``source`` guided by ``guide``, on the GPU.

    Computes what ``cv2.ximgproc.dtFilter(guide, source, sigma_spatial,
    sigma_color, cv2.ximgproc.DTF_RF, iterations)`` computes (see the module
    docstring for the definition and the parity).

    Parameters
    ----------
    source : cupy.ndarray (or numpy.ndarray under the simulator), shape (H, W) or (H, W, C), float
        Maps to smooth, any C; computed in float32.
    guide : array of the same module, shape (H, W), float
        Single-channel guide, e.g. luma in [0, 1].
    sigma_spatial : float, keyword-only
        Spatial extent in pixels, > 0 (values below 1 act as 1, as in OpenCV).
    sigma_color : float, keyword-only
        Guide difference across which smoothing fades, > 0 (below 0.01 acts
        as 0.01, as in OpenCV). deepcolor's semantic stage uses 16 and 0.08.
    iterations : int, keyword-only
        Number of horizontal + vertical iterations >= 1; OpenCV's default 3
        (the semantic stage uses 2).

    Returns
    -------
    filtered : array of the input's module, same shape as ``source``, float32

    Raises
    ------
    ValueError
        On a shape mismatch, non-float or non-finite input, a non-positive
        sigma or fewer than 1 iteration.
    """
    for name, value in (("sigma_spatial", sigma_spatial), ("sigma_color", sigma_color)):
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    xp, planes, guide, was_2d = check_source_guide(source, guide)
    h, w = guide.shape
    res = planes.copy()
    nc = res.shape[2]
    ratio, ln_alpha = _alpha_constants(sigma_spatial, sigma_color, int(iterations))
    # At least one column/row: a zero-size CuPy array would hand numba a null pointer.
    a_rows = xp.empty((h, max(w - 1, 1)), dtype=xp.float32)
    a_cols = xp.empty((max(h - 1, 1), w), dtype=xp.float32)
    transform_weights_kernel[pixel_grid(h, w)](guide, ratio, ln_alpha, a_rows, a_cols)
    for k in range(int(iterations)):
        recursive_kernel[grid_blocks(h * nc, _THREADS), _THREADS](res, a_rows, True, k)
        recursive_kernel[grid_blocks(w * nc, _THREADS), _THREADS](res, a_cols, False, k)
    return res[..., 0] if was_2d else res
