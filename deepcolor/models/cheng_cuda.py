"""Cheng's chroma prediction on the GPU: the twin of `ChengModel.predict_chroma`.

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
from typing import Any

import numpy as np

from deepcolor.features.descriptor_cuda import descriptor_rows_cuda, feature_maps_cuda
from deepcolor.features.semantic_cuda import semantic_histogram_cuda
from deepcolor.kernels.cuda_host import array_module
from deepcolor.kernels.device import from_torch, module_on, synchronize, to_torch, torch_device
from deepcolor.pipeline import ChromaPrediction

__all__ = ["ROW_CHUNK_PIXELS", "predict_chroma_cuda"]

# Descriptor rows regressed per step: 2^20 pixels of 92 floats is 385 MB of device memory.
ROW_CHUNK_PIXELS = 1 << 20


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
        module); ``info["cluster"]``; timings of features (with the gist,
        computed on the host meanwhile), choice and regression (each stage
        waits for the device before it is timed).
    """
    xp = array_module(luma_device)
    device = torch_device(xp)
    model.variant(semantic)
    t0 = time.perf_counter()
    maps = feature_maps_cuda(luma, luma_device, fcn=model.fcn if semantic else None)
    gist = histogram = None
    if clusters and model.clusters:
        # Gist on the host while the device still works on the maps (so its time counts in "features").
        gist, _ = model.image_cues(luma, None, semantic=False)  # gist only: the histogram comes from the device
    synchronize(xp)
    t1 = time.perf_counter()
    if gist is not None and semantic:
        histogram = semantic_histogram_cuda(maps.semantic)
    source = model.choose(gist, histogram, semantic=semantic, clusters=clusters)
    t2 = time.perf_counter()
    import torch

    # The chosen cluster's blend with the global MLP (or the global MLP alone), as on the CPU.
    terms = [(module_on(reg._inference_net(), device), weight) for reg, weight in model.combination(source, semantic=semantic)]
    h, w = luma.shape
    chroma = xp.empty((h, w, 2), dtype=xp.float32)
    rows = max(1, ROW_CHUNK_PIXELS // w)
    with torch.inference_mode():
        for start in range(0, h, rows):
            stop = min(h, start + rows)
            x = to_torch(descriptor_rows_cuda(maps, start, stop, semantic=semantic))
            out = sum(net(x) * weight for net, weight in terms)
            chroma[start:stop] = from_torch(out, xp).reshape(stop - start, w, 2)
    synchronize(xp)
    t3 = time.perf_counter()
    seconds = {"features": t1 - t0, "choice": t2 - t1, "regression": t3 - t2}
    return ChromaPrediction(chroma=chroma, info={"cluster": source}, seconds=seconds)
