"""Gist scene descriptor (Oliva & Torralba 2001), as Cheng et al. use it to cluster images.

The descriptor summarises the spatial layout of oriented energy at several
scales. Pipeline, for one luma image:

1. **Resize** to a fixed ``IMAGE_SIZE`` x ``IMAGE_SIZE`` (128 x 128) with area
   averaging (linear interpolation when upsampling). The aspect ratio is *not*
   kept: the whole frame is stretched onto the square, as in the original gist
   code's fixed-size input, so every part of the picture contributes and the
   4 x 4 pooling grid always spans the full frame. (Torralba's later ``LMgist``
   crops the centre instead; a centre crop would drop the sides of wide frames
   such as 4:3 driving scenes.)
2. **Prefilter**: a simplified form of Oliva & Torralba's ``prefilt`` with
   ``fc = 4`` cycles per image. The image is mapped to ``log(1 + 255 Y)``,
   whitened by subtracting a Gaussian low-pass (``exp(-(fx^2 + fy^2) / s^2)``
   with ``s = fc / sqrt(ln 2)``, frequencies in cycles per image), and divided
   by ``0.2 +`` its local standard deviation (the square root of the same
   low-pass applied to the squared whitened image). This is local contrast
   normalization: the descriptor becomes insensitive to slow illumination
   changes and global contrast.
3. **Gabor bank**: ``N_SCALES`` x ``N_ORIENTATIONS`` (4 x 8) one-sided
   log-polar-style Gabor transfer functions, built once in the frequency domain
   for the padded size and cached. Scale ``s`` has its radial peak at
   ``0.3 / 1.85**s`` cycles per pixel (finest first); orientation ``o`` is
   tuned to frequency vectors at angle ``theta_o = pi * o / N_ORIENTATIONS``
   measured from the +column (x) axis towards the +row (y, downwards) axis.
   A grating ``sin(2 pi f (x cos t + y sin t))`` (x = column, y = row)
   therefore excites orientation ``o`` with ``theta_o`` nearest to ``t``
   (mod pi): a grating of *vertical* stripes (intensity varying along x) peaks
   at ``o = 0``; horizontal stripes peak at ``o = N_ORIENTATIONS // 2``.
   Because each filter keeps only one half of the frequency plane, the filter
   output is an analytic (complex) signal whose modulus is a smooth local
   energy, which makes the descriptor tolerant to small shifts.
4. **Pooling**: the energies ``|IFFT(F * G)|`` (on the image padded by
   ``BOUNDARY`` pixels of mirror reflection, then cropped back) are averaged
   over a ``GRID`` x ``GRID`` (4 x 4) grid of 32 x 32 blocks.

Layout of the ``DESCRIPTOR_SIZE`` = 4 * 8 * 16 = 512 values: scale-major, then
orientation, then grid cell in row-major order, i.e. value
``((s * N_ORIENTATIONS + o) * GRID + row) * GRID + col``; equivalently
``descriptor.reshape(N_SCALES, N_ORIENTATIONS, GRID, GRID)``.

Only numpy, scipy.fft and OpenCV's resize are used; a 128 x 128 descriptor
takes a few milliseconds. PyPI has no well-kept gist package (``pyleargist``
was last released in 2012 and builds a C extension; ``torchgist`` is a single
2022 release), hence this implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import cv2
import numpy as np
import scipy.fft

from deepcolor.colorspace import check_luma

__all__ = [
    "IMAGE_SIZE",
    "BOUNDARY",
    "N_SCALES",
    "N_ORIENTATIONS",
    "GRID",
    "PREFILTER_FC",
    "DESCRIPTOR_SIZE",
    "MIN_INPUT_SIZE",
    "gist_descriptor",
    "gist_descriptors",
]

IMAGE_SIZE = 128
BOUNDARY = 32
N_SCALES = 4
N_ORIENTATIONS = 8
GRID = 4
PREFILTER_FC = 4.0
DESCRIPTOR_SIZE = N_SCALES * N_ORIENTATIONS * GRID * GRID
MIN_INPUT_SIZE = 8

# Filter-bank shape, as in Oliva & Torralba's gist: finest radial peak, ratio
# between scales, radial sharpness and angular sharpness of each lobe.
_PEAK_FREQUENCY = 0.3
_SCALE_RATIO = 1.85
_RADIAL_SHARPNESS = 3.5
_ANGULAR_SHARPNESS = 2.0 * np.pi * (16.0 * N_ORIENTATIONS**2 / 32.0**2)
_PREFILTER_PAD = 5
_CONTRAST_FLOOR = 0.2
# Values up to this far outside [0, 1] are float round-off and are clipped.
_RANGE_TOLERANCE = 1e-3
_FFT_WORKERS = 2


def _check_luma(luma: np.ndarray) -> np.ndarray:
    if not isinstance(luma, np.ndarray):
        raise ValueError(f"luma must be a numpy array, got {type(luma).__name__}")
    return np.clip(check_luma(luma, min_size=MIN_INPUT_SIZE, range_tolerance=_RANGE_TOLERANCE), 0.0, 1.0)


def _resize(y: np.ndarray) -> np.ndarray:
    h, w = y.shape
    if (h, w) == (IMAGE_SIZE, IMAGE_SIZE):
        return np.ascontiguousarray(y)
    shrinking = h >= IMAGE_SIZE and w >= IMAGE_SIZE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(y), (IMAGE_SIZE, IMAGE_SIZE), interpolation=interpolation)


@functools.lru_cache(maxsize=4)
def _prefilter_lowpass(size: int) -> np.ndarray:
    """Gaussian low-pass for ``rfft2`` of a ``size`` x ``size`` image, shape (size, size // 2 + 1)."""
    fy = scipy.fft.fftfreq(size) * size  # cycles per image
    fx = scipy.fft.rfftfreq(size) * size
    s2 = PREFILTER_FC**2 / np.log(2.0)
    g = np.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / s2).astype(np.float32)
    g.setflags(write=False)
    return g


def _prefilter(y: np.ndarray) -> np.ndarray:
    """Whitening and local contrast normalization of a square float32 image."""
    n = y.shape[0]
    x = np.pad(np.log1p(255.0 * y), _PREFILTER_PAD, mode="symmetric")
    size = x.shape[0]
    g = _prefilter_lowpass(size)
    low = scipy.fft.irfft2(scipy.fft.rfft2(x) * g, s=x.shape)
    hp = x - low
    local_var = scipy.fft.irfft2(scipy.fft.rfft2(hp * hp) * g, s=x.shape)
    out = hp / (_CONTRAST_FLOOR + np.sqrt(np.abs(local_var)))
    p = _PREFILTER_PAD
    return out[p : p + n, p : p + n].astype(np.float32)


@functools.lru_cache(maxsize=4)
def _gabor_bank(size: int) -> np.ndarray:
    """Transfer functions of the bank for ``fft2`` of a ``size`` x ``size`` image.

    Returns
    -------
    bank : ndarray, shape (N_SCALES * N_ORIENTATIONS, size, size), float32
        Read-only; filter ``s * N_ORIENTATIONS + o`` is scale ``s``,
        orientation ``o`` (see the module docstring). DC gain is zero.
    """
    fy = scipy.fft.fftfreq(size)[:, None]  # cycles per pixel, along rows
    fx = scipy.fft.fftfreq(size)[None, :]  # along columns
    radius = np.hypot(fx, fy)
    angle = np.arctan2(fy, fx)
    bank = np.empty((N_SCALES * N_ORIENTATIONS, size, size), dtype=np.float32)
    for s in range(N_SCALES):
        peak = _PEAK_FREQUENCY / _SCALE_RATIO**s
        radial = np.exp(-_RADIAL_SHARPNESS * (radius / peak - 1.0) ** 2)
        for o in range(N_ORIENTATIONS):
            theta = np.pi * o / N_ORIENTATIONS
            # Angular distance wrapped to [-pi, pi): one lobe per filter.
            d = np.mod(angle - theta + np.pi, 2.0 * np.pi) - np.pi
            bank[s * N_ORIENTATIONS + o] = radial * np.exp(-_ANGULAR_SHARPNESS * d**2)
    bank[:, 0, 0] = 0.0
    bank.setflags(write=False)
    return bank


def gist_descriptor(luma: np.ndarray) -> np.ndarray:
    """Gist descriptor of one grayscale image.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1]; ``H, W >= 8``. Any size: the image is stretched to
        128 x 128 (aspect not kept, see the module docstring).

    Returns
    -------
    descriptor : ndarray, shape (512,), float32
        Non-negative pooled Gabor energies, laid out scale-major, then
        orientation, then 4 x 4 grid cell in row-major order
        (``reshape(N_SCALES, N_ORIENTATIONS, GRID, GRID)``).

    Raises
    ------
    ValueError
        If ``luma`` is not a finite 2-D real array of at least 8 x 8 with
        values in [0, 1].
    """
    y = _prefilter(_resize(_check_luma(luma)))
    x = np.pad(y, BOUNDARY, mode="symmetric")
    bank = _gabor_bank(x.shape[0])
    spectrum = scipy.fft.fft2(x.astype(np.complex64), workers=_FFT_WORKERS)
    responses = scipy.fft.ifft2(bank * spectrum, axes=(-2, -1), workers=_FFT_WORKERS)
    b = BOUNDARY
    energy = np.abs(responses[:, b : b + IMAGE_SIZE, b : b + IMAGE_SIZE])
    cell = IMAGE_SIZE // GRID
    pooled = energy.reshape(-1, GRID, cell, GRID, cell).mean(axis=(2, 4), dtype=np.float64)
    return pooled.reshape(DESCRIPTOR_SIZE).astype(np.float32)


def gist_descriptors(lumas: Iterable[np.ndarray]) -> np.ndarray:
    """Gist descriptors of several images (each of any size).

    Parameters
    ----------
    lumas : iterable of ndarray, each shape (H_i, W_i), float in [0, 1]

    Returns
    -------
    descriptors : ndarray, shape (N, 512), float32
        Row ``i`` is ``gist_descriptor(lumas[i])``; shape (0, 512) when empty.
    """
    rows = [gist_descriptor(luma) for luma in lumas]
    if not rows:
        return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)
