"""Where the time of one colorization goes: ``deepcolor colorize --profile``.

Every model returns its per-stage timings (`deepcolor.models.base.ChromaPrediction.seconds`;
Cheng: choice (the FCN and the cluster choice), features, regression, upsampling; the global
prior: its network, upsampling) and the pipeline adds the refinement's. `profile_colorization`
runs one call of the same path ``colorize`` takes and returns those stages with the rest (reading
nothing, writing nothing: the merge into RGB) as ``other``; `format_profile` prints them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["profile_colorization", "format_profile"]


def profile_colorization(luma: np.ndarray, model: Any, *, refine: bool = True, saturation: float = 1.0, device: str = "cpu",
                         **model_options: Any) -> dict[str, float]:
    """Seconds of each stage of one colorization of ``luma`` (H, W) float32 in [0, 1], and ``total``.

    Returns
    -------
    dict
        Stage name -> seconds, in the order the stages ran, then ``other`` (what no stage
        accounts for: tiling, the merge with the luma) and ``total`` (wall-clock seconds of the call).
    """
    from deepcolor.colorspace import merge_luma_chroma
    from deepcolor.pipeline import colorize_tiles

    def merge(t, chroma: np.ndarray) -> None:
        merge_luma_chroma(luma[t.core], chroma)

    t0 = time.perf_counter()
    _, seconds = colorize_tiles(luma, model, merge, refine=refine, saturation=saturation, device=device, **model_options)
    total = time.perf_counter() - t0
    stages = {name: float(s) for name, s in seconds.items()}
    stages["other"] = max(0.0, total - sum(stages.values()))
    stages["total"] = total
    return stages


def format_profile(stages: dict[str, float], *, title: str) -> str:
    """The stages as lines ``  name   seconds s  share %`` under ``title``, the total last."""
    total = stages.get("total", sum(stages.values())) or 1e-12
    width = max(len(name) for name in stages)
    lines = [title]
    for name, seconds in stages.items():
        share = "" if name == "total" else f"  {100 * seconds / total:5.1f} %"
        lines.append(f"  {name:<{width}}  {seconds:8.3f} s{share}")
    return "\n".join(lines)
