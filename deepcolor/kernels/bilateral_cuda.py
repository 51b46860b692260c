"""CUDA twin of the joint bilateral filter (`deepcolor.refine.joint_bilateral`).

One thread per pixel walks the disc ``dy^2 + dx^2 <= radius^2`` in the CPU
kernel's (OpenCV's) row-major tap order, reading guide and source through
reflect-101 folding, with the CPU's spatial weights and its cut-off (guide
differences beyond 12 sigma_color weigh exactly 0). The colour weight is the
device ``expf`` instead of the CPU's polynomial (both within about 2e-7
relative), so outputs in [0, 1] match the CPU kernel within
``PARITY_ATOL = 1e-5`` absolute, the bound the CPU kernel is held to against
OpenCV (``tests/test_kernels_cuda.py``; measured under the simulator on
random, step-edge, constant, 2x3 and 1x1 images, d = 9 and 5: at most 3e-8).
"""

from __future__ import annotations

import math

from numba import cuda, float32

from deepcolor.kernels.cuda_borders import reflect101
from deepcolor.kernels.cuda_host import array_module, check_source_guide, pixel_grid
from deepcolor.kernels.params import BILATERAL_CUTOFF_SIGMAS, BILATERAL_DIAMETER, check_bilateral_params, inverse_sigma, spatial_kernel

__all__ = ["PARITY_ATOL", "MAX_CHANNELS", "joint_bilateral_kernel", "joint_bilateral_rows", "joint_bilateral_cuda"]

PARITY_ATOL = 1e-5
# Per-thread accumulators live in registers/local memory, whose size must be a compile-time constant.
MAX_CHANNELS = 8


@cuda.jit
def joint_bilateral_kernel(guide, source, dy, dx, space, inv_sigma, out):  # pragma: no cover - device code
    """out[y, x, c] = sum_k w_k source[q_k, c] / sum_k w_k over the disc taps k.

    guide (H, W) float32; source and out (H, W, C) float32, C <= MAX_CHANNELS;
    dy, dx (K,) int64 tap offsets and space (K,) float32 spatial weights.
    """
    h, w, nc = out.shape
    x, y = cuda.grid(2)
    if y >= h or x >= w:
        return
    acc = cuda.local.array(MAX_CHANNELS, float32)
    for c in range(nc):
        acc[c] = float32(0.0)
    wsum = float32(0.0)
    g0 = guide[y, x]
    zmin = float32(-0.5 * BILATERAL_CUTOFF_SIGMAS * BILATERAL_CUTOFF_SIGMAS)
    for k in range(dy.shape[0]):
        qy = reflect101(y + dy[k], h)
        qx = reflect101(x + dx[k], w)
        d = (g0 - guide[qy, qx]) * inv_sigma
        z = float32(-0.5) * d * d
        wt = space[k] * math.exp(z) if z >= zmin else float32(0.0)
        wsum += wt
        for c in range(nc):
            acc[c] += wt * source[qy, qx, c]
    inv = float32(1.0) / wsum
    for c in range(nc):
        out[y, x, c] = acc[c] * inv


def joint_bilateral_cuda(source, guide, *, diameter=BILATERAL_DIAMETER, sigma_color, sigma_space):
    """Joint (cross) bilateral filter of ``source`` steered by ``guide``, on the GPU.

    The same definition, borders and tap order as `deepcolor.refine.joint_bilateral`.

    Parameters
    ----------
    source : cupy.ndarray (or numpy.ndarray under the simulator), shape (H, W) or (H, W, C), float
        Values to filter, C <= 8; computed in float32.
    guide : array of the same module, shape (H, W), float
        The image whose edges are kept, e.g. luma in [0, 1].
    diameter, sigma_color, sigma_space : keyword-only
        As in `deepcolor.refine.joint_bilateral`: the odd window width >= 1
        (1 is the identity), and the widths (> 0) of the Gaussians of the
        guide difference (guide units) and of the distance (pixels).

    Returns
    -------
    filtered : array of the input's module, same shape as ``source``, float32

    Raises
    ------
    ValueError
        On a shape mismatch, more than 8 channels, non-float or non-finite
        input, an even or non-positive ``diameter`` or a non-positive sigma.
    """
    check_bilateral_params(diameter, sigma_color, sigma_space)
    xp, planes, guide, was_2d = check_source_guide(source, guide)
    if planes.shape[2] > MAX_CHANNELS:
        raise ValueError(f"source may have at most {MAX_CHANNELS} channels, got {planes.shape[2]}")
    dy, dx, space = spatial_kernel(int(diameter) // 2, float(sigma_space))
    h, w, nc = planes.shape
    out = xp.empty((h, w, nc), dtype=xp.float32)
    joint_bilateral_kernel[pixel_grid(h, w)](
        guide, planes, xp.asarray(dy), xp.asarray(dx), xp.asarray(space), inverse_sigma(sigma_color), out
    )
    return out[..., 0] if was_2d else out


def joint_bilateral_rows(guide_pad, planes_pad, dy, dx, space, inv_sigma, radius, out):
    """The seam's contract (`deepcolor.kernels.joint_bilateral`, ``backend="cuda"``) on device arrays.

    ``guide_pad`` (H + 2r, W + 2r) and channel-first ``planes_pad`` (C, H + 2r,
    W + 2r) float32, reflect-101 padded by ``radius`` as the CPU kernel takes
    them; ``out`` (H, W, C) float32, written. The kernel reads the borders by
    folding, so only the padded arrays' interiors are used.
    """
    xp = array_module(out)
    r = int(radius)
    h, w, nc = out.shape
    if nc > MAX_CHANNELS:
        raise ValueError(f"planes_pad may have at most {MAX_CHANNELS} channels, got {nc}")
    guide = xp.ascontiguousarray(guide_pad[r : r + h, r : r + w])
    planes = xp.ascontiguousarray(xp.moveaxis(planes_pad[:, r : r + h, r : r + w], 0, -1))
    joint_bilateral_kernel[pixel_grid(h, w)](
        guide, planes, xp.asarray(dy), xp.asarray(dx), xp.asarray(space), xp.float32(inv_sigma), out
    )
