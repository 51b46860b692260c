"""The semantic network of Cheng et al.'s FCN stage: `SemanticFCN` and its model files.

A small fully convolutional encoder-decoder trained on the luma of CamVid
driving frames predicts, for every pixel, logits of the 11 CamVid classes.
What the colorizer does with them (softmax, upsampling, edge-aware smoothing)
is `deepcolor.features.semantic`; training lives in `deepcolor.train.fcn`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import cv2

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepcolor.colorspace import check_luma
from deepcolor.kernels.device import from_torch, module_on, torch_device
from deepcolor.modelfile import ModelFileError, default_weights_path, load_error_text, load_model_file

__all__ = ["CAMVID_CLASSES", "CAMVID_COLOURS", "N_CLASSES", "VOID", "DEFAULT_ARCH", "MAX_SIDE", "SemanticNet", "SemanticFCN", "fcn_input", "fcn_from_tensors", "fcn_file_parts", "load_fcn"]

CAMVID_CLASSES: tuple[str, ...] = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
N_CLASSES = 11
# Architecture used by the shipped model; the model file stores its own copy.
DEFAULT_ARCH: dict[str, Any] = {
    "in_channels": 1,
    "n_classes": N_CLASSES,
    "channels": [24, 48, 96, 128],
    "context_dilations": [2, 4],
    "pool_bins": [1, 2, 4],
    "batchnorm": False,
}
# Default longest side the net runs at (a model file may set its own): the
# training crops show most of a CamVid frame at about this size.
MAX_SIDE = 400

VOID = 11
# SegNet's CamVid colours (RGB), row ``VOID`` is the void/unlabelled black.
CAMVID_COLOURS = np.array(
    [
        [128, 128, 128],
        [128, 0, 0],
        [192, 192, 128],
        [128, 64, 128],
        [60, 40, 222],
        [128, 128, 0],
        [192, 128, 128],
        [64, 64, 128],
        [64, 0, 128],
        [64, 64, 0],
        [0, 128, 192],
        [0, 0, 0],
    ],
    dtype=np.uint8,
)
CAMVID_COLOURS.setflags(write=False)


@runtime_checkable
class SemanticNet(Protocol):
    """What Cheng's descriptor, its label map and its training read of a semantic network: the 11-class
    CamVid `SemanticFCN`, the 24-class `deepcolor.features.scene.SceneFCN`, or a newcomer.

    ``kind`` is the kind its own model files carry (`deepcolor.modelfile`); ``classes`` its C class
    names in channel order, ``colours`` their (C + 1, 3) uint8 label colours (the last row void,
    black); ``max_side`` the longest side it runs at; ``writes_legend`` whether a label map of it gets
    a legend file (``NAME.semantic.json``); ``file_config`` the config it was loaded with (or None).
    """

    kind: ClassVar[str]
    writes_legend: ClassVar[bool]
    classes: tuple[str, ...]
    colours: np.ndarray
    max_side: int
    file_config: dict[str, Any] | None

    def small_and_pooled(self, luma: np.ndarray, *, max_side: int | None = None, xp: Any = np) -> tuple[Any, np.ndarray | None]:
        """Class probabilities (h, w, C) float32 of a checked (H, W) luma at the scale it runs at, on ``xp``'s device, and
        its pooled (D,) float32 feature on the host from the same pass (None: it has none, so it cannot route)."""
        ...

    def file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The tensors and config of a model file of it (the inverse of its loader)."""
        ...


def fcn_input(luma: np.ndarray, fcn: "SemanticFCN", max_side: int | None = None) -> np.ndarray:
    """What the net reads of an (H, W) float32 luma: area-downscaled to longest side <= ``max_side``
    (default ``fcn.max_side``), clipped to [0, 1]; validates ``fcn`` and ``max_side`` (ValueError)."""
    if not isinstance(fcn, SemanticFCN):
        raise ValueError(f"fcn must be a SemanticFCN, got {type(fcn).__name__}")
    if fcn.config["n_classes"] != N_CLASSES:
        raise ValueError(f"fcn must predict {N_CLASSES} classes, got {fcn.config['n_classes']}")
    if max_side is None:
        max_side = fcn.max_side
    if int(max_side) != max_side or max_side < SemanticFCN.STRIDE:
        raise ValueError(f"max_side must be an int >= {SemanticFCN.STRIDE}, got {max_side}")
    h, w = luma.shape
    scale = min(1.0, max_side / max(h, w))
    small = luma
    if scale < 1.0:
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(luma, (sw, sh), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0.0, 1.0)



class _ConvBlock(nn.Module):
    """3x3 conv -> (BatchNorm) -> ReLU; without BatchNorm the conv has a bias."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, dilation: int = 1, batchnorm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=not batchnorm)
        self.bn = nn.BatchNorm2d(cout) if batchnorm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


class SemanticFCN(nn.Module):
    """Small U-Net-like FCN: gray image -> per-pixel CamVid class logits.

    Encoder of four stride-2 stages (1/2 .. 1/16 resolution), dilated context
    convolutions and a pyramid of average-pooled context maps (scene layout:
    sky on top, road below) at 1/16, a decoder that upsamples and fuses the
    1/8 and 1/4 skips, and a 1x1 classifier at 1/4 whose logits are upsampled
    bilinearly to the input size.

    Parameters
    ----------
    in_channels : int
        Input channels (1: luma).
    n_classes : int
        Output classes (11 for CamVid).
    channels : sequence of 4 int
        Widths of the four encoder stages.
    context_dilations : sequence of int
        Dilations of the extra 3x3 convolutions at 1/16 resolution.
    pool_bins : sequence of int
        Grid sizes of the pyramid pooling branches (1 = global average).
    batchnorm : bool
        Conv-BN-ReLU blocks (training) or Conv(bias)-ReLU blocks (the shipped,
        BatchNorm-folded model).
    input_mean, input_std : float
        Luma normalization applied inside `forward`; stored as buffers.
    max_side : int
        Longest image side the net was trained to see; `semantic_probabilities`
        downscales larger images to it.

    Notes
    -----
    `forward` takes ``(B, in_channels, H, W)`` float32 luma in [0, 1] of any
    ``H, W >= 1``; it pads (edge replicate) to a multiple of `STRIDE`
    internally and returns ``(B, n_classes, H, W)`` logits.
    """

    STRIDE = 16
    kind: ClassVar[str] = "fcn"  # the `SemanticNet` protocol
    writes_legend: ClassVar[bool] = False  # its label map keeps the CamVid legend (docs/scene_fcn.md)
    classes: tuple[str, ...] = CAMVID_CLASSES
    colours: np.ndarray = CAMVID_COLOURS
    file_config: dict[str, Any] | None = None  # set by `fcn_from_tensors`

    def __init__(
        self,
        *,
        in_channels: int = 1,
        n_classes: int = N_CLASSES,
        channels: tuple[int, ...] | list[int] = (24, 48, 96, 128),
        context_dilations: tuple[int, ...] | list[int] = (2, 4),
        pool_bins: tuple[int, ...] | list[int] = (1, 2, 4),
        batchnorm: bool = False,
        input_mean: float = 0.5,
        input_std: float = 0.25,
        max_side: int = MAX_SIDE,
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(f"channels must be 4 positive ints, got {channels}")
        if in_channels < 1 or n_classes < 2:
            raise ValueError(f"in_channels must be >= 1 and n_classes >= 2, got {in_channels}, {n_classes}")
        pool_bins = [int(b) for b in pool_bins]
        if min(pool_bins, default=1) < 1:
            raise ValueError(f"pool_bins must be positive ints, got {pool_bins}")
        if not input_std > 0:
            raise ValueError(f"input_std must be > 0, got {input_std}")
        if int(max_side) != max_side or max_side < self.STRIDE:
            raise ValueError(f"max_side must be an int >= {self.STRIDE}, got {max_side}")
        self.max_side = int(max_side)
        self.config = {
            "in_channels": int(in_channels),
            "n_classes": int(n_classes),
            "channels": channels,
            "context_dilations": [int(d) for d in context_dilations],
            "pool_bins": pool_bins,
            "batchnorm": bool(batchnorm),
        }
        c0, c1, c2, c3 = channels
        bn = bool(batchnorm)
        self.register_buffer("input_mean", torch.tensor(float(input_mean), dtype=torch.float32))
        self.register_buffer("input_std", torch.tensor(float(input_std), dtype=torch.float32))
        self.enc0 = _ConvBlock(in_channels, c0, stride=2, batchnorm=bn)
        self.enc1 = nn.Sequential(_ConvBlock(c0, c1, stride=2, batchnorm=bn), _ConvBlock(c1, c1, batchnorm=bn))
        self.enc2 = nn.Sequential(_ConvBlock(c1, c2, stride=2, batchnorm=bn), _ConvBlock(c2, c2, batchnorm=bn))
        self.enc3 = nn.Sequential(
            _ConvBlock(c2, c3, stride=2, batchnorm=bn),
            *[_ConvBlock(c3, c3, dilation=int(d), batchnorm=bn) for d in context_dilations],
        )
        # Pyramid pooling: coarse grids of pooled features carry the scene layout.
        cp = max(8, c3 // 4)
        self.pools = nn.ModuleList([nn.Conv2d(c3, cp, 1) for _ in pool_bins])
        self.fuse = nn.Conv2d(c3 + cp * len(pool_bins), c3, 1)
        self.dec2 = _ConvBlock(c3 + c2, c2, batchnorm=bn)
        self.dec1 = _ConvBlock(c2 + c1, c1, batchnorm=bn)
        self.head = nn.Conv2d(c1, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"expected input of shape (B, {self.config['in_channels']}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        s = self.STRIDE
        ph, pw = (-h) % s, (-w) % s
        x = (x - self.input_mean) / self.input_std
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        size = e3.shape[-2:]
        ctx = [e3]
        for bins, conv in zip(self.config["pool_bins"], self.pools):
            pooled = F.relu(conv(F.adaptive_avg_pool2d(e3, bins)))
            ctx.append(F.interpolate(pooled, size=size, mode="bilinear", align_corners=False))
        e3 = F.relu(self.fuse(torch.cat(ctx, 1)))
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        logits = self.head(d1)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits[:, :, :h, :w]

    def small_and_pooled(self, luma: np.ndarray, *, max_side: int | None = None, xp: Any = np) -> tuple[Any, None]:
        """Softmax probabilities (h, w, 11) of `fcn_input` on ``xp``'s device (the net's copy there, `module_on`); no pooled feature."""
        device = torch_device(xp)
        x = torch.from_numpy(fcn_input(check_luma(luma), self, max_side))[None, None].to(device)
        net = module_on(self, device)
        was_training = net.training
        net.eval()
        try:
            with torch.inference_mode():
                probs = torch.softmax(net(x), dim=1)[0].permute(1, 2, 0).contiguous()
        finally:
            net.train(was_training)
        return from_torch(probs, xp), None

    def file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """`fcn_file_parts` of this net."""
        return fcn_file_parts(self)


def fcn_from_tensors(tensors: dict[str, np.ndarray], config: dict[str, Any], *, source: str | Path = "<memory>") -> SemanticFCN:
    """Rebuild a `SemanticFCN` from the tensors and config of an ``"fcn"`` model file.

    Parameters
    ----------
    tensors : dict of str -> ndarray
        The module's state dict as numpy arrays (what `load_model_file` returns).
    config : dict
        The file's config: ``architecture``, ``normalization`` and optionally ``max_side``.
    source : str or Path, keyword-only
        Where they came from, for error messages.

    Returns
    -------
    SemanticFCN
        On CPU, in eval mode.

    Raises
    ------
    ModelFileError
        One line, when config and tensors do not describe a `SemanticFCN`.
    """
    try:
        arch = dict(config["architecture"])
        norm = config["normalization"]
        model = SemanticFCN(
            **arch, input_mean=float(norm["mean"]), input_std=float(norm["std"]), max_side=int(config.get("max_side", MAX_SIDE))
        )
        state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{source}: FCN config/tensors do not match ({type(exc).__name__}: {load_error_text(exc)})") from None
    model.file_config = dict(config)  # its model card travels with it into a colorizer file
    return model.eval()


def load_fcn(path: str | Path | None = None) -> SemanticFCN:
    """Load a `SemanticFCN` from a deepcolor model file of kind ``"fcn"``.

    Parameters
    ----------
    path : str or Path, optional
        Model file; default the shipped ``weights/v1/fcn.safetensors``.

    Returns
    -------
    SemanticFCN
        On CPU, in eval mode.

    Raises
    ------
    ModelFileError
        Missing, foreign, wrong-kind file, or tensors that do not match the
        architecture its config describes.
    """
    path = Path(default_weights_path("fcn") if path is None else path)
    tensors, config = load_model_file(path, kind="fcn")
    return fcn_from_tensors(tensors, config, source=path)


def fcn_file_parts(fcn: SemanticFCN) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and config of an ``"fcn"`` model file for ``fcn`` (the inverse of `fcn_from_tensors`).

    The config is the one it was loaded with (card included) when it came from
    a file, else its architecture and normalization.
    """
    tensors = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in fcn.state_dict().items()}
    config = fcn.file_config or {
        "architecture": dict(fcn.config),
        "normalization": {"mean": float(fcn.input_mean), "std": float(fcn.input_std)},
        "max_side": fcn.max_side,
    }
    return tensors, config
