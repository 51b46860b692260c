"""Cheng et al.'s cluster choice at test time, on arrays a model file can hold.

Test time: how the layers combine
---------------------------------
The image descends the hierarchy. At layer 0 it picks one layer-0 cluster
(choice rule below). A cluster of layer ``l`` has two sub-centres: the mean
gist of the members it served and the mean gist of those it sent on to layer
``l + 1``. If the image is strictly closer (Euclidean gist distance) to the
sent-on centre, it is more like the images this cluster's regressor failed
on, and it continues to layer ``l + 1`` and picks among *all* clusters of that
layer (they re-cluster the failures of every layer-``l`` cluster, so the
failures of the chosen one are spread over them); otherwise it stops and uses
the chosen cluster. It also stops when the chosen cluster sent nothing on or
when there is no deeper layer, and it always continues when the cluster
served none of its members. This is a nearest-centroid prediction of
"would this cluster's regressor serve me well", made from the same
information the training recursion used, and it costs two distances per
layer.

Choice within a layer: the ``top_k`` clusters whose gist centres are nearest
to the image's gist are candidates; among them the one whose mean semantic
histogram has the highest cosine similarity with the image's semantic
histogram wins (Cheng et al. use semantics to break the ambiguity of global
gist). Ties, and an all-zero histogram, fall back to the gist-nearest
candidate. With ``top_k = 1`` the choice is the gist-nearest centre.

The array form (:func:`clusters_to_arrays`, :func:`choose_cluster_arrays`)
holds exactly what the choice needs, for storing in a model file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["clusters_to_arrays", "choose_cluster_arrays"]


def clusters_to_arrays(clusters: list[Any]) -> dict[str, np.ndarray]:
    """What :func:`choose_cluster_arrays` needs, as arrays in the order of ``clusters``.

    Any objects with the fields used here will do (the model bundle's cluster heads too).

    Returns
    -------
    arrays : dict
        ``centres`` (K, D) float32, ``histograms`` (K, C) float32,
        ``layers`` (K,) int64, ``served_centres`` (K, D) float32 and
        ``sent_centres`` (K, D) float32 (NaN rows where the group is empty).
    """
    if not clusters:
        raise ValueError("clusters is empty")
    return {
        "centres": np.stack([c.centre for c in clusters]).astype(np.float32),
        "histograms": np.stack([c.semantic_histogram for c in clusters]).astype(np.float32),
        "layers": np.array([c.layer for c in clusters], dtype=np.int64),
        "served_centres": np.stack([c.served_centre for c in clusters]).astype(np.float32),
        "sent_centres": np.stack([c.sent_centre for c in clusters]).astype(np.float32),
    }


def _choose_in_layer(descriptor, histogram, centres, histograms, candidates, top_k) -> int:
    dist = np.linalg.norm(centres[candidates] - descriptor, axis=1)
    order = candidates[np.argsort(dist, kind="stable")][:top_k]
    h_norm = np.linalg.norm(histogram)
    if h_norm == 0 or order.size == 1:
        return int(order[0])
    norms = np.linalg.norm(histograms[order], axis=1) * h_norm
    # A cluster with an all-zero histogram can never win on semantics.
    cosine = np.full(order.size, -np.inf)
    ok = norms > 0
    cosine[ok] = histograms[order[ok]] @ histogram / norms[ok]
    # argmax returns the first maximum: ties go to the gist-nearer cluster.
    return int(order[int(np.argmax(cosine))])


def choose_cluster_arrays(
    descriptor: np.ndarray,
    semantic_histogram: np.ndarray,
    centres: np.ndarray,
    histograms: np.ndarray,
    layers: np.ndarray,
    served_centres: np.ndarray,
    sent_centres: np.ndarray,
    *,
    top_k: int = 3,
    descend: bool = True,
) -> int:
    """Cluster for a test image, from the arrays of :func:`clusters_to_arrays`.

    Parameters
    ----------
    descriptor : ndarray, shape (D,)
        Gist of the test image.
    semantic_histogram : ndarray, shape (C,)
        Semantic histogram of the test image.
    centres, served_centres, sent_centres : ndarray, shape (K, D)
    histograms : ndarray, shape (K, C)
    layers : ndarray, shape (K,), int
        Layer of each cluster; layer 0 must be present.
    top_k : int
        Candidates per layer by gist distance, >= 1 (clipped to the layer size).
    descend : bool
        Follow the hierarchy (module docstring); False stops at layer 0.

    Returns
    -------
    index : int
        Row of the chosen cluster.
    """
    centres = np.asarray(centres, dtype=np.float64)
    histograms = np.asarray(histograms, dtype=np.float64)
    layers = np.asarray(layers)
    served_centres = np.asarray(served_centres, dtype=np.float64)
    sent_centres = np.asarray(sent_centres, dtype=np.float64)
    descriptor = np.asarray(descriptor, dtype=np.float64)
    semantic_histogram = np.asarray(semantic_histogram, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[0] < 1:
        raise ValueError(f"centres must have shape (K, D) with K >= 1, got {centres.shape}")
    k, d = centres.shape
    if served_centres.shape != (k, d) or sent_centres.shape != (k, d):
        raise ValueError(f"served_centres and sent_centres must have shape {(k, d)}, got {served_centres.shape} and {sent_centres.shape}")
    if histograms.ndim != 2 or histograms.shape[0] != k:
        raise ValueError(f"histograms must have shape ({k}, C), got {histograms.shape}")
    if layers.shape != (k,) or not np.issubdtype(layers.dtype, np.integer):
        raise ValueError(f"layers must be an integer array of shape ({k},), got {layers.shape} {layers.dtype}")
    if descriptor.shape != (d,) or not np.all(np.isfinite(descriptor)):
        raise ValueError(f"descriptor must be a finite array of shape ({d},), got {descriptor.shape}")
    if semantic_histogram.shape != (histograms.shape[1],) or not np.all(np.isfinite(semantic_histogram)):
        raise ValueError(f"semantic_histogram must be a finite array of shape ({histograms.shape[1]},), got {semantic_histogram.shape}")
    if int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if not np.any(layers == 0):
        raise ValueError("layers contains no layer-0 cluster")

    layer = 0
    while True:
        candidates = np.flatnonzero(layers == layer)
        chosen = _choose_in_layer(descriptor, semantic_histogram, centres, histograms, candidates, int(top_k))
        if not descend or not np.any(layers == layer + 1):
            return chosen
        sent = sent_centres[chosen]
        served = served_centres[chosen]
        if not np.all(np.isfinite(sent)):
            return chosen
        if np.all(np.isfinite(served)) and np.linalg.norm(descriptor - sent) >= np.linalg.norm(descriptor - served):
            return chosen
        layer += 1
