"""The global-prior CNN: shapes at any size, luma kept, the scene head learns, style, model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepcolor.colorspace import merge_luma_chroma, rgb_to_luma
from deepcolor.metrics import to_uint8
from deepcolor.modelfile import ModelFileError, save_model_file
from deepcolor.models.global_prior import (
    CHROMA_MAX,
    GlobalPriorModel,
    GlobalPriorNet,
    chroma_to_unit,
    unit_to_chroma,
)

WIDTH = 0.0625  # tiny: every test runs in well under a second


def _model(n_classes: int = 3, seed: int = 0, *, perturb: bool = True) -> GlobalPriorModel:
    torch.manual_seed(seed)
    net = GlobalPriorNet(width=WIDTH, n_classes=n_classes)
    if perturb:  # BatchNorm statistics away from (0, 1), so eval mode is not the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    config = {"architecture": "iizuka2016", "width": WIDTH, "classes": [f"c{i}" for i in range(n_classes)],
              "normalization": {"luma_mean": 0.45, "luma_std": 0.25}}
    return GlobalPriorModel(net.eval(), config)


def _luma(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return np.clip(0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 13.0) + 0.1 * rng.standard_normal((h, w)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("shape", [(333, 517), (7, 5), (224, 224), (64, 300)])
def test_output_shape_at_any_size(shape):
    """Odd and tiny sizes give (H, W, 2) float32 chroma inside the BT.601 U, V ranges."""
    pred = _model().predict_chroma(_luma(*shape))
    assert pred.chroma.shape == shape + (2,)
    assert pred.chroma.dtype == np.float32
    assert np.all(np.abs(pred.chroma) <= CHROMA_MAX + 1e-6)
    assert pred.info["scene"] in ("c0", "c1", "c2")


def test_unit_chroma_round_trip():
    """The sigmoid's [0, 1] maps onto the U, V ranges and back."""
    chroma = np.array([[-0.436, -0.615], [0.0, 0.0], [0.436, 0.615]], np.float32)
    unit = chroma_to_unit(chroma)
    np.testing.assert_allclose(unit, [[0, 0], [0.5, 0.5], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(unit_to_chroma(unit), chroma, atol=1e-6)


def test_merged_result_keeps_luma():
    """The colorized 8-bit result has the input's 8-bit luma, to rounding."""
    luma = np.round(_luma(333, 517) * 255) / 255
    pred = _model().predict_chroma(luma.astype(np.float32))
    rgb = to_uint8(merge_luma_chroma(luma, pred.chroma))
    back = rgb_to_luma(rgb.astype(np.float32) / 255.0)
    assert np.abs(back - luma).max() <= 1.0 / 255.0


def _layout(top_bright: bool, h: int = 224, w: int = 224, seed: int = 0) -> np.ndarray:
    """Half bright, half dark: which half is bright is visible only to a whole-image (global) view."""
    rng = np.random.default_rng(seed)
    luma = np.full((h, w), 0.2, np.float32)
    luma[: h // 2] = 0.8
    if not top_bright:
        luma = luma[::-1]
    return np.clip(luma + 0.03 * rng.standard_normal((h, w)), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def layout_model() -> GlobalPriorModel:
    """A tiny net taught: bright-on-top images are bluish (U > 0), bright-below ones yellowish (U < 0)."""
    from deepcolor.models.global_prior import normalize_luma

    torch.manual_seed(0)
    net = GlobalPriorNet(width=WIDTH, n_classes=2).train()
    tops = [True, False] * 4
    luma = torch.cat([normalize_luma(_layout(t, seed=i)) for i, t in enumerate(tops)])
    unit = torch.stack([torch.full((2, 224, 224), 0.8 if t else 0.2) for t in tops])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(30):
        pred, _ = net(luma)
        loss = torch.nn.functional.mse_loss(pred, unit[:, :, ::2, ::2])
        opt.zero_grad()
        loss.backward()
        opt.step()
    config = {"architecture": "iizuka2016", "width": WIDTH, "classes": ["a", "b"],
              "normalization": {"luma_mean": 0.45, "luma_std": 0.25}}
    return GlobalPriorModel(net.eval(), config)


def test_style_changes_chroma_not_luma(layout_model):
    """The style image's global features steer the chroma; the input's luma is kept."""
    luma = _layout(True, 150, 201, seed=10)
    plain = layout_model.predict_chroma(luma)
    styled = layout_model.predict_chroma(luma, style=_layout(False, 90, 70, seed=11))
    assert styled.info["styled"] and not plain.info["styled"]
    assert plain.chroma[..., 0].mean() > 0.05  # learnt: bright on top -> U > 0
    assert styled.chroma[..., 0].mean() < plain.chroma[..., 0].mean() - 0.05  # the style's prior pulls U down
    rgb = merge_luma_chroma(luma, styled.chroma)
    np.testing.assert_allclose(rgb_to_luma(rgb), luma, atol=1e-5)
    # the style only enters through the global features: an image as its own style is no change
    np.testing.assert_allclose(layout_model.predict_chroma(luma, style=luma).chroma, plain.chroma, atol=1e-6)


def test_bad_inputs_and_options():
    """Wrong shapes, ranges and unknown options are ValueErrors that name the problem."""
    model = _model()
    with pytest.raises(ValueError, match="unknown option"):
        model.predict_chroma(_luma(16, 16), semantic=True)
    with pytest.raises(ValueError, match="luma"):
        model.predict_chroma(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="style"):
        model.predict_chroma(_luma(16, 16), style=np.full((8, 8), 2.0, np.float32))


@pytest.mark.slow
def test_classification_head_learns():
    """On a tiny synthetic set (class = brightness pattern), the scene loss falls within a few steps."""
    from deepcolor.train.global_prior import prior_loss

    torch.manual_seed(0)
    net = GlobalPriorNet(width=WIDTH, n_classes=2).train()
    rng = np.random.default_rng(0)
    labels = torch.tensor([0, 1] * 4)
    luma = torch.from_numpy(rng.standard_normal((8, 1, 224, 224)).astype(np.float32) * 0.2)
    luma += (labels.float() * 2 - 1).view(-1, 1, 1, 1)  # class 1 bright, class 0 dark
    unit = torch.full((8, 2, 224, 224), 0.5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    ces = []
    for _ in range(10):
        loss, _, ce = prior_loss(net, luma, unit, labels, alpha=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ces.append(ce)
    assert ces[-1] < 0.6 * ces[0], ces


@pytest.mark.slow
def test_masked_labels_give_no_scene_loss():
    """Images without a label (-100) add no cross-entropy."""
    from deepcolor.train.global_prior import IGNORE, prior_loss

    net = GlobalPriorNet(width=WIDTH, n_classes=2).train()
    luma, unit = torch.zeros(2, 1, 224, 224), torch.full((2, 2, 224, 224), 0.5)
    _, _, ce = prior_loss(net, luma, unit, torch.tensor([IGNORE, IGNORE]), alpha=1.0)
    assert ce == 0.0


def test_scene_labels_from_paths():
    """Labels come from the SUN folder, the ImageNet class, the CamVid sequence; BSDS has none."""
    from deepcolor.train.global_prior import real_labels, scene_label

    assert scene_label("x/photos/sun8/desert/sun_a.jpg") == "sun8/desert"
    assert scene_label("x/photos/imagenet_det/n00007846_147031_person.jpg") == "object/person"
    assert scene_label("x/photos/imagenet_sample/n01440764_tench.jpg") == "object/tench"
    assert scene_label("x/camvid/images/train/0001TP_006690.png") == "camvid/0001TP"
    assert scene_label("x/bsds500/images/train/2092.jpg") is None
    paths = ["a/photos/imagenet_sample/n1_tench.jpg", "a/photos/imagenet_det/n2_1_person.jpg",
             "a/photos/imagenet_sample/n3_person.jpg", "a/bsds500/1.jpg"]
    labels, classes = real_labels(paths)
    assert classes == ["object/person"]  # a class with one photo is dropped
    assert labels.tolist() == [-100, 0, 0, -100]


def test_model_file_round_trip(tmp_path):
    """Saved as float16 through modelfile, loaded back: same class names, same predictions to fp16 precision."""
    model = _model()
    path = save_model_file(tmp_path / "gp.safetensors", model.tensors(), kind="global_prior", config=model.config)
    back = GlobalPriorModel.load(path)
    assert back.classes == model.classes
    luma = _luma(61, 47)
    np.testing.assert_allclose(back.predict_chroma(luma).chroma, model.predict_chroma(luma).chroma, atol=5e-3)
    saved, again = model.tensors(), back.tensors()
    assert saved.keys() == again.keys()
    for k in saved:
        np.testing.assert_array_equal(saved[k], again[k])


def test_bad_model_files(tmp_path):
    """A truncated file, a wrong kind, or tensors of another width are one-line ModelFileErrors."""
    model = _model()
    path = save_model_file(tmp_path / "gp.safetensors", model.tensors(), kind="global_prior", config=model.config)
    cases = {}
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:200])
    cases["truncated"] = truncated
    cases["kind"] = save_model_file(tmp_path / "kind.safetensors", model.tensors(), kind="colorizer", config=model.config)
    cases["width"] = save_model_file(tmp_path / "width.safetensors", model.tensors(), kind="global_prior",
                                     config=dict(model.config, width=0.125))
    cases["missing"] = tmp_path / "missing.safetensors"
    for name, bad in cases.items():
        with pytest.raises(ModelFileError) as info:
            GlobalPriorModel.load(bad)
        assert "\n" not in str(info.value), name


def _saved_tiny_model(tmp_path, model=None):
    path = tmp_path / "gp.safetensors"
    model = model or _model()
    save_model_file(path, model.tensors(), kind="global_prior", config=model.config)
    return path


def test_cli_method_and_style(tmp_path, layout_model):
    """apply --method global-prior [--style REF] keeps the input's luma; the style reference changes the colours."""
    from PIL import Image

    from deepcolor.apply import main as apply_main

    model = _saved_tiny_model(tmp_path, layout_model)
    gray = to_uint8(_layout(True, 60, 80, seed=3))
    Image.fromarray(gray).save(tmp_path / "in.png")
    Image.fromarray(to_uint8(_layout(False, 50, 50, seed=4))).save(tmp_path / "ref.png")
    base = ["--method", "global-prior", "--model", str(model), "--no-refine", "-q"]
    assert apply_main([str(tmp_path / "in.png"), "-o", str(tmp_path / "plain.png"), *base]) == 0
    assert apply_main([str(tmp_path / "in.png"), "-o", str(tmp_path / "styled.png"), "--style", str(tmp_path / "ref.png"), *base]) == 0
    plain = np.asarray(Image.open(tmp_path / "plain.png")).astype(np.float32)
    styled = np.asarray(Image.open(tmp_path / "styled.png")).astype(np.float32)
    for rgb in (plain, styled):
        assert np.abs(rgb_to_luma(rgb / 255.0) * 255.0 - gray).max() <= 1.0
    assert np.abs(plain - styled).mean() > 2  # U pulled down by the style's prior


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--style", "ref.png"], "--style needs --method global-prior"),
        (["--method", "global-prior", "--no-clusters"], "--no-clusters: options of --method cheng"),
        (["--method", "global-prior", "--style", "missing.png"], "--style:"),
        (["--method", "cheng", "--model", "gp.safetensors"], "holds a global-prior model; pass --method global-prior"),
    ],
)
def test_cli_method_errors(tmp_path, capsys, monkeypatch, extra, message):
    """Method and style mistakes are one line and exit 2, before any image is written."""
    from PIL import Image

    from deepcolor.apply import main as apply_main

    monkeypatch.chdir(tmp_path)
    model = _saved_tiny_model(tmp_path)
    Image.fromarray(to_uint8(_luma(20, 20))).save(tmp_path / "in.png")
    Image.fromarray(to_uint8(_luma(20, 20, seed=1))).save(tmp_path / "ref.png")
    if "--model" not in extra and "global-prior" in extra:
        extra = extra + ["--model", str(model)]
    capsys.readouterr()
    assert apply_main(["in.png", "-o", "out.png", "-q", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--out", "no/such/dir/m.safetensors"], "--out: folder no/such/dir does not exist"),
        (["--out", "m.safetensors", "--max-val-images", "-1"], "--max-val-images"),
        (["--out", "m.safetensors", "--batch-size", "0"], "--batch-size"),
        (["--out", "m.safetensors", "--labels", "sun"], "--labels"),
    ],
)
def test_fit_global_prior_argument_errors_are_one_line(tmp_path, capsys, monkeypatch, extra, message):
    """`fit global-prior` with a bad argument: one line (no usage block), exit 2, nothing written."""
    from deepcolor.fit import main as fit_main

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert fit_main(["global-prior", "--images", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
