"""Several chroma MLPs and their weighted sum as one batched product per layer.

Cheng's chroma of an image is a weighted sum of K MLPs on the same descriptor rows
(`deepcolor.models.cheng.ChengModel.combination`: a cluster's MLP and the global one, K = 2,
or the global MLP alone). Run one after the other through ``torch.nn.Linear``, each layer is a
small product and the sum a second pass; stacked, layer l of all K nets is one batched
``matmul`` of the (K, N, h) activations with the (K, h, h') weights, and the weighted sum folds
into the last layer (its weights times the blend weight, biases summed), so the whole blend is
four products and three in-place ReLUs per chunk of rows, in float32.

Measured on the shared 2-core CPU (docs/speed.md): in CPU seconds, one thread, 262,144 rows of
the shipped 105-d model, two torch nets one after the other take 0.229, this stack with numpy's
OpenBLAS 0.230 (8,192-row chunks) or 0.255 (32,768), torch ``addmm`` on block-diagonal weights
0.30: the work is the same, what the stack saves is passes and dispatch. Under load (6-12 on
2 cores), wall seconds of 65,536 rows: numpy with OpenBLAS's own 2 spinning threads 0.25-0.36,
torch's batched products on its passive OpenMP pool 0.18-0.25. So the CPU runs torch (one thread
pool for the encoder and the MLPs, set once by `deepcolor.threads`); CuPy arrays run the same
products with ``cupy.matmul``. Nets of different hidden widths are zero-padded to the widest,
which is exact (a zero unit stays zero through ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deepcolor.kernels.cuda_host import array_module

__all__ = ["CHUNK_ROWS", "StackedMLP", "WeightedSum", "stack_terms"]

CHUNK_ROWS = 1 << 15  # rows per batched product: (K, 32768, 52) float32 activations are 13 MB for K = 2


@dataclass
class StackedMLP:
    """K folded MLPs (`deepcolor.regressor.Regressor.inference_net`) of equal depth, weights stacked per layer.

    Attributes
    ----------
    weights : list of ndarray
        Layer l: (K, in_l, out_l) float32; the last layer's already multiplied by each net's blend weight.
    biases : list of ndarray
        Layer l: (K, 1, out_l) float32, except the last: (2,), the weighted sum of the nets' last biases.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    _on: dict[Any, tuple[list[Any], list[Any]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def in_features(self) -> int:
        return int(self.weights[0].shape[1])

    def _arrays(self, xp: Any) -> tuple[list[Any], list[Any]]:
        """The weights on ``xp``'s device (copied once per array module)."""
        if xp is np:
            return self.weights, self.biases
        if xp not in self._on:
            self._on[xp] = ([xp.asarray(w) for w in self.weights], [xp.asarray(b) for b in self.biases])
        return self._on[xp]

    def predict(self, descriptors: Any, *, device: str = "cpu") -> Any:
        """Chroma (N, 2) float32 of descriptor rows (N, D), on their device: the weighted sum of the K nets.

        Parameters
        ----------
        descriptors : ndarray, shape (N, D), float32
            numpy on the CPU (torch's products), or a device array (CuPy; numpy under numba's CUDA simulator).
        device : {"cpu", "cuda"}, keyword-only
            ``"cuda"``: all rows in one batched product of the array module (``cupy.matmul``).
        """
        xp = array_module(descriptors)
        x = xp.asarray(descriptors, dtype=xp.float32)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"descriptors must have shape (N, {self.in_features}), got {x.shape}")
        if device == "cpu":
            return self._predict_torch(np.ascontiguousarray(x))
        weights, biases = self._arrays(xp)
        a = x[None]  # the GPU takes all rows at once
        for w, b in zip(weights[:-1], biases[:-1]):
            a = xp.matmul(a, w)
            a += b
            xp.maximum(a, 0, out=a)
        return xp.ascontiguousarray(xp.matmul(a, weights[-1]).sum(axis=0) + biases[-1], dtype=xp.float32)

    def _predict_torch(self, x: np.ndarray) -> np.ndarray:
        """The CPU path: torch's batched products on its thread pool (`deepcolor.threads`), in chunks of `CHUNK_ROWS`."""
        if "torch" not in self._on:
            self._on["torch"] = ([torch.from_numpy(w) for w in self.weights], [torch.from_numpy(b) for b in self.biases])
        weights, biases = self._on["torch"]
        out = np.empty((x.shape[0], 2), dtype=np.float32)
        rows, result = torch.from_numpy(x), torch.from_numpy(out)
        with torch.inference_mode():
            for start in range(0, x.shape[0], CHUNK_ROWS):
                a = rows[None, start : start + CHUNK_ROWS].expand(weights[0].shape[0], -1, -1)
                for w, b in zip(weights[:-1], biases[:-1]):
                    a = torch.baddbmm(b, a, w).relu_()
                torch.sum(torch.bmm(a, weights[-1]), dim=0, out=result[start : start + CHUNK_ROWS]).add_(biases[-1])
        return out


@dataclass
class WeightedSum:
    """The weighted sum of any objects with ``predict(rows) -> (N, 2)``, one after the other (stand-ins in tests)."""

    terms: list[tuple[Any, float]]

    def predict(self, descriptors: Any, *, device: str = "cpu") -> Any:
        """The weighted sum (each term predicts on the descriptors' device by itself; ``device`` is not needed)."""
        xp = array_module(descriptors)
        (reg, weight), *rest = self.terms
        chroma = reg.predict(descriptors)
        if weight != 1.0:
            chroma *= xp.float32(weight)
        for reg, weight in rest:
            chroma += reg.predict(descriptors) * xp.float32(weight)
        return chroma


def _linear_layers(net: torch.nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """(in, out) weight and (out,) bias of each ``nn.Linear`` of a sequential net, float32."""
    return [(layer.weight.detach().float().numpy().T, layer.bias.detach().float().numpy())
            for layer in net.layers if isinstance(layer, torch.nn.Linear)]


def _pad(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


def stack_terms(terms: list[tuple[Any, float]]) -> StackedMLP | WeightedSum:
    """The MLPs and weights of a `combination` as one `StackedMLP` (a `WeightedSum` when they are not all
    `deepcolor.regressor.Regressor` s of equal depth and input width)."""
    from deepcolor.regressor import Regressor

    if not terms or not all(isinstance(reg, Regressor) for reg, _ in terms):
        return WeightedSum(list(terms))
    nets = [_linear_layers(reg.inference_net()) for reg, _ in terms]
    if len({len(n) for n in nets}) != 1 or len({n[0][0].shape[0] for n in nets}) != 1:
        return WeightedSum(list(terms))
    weights, biases = [], []
    for depth in range(len(nets[0])):
        layer = [n[depth] for n in nets]
        rows = max(w.shape[0] for w, _ in layer) if depth else layer[0][0].shape[0]
        cols = max(w.shape[1] for w, _ in layer)
        if depth == len(nets[0]) - 1:  # the output layer: the blend folded in
            weights.append(np.stack([_pad(w * np.float32(c), (rows, cols)) for (w, _), (_, c) in zip(layer, terms)]))
            biases.append(np.sum([b * np.float32(c) for (_, b), (_, c) in zip(layer, terms)], axis=0).astype(np.float32))
        else:
            weights.append(np.stack([_pad(w, (rows, cols)) for w, _ in layer]))
            biases.append(np.stack([_pad(b, (cols,)) for _, b in layer])[:, None, :])
    return StackedMLP(weights, biases)
