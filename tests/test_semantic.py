"""Tests of the FCN semantic stage: inference, smoothing, model files, training CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_data_or_skip
from deepcolor.colorspace import rgb_to_luma
from deepcolor.features.semantic import (
    CAMVID_CLASSES,
    CAMVID_COLOURS,
    N_CLASSES,
    VOID,
    SemanticFCN,
    label_colours,
    load_fcn,
    semantic_features,
    semantic_histogram,
    semantic_probabilities,
    smooth_probabilities,
)
from deepcolor.fit import main as fit_main
from deepcolor.io.paths import match_pairs
from deepcolor.train.fcn import evaluate_fcn, fold_batchnorm


def main(argv):
    """``python -m deepcolor.fit semantic ARGV``."""
    return fit_main(["semantic", *argv])
from deepcolor.modelfile import ModelFileError, default_weights_path, load_model_file, save_model_file

SHIPPED = default_weights_path("fcn")


@pytest.fixture(scope="module")
def fcn() -> SemanticFCN:
    # The shipped weights are part of the package: a missing file is a failure, not a skip.
    return load_fcn()


@pytest.fixture(scope="module")
def real_luma() -> np.ndarray:
    """A real photograph's luma: a CamVid test frame with ../shared, else skimage's camera."""
    try:
        data = shared_data_or_skip()
    except pytest.skip.Exception:
        from skimage import data as skdata

        return skdata.camera().astype(np.float32) / 255.0
    stem = (data / "camvid" / "test.txt").read_text().split()[0]
    with Image.open(data / "camvid" / "images" / "test" / f"{stem}.jpg") as im:
        return rgb_to_luma(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)


def _crop(luma: np.ndarray, h: int, w: int) -> np.ndarray:
    """Top-left ``(h, w)`` of ``luma``, tiled if it is smaller."""
    reps = (-(-h // luma.shape[0]), -(-w // luma.shape[1]))
    return np.ascontiguousarray(np.tile(luma, reps)[:h, :w])


def test_constants_match_camvid():
    """Class names, colours and the void index follow SegNet's CamVid."""
    assert len(CAMVID_CLASSES) == N_CLASSES == 11 and VOID == 11
    assert CAMVID_COLOURS.shape == (12, 3) and CAMVID_COLOURS.dtype == np.uint8
    assert CAMVID_COLOURS[3].tolist() == [128, 64, 128]  # Road
    assert CAMVID_COLOURS[VOID].tolist() == [0, 0, 0]


@pytest.mark.parametrize("shape", [(37, 53), (16, 16), (1, 5), (360, 480)])
def test_fcn_forward_keeps_any_size(shape):
    """The raw module returns full-resolution logits for sizes that are not multiples of its stride."""
    torch.manual_seed(0)
    net = SemanticFCN(channels=(4, 4, 8, 8)).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, *shape))
    assert out.shape == (2, N_CLASSES, *shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("shape", [(37, 53), (360, 480), (600, 331)])
def test_probabilities_shape_and_normalization(fcn, real_luma, shape):
    """Shipped model on a real image: (H, W, 11) float32 probabilities summing to 1, incl. odd and downscaled sizes."""
    luma = _crop(real_luma, *shape)
    probs = semantic_probabilities(luma, fcn, max_side=480)
    assert probs.shape == (*shape, N_CLASSES) and probs.dtype == np.float32
    assert probs.min() >= 0
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_features_are_smoothed_probabilities(fcn, real_luma):
    """semantic_features = smooth(semantic_probabilities), normalized, and differs from the raw maps."""
    luma = _crop(real_luma, 97, 131)
    feats = semantic_features(luma, fcn)
    raw = semantic_probabilities(luma, fcn)
    np.testing.assert_allclose(feats, smooth_probabilities(raw, luma), atol=1e-6)
    np.testing.assert_allclose(feats.sum(-1), 1.0, atol=1e-5)
    assert feats.min() >= 0 and not np.allclose(feats, raw, atol=1e-3)


@pytest.mark.parametrize("shape", [(21, 34), (128, 96)])
def test_smoothing_keeps_probabilities_normalized(shape):
    """Smoothing of random probability maps stays non-negative and sums to 1 per pixel."""
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(N_CLASSES, 0.3), size=shape).astype(np.float32)
    luma = rng.random(shape, dtype=np.float32)
    out = smooth_probabilities(probs, luma)
    assert out.shape == probs.shape and out.dtype == np.float32
    assert out.min() >= 0
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


def test_smoothing_follows_guide_edges():
    """Noisy maps on both sides of a luma step stay apart after smoothing; a flat guide blurs across."""
    rng = np.random.default_rng(2)
    h, w = 64, 96
    left = np.zeros(N_CLASSES, np.float32)
    left[[0, 1]] = 0.7, 0.3
    right = np.zeros(N_CLASSES, np.float32)
    right[[0, 1]] = 0.1, 0.9
    clean = np.where(np.arange(w)[None, :, None] < w // 2, left, right) * np.ones((h, 1, 1), np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.15, clean.shape).astype(np.float32), 0, None)
    noisy /= noisy.sum(-1, keepdims=True)
    step = np.where(np.arange(w)[None, :] < w // 2, 0.2, 0.8).astype(np.float32) * np.ones((h, 1), np.float32)
    flat = np.full((h, w), 0.5, np.float32)

    mean_l, mean_r = noisy[:, : w // 2, 0].mean(), noisy[:, w // 2 :, 0].mean()
    assert mean_l - mean_r > 0.3

    edge = smooth_probabilities(noisy, step)
    # Right next to the step each side stays at its own side's mean: no leakage across the edge.
    assert abs(edge[:, w // 2 - 3 : w // 2, 0].mean() - mean_l) < 0.05
    assert abs(edge[:, w // 2 : w // 2 + 3, 0].mean() - mean_r) < 0.05
    # ... while the noise within each side is smoothed out.
    assert edge[:, 5 : w // 2 - 5, 0].std() < 0.5 * noisy[:, 5 : w // 2 - 5, 0].std()

    # A flat guide blurs across the step: both sides move towards the middle.
    blur = smooth_probabilities(noisy, flat)
    mid = (mean_l + mean_r) / 2
    assert abs(blur[:, w // 2 - 1, 0].mean() - mid) < 0.25 * (mean_l - mean_r)
    assert abs(blur[:, w // 2, 0].mean() - mid) < 0.25 * (mean_l - mean_r)


def test_histogram_is_mean_of_probabilities():
    """Histogram of half class-2, half class-5 one-hot maps is 0.5/0.5; width 11, sums to 1."""
    probs = np.zeros((10, 8, N_CLASSES), np.float32)
    probs[:5, :, 2] = 1
    probs[5:, :, 5] = 1
    hist = semantic_histogram(probs)
    assert hist.shape == (N_CLASSES,) and hist.dtype == np.float32
    expected = np.zeros(N_CLASSES)
    expected[[2, 5]] = 0.5
    np.testing.assert_allclose(hist, expected, atol=1e-7)
    rng = np.random.default_rng(3)
    hist = semantic_histogram(rng.dirichlet(np.ones(N_CLASSES), size=(7, 9)))
    assert abs(hist.sum() - 1) < 1e-6


def test_label_colours():
    """Labels paint in SegNet colours, void black; out-of-range labels are rejected."""
    labels = np.array([[0, 3], [8, VOID]])
    rgb = label_colours(labels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 1].tolist() == [128, 64, 128] and rgb[1, 0].tolist() == [64, 0, 128] and rgb[1, 1].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="0..11"):
        label_colours(np.array([[12]]))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: semantic_probabilities(np.zeros((4, 4, 3), np.float32), m),
        lambda m: semantic_probabilities(np.zeros((4, 4), np.uint8), m),
        lambda m: semantic_probabilities(np.zeros((4, 4), np.float32), m, max_side=0),
        lambda m: smooth_probabilities(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32)),
        lambda m: smooth_probabilities(np.full((4, 4, 11), 1 / 11, np.float32), np.zeros((4, 5), np.float32)),
        lambda m: smooth_probabilities(np.full((4, 4, 11), 1 / 11, np.float32), np.zeros((4, 4), np.float32), sigma_color=0),
        lambda m: semantic_histogram(np.zeros((4, 4, 10), np.float32)),
    ],
)
def test_bad_arguments_raise_value_error(call):
    """Wrong shapes, dtypes and parameters raise ValueError before any work."""
    net = SemanticFCN(channels=(4, 4, 8, 8)).eval()
    with pytest.raises(ValueError):
        call(net)


def test_fold_batchnorm_is_exact():
    """Folding BatchNorm into the convolutions keeps the eval-mode function."""
    torch.manual_seed(4)
    net = SemanticFCN(channels=(8, 8, 16, 16), batchnorm=True, input_mean=0.4, input_std=0.3)
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    folded = fold_batchnorm(net)
    assert not folded.config["batchnorm"]
    x = torch.rand(1, 1, 45, 61)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=1e-4, rtol=1e-4)


def test_loader_rejects_wrong_kind_and_mismatched_tensors(tmp_path):
    """load_fcn refuses a file of another kind and one whose tensors do not fit its config."""
    wrong = save_model_file(tmp_path / "c.safetensors", {"w": np.zeros(3, np.float32)}, kind="colorizer", config={})
    with pytest.raises(ModelFileError, match="fcn"):
        load_fcn(wrong)
    net = SemanticFCN(channels=(4, 4, 8, 8))
    cfg = {"architecture": net.config, "normalization": {"mean": 0.5, "std": 0.25}}
    bad = {k: v.numpy() for k, v in net.state_dict().items() if k != "head.bias"}
    path = save_model_file(tmp_path / "f.safetensors", bad, kind="fcn", config=cfg)
    with pytest.raises(ModelFileError):
        load_fcn(path)
    with pytest.raises(ModelFileError):
        load_fcn(tmp_path / "missing.safetensors")


def _write_toy_set(root: Path, n: int, seed: int) -> tuple[Path, Path]:
    """Tiny labelled images: bright textured sky on top, dark road below, a car blob."""
    rng = np.random.default_rng(seed)
    img_dir, lab_dir = root / "images", root / "labels"
    img_dir.mkdir(parents=True)
    lab_dir.mkdir(parents=True)
    for i in range(n):
        h, w = 48, 64
        lab = np.full((h, w), 0, np.uint8)
        horizon = int(rng.integers(18, 30))
        lab[horizon:] = 3
        r, c = int(rng.integers(horizon, h - 8)), int(rng.integers(0, w - 12))
        lab[r : r + 8, c : c + 12] = 8
        lab[0, :4] = VOID
        base = np.array([0.85, 0.0, 0.0, 0.3, 0, 0, 0, 0, 0.55, 0, 0, 0])[lab]
        rgb = np.clip(base[..., None] + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
        Image.fromarray((rgb * 255).astype(np.uint8)).save(img_dir / f"f{i:03d}.jpg", quality=95)
        Image.fromarray(lab).save(lab_dir / f"f{i:03d}.png")
    return img_dir, lab_dir


@pytest.mark.slow
def test_training_run_and_resume(tmp_path):
    """A tiny training run writes a loadable FCN; --resume continues the epoch count from the checkpoint."""
    ti, tl = _write_toy_set(tmp_path / "train", 3, seed=5)
    vi, vl = _write_toy_set(tmp_path / "val", 2, seed=6)
    out = tmp_path / "fcn.safetensors"
    common = ["--images", str(ti), "--labels", str(tl), "--val-images", str(vi), "--val-labels", str(vl), "--out", str(out),
              "--batch-size", "2", "--crop", "32", "48", "--channels", "4", "4", "8", "8", "--threads", "1"]
    assert main(common + ["--epochs", "1"]) == 0
    net = load_fcn(out)
    _, cfg = load_model_file(out, kind="fcn")
    assert cfg["training"]["epochs_run"] == 1 and cfg["classes"] == list(CAMVID_CLASSES)
    assert 0 <= cfg["training"]["val"]["pixel_accuracy"] <= 1
    ckpt = torch.load(str(out) + ".ckpt", weights_only=True)
    assert ckpt["epoch"] == 1

    assert main(common + ["--epochs", "3", "--resume"]) == 0
    ckpt = torch.load(str(out) + ".ckpt", weights_only=True)
    assert ckpt["epoch"] == 3
    _, cfg = load_model_file(out, kind="fcn")
    assert [h["epoch"] for h in cfg["training"]["history"]] == [1, 2, 3]
    res = evaluate_fcn(load_fcn(out), *match_pairs(vi, vl))
    assert set(res) >= {"pixel_accuracy", "class_average_accuracy", "per_class"} and len(res["per_class"]) == N_CLASSES
    # The written file is the model whose validation score the card records, and it runs.
    assert res["pixel_accuracy"] == pytest.approx(cfg["training"]["val"]["pixel_accuracy"], abs=1e-6)
    luma = np.asarray(Image.open(next(iter(sorted(vi.iterdir())))).convert("L"), dtype=np.float32) / 255.0
    probs = semantic_probabilities(luma, load_fcn(out))
    assert probs.shape == luma.shape + (N_CLASSES,) and np.allclose(probs.sum(axis=-1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "not a folder"),
        ("unmatched", "no image"),
        ("unreadable", "cannot read"),
    ],
)
def test_training_cli_bad_input_is_one_line(tmp_path, capsys, setup, message):
    """Missing folders, unmatched stems and unreadable files exit non-zero with one stderr line, no traceback."""
    ti, tl = _write_toy_set(tmp_path / "train", 2, seed=7)
    if setup == "missing":
        ti = tmp_path / "nope"
    elif setup == "unmatched":
        for p in tl.iterdir():
            p.rename(p.with_name("x" + p.name))
    else:
        next(iter(sorted(ti.iterdir()))).write_bytes(b"not a jpeg")
    rc = main(["--images", str(ti), "--labels", str(tl), "--val-images", str(ti), "--val-labels", str(tl),
               "--out", str(tmp_path / "f.safetensors"), "--epochs", "1", "--channels", "4", "4", "8", "8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len([line for line in err if "error: " in line]) == 1 and message in err[-1]
    assert not any("Traceback" in line for line in err)


@pytest.mark.shared
def test_shipped_fcn_accuracy_on_camvid_test(fcn):
    """The shipped FCN labels a handful of gray CamVid test frames with sane pixel accuracy."""
    data = shared_data_or_skip() / "camvid"
    stems = (data / "test.txt").read_text().split()[::40][:6]
    res = evaluate_fcn(fcn, [data / "images" / "test" / f"{s}.jpg" for s in stems], [data / "labels" / "test" / f"{s}.png" for s in stems])
    assert res["pixel_accuracy"] >= 0.7, res
