"""The encoder-based global-prior CNN: vividness, tiles, style, model files, the shipped model on a photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepcolor.features.encoder import EfficientNetLite0
from deepcolor.models.global_prior import GlobalPriorModel
from deepcolor.models.prior_encoder import ARCHITECTURE, EncoderPriorNet, PriorDecoder, network_chroma, working_shape
from deepcolor.upsample import guided_upsample

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _centres() -> np.ndarray:
    u, v = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4), indexing="ij")
    return (np.stack([u.ravel(), v.ravel()], 1) * 0.04).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_model() -> GlobalPriorModel:
    """Random weights (encoder too), batch-norm statistics off (0, 1); working size 64 keeps it fast."""
    torch.manual_seed(0)
    centres = _centres()
    decoder = PriorDecoder(len(centres), 3)
    for m in decoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        decoder.regression_head.weight.mul_(20.0)  # visible chroma from a random net
        decoder.class_head.weight.mul_(20.0)
    encoder = EfficientNetLite0().eval()
    for m in encoder.modules():  # a random encoder's activations vanish layer by layer; these keep them alive
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(0.1)
    net = EncoderPriorNet(encoder, decoder.eval(), centres)
    config = {"architecture": ARCHITECTURE, "classes": ["a", "b", "c"], "working_size": 64, "vividness_default": 0.5,
              "bins": {"grid": 0.04, "temperature": 0.38, "lambda": 0.5, "centres": centres.tolist()}}
    return GlobalPriorModel(net, config)


def _luma(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return np.clip(0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 13.0) + 0.05 * rng.standard_normal((h, w)), 0, 1).astype(np.float32)


def test_working_shape_is_multiples_of_32():
    """The short side goes to the working size (never up), both sides multiples of 32, at least 32."""
    assert working_shape((1000, 1500), 256) == (256, 384)
    assert working_shape((100, 90), 256) == (96, 96)
    assert working_shape((10, 7), 256) == (32, 32)


def test_vividness_zero_is_the_regression_head(tiny_model):
    """V = 0 is the regression head's chroma, guided to full size; V = 1 differs; the default is the file's."""
    luma = _luma(90, 130)
    net = tiny_model.net
    with torch.no_grad():
        h, w = working_shape(luma.shape, 64)
        import cv2

        small = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)
        from deepcolor.models.prior_encoder import global_luma

        reg = net(torch.from_numpy(small)[None, None], torch.from_numpy(global_luma(luma))[None, None])[0]
    expected = np.clip(guided_upsample(luma, reg[0].permute(1, 2, 0).numpy()), -0.436 * 2, 0.615 * 2)
    zero = tiny_model.predict_chroma(luma, vividness=0.0)
    np.testing.assert_allclose(zero.chroma, np.clip(expected, -np.array([0.436, 0.615]), np.array([0.436, 0.615])), atol=1e-5)
    one = tiny_model.predict_chroma(luma, vividness=1.0)
    assert np.abs(one.chroma - zero.chroma).mean() > 1e-3
    half = tiny_model.predict_chroma(luma)
    assert half.info["vividness"] == 0.5
    small0, _ = network_chroma(net, luma, luma, working_size=64, vividness=0.0, temperature=0.38)
    small1, _ = network_chroma(net, luma, luma, working_size=64, vividness=1.0, temperature=0.38)
    smallh, _ = network_chroma(net, luma, luma, working_size=64, vividness=0.5, temperature=0.38)
    np.testing.assert_allclose(smallh, 0.5 * (small0 + small1), atol=1e-5)  # the stated linear blend


def test_saturation_mode_scales_the_regression_head(tiny_model):
    """vividness_mode "saturation": V scales the V = 0 chroma by 1 + V (max - 1) (the shipped knob), clipped to the U, V range."""
    model = GlobalPriorModel(tiny_model.net, dict(tiny_model.config, vividness_mode="saturation", vividness_saturation_max=2.0))
    luma = _luma(50, 70, seed=4)
    base = model.predict_chroma(luma, vividness=0.0).chroma
    np.testing.assert_allclose(base, tiny_model.predict_chroma(luma, vividness=0.0).chroma, atol=1e-6)
    half = model.predict_chroma(luma, vividness=0.5).chroma
    np.testing.assert_allclose(half, np.clip(base * 1.5, -np.array([0.436, 0.615]), np.array([0.436, 0.615])), atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x"])
def test_vividness_out_of_range_is_one_line(tiny_model, bad):
    """A vividness outside [0, 1] is a one-line ValueError, also from validate_options (before any image)."""
    with pytest.raises(ValueError, match="vividness") as info:
        tiny_model.predict_chroma(_luma(40, 40), vividness=bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="vividness"):
        tiny_model.validate_options({"vividness": bad})


def test_tiled_equals_whole(tiny_model):
    """The pipeline's tiles (tile 96 on a 230 x 310 image) give the whole image's chroma."""
    from deepcolor.pipeline import colorize_luma

    luma = _luma(230, 310, seed=3)
    whole = colorize_luma(luma, tiny_model, tile=4096)
    tiled = colorize_luma(luma, tiny_model, tile=96)
    assert np.abs(tiled.chroma - whole.chroma).max() < 2e-3
    assert whole.info == tiled.info


def test_style_changes_chroma_only_through_the_prior(tiny_model):
    """A style reference changes the chroma; the image as its own style changes nothing."""
    luma = _luma(80, 96, seed=1)
    plain = tiny_model.predict_chroma(luma, vividness=0.0)
    same = tiny_model.predict_chroma(luma, style=luma, vividness=0.0)
    np.testing.assert_allclose(same.chroma, plain.chroma, atol=1e-6)
    other = tiny_model.predict_chroma(luma, style=_luma(50, 50, seed=9)[::-1] ** 3, vividness=0.0)
    assert other.info["styled"] and np.abs(other.chroma - plain.chroma).max() > 1e-4


def test_model_file_round_trip(tmp_path, tiny_model):
    """Saved (float16) and loaded: same tensors, same config, predictions equal to fp16 precision; a bad file is one line."""
    from deepcolor.modelfile import ModelFileError, save_model_file

    path = tiny_model.save(tmp_path / "gp.safetensors")
    back = GlobalPriorModel.load(path)
    assert back.encoder_based and back.config["bins"] == tiny_model.config["bins"]
    again = GlobalPriorModel.load(back.save(tmp_path / "again.safetensors"))
    saved, resaved = back.tensors(), again.tensors()
    assert saved.keys() == resaved.keys()
    for k in saved:
        np.testing.assert_array_equal(saved[k], resaved[k])
    luma = _luma(70, 50)
    np.testing.assert_allclose(back.predict_chroma(luma).chroma, tiny_model.predict_chroma(luma).chroma, atol=2e-2)
    tensors = {k: v for k, v in saved.items() if not k.startswith("decoder.class_head")}
    bad = save_model_file(tmp_path / "bad.safetensors", tensors, kind="global_prior", config=back.config)
    with pytest.raises(ModelFileError) as info:
        GlobalPriorModel.load(bad)
    assert "\n" not in str(info.value)


def test_shot_state_and_scratch_files_refuse_vividness(tiny_model):
    """A video shot's state is one of its frames' global inputs; from-scratch files refuse vividness above 0."""
    from deepcolor.models.global_prior_scratch import GlobalPriorNet

    frames = [_luma(60, 80, seed=s) for s in range(3)]
    state = tiny_model.shot_state(frames)
    assert state.shape == (224, 224)
    assert tiny_model.predict_chroma(frames[0], state=state).chroma.shape == (60, 80, 2)
    scratch = GlobalPriorModel(GlobalPriorNet(width=0.0625, n_classes=1).eval(),
                               {"architecture": "iizuka2016", "width": 0.0625, "classes": ["a"]})
    assert scratch.predict_chroma(_luma(40, 40)).chroma.shape == (40, 40, 2)
    with pytest.raises(ValueError, match="class head"):
        scratch.predict_chroma(_luma(40, 40), vividness=0.5)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (a select-split photo)")
def test_shipped_model_colorizes_a_photo_vividly():
    """The shipped model on a select-split photo: colourful (ratio to the original's colorfulness above a floor)."""
    from deepcolor.evaluation import gray_version, result_rgb8
    from deepcolor.metrics import colorfulness
    from deepcolor.models.registry import load_model
    from deepcolor.train.global_prior import read_colour

    model = load_model(method="global-prior")
    assert model.encoder_based
    root = Path(__file__).resolve().parents[1] / "data" / "splits"
    photos = [root / p for p in (root / "select.txt").read_text().split() if "sun8" in p or "intel6" in p][:3]
    ratios = []
    for path in photos:
        original = read_colour(path.resolve())
        luma, _ = gray_version(original)
        out = result_rgb8(luma, model.predict_chroma(luma).chroma)
        ratios.append(colorfulness(out) / max(colorfulness(original), 1e-6))
    assert np.median(ratios) > 0.4, ratios
