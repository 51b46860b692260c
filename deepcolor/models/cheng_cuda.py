"""Cheng's chroma prediction on the GPU: the twin of `ChengModel.predict_chroma`.

The twins of `ChengModel.prepare`, `ChengImage` and `ChengModel.predict_chroma`.
The luma is on the device once; DAISY, the FCN and the smoothed semantics,
the descriptor rows and the cluster MLP all run there (numba.cuda kernels on
CuPy arrays, torch on CUDA, DLPack between them, no host copy). The host does
only the per-image steps: gist and the cluster choice (the semantic
histogram, 11 numbers, is the one result that leaves the device), and the
FCN input's downscale (see `deepcolor.features.semantic_cuda`).

Everything here is written against the array module of the device luma, so
under numba's CUDA simulator (numpy arrays, torch on the CPU) the same code
runs in tests and is compared with the CPU prediction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor.features.descriptor import FeatureMaps
from deepcolor.features.descriptor_cuda import descriptor_at_cuda, feature_maps_cuda
from deepcolor.features.semantic_cuda import semantic_histogram_cuda, semantic_small_cuda
from deepcolor.kernels.cuda_host import array_module
from deepcolor.kernels.device import from_torch, module_on, synchronize, to_torch, torch_device
from deepcolor.pipeline import ChromaPrediction

__all__ = ["ROW_CHUNK_PIXELS", "ChengImageCuda", "prepare_cuda", "predict_chroma_cuda"]

# Descriptor rows regressed per step: 2^20 pixels of 92 floats is 385 MB of device memory.
ROW_CHUNK_PIXELS = 1 << 20


def prepare_cuda(model: Any, luma: np.ndarray, xp, *, semantic: bool = True, clusters: bool = True, small: Any = None) -> "ChengImageCuda":
    """The per-image part of a prediction on the GPU: the twin of `ChengModel.prepare`.

    The FCN on the whole image downscaled (on the device; ``small`` when
    already computed), gist on the host, the semantic histogram from the small
    map (11 numbers to the host), the cluster choice. The result predicts the
    chroma of any region (`ChengImageCuda.chroma`), so the GPU runs the tiles
    of `deepcolor.tiling` with the same MLP as the whole image.
    """
    model.variant(semantic)
    t0 = time.perf_counter()
    if semantic and small is None:
        small = semantic_small_cuda(luma, model.fcn, xp)
    gist = histogram = None
    if clusters and model.clusters:
        gist, _ = model.image_cues(luma, None)  # gist only, on the host: the histogram comes from the device
        if small is not None:
            histogram = semantic_histogram_cuda(small)
    source = model.choose(gist, histogram, semantic=semantic, clusters=clusters)
    seconds = {"choice": time.perf_counter() - t0}
    terms = model.combination(source, semantic=semantic)
    return ChengImageCuda(luma, xp, small if semantic else None, semantic, terms, source, seconds)


@dataclass
class ChengImageCuda:
    """One image prepared for prediction on the GPU: the twin of `ChengImage`."""

    luma: np.ndarray  # (H, W) float32 on the host, the whole image
    xp: Any  # the device's array module
    small: Any  # the FCN's probabilities of the whole image on the device, (h, w, 11), or None
    semantic: bool
    terms: list[tuple[Any, float]]  # the MLPs and weights summed, as on the CPU (`ChengModel.combination`)
    source: str  # cluster key or "global"
    seconds: dict[str, float]

    def chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice], *, maps: FeatureMaps | None = None):
        """Chroma of the pixels ``want`` from features computed on ``outer`` (which holds it), on the device.

        ``maps``: the device maps of ``outer`` when already computed. Returns
        a device array (rows of want, columns of want, 2) float32.
        """
        xp = self.xp
        device = torch_device(xp)
        t0 = time.perf_counter()
        if maps is None:
            crop = xp.asarray(np.ascontiguousarray(self.luma[outer]))  # the tile's luma to the device
            maps = feature_maps_cuda(self.luma, crop, small=self.small, region=outer)
        w = maps.shape[1]
        rows = range(want[0].start - outer[0].start, want[0].stop - outer[0].start)
        cols = xp.arange(want[1].start - outer[1].start, want[1].stop - outer[1].start, dtype=xp.int64)
        chroma = xp.empty((len(rows), cols.size, 2), dtype=xp.float32)
        step = max(1, ROW_CHUNK_PIXELS // max(1, cols.size))
        nets = [(module_on(reg._inference_net(), device), weight) for reg, weight in self.terms]
        synchronize(xp)
        t1 = time.perf_counter()
        import torch

        with torch.inference_mode():
            for start in range(0, len(rows), step):
                stop = min(len(rows), start + step)
                index = (xp.arange(rows[start], rows[stop - 1] + 1, dtype=xp.int64)[:, None] * w + cols[None, :]).ravel()
                x = to_torch(descriptor_at_cuda(maps, index, semantic=self.semantic))
                out = sum(net(x) * weight for net, weight in nets)
                chroma[start:stop] = from_torch(out, xp).reshape(stop - start, cols.size, 2)
        synchronize(xp)
        self.seconds["features"] = self.seconds.get("features", 0.0) + t1 - t0
        self.seconds["regression"] = self.seconds.get("regression", 0.0) + time.perf_counter() - t1
        return chroma


def predict_chroma_cuda(model: Any, luma: np.ndarray, luma_device: Any, *, semantic: bool = True, clusters: bool = True) -> ChromaPrediction:
    """Chroma of a luma image, before refinement, computed on the device.

    Parameters
    ----------
    model : ChengModel
    luma : numpy.ndarray, shape (H, W), float32 in [0, 1]
        On the host, for gist and the FCN input.
    luma_device : cupy.ndarray (numpy.ndarray under the simulator), shape (H, W), float32
        The same luma on the device.
    semantic, clusters : bool, keyword-only
        As in `ChengModel.predict_chroma`.

    Returns
    -------
    ChromaPrediction
        ``chroma`` (H, W, 2) float32 U, V on the device (``luma_device``'s
        module); ``info["cluster"]``; timings of choice (with the FCN and gist,
        computed on the host while the device works on the maps), features and
        regression (each waits for the device before it is timed).
    """
    xp = array_module(luma_device)
    model.variant(semantic)
    t0 = time.perf_counter()
    small = semantic_small_cuda(luma, model.fcn, xp) if semantic else None
    maps = feature_maps_cuda(luma, luma_device, small=small)  # queued on the device ...
    image = prepare_cuda(model, luma, xp, semantic=semantic, clusters=clusters, small=small)  # ... while gist runs here
    image.seconds["choice"] = time.perf_counter() - t0
    whole = (slice(0, luma.shape[0]), slice(0, luma.shape[1]))
    chroma = image.chroma(whole, whole, maps=maps)
    return ChromaPrediction(chroma=chroma, info={"cluster": image.source}, seconds=dict(image.seconds))
