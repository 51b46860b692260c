"""Invariants of the gist descriptor."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2gray

from deepcolor.gist import (
    DESCRIPTOR_SIZE,
    GRID,
    IMAGE_SIZE,
    N_ORIENTATIONS,
    N_SCALES,
    gist_descriptor,
    gist_descriptors,
)


def _grating(angle: float, *, size: int = IMAGE_SIZE, period: float = 8.0) -> np.ndarray:
    """Sinusoid whose frequency vector points at ``angle`` from the column axis towards the row axis."""
    rows, cols = np.mgrid[0:size, 0:size]
    phase = 2.0 * np.pi / period * (cols * np.cos(angle) + rows * np.sin(angle))
    return (0.5 + 0.4 * np.sin(phase)).astype(np.float32)


def _orientation_energy(descriptor: np.ndarray) -> np.ndarray:
    return descriptor.reshape(N_SCALES, N_ORIENTATIONS, GRID, GRID).sum(axis=(0, 2, 3))


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return skimage.data.camera().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return rgb2gray(skimage.data.astronaut()).astype(np.float32)


def test_layout_constants():
    """The descriptor is 4 scales x 8 orientations x 4x4 cells = 512 values."""
    assert N_SCALES * N_ORIENTATIONS * GRID * GRID == DESCRIPTOR_SIZE == 512


@pytest.mark.parametrize("orientation", range(N_ORIENTATIONS))
def test_grating_peaks_in_matching_orientation(orientation):
    """A grating at channel o's angle puts most energy in channel o, well above the orthogonal one."""
    angle = np.pi * orientation / N_ORIENTATIONS
    energy = _orientation_energy(gist_descriptor(_grating(angle)))
    assert int(np.argmax(energy)) == orientation
    orthogonal = (orientation + N_ORIENTATIONS // 2) % N_ORIENTATIONS
    assert energy[orthogonal] < 0.1 * energy[orientation]


def test_vertical_stripes_in_channel_zero_horizontal_in_middle():
    """Vertical stripes (varying along columns) excite channel 0; horizontal stripes channel 4."""
    vertical = _orientation_energy(gist_descriptor(_grating(0.0)))
    horizontal = _orientation_energy(gist_descriptor(_grating(np.pi / 2)))
    assert np.argmax(vertical) == 0
    assert np.argmax(horizontal) == N_ORIENTATIONS // 2


def test_rotating_grating_moves_peak():
    """Rotating a grating by pi/8 steps moves the peak channel by one each step, modulo pi."""
    peaks = [int(np.argmax(_orientation_energy(gist_descriptor(_grating(np.pi * o / 8 + 0.05, size=160))))) for o in range(16)]
    assert peaks == [o % N_ORIENTATIONS for o in range(16)]


def test_grating_scale_selectivity():
    """A finer grating puts relatively more energy in finer scales than a coarse one."""
    fine = gist_descriptor(_grating(0.3, period=4.0)).reshape(N_SCALES, -1).sum(axis=1)
    coarse = gist_descriptor(_grating(0.3, period=20.0)).reshape(N_SCALES, -1).sum(axis=1)
    assert np.argmax(fine) < np.argmax(coarse)


def test_uniform_grating_spreads_evenly_over_grid():
    """A spatially uniform grating gives nearly the same energy in every grid cell."""
    cells = gist_descriptor(_grating(0.0)).reshape(N_SCALES, N_ORIENTATIONS, GRID * GRID)[:, 0].sum(axis=0)
    assert cells.min() > 0.8 * cells.max()


def test_spatial_layout_follows_content():
    """Texture only in the top half puts the energy in the top two grid rows."""
    image = np.full((IMAGE_SIZE, IMAGE_SIZE), 0.5, dtype=np.float32)
    image[: IMAGE_SIZE // 2] = _grating(0.0)[: IMAGE_SIZE // 2]
    rows = gist_descriptor(image).reshape(N_SCALES, N_ORIENTATIONS, GRID, GRID).sum(axis=(0, 1, 3))
    assert rows[:2].min() > 5 * rows[2:].max()


@pytest.mark.parametrize("step", [1, 4])
@pytest.mark.parametrize("shift", [2, 3])
def test_small_shift_is_tolerated(camera, astronaut, step, shift):
    """Shifting a photo by 2-3 px moves its gist far less than swapping it for another photo."""
    image = camera[::step, ::step]
    a = gist_descriptor(image[shift:, shift:])
    b = gist_descriptor(image[:-shift, :-shift])
    other = gist_descriptor(astronaut[::step, ::step][shift:, shift:])
    assert np.linalg.norm(a - b) < 0.25 * np.linalg.norm(a - other)


@pytest.mark.parametrize("shape", [(8, 8), (9, 13), (64, 64), (127, 129), (321, 481), (360, 480), (600, 200)])
def test_fixed_width_float32_any_size(shape):
    """Every input size gives a finite, non-negative (512,) float32 vector."""
    rng = np.random.default_rng(0)
    d = gist_descriptor(rng.random(shape))
    assert d.shape == (DESCRIPTOR_SIZE,)
    assert d.dtype == np.float32
    assert np.all(np.isfinite(d)) and np.all(d >= 0) and d.max() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deterministic_and_dtype_independent(camera, dtype):
    """Repeated calls give identical results; float32 and float64 input agree closely."""
    image = camera[::2, ::2].astype(dtype)
    a, b = gist_descriptor(image), gist_descriptor(image.copy())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, gist_descriptor(camera[::2, ::2].astype(np.float32)), rtol=1e-4, atol=1e-6)


def test_constant_image_is_zero():
    """A flat image has no oriented energy after contrast normalization."""
    np.testing.assert_allclose(gist_descriptor(np.full((50, 70), 0.4)), 0.0, atol=1e-4)


@pytest.mark.parametrize("gain", [0.8, 0.5])
def test_global_gain_is_nearly_invisible(camera, gain):
    """Scaling brightness (log then whitening turns a gain into a removed offset) barely moves the descriptor."""
    image = camera[::4, ::4]
    a = gist_descriptor(image)
    assert np.linalg.norm(a - gist_descriptor(gain * image)) < 0.05 * np.linalg.norm(a)


def test_batch_matches_single(camera, astronaut):
    """gist_descriptors stacks gist_descriptor rows, for inputs of different sizes."""
    images = [camera[::4, ::4], astronaut[::3, ::5], camera[:100, :60]]
    batch = gist_descriptors(iter(images))
    assert batch.shape == (3, DESCRIPTOR_SIZE) and batch.dtype == np.float32
    for row, image in zip(batch, images):
        np.testing.assert_array_equal(row, gist_descriptor(image))


def test_batch_empty():
    """No images gives a (0, 512) array."""
    out = gist_descriptors([])
    assert out.shape == (0, DESCRIPTOR_SIZE) and out.dtype == np.float32


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((7, 20)), "at least"),
        (np.zeros((20, 7)), "at least"),
        (np.zeros((16, 16, 3)), "shape"),
        (np.zeros(16), "shape"),
        (np.full((16, 16), np.nan), "NaN"),
        (np.full((16, 16), 255.0), r"\[0, 1\]"),
        (np.full((16, 16), -0.5), r"\[0, 1\]"),
        (np.zeros((16, 16), dtype=np.complex64), "dtype"),
        ([[0.0] * 16] * 16, "numpy array"),
    ],
)
def test_bad_input_raises(bad, match):
    """Wrong rank, too small, non-finite, out-of-range, complex or non-array input raise ValueError."""
    with pytest.raises(ValueError, match=match):
        gist_descriptor(bad)
