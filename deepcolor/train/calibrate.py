"""Per-MLP chroma-gain calibration of a `ChengModel` on held-out images."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepcolor.models.cheng import ChengModel
from deepcolor.train.cheng import ImageSamples, _columns

__all__ = ["CALIBRATION_MIN_IMAGES", "CALIBRATION_MAX_GAIN", "calibrate"]

CALIBRATION_MIN_IMAGES = 3  # below this many held-out images a regressor takes its variant's pooled gain
CALIBRATION_MAX_GAIN = 2.0


def calibrate(model: ChengModel, samples: Sequence[ImageSamples]) -> tuple[ChengModel, dict[str, Any]]:
    """Fit each regressor's chroma gain on held-out images, by least squares.

    A regressor trained by least squares predicts the conditional mean; on
    images unlike its training set that mean is still too colourful or too
    dull. Its gain ``s = sum(pred . true) / sum(pred . pred)`` over the
    sampled pixels of the held-out images routed to it is the least-squares
    correction (clipped to [0, 2]). Regressors that receive fewer than
    `CALIBRATION_MIN_IMAGES` images take the pooled gain of their variant.
    Returns a new model with the fitted gains (``global_scale`` and each
    cluster's ``chroma_scale``) and a report; ``model`` is not changed, so the
    cached shipped model is safe to calibrate.
    """
    report: dict[str, Any] = {}
    model = copy.copy(model)
    model.clusters = [copy.copy(h) for h in model.clusters]
    for head in model.clusters:
        head.chroma_scale = dict(head.chroma_scale)
    model.global_scale = dict(model.global_scale)
    if not samples:
        return model, report
    for variant in model.global_regressors:
        semantic = variant == "semantic"
        stats: dict[str, list[float]] = {}
        for clusters in ([False, True] if model.clusters else [False]):
            for s in samples:
                reg, source = model.choose(s.gist, s.histogram if semantic else None, semantic=semantic, clusters=clusters)
                pred = reg.predict(_columns(s.descriptors, semantic)).astype(np.float64)
                num, den, n = stats.get(source, [0.0, 0.0, 0])
                stats[source] = [num + float(np.sum(pred * s.chroma)), den + float(np.sum(pred * pred)), n + 1]
        pooled_num = sum(v[0] for k, v in stats.items() if k != "global")
        pooled_den = sum(v[1] for k, v in stats.items() if k != "global")
        pooled = float(np.clip(pooled_num / pooled_den, 0.0, CALIBRATION_MAX_GAIN)) if pooled_den > 0 else 1.0
        gains = {}
        for source, (num, den, n) in stats.items():
            gains[source] = float(np.clip(num / den, 0.0, CALIBRATION_MAX_GAIN)) if (den > 0 and n >= CALIBRATION_MIN_IMAGES) else pooled
        model.global_scale[variant] = round(gains.get("global", 1.0), 4)
        for head in model.clusters:
            head.chroma_scale[variant] = round(gains.get(head.key, pooled), 4)
        report[variant] = {"global": model.global_scale[variant], "pooled_clusters": round(pooled, 4),
                           "images_per_regressor": {k: v[2] for k, v in stats.items()}}
    return model, report
