"""Cheng et al.'s adaptive hierarchical clustering of training images (Algorithm 3).

Training
--------
Layer 0 k-means the gist descriptors of all training images into ``n_top``
clusters, trains one regressor per cluster (the caller's ``train_cluster``)
and scores every member with its own cluster's regressor (the caller's
``image_errors``, which returns ``-PSNR`` in dB). Members whose error is
``<= epsilon`` (PSNR >= ``-epsilon``) are *served* and leave the set; the
others are *sent on*. Layer ``l + 1`` k-means the remaining images into
``max(1, round(n_remaining / mu))`` clusters, trains, scores and removes
again. The recursion stops before a layer when fewer than ``mu`` (or fewer
than ``min_cluster_size``) images remain, after a layer that removed no image
(re-clustering the same set would repeat it forever), or after ``max_layers``
layers.

Guards: the number of clusters of a layer never exceeds
``n_images // min_cluster_size`` nor the number of distinct descriptors, and
k-means clusters smaller than ``min_cluster_size`` are merged, smallest first,
into the cluster with the nearest centre, so no regressor is trained on fewer
than ``min_cluster_size`` images (unless the whole layer has fewer, in which
case it is a single cluster). Clusters are numbered within a layer by their
smallest member index, so keys (``"L{layer}C{index:02d}"``) and memberships
depend only on the inputs and the seed: a caller may cache trained regressors
by key and resume an interrupted run.

The test-time choice that reads this hierarchy lives with the model, in
`deepcolor.models.cluster_choice` (`choose_cluster_arrays`); `choose_cluster` here
applies it to a list of `Cluster`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from deepcolor.models.cluster_choice import choose_cluster_arrays, clusters_to_arrays

__all__ = [
    "DEFAULT_EPSILON",
    "DEFAULT_MU",
    "DEFAULT_N_TOP",
    "DEFAULT_MIN_CLUSTER_SIZE",
    "DEFAULT_MAX_LAYERS",
    "Cluster",
    "cluster_key",
    "mu_from_eq3",
    "adaptive_clustering",
    "choose_cluster",
    "assign_top_layer",
]

logger = logging.getLogger(__name__)

# Cheng et al.'s defaults: -26 dB error threshold, 80 images per cluster below
# the top layer, 24 top-layer clusters.
DEFAULT_EPSILON = -26.0
DEFAULT_MU = 80.0
DEFAULT_N_TOP = 24
DEFAULT_MIN_CLUSTER_SIZE = 10
DEFAULT_MAX_LAYERS = 8
_KMEANS_N_INIT = 10

TrainCluster = Callable[[str, np.ndarray], Any]
ImageErrors = Callable[[str, Any, np.ndarray], np.ndarray]


@dataclass
class Cluster:
    """One cluster of training images and its trained regressor.

    Attributes
    ----------
    key : str
        Stable id ``"L{layer}C{index:02d}"``, e.g. ``"L0C03"``.
    layer, index : int
        Layer (0 = top) and position within the layer.
    members : ndarray, shape (M,), int64
        Sorted indices of the training images in the cluster.
    centre : ndarray, shape (D,), float32
        Mean gist descriptor of the members.
    semantic_histogram : ndarray, shape (C,), float32
        Mean semantic histogram of the members.
    errors : ndarray, shape (M,), float32
        ``-PSNR`` (dB) of each member under this cluster's regressor.
    sent_on : ndarray, shape (M,), bool
        ``errors > epsilon``: members sent on to the next layer.
    served_centre, sent_centre : ndarray, shape (D,), float32
        Mean gist of the members with error ``<= epsilon`` (served) and of
        those with error ``> epsilon`` (sent on to the next layer); all NaN
        when that group is empty.
    model : object
        Whatever ``train_cluster`` returned.
    """

    key: str
    layer: int
    index: int
    members: np.ndarray
    centre: np.ndarray
    semantic_histogram: np.ndarray
    errors: np.ndarray
    sent_on: np.ndarray
    served_centre: np.ndarray
    sent_centre: np.ndarray
    model: Any = None


def cluster_key(layer: int, index: int) -> str:
    """Stable key of cluster ``index`` of ``layer``, e.g. ``cluster_key(0, 3) == "L0C03"``."""
    return f"L{layer}C{index:02d}"


def mu_from_eq3(alpha: float, n_weights: int, n_samples_per_image: float) -> float:
    """Images per cluster from Cheng et al.'s eq. (3): ``mu = alpha * N_w / N_s``.

    A regressor with ``N_w`` weights is trained on the pixels sampled from the
    images of its cluster, ``N_s`` per image. To keep it from overfitting, the
    training samples of a cluster, ``mu * N_s``, should outnumber its weights
    ``alpha`` times: ``mu * N_s = alpha * N_w``.

    Parameters
    ----------
    alpha : float
        Samples-to-weights ratio, > 0.
    n_weights : int
        Number of trainable weights of one cluster's regressor, > 0.
    n_samples_per_image : float
        Training samples (pixels) drawn from each image, > 0.

    Returns
    -------
    mu : float
        Target number of images per cluster (not rounded).
    """
    for name, value in (("alpha", alpha), ("n_weights", n_weights), ("n_samples_per_image", n_samples_per_image)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(alpha) * float(n_weights) / float(n_samples_per_image)


def _check_inputs(descriptors, semantic_histograms, epsilon, mu, n_top, min_cluster_size, max_layers):
    descriptors = np.asarray(descriptors)
    semantic_histograms = np.asarray(semantic_histograms)
    if descriptors.ndim != 2 or descriptors.shape[0] < 1 or descriptors.shape[1] < 1:
        raise ValueError(f"descriptors must have shape (N, D) with N, D >= 1, got {descriptors.shape}")
    if semantic_histograms.ndim != 2 or semantic_histograms.shape[0] != descriptors.shape[0] or semantic_histograms.shape[1] < 1:
        raise ValueError(
            f"semantic_histograms must have shape (N, C) with N = {descriptors.shape[0]} and C >= 1, got {semantic_histograms.shape}"
        )
    for name, array in (("descriptors", descriptors), ("semantic_histograms", semantic_histograms)):
        if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array) or not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite real numbers")
    if not np.isfinite(epsilon):
        raise ValueError(f"epsilon must be finite, got {epsilon!r}")
    if not np.isfinite(mu) or mu <= 0:
        raise ValueError(f"mu must be > 0, got {mu!r}")
    for name, value in (("n_top", n_top), ("min_cluster_size", min_cluster_size), ("max_layers", max_layers)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return descriptors.astype(np.float64), semantic_histograms.astype(np.float64)


def _partition(x: np.ndarray, k: int, min_cluster_size: int, seed: int) -> list[np.ndarray]:
    """Split the rows of ``x`` into at most ``k`` groups of >= ``min_cluster_size`` rows.

    Returns local row indices per group, each sorted, groups ordered by their
    smallest row index (so the result does not depend on k-means' label order).
    """
    n = x.shape[0]
    n_distinct = np.unique(x, axis=0).shape[0]
    k = max(1, min(k, n // min_cluster_size, n_distinct))
    if k == 1:
        return [np.arange(n)]
    labels = KMeans(n_clusters=k, n_init=_KMEANS_N_INIT, random_state=seed).fit_predict(x)
    groups = [np.flatnonzero(labels == j) for j in range(k)]
    groups = [g for g in groups if g.size]
    # Merge the smallest undersized group into the group with the nearest centre.
    while len(groups) > 1:
        sizes = np.array([g.size for g in groups])
        smallest = int(np.argmin(sizes))
        if sizes[smallest] >= min_cluster_size:
            break
        centres = np.stack([x[g].mean(axis=0) for g in groups])
        dist = np.linalg.norm(centres - centres[smallest], axis=1)
        dist[smallest] = np.inf
        target = int(np.argmin(dist))
        groups[target] = np.sort(np.concatenate([groups[target], groups[smallest]]))
        del groups[smallest]
    groups.sort(key=lambda g: int(g[0]))
    return groups


def _group_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return np.full(x.shape[1], np.nan, dtype=np.float32)
    return x[mask].mean(axis=0).astype(np.float32)


def _train_layer(
    layer: int, groups: list[np.ndarray], x: np.ndarray, hists: np.ndarray, train_cluster: TrainCluster, image_errors: ImageErrors,
    *, epsilon: float, progress: bool,
) -> list[Cluster]:
    """Train one regressor per group of a layer and measure each member's error with it."""
    clusters = []
    bar = tqdm(groups, desc=f"layer {layer}", unit="cluster", disable=not progress, leave=False)
    with bar:
        for index, members in enumerate(bar):
            key = cluster_key(layer, index)
            bar.set_postfix_str(f"{key}, {members.size} images")
            model = train_cluster(key, members.copy())
            errors = np.asarray(image_errors(key, model, members.copy()), dtype=np.float64)
            if errors.shape != members.shape or np.isnan(errors).any():
                raise ValueError(f"image_errors({key!r}) must return {members.size} non-NaN errors, got shape {errors.shape}")
            failed = errors > epsilon
            clusters.append(
                Cluster(
                    key=key,
                    layer=layer,
                    index=index,
                    members=members,
                    centre=x[members].mean(axis=0).astype(np.float32),
                    semantic_histogram=hists[members].mean(axis=0).astype(np.float32),
                    errors=errors.astype(np.float32),
                    sent_on=failed,
                    served_centre=_group_mean(x[members], ~failed),
                    sent_centre=_group_mean(x[members], failed),
                    model=model,
                )
            )
    return clusters


def adaptive_clustering(
    descriptors: np.ndarray,
    semantic_histograms: np.ndarray,
    train_cluster: TrainCluster,
    image_errors: ImageErrors,
    *,
    epsilon: float = DEFAULT_EPSILON,
    mu: float = DEFAULT_MU,
    n_top: int = DEFAULT_N_TOP,
    min_cluster_size: int = DEFAULT_MIN_CLUSTER_SIZE,
    max_layers: int = DEFAULT_MAX_LAYERS,
    seed: int = 0,
    progress: bool = True,
    min_layer_gain: float | None = 0.0,
) -> list[Cluster]:
    """Cheng et al.'s Algorithm 3: cluster, train, remove well-served images, recurse.

    Parameters
    ----------
    descriptors : ndarray, shape (N, D), float
        Gist descriptors of the N training images.
    semantic_histograms : ndarray, shape (N, C), float
        Per-image semantic class histograms (only averaged per cluster here).
    train_cluster : callable ``(key, members) -> model``
        Trains a regressor on training images ``members`` (sorted int64
        indices). Called in a deterministic order with deterministic
        arguments for a given input and seed, so it may return a cached model
        for a key it has already trained (resume).
    image_errors : callable ``(key, model, members) -> errors``
        ``-PSNR`` in dB, shape ``(len(members),)``, of each member colorized
        by ``model``. ``-inf`` (a perfect colorization) is allowed, NaN is not.
    epsilon : float
        Error threshold in dB: images with ``error <= epsilon`` leave the set.
    mu : float
        Target images per cluster below the top layer; also the stopping
        size (see :func:`mu_from_eq3`).
    n_top : int
        Number of clusters of layer 0.
    min_cluster_size : int
        No regressor is trained on fewer images (see module docstring).
    max_layers : int
        At most this many layers are built.
    seed : int
        Seed of k-means.
    progress : bool
        Show a tqdm bar per layer.
    min_layer_gain : float or None
        A layer below the top is kept only if its regressors raise the mean
        PSNR of the images it took over by more than this many dB over the
        layer above; otherwise it and the recursion are dropped, because
        test images would descend into regressors that do no better than
        the ones they leave. ``None`` keeps every layer (the paper's rule).

    Returns
    -------
    clusters : list of Cluster
        Ordered by layer, then index. Each layer partitions the images that
        took part in it.
    """
    x, hists = _check_inputs(descriptors, semantic_histograms, epsilon, mu, n_top, min_cluster_size, max_layers)
    return _build_layers(x, hists, train_cluster, image_errors, epsilon=epsilon, mu=mu, n_top=n_top, min_cluster_size=min_cluster_size,
                         max_layers=max_layers, seed=seed, progress=progress, min_layer_gain=min_layer_gain)


def _build_layers(
    x: np.ndarray, hists: np.ndarray, train_cluster: TrainCluster, image_errors: ImageErrors, *, epsilon: float, mu: float,
    n_top: int, min_cluster_size: int, max_layers: int, seed: int, progress: bool, min_layer_gain: float | None,
) -> list[Cluster]:
    """The layers of `adaptive_clustering` on validated inputs."""
    remaining = np.arange(x.shape[0], dtype=np.int64)
    clusters: list[Cluster] = []
    last_error = np.full(x.shape[0], np.nan)  # each image's error in the last layer it took part in
    for layer in range(int(max_layers)):
        if layer == 0:
            k = int(n_top)
        else:
            if remaining.size < mu or remaining.size < min_cluster_size:
                logger.info("stopping before layer %d: %d images remain (mu=%g, min_cluster_size=%d)", layer, remaining.size, mu, min_cluster_size)
                break
            k = max(1, int(np.floor(remaining.size / mu + 0.5)))
        groups = [remaining[g] for g in _partition(x[remaining], k, int(min_cluster_size), seed)]
        layer_clusters = _train_layer(layer, groups, x, hists, train_cluster, image_errors, epsilon=epsilon, progress=progress)
        members_all = np.concatenate([c.members for c in layer_clusters])
        errors_all = np.concatenate([c.errors for c in layer_clusters]).astype(np.float64)
        if layer > 0 and min_layer_gain is not None:
            # Errors are -PSNR: a gain is a drop in error. -inf (perfect) counts as a large gain.
            gain = float(np.mean(np.nan_to_num(last_error[members_all] - errors_all, posinf=100.0, neginf=-100.0)))
            if not gain > min_layer_gain:
                logger.info("dropping layer %d: mean PSNR gain %.3f dB over layer %d is not above %g dB", layer, gain, layer - 1, min_layer_gain)
                break
        clusters.extend(layer_clusters)
        sent_on = [c.members[c.sent_on] for c in layer_clusters]
        last_error[members_all] = errors_all
        n_before = remaining.size
        remaining = np.sort(np.concatenate(sent_on))
        logger.info(
            "layer %d: %d images, %d clusters, %d removed, %d remain", layer, n_before, len(groups), n_before - remaining.size, remaining.size
        )
        if remaining.size == 0:
            break
        if remaining.size == n_before:
            logger.info("stopping after layer %d: no image was served (no progress)", layer)
            break
    else:
        if remaining.size:
            logger.info("stopping: max_layers=%d reached with %d images unserved", max_layers, remaining.size)
    return clusters


def choose_cluster(descriptor: np.ndarray, semantic_histogram: np.ndarray, clusters: list[Cluster], **selection: Any) -> int:
    """Index into ``clusters`` (as `adaptive_clustering` returns them) of the cluster for a test image.

    `deepcolor.models.cluster_choice.choose_cluster_arrays` on `clusters_to_arrays(clusters)`;
    ``selection``: its ``top_k`` and ``descend``.
    """
    return choose_cluster_arrays(descriptor, semantic_histogram, **clusters_to_arrays(clusters), **selection)


def assign_top_layer(descriptor: np.ndarray, clusters: list[Cluster]) -> int:
    """Index into ``clusters`` of the layer-0 cluster with the nearest gist centre.

    Parameters
    ----------
    descriptor : ndarray, shape (D,)
    clusters : list of Cluster
    """
    if not clusters:
        raise ValueError("clusters is empty")
    top = np.array([i for i, c in enumerate(clusters) if c.layer == 0], dtype=np.int64)
    if top.size == 0:
        raise ValueError("clusters contains no layer-0 cluster")
    centres = np.stack([clusters[i].centre for i in top]).astype(np.float64)
    descriptor = np.asarray(descriptor, dtype=np.float64)
    if descriptor.shape != (centres.shape[1],) or not np.all(np.isfinite(descriptor)):
        raise ValueError(f"descriptor must be a finite array of shape ({centres.shape[1]},), got {descriptor.shape}")
    return int(top[int(np.argmin(np.linalg.norm(centres - descriptor, axis=1)))])
