"""Fitting how a `ChengModel`'s MLPs combine, on held-out images.

Three fits, all on the sampled pixels of held-out images (never training ones):

1. The global MLP's chroma gain ``g``, by least squares.
2. Per cluster, the blend ``a * cluster + b * global`` of its MLP with the
   global MLP, by least squares over the pixels of the held-out images routed
   to it. The fallback rule: a cluster keeps its MLP only if this blend beats
   the global MLP (times ``g``) on those images, in mean per-image PSNR, with
   a weight ``a > 0``; else it is dropped and its images get the global MLP. A cluster that receives
   fewer than `BLEND_MIN_IMAGES` held-out images takes the blend pooled over
   all held-out images routed to kept clusters (the evidence it has is too
   thin for weights of its own).
3. The colour gain (anti-sepia): least squares on chroma predicts the mean
   of the plausible colours, which is dull. Scaling every prediction by
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
from deepcolor.train.samples import ImageSamples, _columns, chroma_psnr

__all__ = ["BLEND_MIN_IMAGES", "MAX_WEIGHT", "COLOUR_GAINS", "COLOUR_TOLERANCE_DB", "calibrate", "least_squares_blend"]

BLEND_MIN_IMAGES = 3  # below this many held-out images a cluster takes the pooled blend
MAX_WEIGHT = 2.0
COLOUR_GAINS = tuple(round(1.0 + 0.05 * i, 2) for i in range(21))  # 1.0 ... 2.0
COLOUR_TOLERANCE_DB = 0.05
PSNR_CAP = 100.0  # dB: an exact colorization (infinite PSNR) counts as this in a mean


def least_squares_blend(cluster: Sequence[np.ndarray], global_: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> tuple[float, float]:
    """Weights ``(a, b)`` minimizing ``sum |a cluster + b global - truth|^2`` over all pixels.

    Parameters
    ----------
    cluster, global_, truth : sequences of ndarray, shape (N_i, 2), float
        Per image: the cluster MLP's chroma, the global MLP's, the true chroma.

    Returns
    -------
    (a, b) : floats, each clipped to [0, `MAX_WEIGHT`]
        A singular system (e.g. identical predictions) takes the minimum-norm solution.
    """
    c = np.concatenate([np.asarray(x, np.float64).ravel() for x in cluster])
    g = np.concatenate([np.asarray(x, np.float64).ravel() for x in global_])
    y = np.concatenate([np.asarray(x, np.float64).ravel() for x in truth])
    gram = np.array([[c @ c, c @ g], [c @ g, g @ g]])
    solution = np.linalg.lstsq(gram, np.array([c @ y, g @ y]), rcond=None)[0]
    a, b = np.clip(solution, 0.0, MAX_WEIGHT)
    return round(float(a), 4), round(float(b), 4)


def _gain(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    num = sum(float(np.sum(p.astype(np.float64) * t)) for p, t in zip(pred, truth))
    den = sum(float(np.sum(p.astype(np.float64) ** 2)) for p in pred)
    return round(float(np.clip(num / den, 0.0, MAX_WEIGHT)), 4) if den > 0 else 1.0


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


def calibrate(
    model: ChengModel, samples: Sequence[ImageSamples], *, colour_tolerance: float | None = COLOUR_TOLERANCE_DB
) -> tuple[ChengModel, dict[str, Any]]:
    """Fit the global gain, each cluster's blend (or drop it) and the colour gain on held-out images.

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
        The report holds, per variant, the global gain, the colour gain with
        its held-out median gains, and per cluster its held-out images, blend
        and whether it was dropped.
    """
    model = _copy(model)
    report: dict[str, Any] = {}
    if not samples:
        return model, report
    truth = [s.chroma for s in samples]
    for variant in model.global_regressors:
        semantic = variant == "semantic"
        columns = [_columns(s.descriptors, semantic) for s in samples]
        pg = [model.global_regressors[variant].predict(x) for x in columns]
        model.global_scale[variant] = g = _gain(pg, truth)
        model.colour_gain[variant] = 1.0
        heads = [model.route(s.gist, s.histogram if semantic else None) for s in samples] if model.clusters else []
        per_head: dict[str, list[int]] = {}
        for i, head in enumerate(heads):
            if head.uses_own_mlp(variant):
                per_head.setdefault(head.key, []).append(i)
        pc = {i: h.regressors[variant].predict(columns[i]) for i, h in enumerate(heads) if h.uses_own_mlp(variant)}
        clusters_report = {}
        kept: list[int] = []
        for head in model.clusters:
            if not head.uses_own_mlp(variant):
                continue
            members = per_head.get(head.key, [])
            if len(members) < BLEND_MIN_IMAGES:
                clusters_report[head.key] = {"images": len(members), "blend": "pooled"}
                continue
            a, b = least_squares_blend([pc[i] for i in members], [pg[i] for i in members], [truth[i] for i in members])
            blended = np.mean([min(chroma_psnr(samples[i], a * pc[i] + b * pg[i]), PSNR_CAP) for i in members])
            alone = np.mean([min(chroma_psnr(samples[i], g * pg[i]), PSNR_CAP) for i in members])
            dropped = a == 0.0 or not blended > alone  # a == 0: the blend is the global MLP alone
            clusters_report[head.key] = {"images": len(members), "blend": [a, b], "dropped": dropped,
                                         "held_out_psnr_gain": round(float(blended - alone), 3)}
            if dropped:
                del head.regressors[variant]
                head.blend.pop(variant, None)
            else:
                head.blend[variant] = (a, b)
                kept += members
        pooled = least_squares_blend([pc[i] for i in kept], [pg[i] for i in kept], [truth[i] for i in kept]) if kept else (0.0, g)
        for head in model.clusters:
            if head.uses_own_mlp(variant) and clusters_report.get(head.key, {}).get("blend") == "pooled":
                head.blend[variant] = pooled
        report[variant] = {"global_gain": g, "pooled_blend": list(pooled), "clusters": clusters_report}
        if colour_tolerance is not None:
            report[variant]["colour"] = _fit_colour_gain(model, samples, columns, variant, colour_tolerance)
    return model, report


def _fit_colour_gain(model: ChengModel, samples, columns, variant: str, tolerance: float) -> dict[str, Any]:
    """Set ``model.colour_gain[variant]`` to the largest grid gain within ``tolerance`` dB of gain 1 (median held-out gain)."""
    semantic = variant == "semantic"
    use_clusters = bool(model.clusters)
    preds = [
        model.predict_rows(x, model.choose(s.gist, s.histogram if semantic else None, semantic=semantic, clusters=use_clusters), semantic=semantic)
        for s, x in zip(samples, columns)
    ]
    gray = np.array([chroma_psnr(s, np.zeros_like(s.chroma)) for s in samples])
    medians = {s: float(np.median([chroma_psnr(x, s * p) for x, p in zip(samples, preds)] - gray)) for s in COLOUR_GAINS}
    chosen = 1.0
    for s in COLOUR_GAINS:  # ascending: stop at the first gain that costs more than the tolerance
        if medians[s] < medians[1.0] - tolerance:
            break
        chosen = s
    model.colour_gain[variant] = chosen
    return {"gain": chosen, "tolerance_db": tolerance, "median_gain_db": {str(k): round(v, 3) for k, v in medians.items()}}
