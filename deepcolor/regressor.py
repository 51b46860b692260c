"""The per-pixel chroma regressor: Cheng's MLP (its training, by least squares, is `deepcolor.train.mlp`).

Input: a descriptor (N, D). Three hidden layers of D // 2 units with ReLU, two
linear outputs (U, V). Features are standardized with the training mean and
standard deviation and the targets divided by their RMS; all three are stored
with the weights, so a saved regressor carries its own normalization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from deepcolor.kernels.arrays import array_module
from deepcolor.kernels.device import from_torch, module_on, to_torch
from deepcolor.modelfile import load_error_text

__all__ = ["ChromaMLP", "Regressor"]

N_HIDDEN_LAYERS = 3
PREDICT_CHUNK = 16384  # rows per forward pass: measured faster than one huge batch


class ChromaMLP(nn.Module):
    """D -> D//2 -> D//2 -> D//2 -> 2, ReLU between layers."""

    def __init__(self, in_features: int, hidden: int | None = None) -> None:
        super().__init__()
        if in_features < 2:
            raise ValueError(f"in_features must be >= 2, got {in_features}")
        hidden = hidden or max(in_features // 2, 1)
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(N_HIDDEN_LAYERS):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 2))
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass
class Regressor:
    """A trained MLP with its normalization constants.

    Attributes
    ----------
    net : ChromaMLP
    mean, std : ndarray, shape (D,), float32
        Feature standardization.
    target_scale : float
        Chroma is predicted in units of this RMS.
    info : dict
        Training facts (samples, epochs, final loss) for the model card.
    """

    net: ChromaMLP
    mean: np.ndarray
    std: np.ndarray
    target_scale: float
    info: dict[str, Any] = field(default_factory=dict)
    _folded: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def in_features(self) -> int:
        return self.net.in_features

    def inference_net(self) -> nn.Module:
        """The net with the standardization and target scale folded into its first and last layers
        (no extra pass over the data), on the CPU in eval mode; built once."""
        if self._folded is None:
            folded = ChromaMLP(self.net.in_features, self.net.hidden)
            folded.load_state_dict(self.net.state_dict())
            first, last = folded.layers[0], folded.layers[-1]
            with torch.no_grad():
                inv = torch.from_numpy(1.0 / self.std)
                first.weight.mul_(inv)
                first.bias.sub_(first.weight @ torch.from_numpy(self.mean))
                last.weight.mul_(self.target_scale)
                last.bias.mul_(self.target_scale)
            self._folded = folded.eval()
        return self._folded

    def predict(self, features: Any) -> Any:
        """Chroma of each descriptor, on the descriptors' device.

        Parameters
        ----------
        features : ndarray, shape (N, D), float32
            numpy, or a CuPy array: then the net's CUDA copy (made once,
            `module_on`) reads it through DLPack, in one pass, without a host copy.

        Returns
        -------
        chroma : ndarray, shape (N, 2), float32
            YUV U, V, of the features' array module.
        """
        xp = array_module(features)
        features = xp.asarray(features, dtype=xp.float32)
        if features.ndim != 2 or features.shape[1] != self.in_features:
            raise ValueError(f"features must have shape (N, {self.in_features}), got {features.shape}")
        net = self.inference_net()
        chunk = PREDICT_CHUNK
        if xp is not np:
            net, chunk = module_on(net, "cuda"), max(1, features.shape[0])
        out = xp.empty((features.shape[0], 2), dtype=xp.float32)
        with torch.inference_mode():
            for start in range(0, features.shape[0], chunk):
                rows = to_torch(xp.ascontiguousarray(features[start : start + chunk]))
                out[start : start + chunk] = from_torch(net(rows), xp)
        return out

    def to_tensors(self, prefix: str) -> dict[str, np.ndarray]:
        """Flat name -> array map for `deepcolor.modelfile`."""
        tensors = {f"{prefix}.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        tensors[f"{prefix}.mean"] = self.mean.astype(np.float32)
        tensors[f"{prefix}.std"] = self.std.astype(np.float32)
        tensors[f"{prefix}.target_scale"] = np.array([self.target_scale], dtype=np.float32)
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], prefix: str, info: dict[str, Any] | None = None) -> "Regressor":
        """Rebuild a regressor saved by `to_tensors` (strict: every weight must be present)."""
        try:
            mean = tensors[f"{prefix}.mean"]
            state = {k[len(prefix) + 1 :]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith(prefix + ".layers.")}
            hidden = state["layers.0.weight"].shape[0]
            net = ChromaMLP(mean.shape[0], hidden)
            net.load_state_dict(state, strict=True)
            return cls(net.eval(), mean, tensors[f"{prefix}.std"], float(tensors[f"{prefix}.target_scale"][0]), dict(info or {}))
        except (KeyError, RuntimeError) as exc:
            raise ValueError(f"regressor {prefix!r} is incomplete or malformed: {load_error_text(exc)}") from None
