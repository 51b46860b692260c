"""The global-prior CNN on the ImageNet-pretrained encoder: Iizuka's fusion, a regression and a class head.

Architecture ``"encoder-unet"`` of the ``global-prior`` model kind (the from-scratch network of
Iizuka et al. is `deepcolor.models.global_prior_scratch`):

- **Encoder**: EfficientNet-Lite0 (`deepcolor.features.encoder`), frozen in training (batch norm
  in eval mode), on the gray image replicated to three channels. It runs twice: on the image at
  the working resolution (short side ``working_size``, both sides rounded to multiples of 32)
  for the local maps at strides 4, 8, 16, 32 (24, 40, 112, 320 channels), and on the whole image
  squashed to 224 x 224 for the pooled 1280-d feature, the global prior.
- **Global path**: pooled feature -> 512 -> 256 (ReLU MLP); a scene-classification head reads
  the 256-d vector (training only shapes it; inference reports its top class).
- **Fusion** (Iizuka et al.): the 256-d vector tiled over the stride-32 map, concatenated,
  1 x 1 conv.
- **Decoder**: upsampling with skip connections from the stride 16, 8, 4 maps (3 x 3 conv-BN-ReLU
  after each concatenation) to stride 4, where the **classification head** (1 x 1 conv) gives
  logits over the chroma bins (`deepcolor.models.chroma_bins`); then narrowed to 16 channels
  and up to stride 2, where the luma joins (one 3 x 3 conv) and the **regression head** (3 x 3)
  gives U, V through tanh scaled to `CHROMA_MAX`.

`network_chroma` runs the network on one image and returns the stride-2 chroma of both heads
(the class head decoded by its annealed mean), blended by the vividness; the full-resolution
chroma is made from it by `deepcolor.upsample.guided_upsample`.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepcolor.features.encoder import FEATURE_CHANNELS, POOLED_CHANNELS, EfficientNetLite0, to_encoder_input
from deepcolor.models.chroma_bins import annealed_mean

__all__ = ["ARCHITECTURE", "CHROMA_MAX", "GLOBAL_SIZE", "PriorDecoder", "EncoderPriorNet", "working_shape", "network_heads", "network_chroma",
           "global_luma", "network_inputs", "bin_probabilities"]

ARCHITECTURE = "encoder-unet"
GLOBAL_SIZE = 224  # the whole image, squashed, for the pooled feature
CHROMA_MAX = np.array([0.436, 0.615], dtype=np.float32)  # largest |U|, |V| of BT.601 for RGB in [0, 1]
_GLOBAL_HIDDEN, _GLOBAL_OUT = 512, 256
_FUSED, _UP16, _UP8, _UP4, _UP2 = 192, 128, 96, 64, 16  # decoder channels at strides 32, 16, 8, 4, 2 (slim: a CPU trains it)


def _conv_bn(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PriorDecoder(nn.Module):
    """Everything but the encoder: global MLP, scene head, fusion, decoder and both chroma heads.

    Parameters
    ----------
    n_bins : int
        Chroma bins of the classification head.
    n_scenes : int
        Scene classes of the scene head (>= 1).
    """

    def __init__(self, n_bins: int, n_scenes: int) -> None:
        super().__init__()
        if n_bins < 2 or n_scenes < 1:
            raise ValueError(f"need n_bins >= 2 and n_scenes >= 1, got {n_bins}, {n_scenes}")
        c4, c8, c16, c32 = FEATURE_CHANNELS[1:]
        self.n_bins, self.n_scenes = int(n_bins), int(n_scenes)
        self.global_mlp = nn.Sequential(nn.Linear(POOLED_CHANNELS, _GLOBAL_HIDDEN), nn.ReLU(inplace=True),
                                        nn.Linear(_GLOBAL_HIDDEN, _GLOBAL_OUT), nn.ReLU(inplace=True))
        self.scene_head = nn.Linear(_GLOBAL_OUT, n_scenes)
        self.fuse = _conv_bn(c32 + _GLOBAL_OUT, _FUSED, 1)
        self.up16 = _conv_bn(_FUSED + c16, _UP16)
        self.up8 = _conv_bn(_UP16 + c8, _UP8)
        self.up4 = _conv_bn(_UP8 + c4, _UP4)
        self.class_head = nn.Conv2d(_UP4, n_bins, 1)
        self.to2 = nn.Conv2d(_UP4, _UP2, 1)  # narrowed before the stride-2 stage, where every channel costs 4x
        self.up2 = nn.Sequential(nn.Conv2d(_UP2 + 1, _UP2, 3, padding=1), nn.ReLU(inplace=True))
        self.regression_head = nn.Conv2d(_UP2, 2, 3, padding=1)
        self.register_buffer("chroma_max", torch.from_numpy(CHROMA_MAX).view(1, 2, 1, 1), persistent=False)

    def forward(self, maps: list[torch.Tensor], pooled: torch.Tensor, luma2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder outputs -> the two heads and the scene logits.

        Parameters
        ----------
        maps : list of 4 Tensors
            Strides 4, 8, 16, 32: (N, C_s, H / s, W / s), C = 24, 40, 112, 320 (H, W multiples of 32).
        pooled : Tensor, shape (N, 1280)
            Pooled encoder feature of the whole image (224 x 224).
        luma2 : Tensor, shape (N, 1, H / 2, W / 2)
            Luma in [0, 1] at stride 2.

        Returns
        -------
        chroma : Tensor, shape (N, 2, H / 2, W / 2)
            Regression head, BT.601 U, V within ``±CHROMA_MAX``.
        bin_logits : Tensor, shape (N, n_bins, H / 4, W / 4)
        scene_logits : Tensor, shape (N, n_scenes)
        """
        s4, s8, s16, s32 = maps
        g = self.global_mlp(pooled)
        x = self.fuse(torch.cat([s32, g[:, :, None, None].expand(-1, -1, *s32.shape[-2:])], dim=1))
        for layer, skip in ((self.up16, s16), (self.up8, s8), (self.up4, s4)):
            x = layer(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], dim=1))
        bin_logits = self.class_head(x)
        x = F.interpolate(self.to2(x), size=luma2.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up2(torch.cat([x, luma2 * 2.0 - 1.0], dim=1))
        chroma = torch.tanh(self.regression_head(x)) * self.chroma_max
        return chroma, bin_logits, self.scene_head(g)


class EncoderPriorNet(nn.Module):
    """The frozen encoder and the decoder, with the chroma bins the class head predicts.

    Parameters
    ----------
    encoder : EfficientNetLite0
    decoder : PriorDecoder
    centres : ndarray, shape (n_bins, 2), float32
        U, V of each bin (`deepcolor.models.chroma_bins.fit_bins`).
    """

    def __init__(self, encoder: EfficientNetLite0, decoder: PriorDecoder, centres: np.ndarray) -> None:
        super().__init__()
        if centres.shape != (decoder.n_bins, 2):
            raise ValueError(f"centres must be ({decoder.n_bins}, 2), got {centres.shape}")
        self.encoder, self.decoder = encoder.eval(), decoder
        self.register_buffer("centres", torch.from_numpy(np.asarray(centres, np.float32)), persistent=False)
        self.n_classes = decoder.n_scenes

    def forward(self, work: torch.Tensor, whole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Luma at the working resolution (N, 1, H, W), H, W multiples of 32, and (N, 1, 224, 224) -> `PriorDecoder` outputs."""
        maps, _ = self.encoder(to_encoder_input(work[:, 0]))
        _, pooled = self.encoder(to_encoder_input(whole[:, 0]))
        luma2 = F.avg_pool2d(work, 2)
        return self.decoder(maps[1:], pooled, luma2)


def working_shape(shape: tuple[int, int], working_size: int) -> tuple[int, int]:
    """(H, W) -> the working (h, w): short side about ``working_size`` (never above the image's, at least 32), multiples of 32."""
    h, w = shape
    scale = min(1.0, working_size / min(h, w))
    return max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)


def global_luma(luma: np.ndarray) -> np.ndarray:
    """(H, W) luma -> the (224, 224) float32 luma of the global path (area-averaged; aspect not kept)."""
    interp = cv2.INTER_AREA if min(luma.shape) >= GLOBAL_SIZE else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(luma, np.float32), (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=interp)


def network_inputs(luma: np.ndarray, glob: np.ndarray, *, working_size: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The network's two inputs: ``luma`` at the working resolution (1, 1, h, w) and ``glob`` squashed to (1, 1, 224, 224).

    Parameters
    ----------
    luma, glob : ndarray, shape (H, W) and (H', W'), float32 in [0, 1]
        The image, and whose global prior to use (see `network_heads`).
    working_size : int, keyword-only
        Short side of the working resolution (`working_shape`).
    """
    h, w = working_shape(luma.shape, working_size)
    interp = cv2.INTER_AREA if h < luma.shape[0] else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(luma, np.float32), (w, h), interpolation=interp)
    return torch.from_numpy(small)[None, None].to(device), torch.from_numpy(global_luma(glob))[None, None].to(device)


def bin_probabilities(net: EncoderPriorNet, luma: np.ndarray, *, working_size: int, device: str = "cpu") -> np.ndarray:
    """The class head's distribution over the chroma bins (``net.centres``) at stride 4 of the working resolution.

    Returns
    -------
    ndarray, shape (h / 4, w / 4, n_bins), float32
        Each pixel's probabilities (sum 1); the grid covers the whole image (`working_shape`).
    """
    with torch.inference_mode():
        _, bin_logits, _ = net(*network_inputs(luma, luma, working_size=working_size, device=device))
        probs = torch.softmax(bin_logits[0].float(), dim=0).permute(1, 2, 0)
    return np.ascontiguousarray(probs.cpu().numpy(), np.float32)


def network_heads(net: EncoderPriorNet, luma: np.ndarray, glob: np.ndarray, *, working_size: int, temperature: float,
                  device: str = "cpu", vivid: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Run the network once on an image: both heads' chroma at stride 2 of the working resolution.

    Parameters
    ----------
    net : EncoderPriorNet
        In eval mode, on ``device``.
    luma : ndarray, shape (H, W), float32 in [0, 1]
    glob : ndarray, shape (H', W'), float32 in [0, 1]
        Whose global prior to use (the image itself, a style reference or a video shot's state).
    working_size, temperature : keyword-only
        Short side of the working resolution (`working_shape`); the class head's annealed-mean temperature.
    vivid : bool, keyword-only
        False skips decoding the class head (returned as None).

    Returns
    -------
    regression : ndarray, shape (h / 2, w / 2, 2), float32
        The regression head's U, V, covering the whole image.
    annealed : ndarray of the same shape, or None
        The class head's annealed mean (its stride-4 map upsampled bilinearly to stride 2).
    scene_probabilities : ndarray, shape (n_scenes,), float32
    """
    with torch.inference_mode():
        chroma, bin_logits, scene_logits = net(*network_inputs(luma, glob, working_size=working_size, device=device))
        annealed = None
        if vivid:
            decoded = annealed_mean(bin_logits, net.centres, temperature)
            decoded = F.interpolate(decoded, size=chroma.shape[-2:], mode="bilinear", align_corners=False)
            annealed = np.ascontiguousarray(decoded[0].permute(1, 2, 0).float().cpu().numpy(), np.float32)
        regression = np.ascontiguousarray(chroma[0].permute(1, 2, 0).float().cpu().numpy(), np.float32)
        probs = torch.softmax(scene_logits[0], dim=0).float().cpu().numpy().astype(np.float32)
    return regression, annealed, probs


def network_chroma(net: EncoderPriorNet, luma: np.ndarray, glob: np.ndarray, *, working_size: int, vividness: float,
                   temperature: float, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """`network_heads` blended by the vividness: ``(1 - v) * regression + v * annealed``, and the scene probabilities."""
    regression, annealed, probs = network_heads(net, luma, glob, working_size=working_size, temperature=temperature,
                                                device=device, vivid=vividness > 0)
    if annealed is None:
        return regression, probs
    return np.ascontiguousarray((1.0 - vividness) * regression + vividness * annealed, np.float32), probs


def decoder_state(tensors: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The ``decoder.*`` tensors of a model file as a float32 state dict of `PriorDecoder`."""
    return {k[len("decoder."):]: torch.from_numpy(np.asarray(v, np.float32)) for k, v in tensors.items() if k.startswith("decoder.")}
