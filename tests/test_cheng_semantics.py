"""Cheng's descriptor on a pluggable semantic network: the 11-class FCN (92-d) or the 24-class scene FCN (105-d)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from deepcolor.colorize_file import ApplyOptions, apply_file
from deepcolor.features.descriptor import descriptor_at, descriptor_dim, feature_maps
from deepcolor.features.encoder import EfficientNetLite0
from deepcolor.features.scene import SCENE_CLASSES, SCENE_COLOURS, SceneDecoder, SceneFCN, save_scene_fcn
from deepcolor.features.semantic import (
    CAMVID_CLASSES,
    SemanticFCN,
    load_semantic_net,
    semantic_features,
    semantic_histogram,
    smooth_probabilities,
)
from deepcolor.modelfile import default_weights_path, load_model_file
from deepcolor.models.cheng import ChengModel
from deepcolor.regressor import ChromaMLP, Regressor
from deepcolor.train.samples import extract_samples
from deepcolor.train.shared_samples import shared_samples


def _scene(seed: int = 0) -> SceneFCN:
    torch.manual_seed(seed)
    return SceneFCN(EfficientNetLite0().eval(), SceneDecoder(width=16).eval(), max_side=64).eval()


def _camvid_fcn(seed: int = 0) -> SemanticFCN:
    torch.manual_seed(seed)
    return SemanticFCN(channels=(4, 4, 8, 8)).eval()


def _regressor(width: int, seed: int) -> Regressor:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    return Regressor(ChromaMLP(width, 8).eval(), rng.normal(0, 0.1, width).astype(np.float32), np.ones(width, np.float32), 0.1)


def _scene_colorizer(tmp_path) -> ChengModel:
    """A Cheng model on a small scene FCN, its weights already float16-exact (as a saved one holds them)."""
    from deepcolor.features.scene import load_scene_fcn

    scene = load_scene_fcn(save_scene_fcn(_scene(), tmp_path / "scene.safetensors"))
    return ChengModel(global_regressors={"semantic": _regressor(105, 1), "plain": _regressor(81, 2)}, fcn=scene)


def test_descriptor_width_follows_the_semantic_network():
    """81 + 11 = 92 columns with the CamVid FCN, 81 + 24 = 105 with the scene FCN, their last columns its smoothed maps."""
    luma = np.random.default_rng(0).random((40, 56), dtype=np.float32)
    index = np.arange(0, 40 * 56, 7)
    for fcn, width in ((_camvid_fcn(), 11), (_scene(), 24)):
        maps = feature_maps(luma, fcn=fcn)
        d = descriptor_at(maps, index)
        assert d.shape == (index.size, 81 + width) == (index.size, descriptor_dim(semantic=True, semantic_dim=width))
        np.testing.assert_array_equal(d[:, 81:], maps.semantic.reshape(-1, width)[index])
        np.testing.assert_allclose(d[:, 81:].sum(1), 1.0, atol=1e-5)
        assert descriptor_at(maps, index, semantic=False).shape == (index.size, 81)
    assert descriptor_dim(semantic=True) == 92 and descriptor_dim(semantic=False, semantic_dim=24) == 81


def test_24_class_smoothing_and_histogram():
    """The 24 maps are smoothed in groups of at most 4, clipped and renormalized; their histogram has 24 bins."""
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(24, 0.3), size=(30, 20)).astype(np.float32)
    probs[0, 0] = -0.5  # all mass clipped away: that pixel becomes uniform
    smoothed = smooth_probabilities(probs, rng.random((30, 20), dtype=np.float32))
    assert smoothed.shape == (30, 20, 24) and smoothed.min() >= 0
    np.testing.assert_allclose(smoothed.sum(-1), 1.0, atol=1e-5)
    assert semantic_histogram(smoothed).shape == (24,)
    with pytest.raises(ValueError, match="C in"):
        smooth_probabilities(probs[..., :23], rng.random((30, 20), dtype=np.float32))


def test_a_colorizer_file_of_the_11_class_format_loads_and_predicts_as_before():
    """A file written by the code before the scene FCN (tests/data/make_legacy.py, commit c559652) loads with its
    11-class FCN and 92-d MLP, and gives that code's chroma (to float32 rounding) and label map (exactly), without a legend sidecar."""
    from deepcolor.evaluation import gray_version

    legacy = Path(__file__).with_name("data")
    model = ChengModel.load(legacy / "legacy_colorizer.safetensors")
    assert isinstance(model.fcn, SemanticFCN) and not model.writes_legend and model.routing == "gist"
    assert model.global_regressors["semantic"].mean.shape == (92,)
    assert [c["name"] for c in model.label_legend()] == [*CAMVID_CLASSES, "void"]
    expected = np.load(legacy / "legacy_chroma.npz")
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    # The per-pixel path (dense) as that code ran it. To float32 rounding: torch's CPU kernels may differ in the last bit with the process's earlier work.
    np.testing.assert_allclose(model.predict_chroma(luma, dense=True).chroma, expected["semantic"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict_chroma(luma, semantic=False, dense=True).chroma, expected["plain"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.label_map(luma), expected["labels"])
    assert np.abs(expected["semantic"]).max() > 0.01
    assert isinstance(load_semantic_net(default_weights_path("scene_fcn")), SceneFCN)
    assert isinstance(load_semantic_net(default_weights_path("fcn")), SemanticFCN)


def test_scene_colorizer_file_round_trip(tmp_path):
    """A colorizer on the scene FCN saves it (float16, under scene.*) and loads back predicting the same chroma."""
    model = _scene_colorizer(tmp_path)
    luma = np.random.default_rng(3).random((48, 64), dtype=np.float32)
    before = model.predict_chroma(luma).chroma
    path = model.save(tmp_path / "c.safetensors")
    tensors, config = load_model_file(path)
    assert config["fcn"] is None and config["scene_fcn"]["classes"] == list(SCENE_CLASSES)
    assert not any(k.startswith("fcn.") for k in tensors) and tensors["scene.decoder.classifier.weight"].dtype == np.float16
    loaded = ChengModel.load(path)
    assert isinstance(loaded.fcn, SceneFCN) and loaded.fcn.classes == SCENE_CLASSES and loaded.writes_legend
    np.testing.assert_array_equal(loaded.predict_chroma(luma).chroma, before)
    assert loaded.predict_chroma(luma, semantic=False).chroma.shape == (48, 64, 2)


def test_save_semantic_writes_the_24_class_map_with_its_legend(tmp_path):
    """apply with --save-semantic: NAME.semantic.png in the scene palette, NAME.semantic.json naming the 24 classes."""
    model = _scene_colorizer(tmp_path)
    gray = (data.camera()[::8, ::8]).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    target, semantic = tmp_path / "out.png", tmp_path / "out.semantic.png"
    result = apply_file(tmp_path / "g.png", target, model, ApplyOptions(), semantic_target=semantic)
    assert result.status == "colorized", result.message
    legend = json.loads((tmp_path / "out.semantic.json").read_text())
    assert legend["label_map"] == "out.semantic.png"
    assert [c["name"] for c in legend["classes"]] == [*SCENE_CLASSES, "void"] and len(legend["classes"]) == 25
    assert [c["rgb"] for c in legend["classes"]] == SCENE_COLOURS.tolist() and legend["classes"][0]["hex"] == "#808080"
    painted = {tuple(p) for p in np.asarray(Image.open(semantic)).reshape(-1, 3)}
    assert painted <= {tuple(c["rgb"]) for c in legend["classes"][:-1]}  # every colour is a named class
    assert len({tuple(c) for c in SCENE_COLOURS}) == 25  # and no two classes share one
    # A second run without --overwrite refuses rather than replacing the legend.
    target.unlink()
    semantic.unlink()
    again = apply_file(tmp_path / "g.png", target, model, ApplyOptions(), semantic_target=semantic)
    assert again.status == "failed" and "out.semantic.json" in again.message


def test_shared_pass_equals_one_network_at_a_time(tmp_path):
    """The ablation's one-pass samples are what extract_samples makes for each network on its own."""
    Image.fromarray(data.coffee()[::6, ::6]).save(tmp_path / "c.png")
    fcns = [_camvid_fcn(), _scene()]
    made = shared_samples(tmp_path / "c.png", fcns, n_samples=300, seed=4)
    for fcn, (shared, extra) in zip(fcns, made):
        alone = extract_samples(tmp_path / "c.png", fcn=fcn, n_samples=300, seed=4)
        for field in ("descriptors", "chroma", "luma", "rgb", "gist", "histogram", "pooled"):
            if getattr(alone, field) is None:
                assert field == "pooled" and not extra
                continue
            mine = extra["pooled"] if field == "pooled" else getattr(shared, field)
            np.testing.assert_allclose(mine, getattr(alone, field), atol=1e-6, err_msg=field)
    assert made[0][0].descriptors.shape == (300, 92) and made[1][0].descriptors.shape == (300, 105)
    assert made[0][1] == {} and made[1][1]["pooled"].shape == (1280,)
    luma = np.random.default_rng(5).random((30, 40), dtype=np.float32)
    assert semantic_features(luma, fcns[1]).shape == (30, 40, 24)


def test_fit_routes_on_the_encoder_feature_and_reloads(tmp_path):
    """fit_model with routing "encoder": cluster centres are 1280-d pooled features, saved and reloaded; gist files need none."""
    from deepcolor.features.scene import load_scene_fcn
    from deepcolor.train.cheng import FitConfig, fit_model

    rng = np.random.default_rng(6)
    photos = [data.coffee(), data.astronaut(), data.chelsea(), data.rocket()]
    paths = []
    for i in range(8):
        image = photos[i % 4][:: 8 + i % 3, :: 8]
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(np.ascontiguousarray(image)).save(paths[-1])
    scene = load_scene_fcn(save_scene_fcn(_scene(), tmp_path / "scene.safetensors"))
    config = FitConfig(samples_per_image=200, epochs=1, n_top=2, min_cluster_size=2, max_layers=1, routing="encoder", colour_tolerance=None)
    model, failed = fit_model(paths[:6], fcn=scene, config=config, work=tmp_path / "w", progress=False, calibration_paths=paths[6:])
    assert not failed and model.routing == "encoder" and model.clusters
    assert model.clusters[0].centre.shape == (1280,) and model.clusters[0].semantic_histogram.shape == (24,)
    loaded = ChengModel.load(model.save(tmp_path / "m.safetensors"))
    assert loaded.routing == "encoder"
    luma = rng.random((40, 50), dtype=np.float32)
    a, b = model.predict_chroma(luma), loaded.predict_chroma(luma)
    assert a.info["cluster"] == b.info["cluster"]
    np.testing.assert_array_equal(a.chroma, b.chroma)
    with pytest.raises(ValueError, match="pooled"):
        fit_model(paths[:6], fcn=_camvid_fcn(), config=config, work=tmp_path / "w2", progress=False)
