"""The from-scratch global-prior CNN of Iizuka, Simo-Serra & Ishikawa (SIGGRAPH 2016).

"Let there be Color!": a shared low-level conv net feeds two paths. The local
(mid-level) path runs on the whole image at full resolution; the global path
runs on the image rescaled to 224 x 224 and ends in a 256-d vector that is
tiled over the mid-level map and fused with it by a 1x1 conv. A colorization
net upsamples the fused map and predicts the two chroma channels through a
sigmoid. A classification head on the 512-d global layer predicts a scene
class during training (its loss shapes the global features); at test time it
names the scene the network thinks it sees.

Departures from the paper: chroma is BT.601 U, V (``deepcolor.colorspace``)
instead of CIE a*b*, the sigmoid output being rescaled to U in [-0.436, 0.436]
and V in [-0.615, 0.615]; every layer's width is multiplied by ``width``
(the paper is ``width = 1``) so that it trains on a CPU; the local path pads
the image to a multiple of 8 (edge replication) and the prediction, made at
half resolution, is upsampled bilinearly to the input size.

Style transfer (the paper's Fig. on global features): `predict_chroma` with a
``style`` luma takes the global features from that image instead; the local
features, and so the luma that is kept, stay the input's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepcolor.colorspace import check_luma
from deepcolor.kernels.device import from_torch, module_on, synchronize, torch_device
from deepcolor.modelfile import ModelFileError, load_error_text

__all__ = [
    "ARCHITECTURE",
    "GLOBAL_SIZE",
    "STRIDE",
    "CHROMA_MAX",
    "GlobalPriorNet",
        "net_from_tensors",
    "global_prior_chroma",
    "global_input",
    "normalize_luma",
    "chroma_to_unit",
    "unit_to_chroma",
]

ARCHITECTURE = "iizuka2016"  # the config's "architecture" of these files
GLOBAL_SIZE = 224  # the global path always sees the image rescaled to this square
STRIDE = 8  # the low-level net downsamples by 8: the local input is padded to a multiple of it
# Largest |U|, |V| of BT.601 for RGB in [0, 1] (deepcolor.colorspace): the sigmoid spans them.
CHROMA_MAX = np.array([0.436, 0.615], dtype=np.float32)
LUMA_MEAN, LUMA_STD = 0.45, 0.25  # input normalization, recorded in every model file

# Channel counts of the paper (width = 1); (out, stride) per 3x3 conv.
_LOW = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1))
_MID = ((512, 1), (256, 1))
_GLOBAL_CONV = ((512, 2), (512, 1), (512, 2), (512, 1))
_GLOBAL_FC = (1024, 512, 256)
_FUSION = 256
_CLASS_HIDDEN = 256


def chroma_to_unit(chroma: np.ndarray | torch.Tensor):
    """BT.601 U, V (last axis, or channel axis 1 for a tensor) -> [0, 1], the sigmoid's range."""
    if isinstance(chroma, torch.Tensor):
        scale = torch.as_tensor(CHROMA_MAX, dtype=chroma.dtype).view(1, 2, 1, 1)
        return (chroma / scale + 1.0) * 0.5
    return ((np.asarray(chroma, np.float32) / CHROMA_MAX + 1.0) * 0.5).astype(np.float32)


def unit_to_chroma(unit: np.ndarray) -> np.ndarray:
    """Inverse of `chroma_to_unit` on an (..., 2) array."""
    return ((np.asarray(unit, np.float32) * 2.0 - 1.0) * CHROMA_MAX).astype(np.float32)


def _channels(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def _conv_stack(cin: int, spec, width: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for cout, stride in spec:
        cout = _channels(cout, width)
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers), cin


class GlobalPriorNet(nn.Module):
    """The network; holds the layers, `forward` joins them.

    Parameters
    ----------
    width : float
        Multiplier of every layer's channel count (1 = the paper).
    n_classes : int
        Scene classes of the classification head (>= 1).
    """

    def __init__(self, width: float = 0.25, n_classes: int = 8) -> None:
        super().__init__()
        if not (0 < width <= 4):
            raise ValueError(f"width must lie in (0, 4], got {width}")
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.width, self.n_classes = float(width), int(n_classes)
        self.low, c_low = _conv_stack(1, _LOW, width)
        self.mid, c_mid = _conv_stack(c_low, _MID, width)
        self.global_conv, c_glob = _conv_stack(c_low, _GLOBAL_CONV, width)
        side = GLOBAL_SIZE // STRIDE // 4  # two more stride-2 convs: 224 -> 28 -> 7
        fc = [_channels(c, width) for c in _GLOBAL_FC]
        self.global_fc1 = nn.Linear(c_glob * side * side, fc[0])
        self.global_fc2 = nn.Linear(fc[0], fc[1])
        self.global_fc3 = nn.Linear(fc[1], fc[2])
        c_fuse = _channels(_FUSION, width)
        self.fusion = nn.Sequential(nn.Conv2d(c_mid + fc[2], c_fuse, 1, bias=False), nn.BatchNorm2d(c_fuse), nn.ReLU(inplace=True))
        c = [_channels(x, width) for x in (128, 64, 64, 32)]
        self.color1, _ = _conv_stack(c_fuse, ((128, 1),), width)
        self.color2, _ = _conv_stack(c[0], ((64, 1), (64, 1)), width)
        self.color3, _ = _conv_stack(c[2], ((32, 1),), width)
        self.color_out = nn.Conv2d(c[3], 2, 3, padding=1)
        self.class_hidden = nn.Linear(fc[1], _channels(_CLASS_HIDDEN, width))
        self.class_out = nn.Linear(_channels(_CLASS_HIDDEN, width), n_classes)

    def global_features(self, low_global: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-level features of the 224 x 224 image -> (256-d fusion vector, 512-d layer), width-scaled."""
        x = self.global_conv(low_global).flatten(1)
        x = F.relu(self.global_fc1(x), inplace=True)
        g512 = F.relu(self.global_fc2(x), inplace=True)
        return F.relu(self.global_fc3(g512)), g512

    def classify(self, g512: torch.Tensor) -> torch.Tensor:
        """Scene logits (N, n_classes) from the 512-d global layer."""
        return self.class_out(F.relu(self.class_hidden(g512), inplace=True))

    def forward(self, local: torch.Tensor, global_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized luma -> (chroma in [0, 1] at half resolution, scene logits).

        Parameters
        ----------
        local : Tensor, shape (N, 1, H, W)
            ``H, W`` multiples of 8.
        global_input : Tensor, shape (N, 1, 224, 224), optional
            Default: ``local`` itself, which must then be 224 x 224; the
            low-level features are computed once and shared (training).

        Returns
        -------
        unit_chroma : Tensor, shape (N, 2, H / 2, W / 2), in [0, 1]
        logits : Tensor, shape (N, n_classes)
        """
        low = self.low(local)
        if global_input is None:
            if local.shape[-2:] != (GLOBAL_SIZE, GLOBAL_SIZE):
                raise ValueError(f"without global_input the input must be {GLOBAL_SIZE}x{GLOBAL_SIZE}, got {tuple(local.shape[-2:])}")
            low_global = low
        else:
            low_global = self.low(global_input)
        g256, g512 = self.global_features(low_global)
        mid = self.mid(low)
        tiled = g256[:, :, None, None].expand(-1, -1, mid.shape[2], mid.shape[3])
        x = self.fusion(torch.cat([mid, tiled], dim=1))
        x = F.interpolate(self.color1(x), scale_factor=2, mode="nearest")
        x = F.interpolate(self.color2(x), scale_factor=2, mode="nearest")
        x = torch.sigmoid(self.color_out(self.color3(x)))
        return x, self.classify(g512)


def global_input(luma: np.ndarray) -> np.ndarray:
    """(H, W) luma -> the (224, 224) float32 luma the global path sees (area-averaged; aspect not kept)."""
    interp = cv2.INTER_AREA if min(luma.shape) >= GLOBAL_SIZE else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(luma, np.float32), (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=interp)


def normalize_luma(luma: np.ndarray) -> torch.Tensor:
    """(H, W) float32 luma -> the (1, 1, H, W) tensor the network reads (the model file's normalization)."""
    return torch.from_numpy((luma - np.float32(LUMA_MEAN)) / np.float32(LUMA_STD))[None, None]


def global_prior_chroma(
    net: GlobalPriorNet, luma: np.ndarray, *, style: np.ndarray | None = None, xp: Any = np
) -> tuple[Any, np.ndarray]:
    """Run the network on one image, on the CPU or on the device of ``xp``.

    Parameters
    ----------
    net : GlobalPriorNet
        In eval mode (on the GPU its CUDA copy runs, made once: `module_on`).
    luma : numpy.ndarray, shape (H, W), float in [0, 1]
        Any size; padded (edge replication) to a multiple of 8 for the local path.
    style : numpy.ndarray, shape (H', W'), float in [0, 1], optional
        Luma whose global features replace the input's.
    xp : module, keyword-only
        The array module of the chroma: numpy, or cupy (the network on torch
        CUDA, the chroma handed over through DLPack).

    Returns
    -------
    chroma : ``xp`` array, shape (H, W, 2), float32
        BT.601 U, V; ``|U| <= 0.436``, ``|V| <= 0.615``.
    probabilities : numpy.ndarray, shape (n_classes,), float32
        Scene-class probabilities (of the style image when given).
    """
    luma = check_luma(luma, range_tolerance=0.0)
    glob_src = luma if style is None else check_luma(style, name="style", range_tolerance=0.0)
    device = torch_device(xp)
    h, w = luma.shape
    padded = np.pad(luma, ((0, -h % STRIDE), (0, -w % STRIDE)), mode="edge")
    with torch.inference_mode():
        local, glob = (normalize_luma(x).to(device) for x in (padded, global_input(glob_src)))
        unit, logits = module_on(net, device)(local, glob)
        unit = F.interpolate(unit, size=padded.shape, mode="bilinear", align_corners=False)[0, :, :h, :w]
        chroma = ((unit.permute(1, 2, 0) * 2.0 - 1.0) * torch.from_numpy(CHROMA_MAX).to(device)).contiguous()
        probs = torch.softmax(logits[0], dim=0).cpu().numpy().astype(np.float32)
    chroma = from_torch(chroma, xp)
    synchronize(xp)
    return chroma, probs


def net_from_tensors(tensors: dict[str, np.ndarray], config: dict[str, Any], *, source: str | Path = "<memory>") -> GlobalPriorNet:
    """Rebuild the network (CPU, eval mode) from a ``global_prior`` model file's tensors and config.

    Raises
    ------
    ModelFileError
        One line, when the config and tensors do not describe this network.
    """
    try:
        norm = config["normalization"]
        if (float(norm["luma_mean"]), float(norm["luma_std"])) != (LUMA_MEAN, LUMA_STD):
            raise ValueError(f"normalization {norm} differs from this code's ({LUMA_MEAN}, {LUMA_STD})")
        if config["architecture"] != ARCHITECTURE:
            raise ValueError(f"unknown architecture {config['architecture']!r}")
        net = GlobalPriorNet(width=float(config["width"]), n_classes=len(config["classes"]))
        # "labels.*" tensors describe the scene classes (e.g. gist centres), not the network.
        state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items() if not k.startswith("labels.")}
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{source}: global-prior config/tensors do not match ({type(exc).__name__}: {load_error_text(exc)})") from None
    return net.eval()
