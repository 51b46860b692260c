"""The combined model kind ``both``: the combiner's algebra, its fit, and the model through the interface."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

import deepcolor
from deepcolor.evaluation import gray_version
from deepcolor.modelfile import ModelFileError, save_model_file
from deepcolor.models import registry
from deepcolor.models.base import ChromaModel
from deepcolor.models.both import BothModel, combine, combined_chroma, confidence, gate_maps, prior_outputs
from deepcolor.models.global_prior import CHROMA_MAX
from deepcolor.pipeline import colorize_luma
from deepcolor.train.both import fit_combiner, image_weights
from deepcolor.upsample import apply_coefficients, bilinear_window

SOURCES, GATES = ("cheng", "cnn", "annealed"), ("one", "entropy", "disagreement", "luma")


def test_combine_is_the_sum_over_sources_and_gates():
    rng = np.random.default_rng(0)
    sources, gates, weights = rng.normal(size=(5, 7, 3, 2)), rng.normal(size=(5, 7, 4)), rng.normal(size=(2, 3, 4))
    naive = np.zeros((5, 7, 2))
    for c in range(2):
        for s in range(3):
            for g in range(4):
                naive[..., c] += weights[c, s, g] * gates[..., g] * sources[..., s, c]
    np.testing.assert_allclose(combine(sources.astype(np.float32), gates.astype(np.float32), weights), naive, rtol=1e-4, atol=1e-5)


def test_fit_recovers_the_weights_that_made_the_target():
    """Least squares on noiseless targets made by `combine` returns those weights, whatever the pixel weights."""
    rng = np.random.default_rng(1)
    n = 4000
    sources = rng.normal(scale=0.1, size=(n, 3, 2)).astype(np.float32)
    gates = np.concatenate([np.ones((n, 1)), rng.uniform(size=(n, 3))], axis=1).astype(np.float32)
    truth = rng.normal(size=(2, 3, 4)).astype(np.float32)
    target = combine(sources, gates, truth)
    fitted = fit_combiner(sources, gates, target, rng.uniform(0.5, 2.0, n), ridge=1e-12)
    np.testing.assert_allclose(fitted, truth, atol=1e-3)
    # a ridge shrinks towards zero
    assert np.abs(fit_combiner(sources, gates, target, ridge=1.0)).sum() < np.abs(truth).sum()


def test_image_weights_favour_the_images_with_small_error():
    w = image_weights(np.array([1e-3, 4e-3, 1e-2]))
    assert w.mean() == pytest.approx(1.0) and w[0] > w[1] > w[2]


def test_gates_and_confidence():
    luma = np.array([0.2, 0.8], np.float32)
    cheng = np.array([[0.1, 0.0], [0.0, 0.0]], np.float32)
    cnn = np.array([[0.1, 0.0], [0.03, 0.04]], np.float32)
    entropy = np.array([0.5, 0.9], np.float32)
    g = gate_maps(GATES, luma=luma, cheng=cheng, cnn=cnn, entropy=entropy)
    np.testing.assert_allclose(g, [[1, 0.5, 0, 0.2], [1, 0.9, 0.05, 0.8]], atol=1e-6)
    with pytest.raises(ValueError, match="unknown gate"):
        gate_maps(("one", "hue"), luma=luma, cheng=cheng, cnn=cnn, entropy=entropy)
    sure = confidence(entropy, g[:, 2], entropy_scale=1.0, disagreement_scale=0.05)
    np.testing.assert_allclose(sure, [0.5, 0.1 * np.exp(-1)], rtol=1e-5)


def _config(**extra):
    return {"sources": list(SOURCES), "gates": list(GATES), "components": {"cheng": "cheng", "global-prior": "global-prior"},
            "vividness_mode": "saturation", "vividness_max": 2.0, "vividness_default": 0.0,
            "confidence": {"entropy_scale": 1.0, "disagreement_scale": 0.1}, **extra}


@pytest.fixture(scope="module")
def both_file(tmp_path_factory):
    rng = np.random.default_rng(2)
    weights = (np.array([0.4, 0.5, 0.1])[None, :, None] * np.array([1.0, 0.2, 0.1, 0.1]) + rng.normal(scale=0.02, size=(2, 3, 4)))
    path = tmp_path_factory.mktemp("both") / "both.safetensors"
    return save_model_file(path, {"combiner.weights": weights.astype(np.float32)}, kind="both", config=_config())


@pytest.fixture(scope="module")
def both(both_file):
    return registry.load_model(both_file)


def test_the_both_model_combines_its_components_outputs(both):
    """Through the interface: its chroma is the combiner applied to Cheng's chroma and the CNN's outputs of the same image."""
    assert isinstance(both, BothModel) and isinstance(both, ChromaModel) and both.name == "both"
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    prediction = both.predict_chroma(luma)
    assert prediction.chroma.shape == (48, 64, 2) and prediction.chroma.dtype == np.float32
    assert {"cluster", "scene", "vividness"} <= set(prediction.info) and prediction.seconds["combination"] >= 0
    cheng = both.cheng.predict_chroma(luma).chroma
    coefficients, annealed_small, entropy_small, _ = prior_outputs(both.prior, luma)
    every = (slice(0, 48), slice(0, 64))
    cnn = both.prior.predict_chroma(luma, vividness=0.0).chroma
    np.testing.assert_allclose(np.clip(apply_coefficients(luma, coefficients, luma.shape), -CHROMA_MAX, CHROMA_MAX), cnn, atol=1e-6)
    expected = combined_chroma(both.config, both.weights, luma, cheng, cnn, bilinear_window(annealed_small, luma.shape, every),
                               bilinear_window(entropy_small, luma.shape, every)[..., 0], 0.0)
    np.testing.assert_allclose(prediction.chroma, expected, atol=1e-5)
    assert np.abs(prediction.chroma).max() > 0.02
    assert 0.0 <= entropy_small.min() and entropy_small.max() <= 1.0


def test_vividness_is_a_plain_gain_or_grows_with_confidence(both, both_file):
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    base = both.predict_chroma(luma, vividness=0.0).chroma
    np.testing.assert_allclose(both.predict_chroma(luma, vividness=0.5).chroma, base * 1.5, rtol=1e-5, atol=1e-7)
    sure = BothModel(both.cheng, both.prior, _config(vividness_mode="confidence"), both.weights)
    vivid = sure.predict_chroma(luma, vividness=1.0).chroma
    ratio = np.linalg.norm(vivid, axis=-1) / np.maximum(np.linalg.norm(base, axis=-1), 1e-6)
    big = np.linalg.norm(base, axis=-1) > 0.01
    assert (ratio[big] >= 1 - 1e-4).all() and (ratio[big] <= 2 + 1e-4).all() and ratio[big].std() > 0.01  # per pixel, in [1, 2]
    with pytest.raises(ValueError, match="vividness"):
        both.predict_chroma(luma, vividness=1.5)
    with pytest.raises(ValueError, match="unknown option"):
        both.predict_chroma(luma, semantic=False)


def test_tiles_equal_the_whole_image(both):
    """The pipeline's tiled path (prepare + chroma of windows) gives the whole image's chroma."""
    luma = gray_version(data.astronaut()[100:260, 60:300])[0]
    whole = colorize_luma(luma, both, refine=False, tile=4096).chroma
    tiled = colorize_luma(luma, both, refine=False, tile=96).chroma
    np.testing.assert_allclose(tiled, whole, atol=2e-4)
    assert deepcolor.colorize((luma * 255).astype(np.uint8), model=both).shape == luma.shape + (3,)


def test_a_bad_both_file_is_one_line(tmp_path):
    path = save_model_file(tmp_path / "bad.safetensors", {"combiner.weights": np.zeros((2, 2, 2), np.float32)}, kind="both", config=_config())
    with pytest.raises(ModelFileError, match="incomplete both model"):
        registry.load_model(path)
    other = save_model_file(tmp_path / "other.safetensors", {"combiner.weights": np.zeros((2, 3, 4), np.float32)}, kind="both",
                            config=_config(components={"cheng": "cheng", "global-prior": "cheng"}))
    with pytest.raises(ModelFileError):
        registry.load_model(other)


def test_the_shipped_default_is_the_average_of_the_two_models():
    """The default model (`registry.DEFAULT_METHOD`, chosen by the rule of docs/combined.md) is the shipped both file:
    Cheng's chroma and the CNN's regression chroma averaged 50/50 at V = 0 (its default), a plain gain above."""
    assert registry.DEFAULT_METHOD == "both"
    model = registry.load_model()
    assert isinstance(model, BothModel) and model.config["vividness_default"] == 0.0
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    cheng = model.cheng.predict_chroma(luma).chroma
    cnn = model.prior.predict_chroma(luma, vividness=0.0).chroma
    np.testing.assert_allclose(model.predict_chroma(luma).chroma, 0.5 * (cheng + cnn), atol=1e-5)
    np.testing.assert_allclose(model.predict_chroma(luma, vividness=0.3).chroma, 0.65 * (cheng + cnn), atol=1e-5)
    image = model.prepare(luma)  # the average reads no class head: its decoding is skipped
    assert not model.reads_class_head(0.3) and image.annealed is None and image.entropy is None
    assert registry.load_model("cheng") is model.cheng  # the components are the shipped models, loaded once


def test_the_label_map_is_its_cheng_components(both):
    """--save-semantic works with the default: the both model's label map and legend are its Cheng component's."""
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    np.testing.assert_array_equal(both.label_map(luma), both.cheng.label_map(luma))
    assert both.label_legend() == both.cheng.label_legend() and both.writes_legend() == both.cheng.writes_legend()
    assert "both" in registry.names_with("labels")


def test_a_video_shot_shares_its_components_choices(both):
    """shot_state holds each component's (Cheng's cluster, the CNN's global input); with it a frame gets those, not its own."""
    frames = [gray_version(data.astronaut()[200 + 8 * i:248 + 8 * i, 100:164])[0] for i in range(3)]
    state = both.shot_state(frames)
    assert state["cheng"] == both.cheng.shot_state(frames)
    np.testing.assert_array_equal(state["global-prior"], both.prior.shot_state(frames))
    other = gray_version(data.coffee()[:48, :64])[0]
    shot = both.predict_chroma(other, state=state)
    assert shot.info["cluster"] == state["cheng"]
    cnn = both.prior.predict_chroma(other, vividness=0.0, state=state["global-prior"]).chroma
    cheng = both.cheng.predict_chroma(other, state=state["cheng"]).chroma
    _, annealed, entropy, _ = prior_outputs(both.prior, other, state["global-prior"])
    every = (slice(0, 48), slice(0, 64))
    expected = combined_chroma(both.config, both.weights, other, cheng, cnn, bilinear_window(annealed, other.shape, every),
                               bilinear_window(entropy, other.shape, every)[..., 0], 0.0)
    np.testing.assert_allclose(shot.chroma, expected, atol=1e-5)
