"""The general-scene FCN: merged label space, probabilities on a gray image, float16 model file round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepcolor.features.encoder import EfficientNetLite0
from deepcolor.features.scene import (
    CAMVID_TO_SCENE,
    MSRC_TO_SCENE,
    SCENE_CLASSES,
    VOID,
    SceneDecoder,
    SceneFCN,
    load_scene_fcn,
    save_scene_fcn,
    scene_probabilities,
)
from deepcolor.train.scene_fcn import accuracies, confusion


def _model(seed: int = 0) -> SceneFCN:
    torch.manual_seed(seed)
    return SceneFCN(EfficientNetLite0().eval(), SceneDecoder(width=16).eval(), max_side=96)


def test_merged_label_space():
    """24 classes: CamVid's 11 and MSRC's 21 each map one-to-one, the 8 shared names onto one class; void stays void."""
    assert len(SCENE_CLASSES) == 24 == len(set(SCENE_CLASSES))
    camvid, msrc = CAMVID_TO_SCENE[:11], MSRC_TO_SCENE[:21]
    assert len(set(camvid)) == 11 and len(set(msrc)) == 21
    assert len(set(camvid) & set(msrc)) == 8
    assert SCENE_CLASSES[CAMVID_TO_SCENE[10]] == SCENE_CLASSES[MSRC_TO_SCENE[10]] == "bicycle"  # Bicyclist = bicycle
    assert SCENE_CLASSES[CAMVID_TO_SCENE[9]] == SCENE_CLASSES[MSRC_TO_SCENE[19]] == "person"  # Pedestrian = body
    assert CAMVID_TO_SCENE[11] == VOID and MSRC_TO_SCENE[255] == VOID


def test_probabilities_on_a_gray_image_downscaled_and_back():
    """A 150 x 200 luma runs at max_side 96 and comes back (150, 200, 24), softmax per pixel."""
    luma = np.random.default_rng(0).random((150, 200), dtype=np.float32)
    probs = scene_probabilities(luma, _model())
    assert probs.shape == (150, 200, 24) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="luma"):
        scene_probabilities(np.zeros((4, 4, 3), np.float32), _model())


def test_model_file_round_trip_in_float16(tmp_path):
    """save -> load gives the same predictions (float16 weights); the ImageNet layer is not shipped."""
    model = _model(1)
    path = save_scene_fcn(model, tmp_path / "scene.safetensors")
    loaded = load_scene_fcn(path)
    assert loaded.classes == SCENE_CLASSES and loaded.max_side == 96
    luma = np.random.default_rng(1).random((64, 80), dtype=np.float32)
    a, b = scene_probabilities(luma, model), scene_probabilities(luma, loaded)
    assert np.abs(a - b).max() < 2e-2
    from deepcolor.modelfile import load_model_file

    tensors, _ = load_model_file(path, kind="scene_fcn")
    assert not any(k.startswith("encoder._fc") for k in tensors) and all(v.dtype == np.float16 for v in tensors.values())


def test_accuracies_from_a_known_confusion():
    """Void is left out; class-average is over the dataset's classes present; global is over their pixels."""
    sky, road = SCENE_CLASSES.index("sky"), SCENE_CLASSES.index("road")
    labels = np.array([sky, sky, sky, road, VOID], dtype=np.uint8)
    predicted = np.array([sky, sky, road, road, sky])
    acc = accuracies(confusion(labels, predicted), ("sky", "road", "pole"))
    assert acc["pixel_accuracy"] == pytest.approx(3 / 4)
    assert acc["class_average_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert acc["per_class"]["pole"] is None and acc["pixels"] == 4


def test_shipped_scene_fcn_labels_camvid_and_msrc_hold_out_photos(shared_data):
    """The shipped model on 3 CamVid test frames and 3 MSRC hold-out photos (gray): most labelled pixels right."""
    from pathlib import Path

    from deepcolor.modelfile import default_weights_path
    from deepcolor.train.scene_fcn import gray_and_labels, labelled_pairs

    model = load_scene_fcn(default_weights_path("scene_fcn"))
    splits = Path(__file__).resolve().parents[1] / "data" / "splits"
    pairs = labelled_pairs([splits / "camvid_test.txt", splits / "photos_test.txt"])
    if not pairs["msrc"]:
        pytest.skip("needs the shared MSRC-21 photos")
    for dataset, floor in (("camvid", 0.75), ("msrc", 0.7)):
        conf = 0
        for image, label in pairs[dataset][:: max(1, len(pairs[dataset]) // 3)][:3]:
            luma, lab = gray_and_labels(image, label, dataset)
            conf = conf + confusion(lab, scene_probabilities(luma, model).argmax(-1))
        assert np.trace(conf) / conf.sum() > floor, dataset  # measured on all: 85.9% CamVid, 87.9% MSRC


def test_fit_scene_checks_its_arguments_in_one_line(tmp_path, capsys):
    """`deepcolor fit scene`: a missing manifest or a bad budget is one line and exit 2, before any training."""
    from deepcolor.fit import main as fit_main

    out = tmp_path / "scene.safetensors"
    status = fit_main(["scene", "--train", str(tmp_path / "none.txt"), "--select", str(tmp_path / "none.txt"),
                       "--out", str(out), "--time-budget", "10"])
    err = capsys.readouterr().err
    assert status == 2 and "manifest not found" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    status = fit_main(["scene", "--train", "a", "--select", "b", "--out", str(out), "--time-budget", "-1"])
    err = capsys.readouterr().err
    assert status == 2 and "--time-budget" in err and len(err.strip().splitlines()) == 1
