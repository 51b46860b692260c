"""Adaptive hierarchical clustering (Cheng et al. Algorithm 3) and test-time cluster choice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from deepcolor.train.hierarchy import (
    Cluster,
    adaptive_clustering,
    assign_top_layer,
    choose_cluster,
    choose_cluster_arrays,
    cluster_key,
    clusters_to_arrays,
    mu_from_eq3,
)

GOOD, BAD = -30.0, -20.0  # -PSNR: 30 dB is served at epsilon = -26, 20 dB is not


class Trainer:
    """train_cluster callback that records its calls and returns a token model."""

    def __init__(self):
        self.calls: list[tuple[str, np.ndarray]] = []

    def __call__(self, key, members):
        self.calls.append((key, members.copy()))
        return {"key": key, "n": members.size}


def errors_from(rule):
    """image_errors callback from ``rule(layer, members) -> bool served mask``."""

    def image_errors(key, model, members):
        assert model["key"] == key
        layer = int(key[1 : key.index("C")])
        return np.where(rule(layer, members), GOOD, BAD)

    return image_errors


def _data(n=120, d=16, c=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.random((n, c))


def _run(x, h, rule, **kw):
    trainer = Trainer()
    kw.setdefault("progress", False)
    clusters = adaptive_clustering(x, h, trainer, errors_from(rule), **kw)
    return clusters, trainer


def _layers(clusters):
    return [c.layer for c in clusters]


def test_all_served_after_layer0_gives_one_layer():
    """When layer 0 serves every image, no further layer is built."""
    x, h = _data()
    clusters, trainer = _run(x, h, lambda layer, m: np.ones(m.size, bool), n_top=6, min_cluster_size=3, mu=10)
    assert set(_layers(clusters)) == {0}
    assert len(clusters) == len(trainer.calls) == 6
    assert all(not c.sent_on.any() and np.isnan(c.sent_centre).all() for c in clusters)


def test_no_progress_stops():
    """When a layer serves no image, the recursion stops instead of repeating itself."""
    x, h = _data()
    clusters, _ = _run(x, h, lambda layer, m: np.zeros(m.size, bool), n_top=6, min_cluster_size=3, mu=10, max_layers=50)
    assert set(_layers(clusters)) == {0}
    assert all(c.sent_on.all() and np.isnan(c.served_centre).all() for c in clusters)


def test_stops_at_max_layers():
    """Errors that improve by one image per cluster per layer never finish: max_layers bounds the depth."""
    x, h = _data(n=60)
    first_member_served = lambda layer, m: np.arange(m.size) == 0  # noqa: E731
    for max_layers in (1, 3, 5):
        clusters, _ = _run(x, h, first_member_served, n_top=4, min_cluster_size=1, mu=15, max_layers=max_layers)
        assert max(_layers(clusters)) == max_layers - 1


@pytest.mark.parametrize("n_left, expected_layers", [(70, 1), (90, 2)])
def test_stops_when_fewer_than_mu_remain(n_left, expected_layers):
    """Layer l+1 is built only when at least mu images remain."""
    x, h = _data(n=200)
    rule = lambda layer, m: (m >= n_left) if layer == 0 else np.ones(m.size, bool)  # noqa: E731
    clusters, _ = _run(x, h, rule, n_top=4, min_cluster_size=5, mu=80)
    assert max(_layers(clusters)) + 1 == expected_layers
    if expected_layers == 2:
        assert _layers(clusters).count(1) == 1  # round(90 / 80) = 1


def test_clusters_per_layer_follow_n_over_mu():
    """Below the top layer a layer has round(n_remaining / mu) clusters."""
    x, h = _data(n=400)
    thresholds = {0: 150, 1: 300, 2: 400}  # served: index < threshold
    clusters, _ = _run(x, h, lambda layer, m: m < thresholds[layer], n_top=8, min_cluster_size=1, mu=50)
    counts = [_layers(clusters).count(layer) for layer in range(3)]
    assert counts == [8, 5, 2]  # 400 -> n_top, 250 / 50, 100 / 50
    assert sum(c.members.size for c in clusters if c.layer == 1) == 250
    assert sum(c.members.size for c in clusters if c.layer == 2) == 100


def test_min_cluster_size_merges_tiny_kmeans_clusters():
    """Tiny k-means clusters (outlier pairs) are merged so no cluster is smaller than min_cluster_size."""
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10], [40, 40], [-40, 40]], float)
    sizes = [30, 30, 30, 2, 2]
    x = np.concatenate([c + 0.5 * rng.normal(size=(s, 2)) for c, s in zip(centres, sizes)])
    h = np.ones((x.shape[0], 3))
    served = lambda layer, m: np.ones(m.size, bool)  # noqa: E731
    unguarded, _ = _run(x, h, served, n_top=5, min_cluster_size=1, mu=10)
    assert min(c.members.size for c in unguarded) == 2  # k-means does isolate the pairs
    guarded, trainer = _run(x, h, served, n_top=5, min_cluster_size=5, mu=10)
    assert min(c.members.size for c in guarded) >= 5
    assert min(m.size for _, m in trainer.calls) >= 5
    assert len(guarded) == 3 and sum(c.members.size for c in guarded) == x.shape[0]


def test_cluster_count_capped_by_min_cluster_size():
    """With 20 images and min_cluster_size 10, n_top = 24 yields at most 2 clusters of >= 10."""
    x, h = _data(n=20)
    clusters, _ = _run(x, h, lambda layer, m: np.ones(m.size, bool), n_top=24, min_cluster_size=10)
    assert 1 <= len(clusters) <= 2 and all(c.members.size >= 10 for c in clusters)


def test_fewer_images_than_min_cluster_size_gives_one_cluster():
    """A training set smaller than min_cluster_size becomes a single top cluster."""
    x, h = _data(n=5)
    clusters, _ = _run(x, h, lambda layer, m: np.zeros(m.size, bool), n_top=24, min_cluster_size=10)
    assert len(clusters) == 1 and clusters[0].members.tolist() == list(range(5))


def test_duplicate_descriptors_do_not_ask_kmeans_for_too_many_clusters():
    """Identical descriptors give one cluster, without k-means convergence warnings."""
    x = np.ones((30, 4))
    h = np.ones((30, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clusters, _ = _run(x, h, lambda layer, m: np.ones(m.size, bool), n_top=6, min_cluster_size=2)
    assert len(clusters) == 1


def test_deterministic_for_a_seed():
    """Same inputs and seed give the same keys, memberships and training calls."""
    x, h = _data(n=150)
    rng = np.random.default_rng(3)
    served = rng.random(150) < 0.4
    rule = lambda layer, m: served[m] | (layer >= 1) & (m % 2 == 0)  # noqa: E731
    a, ta = _run(x, h, rule, n_top=6, min_cluster_size=4, mu=20, seed=7)
    b, tb = _run(x, h, rule, n_top=6, min_cluster_size=4, mu=20, seed=7)
    assert [c.key for c in a] == [c.key for c in b]
    assert all(np.array_equal(p.members, q.members) for p, q in zip(a, b))
    assert [k for k, _ in ta.calls] == [k for k, _ in tb.calls]
    assert all(np.array_equal(p, q) for (_, p), (_, q) in zip(ta.calls, tb.calls))
    assert max(_layers(a)) >= 1


def test_keys_and_cluster_fields():
    """Keys are L{layer}C{index:02d}; members sorted int64; centres and histograms are member means."""
    x, h = _data(n=150)
    clusters, _ = _run(x, h, lambda layer, m: (m % 3 == 0) | (layer > 0), n_top=5, min_cluster_size=4, mu=30)
    for c in clusters:
        assert c.key == cluster_key(c.layer, c.index) == f"L{c.layer}C{c.index:02d}"
        assert c.members.dtype == np.int64 and np.all(np.diff(c.members) > 0)
        assert c.centre.dtype == np.float32 and c.semantic_histogram.dtype == np.float32
        np.testing.assert_allclose(c.centre, x[c.members].mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.semantic_histogram, h[c.members].mean(axis=0), rtol=1e-5)
        assert c.errors.shape == c.members.shape and c.errors.dtype == np.float32
        np.testing.assert_array_equal(c.sent_on, c.errors > -26.0)
        if c.sent_on.any() and not c.sent_on.all():
            np.testing.assert_allclose(c.sent_centre, x[c.members[c.sent_on]].mean(axis=0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(c.served_centre, x[c.members[~c.sent_on]].mean(axis=0), rtol=1e-5, atol=1e-6)
        assert c.model == {"key": c.key, "n": c.members.size}
    assert [c.index for c in clusters if c.layer == 0] == list(range(5))


def test_each_layer_partitions_its_images():
    """Every image is in exactly one cluster of each layer it took part in; the failures go on."""
    x, h = _data(n=300, seed=5)
    rng = np.random.default_rng(5)
    p_served = rng.random(300)
    clusters, _ = _run(x, h, lambda layer, m: p_served[m] < 0.3 * (layer + 1), n_top=8, min_cluster_size=4, mu=25)
    participants = np.arange(300)
    for layer in range(max(_layers(clusters)) + 1):
        members = np.concatenate([c.members for c in clusters if c.layer == layer])
        assert np.array_equal(np.sort(members), participants)  # union = participants, no duplicates
        participants = np.sort(np.concatenate([c.members[c.sent_on] for c in clusters if c.layer == layer]))
    assert max(_layers(clusters)) >= 2


def test_epsilon_is_inclusive():
    """An error exactly equal to epsilon counts as served."""
    x, h = _data(n=40)

    def image_errors(key, model, members):
        return np.full(members.size, -26.0)

    clusters = adaptive_clustering(x, h, Trainer(), image_errors, n_top=2, min_cluster_size=2, mu=5, progress=False)
    assert set(_layers(clusters)) == {0} and not any(c.sent_on.any() for c in clusters)


@pytest.mark.slow
def test_resume_after_interrupt_does_not_retrain():
    """After a KeyboardInterrupt, a rerun with the caller's cache retrains none of the finished clusters."""
    x, h = _data(n=150)
    rule = lambda layer, m: (m % 2 == 0) | (layer >= 1)  # noqa: E731
    cache: dict[str, tuple[np.ndarray, dict]] = {}
    trained: list[str] = []

    def train(key, members, *, fail_after=None):
        if key in cache:
            assert np.array_equal(cache[key][0], members)  # same key, same members
            return cache[key][1]
        if fail_after is not None and len(trained) >= fail_after:
            raise KeyboardInterrupt
        trained.append(key)
        cache[key] = (members.copy(), {"key": key, "n": members.size})
        return cache[key][1]

    kw = dict(n_top=5, min_cluster_size=4, mu=20, seed=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        adaptive_clustering(x, h, lambda k, m: train(k, m, fail_after=2), errors_from(rule), **kw)
    first = list(trained)
    assert first == ["L0C00", "L0C01"]
    clusters = adaptive_clustering(x, h, train, errors_from(rule), **kw)
    retrained = trained[2:]
    assert not set(first) & set(retrained)
    assert sorted(first + retrained) == sorted(c.key for c in clusters)
    assert len(retrained) == len(clusters) - 2


def test_callback_errors_are_checked():
    """image_errors returning the wrong shape or NaN raises ValueError naming the cluster."""
    x, h = _data(n=40)
    with pytest.raises(ValueError, match="L0C00"):
        adaptive_clustering(x, h, Trainer(), lambda k, mdl, m: np.zeros(m.size + 1), n_top=2, min_cluster_size=2, progress=False)
    with pytest.raises(ValueError, match="non-NaN"):
        adaptive_clustering(x, h, Trainer(), lambda k, mdl, m: np.full(m.size, np.nan), n_top=2, min_cluster_size=2, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mu=0), "mu"),
        (dict(n_top=0), "n_top"),
        (dict(min_cluster_size=0), "min_cluster_size"),
        (dict(max_layers=0), "max_layers"),
        (dict(epsilon=np.nan), "epsilon"),
        (dict(n_top=2.5), "n_top"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    """Out-of-range parameters raise ValueError naming them."""
    x, h = _data(n=20)
    with pytest.raises(ValueError, match=match):
        adaptive_clustering(x, h, Trainer(), errors_from(lambda layer, m: m >= 0), progress=False, **kwargs)


def test_bad_arrays_raise():
    """Mismatched or non-finite descriptors / histograms raise ValueError."""
    x, h = _data(n=20)
    t, e = Trainer(), errors_from(lambda layer, m: m >= 0)
    with pytest.raises(ValueError, match="semantic_histograms"):
        adaptive_clustering(x, h[:10], t, e)
    with pytest.raises(ValueError, match="descriptors"):
        adaptive_clustering(x[0], h, t, e)
    bad = x.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="finite"):
        adaptive_clustering(bad, h, t, e)


def test_mu_from_eq3():
    """mu = alpha * N_w / N_s, e.g. 2 * 100000 weights / 2500 samples = 80 images."""
    assert mu_from_eq3(2.0, 100_000, 2500) == pytest.approx(80.0)
    assert mu_from_eq3(1.0, 10, 4) == pytest.approx(2.5)
    for bad in [(0, 10, 4), (1, -10, 4), (1, 10, 0), (np.inf, 10, 4)]:
        with pytest.raises(ValueError):
            mu_from_eq3(*bad)


# ---------------------------------------------------------------- choice


def _cluster(layer, index, centre, hist, served=None, sent=None):
    centre = np.asarray(centre, np.float32)
    nan = np.full_like(centre, np.nan)
    return Cluster(
        key=cluster_key(layer, index),
        layer=layer,
        index=index,
        members=np.arange(1, dtype=np.int64),
        centre=centre,
        semantic_histogram=np.asarray(hist, np.float32),
        errors=np.zeros(1, np.float32),
        sent_on=np.zeros(1, bool),
        served_centre=centre if served is None else np.asarray(served, np.float32),
        sent_centre=nan if sent is None else np.asarray(sent, np.float32),
    )


@pytest.fixture
def flat_clusters():
    # Gist distances from the origin: 1.0, 1.1, 5.0; semantics favour the farther ones.
    return [
        _cluster(0, 0, [1.0, 0.0], [1.0, 0.0, 0.0]),
        _cluster(0, 1, [0.0, 1.1], [0.0, 1.0, 0.0]),
        _cluster(0, 2, [-5.0, 0.0], [0.0, 0.0, 1.0]),
    ]


def test_top1_is_gist_nearest(flat_clusters):
    """With top_k = 1 the nearest gist centre wins whatever the semantics say."""
    assert choose_cluster(np.zeros(2), np.array([0.0, 0.0, 1.0]), flat_clusters, top_k=1) == 0
    assert assign_top_layer(np.zeros(2), flat_clusters) == 0
    assert assign_top_layer(np.array([-4.0, 0.0]), flat_clusters) == 2


def test_semantics_decide_among_top_k(flat_clusters):
    """Among the top-k gist candidates the best cosine wins; clusters outside top-k cannot win."""
    assert choose_cluster(np.zeros(2), np.array([0.1, 1.0, 0.0]), flat_clusters, top_k=2) == 1
    assert choose_cluster(np.zeros(2), np.array([1.0, 0.1, 0.0]), flat_clusters, top_k=2) == 0
    assert choose_cluster(np.zeros(2), np.array([0.0, 0.1, 1.0]), flat_clusters, top_k=2) == 1
    assert choose_cluster(np.zeros(2), np.array([0.0, 0.1, 1.0]), flat_clusters, top_k=3) == 2
    assert choose_cluster(np.zeros(2), np.array([0.0, 0.1, 1.0]), flat_clusters, top_k=99) == 2


def test_semantic_ties_and_empty_histogram_fall_back_to_gist(flat_clusters):
    """Equal cosines or an all-zero image histogram choose the gist-nearest candidate."""
    assert choose_cluster(np.zeros(2), np.array([1.0, 1.0, 0.0]), flat_clusters, top_k=3) == 0
    assert choose_cluster(np.zeros(2), np.zeros(3), flat_clusters, top_k=3) == 0


@pytest.fixture
def tree():
    # Layer 0: A served images near (0, 0) and sent on images near (0, 4); B far away.
    # Layer 1: C near (0, 4), D near (3, 4). Layer 2: E, reached only via a cluster that sent on.
    return [
        _cluster(0, 0, [0.0, 2.0], [1, 0], served=[0.0, 0.0], sent=[0.0, 4.0]),
        _cluster(0, 1, [20.0, 0.0], [1, 0]),
        _cluster(1, 0, [0.0, 4.0], [1, 0], served=[0.0, 4.0], sent=[0.0, 4.5]),
        _cluster(1, 1, [3.0, 4.0], [1, 0], served=[3.0, 4.0], sent=[3.0, 9.0]),
        _cluster(2, 0, [3.0, 9.0], [1, 0]),
    ]


@pytest.mark.parametrize(
    "point, expected",
    [
        ([0.0, 0.5], 0),  # closer to what A served: stay at layer 0
        ([0.0, 3.6], 2),  # closer to A's failures: descend, C nearest; C serves it
        ([2.5, 3.5], 3),  # descend, D nearest, D's failures are far: stop at D
        ([3.0, 8.0], 4),  # descend twice: A -> D (nearest at layer 1) -> E
        ([19.0, 0.0], 1),  # B sent nothing on: stop
    ],
)
def test_descent_through_layers(tree, point, expected):
    """An image descends while it is closer to the chosen cluster's failures than to its successes."""
    assert choose_cluster(np.array(point), np.array([1.0, 0.0]), tree, top_k=1) == expected


def test_descend_false_stays_on_top(tree):
    """descend=False only considers layer 0."""
    assert choose_cluster(np.array([3.0, 8.0]), np.array([1.0, 0.0]), tree, top_k=1, descend=False) == 0


def test_all_failed_cluster_always_descends():
    """A cluster that served none of its images hands every test image to the next layer."""
    clusters = [
        _cluster(0, 0, [0.0, 0.0], [1, 0], served=[np.nan, np.nan], sent=[0.0, 0.0]),
        _cluster(1, 0, [5.0, 5.0], [1, 0]),
    ]
    assert choose_cluster(np.zeros(2), np.array([1.0, 0.0]), clusters) == 1


def test_array_form_matches_and_validates(tree):
    """choose_cluster_arrays on clusters_to_arrays gives the same answers; bad shapes raise ValueError."""
    arrays = clusters_to_arrays(tree)
    assert arrays["centres"].shape == (5, 2) and arrays["centres"].dtype == np.float32
    assert arrays["layers"].tolist() == [0, 0, 1, 1, 2] and arrays["layers"].dtype == np.int64
    for point in ([0.0, 0.5], [0.0, 3.6], [3.0, 8.0]):
        assert choose_cluster_arrays(np.array(point), np.array([1.0, 0.0]), **arrays, top_k=1) == choose_cluster(
            np.array(point), np.array([1.0, 0.0]), tree, top_k=1
        )
    with pytest.raises(ValueError, match="descriptor"):
        choose_cluster_arrays(np.zeros(3), np.array([1.0, 0.0]), **arrays)
    with pytest.raises(ValueError, match="semantic_histogram"):
        choose_cluster_arrays(np.zeros(2), np.zeros(4), **arrays)
    with pytest.raises(ValueError, match="top_k"):
        choose_cluster_arrays(np.zeros(2), np.array([1.0, 0.0]), **arrays, top_k=0)
    with pytest.raises(ValueError, match="layer-0"):
        choose_cluster_arrays(np.zeros(2), np.array([1.0, 0.0]), **{**arrays, "layers": arrays["layers"] + 1})


def test_end_to_end_descent_on_trained_hierarchy():
    """Blob B, badly served at layer 0, gets its own layer-1 cluster; B-like test images go there."""
    rng = np.random.default_rng(4)
    blob_a = rng.normal(loc=0.0, scale=0.3, size=(40, 4))
    blob_b = rng.normal(loc=0.0, scale=0.3, size=(40, 4)) + [3.0, 0, 0, 0]
    x = np.concatenate([blob_a, blob_b])
    h = np.ones((80, 2))
    rule = lambda layer, m: (m < 40) | (layer >= 1)  # noqa: E731  (B served only by its own layer-1 cluster)
    clusters, _ = _run(x, h, rule, n_top=1, min_cluster_size=5, mu=40)
    assert _layers(clusters) == [0, 1]
    assert clusters[1].members.tolist() == list(range(40, 80))
    assert choose_cluster(np.array([0.2, 0, 0, 0]), np.ones(2), clusters) == 0
    assert choose_cluster(np.array([2.8, 0, 0, 0]), np.ones(2), clusters) == 1


def _graded_errors(layer1_error):
    """Layer 0 serves each cluster's first member and fails the rest at 20 dB; layer 1 gives everyone ``layer1_error``."""

    def image_errors(key, model, members):
        if key.startswith("L0"):
            errors = np.full(members.size, BAD)
            errors[0] = GOOD
            return errors
        return np.full(members.size, layer1_error)

    return image_errors


@pytest.mark.parametrize(
    "layer1_error, min_layer_gain, kept",
    [
        (-19.0, 0.0, False),  # layer 1 is 1 dB worse for the images it took over: dropped
        (-22.0, 0.0, True),  # 2 dB better (though still unserved): kept
        (-22.0, 3.0, False),  # ... unless the required gain is larger
        (-19.0, None, True),  # the paper's rule keeps every layer
    ],
)
def test_layer_that_does_not_help_is_dropped(layer1_error, min_layer_gain, kept):
    """A lower layer is kept only if it raises its images' mean PSNR by more than min_layer_gain."""
    x, h = _data()
    clusters = adaptive_clustering(
        x, h, Trainer(), _graded_errors(layer1_error), n_top=6, min_cluster_size=3, mu=20, max_layers=5,
        min_layer_gain=min_layer_gain, progress=False,
    )
    assert (1 in _layers(clusters)) is kept
    assert max(_layers(clusters)) <= 1  # layer 1 serves nobody: the recursion stops there either way
