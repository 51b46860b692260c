"""One image prepared for Cheng's prediction (`deepcolor.models.cheng.ChengModel.prepare`): any region's chroma.

The per-image part (the FCN's map, the cluster choice, the MLPs summed) is made once; `ChengImage.chroma`
then predicts any region, every pixel (``step`` 1, the paper) or on a grid of every ``step``-th pixel
guided-upsampled on the luma (`deepcolor.features.grid`), so tiles share the whole image's choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepcolor.features.descriptor import FeatureMaps, descriptor_at, feature_maps
from deepcolor.features.grid import grid_chroma
from deepcolor.kernels.device import array_module_for, synchronize
from deepcolor.models.stacked_mlp import StackedMLP, WeightedSum

__all__ = ["ROW_CHUNK_PIXELS", "ChengImage"]

# Descriptor rows built and regressed per step; on the GPU 2^20 pixels of 92 floats is 385 MB of device memory.
ROW_CHUNK_PIXELS = {"cpu": 1 << 16, "cuda": 1 << 20}


@dataclass
class ChengImage:
    """One image prepared for prediction (`ChengModel.prepare`): the regions share its MLP and FCN map."""

    luma: np.ndarray  # (H, W) float32 on the host, the whole image
    small: Any  # the FCN's probabilities of the whole image, (h, w, 11), on the device, or None without semantics
    semantic: bool
    mlp: StackedMLP | WeightedSum  # the MLPs and weights summed (`ChengModel.combination`), one batched product
    source: str  # cluster key or "global"
    seconds: dict[str, float]
    device: str = "cpu"  # where features and MLP run: "cpu" or "cuda"
    step: int = 1  # 1: every pixel's chroma predicted; above: a grid of every step-th pixel, guided-upsampled

    @property
    def info(self) -> dict[str, Any]:
        """The model's account of this image (`deepcolor.pipeline.colorize` with ``return_info=True``)."""
        return {"cluster": self.source}

    def chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice], *, maps: FeatureMaps | None = None) -> np.ndarray:
        """Chroma of the pixels ``want`` (image coordinates), from features computed on ``outer`` (which holds it).

        The features of a pixel read up to `tiling.FEATURE_HALO` pixels around
        it, so ``outer`` should extend that far beyond ``want`` (except at the
        image border) for the result to equal the whole image's.

        Returns
        -------
        ndarray, shape (rows of want, columns of want, 2), float32
            On the image's device (a CuPy array for ``"cuda"``).
        """
        if self.step > 1 and maps is None:
            return self._grid_chroma(outer, want)
        xp = array_module_for(self.device)
        t0 = time.perf_counter()
        if maps is None:
            whole = outer == (slice(0, self.luma.shape[0]), slice(0, self.luma.shape[1]))
            region = None if whole and self.small is None else outer
            maps = feature_maps(self.luma, small=self.small, region=region, device=self.device)
        synchronize(xp)
        t1 = time.perf_counter()
        w = maps.shape[1]
        ys = range(want[0].start - outer[0].start, want[0].stop - outer[0].start)
        xs = xp.arange(want[1].start - outer[1].start, want[1].stop - outer[1].start, dtype=xp.int64)
        chroma = xp.empty((len(ys), xs.size, 2), dtype=xp.float32)
        rows = max(1, ROW_CHUNK_PIXELS[self.device] // max(1, xs.size))
        for start in range(0, len(ys), rows):
            stop = min(len(ys), start + rows)
            index = (xp.arange(ys[start], ys[stop - 1] + 1, dtype=xp.int64)[:, None] * w + xs[None, :]).ravel()
            descriptors = descriptor_at(maps, index, semantic=self.semantic)
            chroma[start:stop] = self.mlp.predict(descriptors, device=self.device).reshape(stop - start, xs.size, 2)
        synchronize(xp)
        self._add_seconds(features=t1 - t0, regression=time.perf_counter() - t1)
        return chroma

    def _grid_chroma(self, outer: tuple[slice, slice], want: tuple[slice, slice]) -> Any:
        """`chroma` predicted on the grid of ``outer`` and guided-upsampled to ``want`` (`features.grid.grid_chroma`)."""
        chroma, seconds = grid_chroma(self.luma, self.small if self.semantic else None, outer, want, step=self.step,
                                      semantic=self.semantic, device=self.device, chunk_pixels=ROW_CHUNK_PIXELS[self.device],
                                      predict=lambda rows: self.mlp.predict(rows, device=self.device))
        self._add_seconds(**seconds)
        return chroma

    def _add_seconds(self, **stages: float) -> None:
        for name, seconds in stages.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
