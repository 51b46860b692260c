"""A general-scene FCN: the ImageNet-pretrained encoder plus a light decoder, 24 merged classes.

Where the 11-class `deepcolor.features.semantic` FCN learned every filter from 367 CamVid street
frames, this one stands on EfficientNet-Lite0 (`deepcolor.features.encoder`, frozen in training)
and was trained on gray CamVid and MSRC-21 together, in one label space that merges the classes
both datasets name (`SCENE_CLASSES`). Its decoder is a feature pyramid: each encoder map from
stride 32 to stride 4 projected to ``width`` channels, upsampled and summed, two 3x3 convolutions,
a 1x1 classifier at stride 4 whose logits are upsampled bilinearly to the image.

Training lives in `deepcolor.train.scene_fcn`; a model file (kind ``"scene_fcn"``) embeds the
encoder weights in float16, so inference needs nothing beyond the default install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepcolor.colorspace import check_luma
from deepcolor.features.encoder import FEATURE_CHANNELS, EfficientNetLite0, encoder_from_tensors, encoder_tensors, to_encoder_input

__all__ = [
    "SCENE_CLASSES", "CAMVID_TO_SCENE", "MSRC_TO_SCENE", "VOID", "SceneDecoder", "SceneFCN",
    "SCENE_COLOURS", "scene_input", "scene_probabilities", "scene_small_probabilities", "scene_small_and_pooled", "scene_file_parts", "scene_from_tensors",
    "save_scene_fcn", "load_scene_fcn",
]

# The merged label space: the 8 classes CamVid and MSRC-21 both name (merged: CamVid's
# SignSymbol = MSRC's sign, Bicyclist = bicycle, Pedestrian = body), then the 3 CamVid-only and
# the 13 MSRC-only classes. 11 + 21 - 8 = 24.
SCENE_CLASSES: tuple[str, ...] = (
    "sky", "building", "tree", "road", "car", "sign", "bicycle", "person",  # both
    "pole", "pavement", "fence",  # CamVid only
    "grass", "cow", "sheep", "aeroplane", "water", "face", "flower", "bird", "book", "chair", "cat", "dog", "boat",  # MSRC only
)
VOID = 255
# CamVid (SegNet 11-class order, 11 = void) -> scene class index.
CAMVID_TO_SCENE = np.full(256, VOID, dtype=np.uint8)
for _i, _name in enumerate(("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "person", "bicycle")):
    CAMVID_TO_SCENE[_i] = SCENE_CLASSES.index(_name)
# MSRC-21 (classes.txt order, 255 = void) -> scene class index.
MSRC_TO_SCENE = np.full(256, VOID, dtype=np.uint8)
for _i, _name in enumerate(("building", "grass", "tree", "cow", "sheep", "sky", "aeroplane", "water", "face", "car", "bicycle",
                            "flower", "sign", "bird", "book", "chair", "road", "cat", "dog", "person", "boat")):
    MSRC_TO_SCENE[_i] = SCENE_CLASSES.index(_name)
for _table in (CAMVID_TO_SCENE, MSRC_TO_SCENE):
    _table.setflags(write=False)

# Label-map colours (RGB), one row per class of `SCENE_CLASSES`, void last (black): SegNet's CamVid
# colours for the classes CamVid names, the MSRC-21 colours for the MSRC-only ones (the two palettes
# already agree on sky, building, tree, road, car, sign and person/body); all 25 rows distinct.
SCENE_COLOURS = np.array(
    [
        [128, 128, 128], [128, 0, 0], [128, 128, 0], [128, 64, 128], [64, 0, 128], [192, 128, 128], [0, 128, 192], [64, 64, 0],
        [192, 192, 128], [60, 40, 222], [64, 64, 128],
        [0, 128, 0], [0, 0, 128], [0, 128, 128], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 128, 128], [0, 64, 0],
        [128, 64, 0], [0, 192, 0], [0, 192, 128], [128, 192, 0], [192, 64, 0],
        [0, 0, 0],
    ],
    dtype=np.uint8,
)
SCENE_COLOURS.setflags(write=False)

FEATURE_STRIDES = (4, 8, 16, 32)  # the encoder maps the decoder reads (stride 2 is left out: its cost, little gain)
MAX_SIDE = 480  # longest side the net runs at (CamVid frames are 480 x 360)


class SceneDecoder(nn.Module):
    """Feature-pyramid decoder: encoder maps at strides 4..32 -> class logits at stride 4.

    ``forward(maps)`` takes the four maps (N, C_s, ceil(H / s), ceil(W / s)) for s = 4, 8, 16, 32
    with C = 24, 40, 112, 320 and returns (N, n_classes, ceil(H / 4), ceil(W / 4)) logits.
    """

    def __init__(self, n_classes: int = len(SCENE_CLASSES), width: int = 96) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in FEATURE_CHANNELS[1:])
        self.context = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(width, n_classes, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        if len(maps) != len(FEATURE_STRIDES):
            raise ValueError(f"the decoder needs {len(FEATURE_STRIDES)} maps (strides {FEATURE_STRIDES}), got {len(maps)}")
        x = self.context(self.lateral[-1](maps[-1]))
        for lateral, skip in zip(list(self.lateral)[-2::-1], maps[-2::-1]):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + lateral(skip)
        return self.classifier(self.fuse(x))


class SceneFCN(nn.Module):
    """Encoder + decoder: an (N, 3, H, W) `to_encoder_input` tensor -> (N, n_classes, H, W) logits."""

    def __init__(self, encoder: EfficientNetLite0, decoder: SceneDecoder, *, classes: tuple[str, ...] = SCENE_CLASSES,
                 max_side: int = MAX_SIDE) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.classes, self.max_side = tuple(classes), int(max_side)

    kind: ClassVar[str] = "scene_fcn"  # the `deepcolor.features.semantic_net.SemanticNet` protocol
    writes_legend: ClassVar[bool] = True  # its 24 classes are named in a legend beside each label map
    colours: np.ndarray = SCENE_COLOURS
    file_config: dict[str, Any] | None = None  # set by `scene_from_tensors`

    def small_and_pooled(self, luma: np.ndarray, *, max_side: int | None = None, xp: Any = np) -> tuple[Any, np.ndarray]:
        """`scene_small_and_pooled` of this net."""
        return scene_small_and_pooled(luma, self, max_side=max_side, xp=xp)

    def file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """`scene_file_parts` of this net."""
        return scene_file_parts(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps, _ = self.encoder(x)
        logits = self.decoder(maps[1:])
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def scene_input(luma: np.ndarray, model: SceneFCN, max_side: int | None = None) -> np.ndarray:
    """What the net reads of an (H, W) float32 luma in [0, 1]: area-downscaled so its longest side is at
    most ``max_side`` (default the model's, 480), never upscaled, clipped to [0, 1]."""
    side = model.max_side if max_side is None else int(max_side)
    if side < 32:
        raise ValueError(f"max_side must be at least 32, got {side}")
    h, w = luma.shape
    scale = min(1.0, side / max(h, w))
    small = luma if scale == 1.0 else cv2.resize(luma, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0, 1).astype(np.float32)


def scene_small_probabilities(luma: np.ndarray, model: SceneFCN, *, max_side: int | None = None, xp: Any = np):
    """The scene FCN's class probabilities of the whole image at the scale it runs at (Cheng's semantic stage).

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float32
        Luma in [0, 1], on the host.
    model : SceneFCN
    max_side : int, optional, keyword-only
        See `scene_input`.
    xp : module, keyword-only
        numpy (the net on the CPU) or cupy (its CUDA copy, made once; the map stays on the device).

    Returns
    -------
    small : ``xp`` array, shape (h, w, len(model.classes)), float32
        Softmax of the logits upsampled to the downscaled input (longest side at most ``max_side``).
    """
    return scene_small_and_pooled(luma, model, max_side=max_side, xp=xp)[0]


def scene_small_and_pooled(luma: np.ndarray, model: SceneFCN, *, max_side: int | None = None, xp: Any = np):
    """`scene_small_probabilities` and, from the same encoder pass, the encoder's pooled (1280,) float32
    feature of the downscaled image (on the host): a scene descriptor the cluster routing may use."""
    from deepcolor.kernels.device import from_torch, module_on, to_host, torch_device

    if not isinstance(model, SceneFCN):
        raise ValueError(f"model must be a SceneFCN, got {type(model).__name__}")
    device = torch_device(xp)
    x = to_encoder_input(scene_input(check_luma(luma), model, max_side)).to(device)
    net = module_on(model, device)
    with torch.inference_mode():  # SceneFCN.forward, keeping the pooled feature
        maps, pooled = net.encoder(x)
        logits = F.interpolate(net.decoder(maps[1:]), size=x.shape[-2:], mode="bilinear", align_corners=False)
        probs = torch.softmax(logits[0], dim=0).permute(1, 2, 0).contiguous()
    return from_torch(probs, xp), np.asarray(to_host(from_torch(pooled[0].float().contiguous(), xp)), np.float32)


def scene_probabilities(luma: np.ndarray, model: SceneFCN, *, max_side: int | None = None) -> np.ndarray:
    """Per-pixel probabilities of the scene classes for a gray image.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    model : SceneFCN
    max_side : int, optional, keyword-only
        The net runs on a copy downscaled (area interpolation) so its longest side is at most this
        (default: the model's own, 480); the logits are upsampled bilinearly back to (H, W).

    Returns
    -------
    probs : ndarray, shape (H, W, len(model.classes)), float32
        Softmax probabilities, summing to 1 per pixel.
    """
    luma = check_luma(luma)
    h, w = luma.shape
    small = scene_input(luma, model, max_side)
    with torch.no_grad():
        maps, _ = model.encoder(to_encoder_input(small))
        logits = F.interpolate(model.decoder(maps[1:]), size=(h, w), mode="bilinear", align_corners=False)
        probs = torch.softmax(logits[0], dim=0).permute(1, 2, 0)
    return np.ascontiguousarray(probs.numpy(), dtype=np.float32)


def scene_file_parts(model: SceneFCN, *, extra: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors (encoder without its ImageNet layer, decoder; float16) and config of a scene FCN file.

    The config is the one the model was loaded with when it came from a file (its card included),
    so a colorizer that embeds it records the same FCN; ``extra`` adds keys to it.
    """
    tensors = encoder_tensors(model.encoder)
    tensors.update({f"decoder.{k}": v.detach().cpu().numpy().astype(np.float16) for k, v in model.decoder.state_dict().items()})
    width = model.decoder.classifier.in_channels
    config = dict(model.file_config or {"classes": list(model.classes), "void": VOID, "width": width,
                                                          "max_side": model.max_side})
    config.update(extra or {})
    return tensors, config


def scene_from_tensors(tensors: dict[str, np.ndarray], config: dict[str, Any]) -> SceneFCN:
    """Rebuild a `SceneFCN` (float32, eval mode) from the tensors and config of `scene_file_parts`;
    KeyError or RuntimeError when they do not fit each other."""
    decoder = SceneDecoder(len(config["classes"]), int(config["width"]))
    state = {k[len("decoder."):]: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items() if k.startswith("decoder.")}
    decoder.load_state_dict(state, strict=True)
    model = SceneFCN(encoder_from_tensors(tensors), decoder.eval(), classes=tuple(config["classes"]), max_side=int(config["max_side"]))
    model.file_config = dict(config)  # travels with it into a colorizer file, and keys the training caches
    return model.eval()


def save_scene_fcn(model: SceneFCN, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write a scene FCN model file: encoder (without its ImageNet layer) and decoder, float16."""
    from deepcolor.modelfile import save_model_file

    tensors, config = scene_file_parts(model, extra=extra)
    return save_model_file(path, tensors, kind="scene_fcn", config=config)


def load_scene_fcn(path: str | Path) -> SceneFCN:
    """Read a scene FCN model file (float32, eval mode); `deepcolor.modelfile.ModelFileError` if it is not one."""
    from deepcolor.modelfile import load_model_file

    tensors, config = load_model_file(path, kind="scene_fcn")
    return scene_from_tensors(tensors, config)
