"""Per-pixel scene semantics from a gray image (the FCN stage of Cheng et al.).

A small fully convolutional encoder-decoder (`SemanticFCN`) trained on the
luma of CamVid driving frames predicts, for every pixel, the probability of
each of the 11 CamVid classes. The probability maps are then smoothed by an
edge-preserving domain-transform filter guided by the gray image, so class
boundaries snap to luma edges (Cheng et al., Sec. 4.1). The smoothed maps are
the 11-d semantic part of the per-pixel descriptor.

Training lives in `deepcolor.train.fcn`; this module only runs the network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.modelfile import ModelFileError, default_weights_path, load_error_text, load_model_file

__all__ = [
    "CAMVID_CLASSES", "CAMVID_COLOURS", "N_CLASSES", "VOID", "DEFAULT_ARCH", "MAX_SIDE", "SIGMA_SPATIAL", "SIGMA_COLOR",
    "SemanticFCN", "fcn_from_tensors", "load_fcn",
    "semantic_probabilities", "smooth_probabilities", "semantic_features", "semantic_histogram", "label_colours",
]

logger = logging.getLogger(__name__)

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
# Domain-transform parameters: spatial sigma in pixels, colour sigma in luma
# units (luma in [0, 1]); chosen on CamVid val (raw 89.1% -> ~89.4% pixel acc.).
SIGMA_SPATIAL = 16.0
SIGMA_COLOR = 0.08
_DT_ITERS = 2  # 3 (the paper's choice) scores the same on CamVid val and costs 40% more
# cv2.ximgproc.dtFilter takes at most 4 source channels, so the 11 maps travel
# as contiguous (H, W, 4|4|3) groups; that also avoids strided copies.
_GROUPS = ((0, 4), (4, 8), (8, 11))


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


def _check_probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[-1] != N_CLASSES or min(probs.shape[:2]) < 1:
        raise ValueError(f"{name} must have shape (H, W, {N_CLASSES}), got {probs.shape}")
    return np.ascontiguousarray(probs, dtype=np.float32)


def _merge_groups(groups: list[np.ndarray]) -> np.ndarray:
    """Three (H, W, c_k) channel groups -> (H, W, 11) float32, clipped >= 0 and summing to 1."""
    h, w = groups[0].shape[:2]
    flat = [np.ascontiguousarray(g.reshape(h * w, -1), dtype=np.float32) for g in groups]
    return kernels.merge_normalize(flat[0], flat[1], flat[2]).reshape(h, w, N_CLASSES)


def _split_groups(probs: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(probs[..., a:b]) for a, b in _GROUPS]


def _fcn_input(luma: np.ndarray, fcn: SemanticFCN, max_side: int | None) -> np.ndarray:
    """Validate; what the net reads: the luma area-downscaled to longest side <= max_side, clipped to [0, 1]."""
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


def _small_probabilities(luma: np.ndarray, fcn: SemanticFCN, max_side: int | None) -> np.ndarray:
    """Validate, run the net on a copy with longest side <= max_side: (h, w, 11) float32 softmax."""
    x = torch.from_numpy(_fcn_input(luma, fcn, max_side))[None, None]
    was_training = fcn.training
    fcn.eval()
    try:
        with torch.inference_mode():
            return torch.softmax(fcn(x), dim=1)[0].permute(1, 2, 0).contiguous().numpy()
    finally:
        fcn.train(was_training)


def _upsampled_groups(small: np.ndarray, h: int, w: int) -> list[np.ndarray]:
    """Bilinear upsampling of (h', w', 11) maps to (h, w), as contiguous channel groups."""
    groups = _split_groups(small)
    if small.shape[:2] == (h, w):
        return groups
    return [cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, g.shape[-1]) for g in groups]


def _check_sigmas(sigma_spatial: float, sigma_color: float) -> None:
    if not (np.isfinite(sigma_spatial) and sigma_spatial > 0):
        raise ValueError(f"sigma_spatial must be > 0, got {sigma_spatial}")
    if not (np.isfinite(sigma_color) and sigma_color > 0):
        raise ValueError(f"sigma_color must be > 0, got {sigma_color}")


def _dt_filter_groups(groups: list[np.ndarray], luma: np.ndarray, sigma_spatial: float, sigma_color: float) -> list[np.ndarray]:
    """Domain-transform filter each channel group with one filter built from the luma guide."""
    dt = cv2.ximgproc.createDTFilter(luma, float(sigma_spatial), float(sigma_color), cv2.ximgproc.DTF_RF, _DT_ITERS)
    return [dt.filter(g).reshape(g.shape) for g in groups]


def semantic_probabilities(luma: np.ndarray, fcn: SemanticFCN, *, max_side: int | None = None) -> np.ndarray:
    """Per-pixel class probabilities of a gray image.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    fcn : SemanticFCN
        E.g. from `load_fcn`.
    max_side : int, optional, keyword-only
        The net runs on a copy downscaled (area interpolation) so that its
        longest side is at most this; the probabilities are upsampled
        bilinearly back to ``(H, W)``. Default ``fcn.max_side``, the scale
        the model was trained for (stored in its model file).

    Returns
    -------
    probs : ndarray, shape (H, W, 11), float32
        Softmax probabilities, non-negative, summing to 1 per pixel.
    """
    luma = check_luma(luma)
    small = _small_probabilities(luma, fcn, max_side)
    if small.shape[:2] == luma.shape:
        return np.ascontiguousarray(small, dtype=np.float32)
    return _merge_groups(_upsampled_groups(small, *luma.shape))


def smooth_probabilities(
    probs: np.ndarray,
    luma: np.ndarray,
    *,
    sigma_spatial: float = SIGMA_SPATIAL,
    sigma_color: float = SIGMA_COLOR,
) -> np.ndarray:
    """Edge-preserving smoothing of probability maps guided by the gray image.

    Uses OpenCV's domain-transform filter (recursive mode, 2 iterations) with
    ``luma`` as the guide, in groups of at most 4 channels (an OpenCV limit).

    Parameters
    ----------
    probs : ndarray, shape (H, W, 11), float
    luma : ndarray, shape (H, W), float
        Guide, in [0, 1].
    sigma_spatial : float, keyword-only
        Spatial extent of the filter in pixels, > 0.
    sigma_color : float, keyword-only
        Luma difference (in [0, 1] units) across which smoothing fades, > 0.

    Returns
    -------
    smoothed : ndarray, shape (H, W, 11), float32
        Clipped at 0 and renormalized to sum to 1 per pixel.
    """
    probs = _check_probs(probs)
    luma = check_luma(luma)
    if probs.shape[:2] != luma.shape:
        raise ValueError(f"probs {probs.shape[:2]} and luma {luma.shape} must have the same (H, W)")
    _check_sigmas(sigma_spatial, sigma_color)
    return _merge_groups(_dt_filter_groups(_split_groups(probs), luma, sigma_spatial, sigma_color))


def semantic_features(
    luma: np.ndarray,
    fcn: SemanticFCN,
    *,
    max_side: int | None = None,
    sigma_spatial: float = SIGMA_SPATIAL,
    sigma_color: float = SIGMA_COLOR,
) -> np.ndarray:
    """The 11-d semantic part of the per-pixel descriptor.

    `semantic_probabilities` followed by `smooth_probabilities` (computed
    without the intermediate (H, W, 11) array).

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    fcn : SemanticFCN
    max_side, sigma_spatial, sigma_color : keyword-only
        See `semantic_probabilities` and `smooth_probabilities`.

    Returns
    -------
    features : ndarray, shape (H, W, 11), float32
        Smoothed class probabilities, non-negative, summing to 1 per pixel.
    """
    luma = check_luma(luma)
    _check_sigmas(sigma_spatial, sigma_color)
    groups = _upsampled_groups(_small_probabilities(luma, fcn, max_side), *luma.shape)
    return _merge_groups(_dt_filter_groups(groups, luma, sigma_spatial, sigma_color))


def semantic_histogram(probs: np.ndarray) -> np.ndarray:
    """Share of the image taken by each class: the mean of the probability maps.

    The soft mean (rather than counts of the argmax) keeps the histogram
    smooth in the network's confidence, which suits clustering.

    Parameters
    ----------
    probs : ndarray, shape (H, W, 11), float
        Per-pixel probabilities summing to 1 (e.g. `semantic_features`).

    Returns
    -------
    hist : ndarray, shape (11,), float32
        Non-negative, sums to 1.
    """
    probs = _check_probs(probs)
    hist = np.maximum(probs.reshape(-1, N_CLASSES).astype(np.float64).mean(axis=0), 0.0)
    total = hist.sum()
    if not total > 0:
        raise ValueError("probs carry no probability mass")
    return (hist / total).astype(np.float32)


def label_colours(labels: np.ndarray) -> np.ndarray:
    """Paint a label map in SegNet's CamVid colours.

    Parameters
    ----------
    labels : ndarray, shape (H, W), int
        Class ids in 0..10, or 11 (void, painted black).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (H, W), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > VOID):
        raise ValueError(f"labels must lie in 0..{VOID}, got range {labels.min()}..{labels.max()}")
    return CAMVID_COLOURS[labels]
