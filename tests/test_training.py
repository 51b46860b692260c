"""Training helpers: per-image sampling, the regressor cache, and the held-out fits (blends, fallback, colour gain)."""

import copy

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deepcolor.colorspace import merge_luma_chroma, quantize_luma, split_luma_chroma
from deepcolor.metrics import to_uint8
from deepcolor.models.cheng import ChengModel, ClusterHead
from deepcolor.train.calibrate import BLEND, BLEND_MIN_IMAGES, calibrate
from deepcolor.train.cheng import ImageSamples, RegressorCache, extract_samples


class _Scaled:
    """A stand-in regressor that predicts `factor` times the true chroma stored in the descriptor, plus `noise`."""

    def __init__(self, factor, noise=0.0):
        self.factor, self.noise = factor, noise

    def predict(self, x):
        wobble = self.noise * np.sin(np.arange(x.shape[0] * 2, dtype=np.float32) * 12.9898).reshape(-1, 2)
        return (x[:, :2] * self.factor + wobble).astype(np.float32)


def _head(key, centre):
    """A top-layer cluster head at gist ``centre`` with a stand-in MLP filled in by the caller."""
    nan = np.full(512, np.nan, np.float32)
    return ClusterHead(key, 0, centre, np.full(11, 1 / 11, np.float32), nan, nan, {})


def _held_out(rng, centre, n_images):
    """Held-out images whose gist is ``centre`` (so they route to that cluster); descriptors carry the true chroma."""
    out = []
    for _ in range(n_images):
        chroma = (rng.standard_normal((200, 2)) * 0.06).astype(np.float32)
        luma = rng.uniform(0.35, 0.65, 200).astype(np.float32)
        rgb = to_uint8(merge_luma_chroma(luma[None], chroma[None]))[0]
        desc = np.concatenate([chroma, np.zeros((200, 90), np.float32)], axis=1)
        out.append(ImageSamples("img", desc, chroma, luma, rgb, centre, None))
    return out


def _two_cluster_model(good, bad):
    """Cluster A's MLP is ``good``, B's ``bad``; the global MLP predicts 0.8x the truth plus a little noise."""
    centres = np.eye(512, dtype=np.float32)[:2] * 10
    heads = [_head("L0C00", centres[0]), _head("L0C01", centres[1])]
    heads[0].regressors["plain"], heads[1].regressors["plain"] = good, bad
    model = ChengModel(global_regressors={"plain": _Scaled(0.8, noise=0.03)}, clusters=heads, selection={"top_k": 1, "descend": True})
    return model, centres


def test_fallback_drops_a_cluster_worse_than_the_global_mlp():
    """On held-out images, a cluster whose blend with the global MLP loses to the global MLP is dropped; a better one is kept."""
    rng = np.random.default_rng(1)
    model, centres = _two_cluster_model(_Scaled(1.0), _Scaled(0.0, noise=0.08))
    held_out = _held_out(rng, centres[0], 4) + _held_out(rng, centres[1], 4)
    fitted, report = calibrate(model, held_out, colour_tolerance=None)
    assert all(h.uses_own_mlp("plain") for h in model.clusters)  # the input model is not changed
    kept, dropped = fitted.clusters
    assert kept.uses_own_mlp("plain") and kept.blend["plain"] == BLEND
    assert report["plain"]["clusters"]["L0C00"]["blend_minus_global_db"] > 0
    assert not dropped.uses_own_mlp("plain") and report["plain"]["dropped"] == ["L0C01"]
    assert report["plain"]["clusters"]["L0C01"]["blend_minus_global_db"] < 0
    # Images of the dropped cluster now get exactly the global MLP's chroma; the kept one's the blend.
    for s in held_out[:1] + held_out[-1:]:
        source = fitted.choose(s.gist, None, semantic=False, clusters=True)
        x = s.descriptors[:, :81]
        expected = model.global_regressors["plain"].predict(x)
        if source != "global":
            expected = 0.5 * expected + 0.5 * kept.regressors["plain"].predict(x)
        assert source == ("L0C00" if s is held_out[0] else "global")
        np.testing.assert_allclose(fitted.predict_rows(x, source, semantic=False), expected, atol=1e-6)


def test_thin_evidence_keeps_the_blend():
    """A cluster with fewer than BLEND_MIN_IMAGES held-out images is not judged: it keeps the blend, even if it is bad."""
    rng = np.random.default_rng(2)
    model, centres = _two_cluster_model(_Scaled(1.0), _Scaled(0.0, noise=0.08))
    held_out = _held_out(rng, centres[0], 5) + _held_out(rng, centres[1], BLEND_MIN_IMAGES - 1)
    fitted, report = calibrate(model, held_out, colour_tolerance=None)
    assert report["plain"]["clusters"]["L0C01"] == {"images": BLEND_MIN_IMAGES - 1, "dropped": False}
    assert fitted.clusters[1].uses_own_mlp("plain") and fitted.clusters[1].blend["plain"] == BLEND


@pytest.mark.slow
def test_ensemble_never_routes_to_a_dropped_cluster(tmp_path):
    """Whatever the image, a dropped cluster's key never comes back and its images get the global MLP; saving keeps the drop."""
    rng = np.random.default_rng(3)
    model, centres = _two_cluster_model(_Scaled(1.0), _Scaled(0.0, noise=0.08))
    fitted, _ = calibrate(model, _held_out(rng, centres[0], 4) + _held_out(rng, centres[1], 4), colour_tolerance=None)
    routed = set()
    for gist in rng.standard_normal((200, 512)).astype(np.float32) * 3 + centres[rng.integers(0, 2, 200)]:
        routed.add(fitted.route(gist, None).key)
        assert fitted.choose(gist, None, semantic=False, clusters=True) in ("L0C00", "global")
    assert routed == {"L0C00", "L0C01"}  # both clusters are reached by the routing; only the kept one is used
    # A real, saved and reloaded model: the dropped cluster stores no MLP and still serves nothing.
    real = _real_regressor()
    saved = ChengModel(global_regressors={"plain": real}, clusters=[copy.copy(h) for h in fitted.clusters], selection=fitted.selection)
    saved.clusters[0].regressors = {"plain": real}
    path = saved.save(tmp_path / "m.safetensors")
    loaded = ChengModel.load(path)
    assert [h.uses_own_mlp("plain") for h in loaded.clusters] == [True, False]
    assert loaded.choose(centres[1], None, semantic=False, clusters=True) == "global"
    luma = rng.uniform(0, 1, (24, 24)).astype(np.float32)
    assert loaded.predict_chroma(luma, semantic=False, clusters=True).info["cluster"] in ("L0C00", "global")


def _real_regressor():
    from deepcolor.regressor import ChromaMLP, Regressor

    return Regressor(ChromaMLP(81, 4).eval(), np.zeros(81, np.float32), np.ones(81, np.float32), 0.1)


def test_colour_gain_stays_within_the_psnr_tolerance():
    """A dull MLP (0.6x the truth, a little noise) gets a colour gain > 1, the largest within the PSNR tolerance."""
    rng = np.random.default_rng(4)
    held_out = _held_out(rng, np.zeros(512, np.float32), 6)
    model = ChengModel(global_regressors={"plain": _Scaled(0.6, noise=0.02)})
    fitted, report = calibrate(model, held_out, colour_tolerance=0.05)
    colour = report["plain"]["colour"]
    assert fitted.colour_gain["plain"] == colour["gain"] > 1.0
    medians = colour["median_gain_db"]
    assert medians[str(colour["gain"])] >= medians["1.0"] - 0.05
    assert medians[str(round(colour["gain"] + 0.05, 2))] < medians["1.0"] - 0.05
    # predict_rows applies it to every prediction.
    x = held_out[0].descriptors[:, :81]
    np.testing.assert_allclose(fitted.predict_rows(x, "global", semantic=False), colour["gain"] * _Scaled(0.6, 0.02).predict(x), atol=1e-6)


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


@pytest.mark.slow
def test_regressor_cache_reuses_only_same_members(tmp_path):
    """A cached MLP is reused for the same members and retrained when the members change."""
    from deepcolor.train.mlp import fit_regressor

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
