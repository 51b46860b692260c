"""CUDA twin of dense DAISY (`deepcolor.features.daisy.daisy_features`).

The same arithmetic as the CPU kernel, in four launches over the
reflect-padded grid (padding read through index folding, never stored):
orientation histograms (one thread per padded pixel; ``cos(theta - a)`` as a
dot product, the opposite bin's weight as a reciprocal), a horizontal then a
vertical 29-tap Gaussian (sigma 3.5, scipy ``reflect`` borders; one thread
per orientation and pixel), and the assembly of centre and ring histograms
with L1 normalisation (one thread per output pixel). Scratch: two
``(8, H + 14, W + 14)`` float32 planes, 64 bytes per pixel each.

Parity: descriptors (values about 1/32) match the CPU kernel within
``PARITY_ATOL = 1e-6`` absolute: the same float32 terms are summed in the same
order, so differences come only from ``exp``/``sqrt`` rounding and fused
multiply-adds (numba's simulator evaluates ``exp``/``sqrt`` in float64).
Measured under the simulator on 12x17 random, step-edge, constant, 2x3 and
1x1 images: at most 4.5e-8 (``tests/test_kernels_cuda.py``).
"""

from __future__ import annotations

import math

from numba import cuda, float32

from deepcolor.kernels.cuda_borders import reflect101, reflect_edge
from deepcolor.kernels.cuda_host import array_module, check_float_array, grid_blocks, pixel_grid
from deepcolor.kernels.params import DAISY_COS, DAISY_DIM, DAISY_KAPPA, DAISY_RADIUS, DAISY_RING_OFFSETS, DAISY_SIN, DAISY_TAPS

__all__ = [
    "PARITY_ATOL",
    "orientation_kernel",
    "smooth_kernel",
    "assemble_kernel",
    "daisy_features_cuda",
    "dense_daisy",
]

PARITY_ATOL = 1e-6
_THREADS = 128


@cuda.jit
def orientation_kernel(luma, margin, cos_a, sin_a, kappa, hist):  # pragma: no cover - device code
    """hist[o, py, px]: orientation-weighted gradient magnitude of the padded luma at (py, px).

    luma (H, W) float32; hist (8, H + 2 margin, W + 2 margin) float32. Forward
    differences, zero in the last padded column/row (skimage's ``np.diff``).
    """
    h, w = luma.shape
    no, hp, wp = hist.shape
    nhalf = no // 2
    px, py = cuda.grid(2)
    if py >= hp or px >= wp:
        return
    y = reflect101(py - margin, h)
    x = reflect101(px - margin, w)
    centre = luma[y, x]
    # float32 literals throughout: a float64 constant would promote the whole expression.
    zero = float32(0.0)
    gx = luma[y, reflect101(px + 1 - margin, w)] - centre if px + 1 < wp else zero
    gy = luma[reflect101(py + 1 - margin, h), x] - centre if py + 1 < hp else zero
    m = math.sqrt(gx * gx + gy * gy)
    if m == zero:
        for o in range(no):
            hist[o, py, px] = zero
        return
    s = kappa / m
    for o in range(nhalf):
        e = math.exp((gx * cos_a[o] + gy * sin_a[o]) * s)
        hist[o, py, px] = e * m
        hist[o + nhalf, py, px] = m / e


@cuda.jit
def smooth_kernel(src, taps, along_rows, dst):  # pragma: no cover - device code
    """dst[o, y, x]: symmetric Gaussian of src[o] along x (along_rows) or y, half-sample reflected borders.

    src, dst (8, Hp, Wp) float32; taps (r + 1,) float32, centre first. One
    thread per element, x fastest, so a warp reads contiguous memory either way.
    """
    no, hp, wp = src.shape
    i = cuda.grid(1)
    if i >= no * hp * wp:
        return
    o = i // (hp * wp)
    rest = i - o * hp * wp
    y = rest // wp
    x = rest - y * wp
    acc = taps[0] * src[o, y, x]
    for k in range(1, taps.shape[0]):
        if along_rows:
            pair = src[o, y, reflect_edge(x - k, wp)] + src[o, y, reflect_edge(x + k, wp)]
        else:
            pair = src[o, reflect_edge(y - k, hp), x] + src[o, reflect_edge(y + k, hp), x]
        acc += taps[k] * pair
    dst[o, y, x] = acc


@cuda.jit
def assemble_kernel(smooth, offsets, margin, out):  # pragma: no cover - device code
    """out[y, x]: L1-normalised [centre, ring 0, ring 1, ring 2] histograms, each + 1e-10.

    smooth (8, H + 2 margin, W + 2 margin); offsets (3, 2) int64 ring (dy, dx);
    out (H, W, 32) float32.
    """
    h, w, dim = out.shape
    no = smooth.shape[0]
    x, y = cuda.grid(2)
    if y >= h or x >= w:
        return
    cy = y + margin
    cx = x + margin
    eps = float32(1e-10)
    total = float32(0.0)
    for o in range(no):
        v0 = smooth[o, cy, cx] + eps
        v1 = smooth[o, cy + offsets[0, 0], cx + offsets[0, 1]] + eps
        v2 = smooth[o, cy + offsets[1, 0], cx + offsets[1, 1]] + eps
        v3 = smooth[o, cy + offsets[2, 0], cx + offsets[2, 1]] + eps
        out[y, x, o] = v0
        out[y, x, no + o] = v1
        out[y, x, 2 * no + o] = v2
        out[y, x, 3 * no + o] = v3
        total += (v0 + v1) + (v2 + v3)  # the CPU kernel's pairing
    inv = float32(1.0) / total
    for k in range(dim):
        out[y, x, k] *= inv


def daisy_features_cuda(luma):
    """Dense DAISY descriptor of every pixel, on the GPU.

    Parameters
    ----------
    luma : cupy.ndarray (or numpy.ndarray under the simulator), shape (H, W), float
        Luma in [0, 1], any size >= 1x1; computed in float32. Padded by 7
        pixels with reflect-101 borders as in the CPU function.

    Returns
    -------
    descriptors : array of the input's module, shape (H, W, 32), float32
        Non-negative, L1-normalised; the layout of `daisy_features` (centre,
        then rings at 0, 120, 240 degrees, 8 orientations each).

    Raises
    ------
    ValueError
        If ``luma`` is not a non-empty, finite 2-D float array.
    """
    xp, luma = check_float_array(luma, "luma", (2,))
    h, w = luma.shape
    out = xp.empty((h, w, DAISY_DIM), dtype=xp.float32)
    _launch(luma, DAISY_TAPS, DAISY_COS, DAISY_SIN, DAISY_KAPPA, DAISY_RING_OFFSETS, DAISY_RADIUS, out)
    return out


def dense_daisy(padded, h, w, taps, cos, sin, kappa, ring_offsets, margin, out):
    """The seam's contract (`deepcolor.kernels.dense_daisy`, ``backend="cuda"``) on device arrays.

    ``padded`` is the luma reflect-101 padded by ``margin``, as the CPU kernel
    takes it; the kernels fold indices instead, so only its interior is read.
    ``out`` (h, w * 8 * (1 + rings)) float32 is written.
    """
    xp = array_module(out)
    luma = xp.ascontiguousarray(padded[margin : margin + h, margin : margin + w])
    _launch(luma, taps, cos, sin, kappa, ring_offsets, margin, out.reshape(h, w, -1))


def _launch(luma, taps, cos, sin, kappa, ring_offsets, margin, out):
    """The four launches: luma (H, W) float32 on the device -> out (H, W, 32)."""
    xp = array_module(out)
    h, w = luma.shape
    hp, wp = h + 2 * margin, w + 2 * margin
    no = 2 * len(cos)
    hist = xp.empty((no, hp, wp), dtype=xp.float32)
    work = xp.empty_like(hist)
    taps = xp.asarray(taps)
    n_planes = no * hp * wp
    orientation_kernel[pixel_grid(hp, wp)](luma, margin, xp.asarray(cos), xp.asarray(sin), xp.float32(kappa), hist)
    # Horizontal then vertical, the CPU kernel's order (float32 sums are order-sensitive).
    smooth_kernel[grid_blocks(n_planes, _THREADS), _THREADS](hist, taps, True, work)
    smooth_kernel[grid_blocks(n_planes, _THREADS), _THREADS](work, taps, False, hist)
    assemble_kernel[pixel_grid(h, w)](hist, xp.asarray(ring_offsets), margin, out)
