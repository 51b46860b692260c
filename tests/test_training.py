"""Training helpers: per-image sampling, the regressor cache and chroma-gain calibration."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deepcolor.colorspace import quantize_luma, split_luma_chroma
from deepcolor.train.calibrate import CALIBRATION_MIN_IMAGES, calibrate
from deepcolor.train.cheng import ImageSamples, RegressorCache, extract_samples


class _Scaled:
    """A stand-in regressor that predicts `factor` times a fixed chroma stored in the descriptor."""

    def __init__(self, factor):
        self.factor = factor

    def predict(self, x):
        return (x[:, :2] * self.factor).astype(np.float32)


def _samples(n_images, rng, key):
    out = []
    for _ in range(n_images):
        chroma = rng.standard_normal((50, 2)).astype(np.float32) * 0.05
        desc = np.concatenate([chroma, np.zeros((50, 90), np.float32)], axis=1)
        out.append(ImageSamples(key, desc, chroma, np.zeros(50, np.float32), np.zeros((50, 3), np.uint8), np.zeros(512, np.float32), None))
    return out


def test_calibration_recovers_the_least_squares_gain():
    """A regressor that predicts 2x (or 0.5x) the true chroma gets gain 0.5 (or 2); thin support takes the pooled gain."""
    rng = np.random.default_rng(0)
    held_out = _samples(4, rng, "A") + _samples(4, rng, "B") + _samples(CALIBRATION_MIN_IMAGES - 1, rng, "C")
    regs = {"A": _Scaled(2.0), "B": _Scaled(0.5), "C": _Scaled(4.0), "global": _Scaled(1.25)}
    heads = [SimpleNamespace(key=k, chroma_scale={}) for k in "ABC"]
    # calibrate() routes each held-out image once without and once with clusters, in order;
    # this stand-in routes an image to the cluster named by its tag.
    order = iter([s.path for s in held_out] * 2)

    def choose(gist, hist, *, semantic, clusters):
        tag = next(order)
        return (regs[tag], tag) if clusters else (regs["global"], "global")

    model = SimpleNamespace(global_regressors={"plain": None}, clusters=heads, global_scale={}, choose=choose)
    calibrated, report = calibrate(model, held_out)
    assert model.global_scale == {} and all(h.chroma_scale == {} for h in heads)  # the input model is not changed
    assert calibrated.global_scale["plain"] == pytest.approx(0.8, abs=1e-3)
    gains = {h.key: h.chroma_scale["plain"] for h in calibrated.clusters}
    assert gains["A"] == pytest.approx(0.5, abs=1e-3) and gains["B"] == pytest.approx(2.0, abs=1e-3)
    assert gains["C"] == report["plain"]["pooled_clusters"]  # too few images: pooled gain
    assert report["plain"]["images_per_regressor"]["C"] == CALIBRATION_MIN_IMAGES - 1


def test_extract_samples_is_order_independent_and_true(tmp_path):
    """A file's samples depend on its name and the seed only, not on what was read before; they hold its true colours."""
    rgb = data.coffee()[::4, ::4]
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(data.astronaut()[::4, ::4]).save(tmp_path / "d.png")
    (tmp_path / "copy").mkdir()
    Image.fromarray(rgb).save(tmp_path / "copy" / "c.png")
    a = extract_samples(tmp_path / "c.png", fcn=None, n_samples=200, seed=1)
    extract_samples(tmp_path / "d.png", fcn=None, n_samples=200, seed=1)  # another image first: must not matter
    b = extract_samples(tmp_path / "copy" / "c.png", fcn=None, n_samples=200, seed=1)
    for field in ("descriptors", "chroma", "luma", "rgb", "gist"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.descriptors.shape == (200, 81) and a.descriptors.dtype == np.float32 and a.histogram is None
    # Every sample is a pixel of the photo, its chroma is that pixel's true U, V and its luma the 8-bit gray value.
    pixels = {tuple(p) for p in rgb.reshape(-1, 3)}
    assert all(tuple(p) in pixels for p in a.rgb)
    true_luma, true_chroma = split_luma_chroma(a.rgb.astype(np.float32) / 255.0)
    np.testing.assert_allclose(a.chroma, true_chroma, atol=1e-6)
    np.testing.assert_allclose(a.luma, quantize_luma(true_luma), atol=1e-6)
    assert np.abs(a.chroma).max() > 0.05  # a colour photo: the samples are not gray
    # The patch centre (column 24) is the sampled pixel's 8-bit luma.
    np.testing.assert_allclose(a.descriptors[:, 24], a.luma, atol=1e-6)
    c = extract_samples(tmp_path / "c.png", fcn=None, n_samples=200, seed=2)
    assert not np.array_equal(a.luma, c.luma)


def test_extract_samples_rejects_gray(tmp_path):
    """A gray training image is refused: it cannot teach colour."""
    Image.fromarray(data.camera()[:64, :64]).save(tmp_path / "g.png")
    with pytest.raises(ValueError, match="gray"):
        extract_samples(tmp_path / "g.png", fcn=None, n_samples=10, seed=0)


def test_regressor_cache_reuses_only_same_members(tmp_path):
    """A cached MLP is reused for the same members and retrained when the members change."""
    from deepcolor.regressor import fit_regressor

    rng = np.random.default_rng(0)
    x, y = rng.random((200, 8)).astype(np.float32), rng.random((200, 2)).astype(np.float32)
    calls = []

    def train():
        calls.append(1)
        return fit_regressor(x, y, epochs=1)

    cache = RegressorCache(tmp_path)
    first = cache.get_or_train("c", np.array([1, 2, 3]), train)
    again = cache.get_or_train("c", np.array([1, 2, 3]), train)
    np.testing.assert_array_equal(first.predict(x), again.predict(x))
    assert len(calls) == 1
    cache.get_or_train("c", np.array([1, 2, 4]), train)
    assert len(calls) == 2
