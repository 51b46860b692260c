"""Fitting how a `ChengModel`'s MLPs combine, on held-out images.

Two fits, both on the sampled pixels of held-out images (never training ones);
the rules are the ones that won on the selection split
(`benchmarks/select_clusters.py`, ``benchmarks/results/select_clusters.md``):

1. The cluster ensemble: an image routed to a cluster gets the 50/50 blend of
   the cluster's MLP and the global MLP. The fallback rule: a cluster keeps
   its MLP only if this blend beats the global MLP on the held-out images
   routed to it (mean per-image PSNR, at least `BLEND_MIN_IMAGES` of them);
   else it is dropped and its images get the global MLP. A cluster with fewer
   held-out images keeps the blend (it never was worse on the selection
   split: a cluster's images are rarely all unlike its training images).
   Blend weights fitted per cluster by least squares, by best median or mean
   gain, and a per-cluster chroma gain all generalized worse on held-out
   photos than the fixed blend: a cluster has too few held-out images to fit
   more than one yes/no.
2. The colour gain (anti-sepia): least squares on chroma predicts the mean of
   the plausible colours, which is dull. Scaling every prediction by
   ``s >= 1`` adds colour; the fitted ``s`` is the largest on a grid whose
   median per-image PSNR gain over gray on the held-out images stays within
   ``colour_tolerance`` dB of the unscaled one ("less sepia at the same
   PSNR"). The user's ``--saturation`` acts after this, on the refined chroma.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepcolor.models.cheng import ChengModel
from deepcolor.train.samples import ImageSamples, chroma_psnr, descriptor_columns

__all__ = ["BLEND", "BLEND_MIN_IMAGES", "COLOUR_GAINS", "COLOUR_TOLERANCE_DB", "calibrate"]

BLEND = (0.5, 0.5)  # (cluster weight, global weight)
BLEND_MIN_IMAGES = 3  # a cluster is dropped only on evidence from at least this many held-out images
COLOUR_GAINS = tuple(round(1.0 + 0.05 * i, 2) for i in range(21))  # 1.0 ... 2.0
COLOUR_TOLERANCE_DB = 0.05
PSNR_CAP = 100.0  # dB: an exact colorization (infinite PSNR) counts as this in a mean


def _copy(model: ChengModel) -> ChengModel:
    model = copy.copy(model)
    model.clusters = [copy.copy(h) for h in model.clusters]
    for head in model.clusters:
        head.regressors = dict(head.regressors)
        head.blend = dict(head.blend)
    model.global_scale = dict(model.global_scale)
    model.colour_gain = dict(model.colour_gain)
    model._arrays = None
    return model


def _mean_psnr(samples: Sequence[ImageSamples], chroma: Sequence[np.ndarray]) -> float:
    return float(np.mean([min(chroma_psnr(s, c), PSNR_CAP) for s, c in zip(samples, chroma)]))


def calibrate(
    model: ChengModel, samples: Sequence[ImageSamples], *, colour_tolerance: float | None = COLOUR_TOLERANCE_DB
) -> tuple[ChengModel, dict[str, Any]]:
    """Blend each cluster with the global MLP or drop it, and fit the colour gain, on held-out images.

    Parameters
    ----------
    model : ChengModel
        Not changed: a new model is returned (the cached shipped model is safe to calibrate).
    samples : sequence of ImageSamples
        Held-out images (their sampled pixels, gist and semantic histogram).
    colour_tolerance : float or None
        dB of median held-out gain the colour gain may cost; None keeps gain 1.

    Returns
    -------
    (model, report)
        The report holds, per variant, the colour gain with its held-out
        median gains, and per cluster its held-out images, the mean PSNR of
        its blend minus the global MLP's on them, and whether it was dropped.
    """
    model = _copy(model)
    report: dict[str, Any] = {}
    if not samples:
        return model, report
    for variant in model.global_regressors:
        semantic = variant == "semantic"
        columns = [descriptor_columns(s.descriptors, semantic) for s in samples]
        model.global_scale[variant] = 1.0
        model.colour_gain[variant] = 1.0
        routed: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            if model.clusters:
                routed.setdefault(model.route(s.routing_feature, s.histogram if semantic else None).key, []).append(i)
        clusters_report = {}
        for head in model.clusters:
            if not head.uses_own_mlp(variant):
                continue
            head.blend[variant] = BLEND
            members = routed.get(head.key, [])
            entry: dict[str, Any] = {"images": len(members), "dropped": False}
            if len(members) >= BLEND_MIN_IMAGES:
                mine = [samples[i] for i in members]
                blended = _mean_psnr(mine, [model.predict_rows(columns[i], head.key, semantic=semantic) for i in members])
                alone = _mean_psnr(mine, [model.predict_rows(columns[i], "global", semantic=semantic) for i in members])
                entry.update(blend_minus_global_db=round(blended - alone, 3), dropped=not blended > alone)
                if entry["dropped"]:
                    del head.regressors[variant]
                    del head.blend[variant]
            clusters_report[head.key] = entry
        report[variant] = {"blend": list(BLEND), "clusters": clusters_report,
                           "dropped": sorted(k for k, v in clusters_report.items() if v["dropped"])}
        if colour_tolerance is not None:
            report[variant]["colour"] = _fit_colour_gain(model, samples, columns, variant, colour_tolerance)
    return model, report


def _fit_colour_gain(model: ChengModel, samples, columns, variant: str, tolerance: float) -> dict[str, Any]:
    """Set ``model.colour_gain[variant]`` to the largest grid gain within ``tolerance`` dB of gain 1 (median held-out gain)."""
    semantic = variant == "semantic"
    use_clusters = bool(model.clusters)
    preds = [
        model.predict_rows(x, model.choose(s.routing_feature, s.histogram if semantic else None, semantic=semantic, clusters=use_clusters), semantic=semantic)
        for s, x in zip(samples, columns)
    ]
    gray = np.array([chroma_psnr(s, np.zeros_like(s.chroma)) for s in samples])
    medians = {g: float(np.median(np.array([chroma_psnr(s, g * p) for s, p in zip(samples, preds)]) - gray)) for g in COLOUR_GAINS}
    chosen = 1.0
    for g in COLOUR_GAINS:  # ascending: stop at the first gain that costs more than the tolerance
        if medians[g] < medians[1.0] - tolerance:
            break
        chosen = g
    model.colour_gain[variant] = chosen
    return {"gain": chosen, "tolerance_db": tolerance, "median_gain_db": {str(k): round(v, 3) for k, v in medians.items()}}
