"""The assembled pipeline on real photographs, with the shipped model."""

from pathlib import Path

import numpy as np
import pytest
from skimage import data

import deepcolor
from deepcolor.pipeline import colorize_luma, load_model, to_luma
from deepcolor.colorspace import rgb_to_luma
from deepcolor.evaluation import gray_version
from deepcolor.features.descriptor import descriptor_at, descriptor_dim, feature_maps
from deepcolor.metrics import colorfulness, psnr, to_uint8


@pytest.fixture(scope="module")
def model():
    return load_model("cheng")


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()  # a real photograph that ships inside scikit-image


def test_shipped_model_is_complete(model):
    """The shipped bundle carries the 24-class scene FCN, both descriptor variants (105-d, 81-d) and a cluster hierarchy."""
    from deepcolor.features.scene import SceneFCN

    assert isinstance(model.fcn, SceneFCN) and len(model.fcn.classes) == 24 and model.routing == "encoder"
    assert set(model.global_regressors) == {"semantic", "plain"}
    assert model.global_regressors["semantic"].in_features == 105
    assert model.global_regressors["plain"].in_features == 81
    assert len(model.clusters) >= 2 and {c.layer for c in model.clusters} >= {0}
    assert "command" in model.card


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_colorize_keeps_luma_and_dtype(model, coffee, dtype):
    """colorize returns RGB of the input's dtype whose luma is the input (to rounding)."""
    gray8 = to_uint8(rgb_to_luma(coffee / 255.0))[:120, :160]
    scale = {np.uint8: 1, np.uint16: 257, np.float32: 1 / 255}[dtype]
    gray = (gray8.astype(np.float64) * scale).astype(dtype)
    rgb = deepcolor.colorize(gray, model=model)
    assert rgb.dtype == dtype and rgb.shape == gray.shape + (3,)
    top = {np.uint8: 255, np.uint16: 65535, np.float32: 1}[dtype]
    luma_back = rgb_to_luma(rgb.astype(np.float64) / top)
    assert np.abs(luma_back - gray8 / 255.0).max() < 1.5 / 255
    assert colorfulness(to_uint8(rgb.astype(np.float64) / top)) > 1.0  # it is not gray


def test_colour_input_is_converted_with_a_notice(model, coffee, caplog):
    """An RGB input is reduced to its luma first, with one warning line."""
    with caplog.at_level("WARNING"):
        out = deepcolor.colorize(coffee[:64, :64], model=model)
    assert out.shape == (64, 64, 3)
    assert any("converted to gray" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (37, 53)])
def test_odd_and_tiny_sizes(model, shape):
    """Any size colorizes, including a single pixel."""
    gray = np.random.default_rng(0).random(shape).astype(np.float32)
    assert deepcolor.colorize(gray, model=model).shape == shape + (3,)


def test_beats_gray_on_a_real_photo(model, coffee):
    """On a real photo the shipped model is closer to the original than the gray baseline."""
    original = coffee
    luma, gray = gray_version(original)
    result = to_uint8(colorize_luma(luma, model).rgb())
    assert psnr(result, original) > psnr(gray, original)


def test_ablations_differ(model, coffee):
    """--no-semantic and --no-refine change the result; --no-clusters too, unless the image falls in a dropped cluster.

    An image routed to a cluster that lost to the global MLP on held-out images gets the global MLP, so
    there --no-clusters changes nothing; the shipped model dropped none of its clusters, so both photos reach a kept one.
    """
    sources = set()
    for photo in (coffee[:96, :128], data.astronaut()[200:296, 100:228]):
        luma = rgb_to_luma(photo / 255.0)
        full = colorize_luma(luma, model)
        for kwargs in ({"semantic": False}, {"refine": False}):
            assert np.abs(colorize_luma(luma, model, **kwargs).chroma - full.chroma).max() > 1e-4, kwargs
        difference = np.abs(colorize_luma(luma, model, clusters=False).chroma - full.chroma).max()
        routed_global = full.info["cluster"] == "global"
        assert (difference == 0) if routed_global else (difference > 1e-4)
        sources.add(routed_global)
    assert False in sources  # at least one photo reaches a kept cluster (the shipped model keeps all 15 of its clusters)


def test_saturation_scales_chroma(model, coffee):
    """saturation=0 gives gray; 2 doubles the (refined) chroma."""
    luma = rgb_to_luma(coffee[:64, :64] / 255.0)
    one = colorize_luma(luma, model).chroma
    np.testing.assert_allclose(colorize_luma(luma, model, saturation=2.0).chroma, 2 * one, atol=1e-6)
    assert np.abs(colorize_luma(luma, model, saturation=0.0).chroma).max() == 0


def test_descriptor_width_and_dtype(model, coffee):
    """The shipped model's descriptor is 105-d float32 with semantics, 81-d without, and its semantic part sums to 1."""
    luma = rgb_to_luma(coffee[:50, :70] / 255.0)
    maps = feature_maps(luma, fcn=model.fcn)
    d = descriptor_at(maps, np.arange(0, 50 * 70, 7))
    assert d.shape == (500, 105) == (500, descriptor_dim(semantic=True, semantic_dim=24)) and d.dtype == np.float32
    np.testing.assert_allclose(d[:, 81:].sum(axis=1), 1.0, atol=1e-4)
    assert descriptor_at(maps, np.arange(10), semantic=False).shape == (10, 81)


def test_to_luma_rejects_bad_input():
    """Out-of-range floats, NaNs, wrong ranks and odd dtypes are ValueErrors."""
    for bad in (np.full((4, 4), 2.0), np.full((4, 4), np.nan), np.zeros((4,)), np.zeros((4, 4), np.int64), np.zeros((0, 4))):
        with pytest.raises(ValueError):
            to_luma(bad)


GOLDEN = Path(__file__).with_name("data") / "golden_chroma.npz"
GOLDEN_ATOL = 1e-4  # chroma units (U, V span about +-0.5): float rounding across CPUs, far below any real change


@pytest.mark.parametrize("semantic", [True, False])
@pytest.mark.parametrize("clusters", [True, False])
def test_golden_chroma_of_the_shipped_model(model, semantic, clusters):
    """The shipped model's chroma on a fixed 48x64 crop of skimage's astronaut photo matches the stored array.

    Catches a change of descriptor column order, normalization, cluster choice or
    weights that shape checks and "beats gray" would miss. The array was written by
    tests/data/make_golden.py and matched the pre-reshape code exactly; since issue 25 the default predicts
    on a grid (``grid_*`` arrays) and ``dense=True`` is the per-pixel path of the arrays before.
    """
    golden = np.load(GOLDEN)
    key = f"semantic{int(semantic)}_clusters{int(clusters)}"
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    prediction = model.predict_chroma(luma, semantic=semantic, clusters=clusters, dense=True)  # the paper's per-pixel path
    assert prediction.chroma.shape == (48, 64, 2) and prediction.chroma.dtype == np.float32
    assert prediction.info["cluster"] == str(golden[f"{key}_cluster"])
    np.testing.assert_allclose(prediction.chroma, golden[key], rtol=0, atol=GOLDEN_ATOL)
    assert np.abs(golden[key]).max() > 0.05  # the stored chroma is not gray
    default = model.predict_chroma(luma, semantic=semantic, clusters=clusters)  # chroma on a grid, guided-upsampled
    np.testing.assert_allclose(default.chroma, golden[f"grid_{key}"], rtol=0, atol=GOLDEN_ATOL)
    assert 0 < np.abs(default.chroma - prediction.chroma).mean() < 0.02


def test_model_options_are_checked(model):
    """An option the model does not take is a ValueError naming it, not silently ignored."""
    with pytest.raises(ValueError, match="style"):
        deepcolor.colorize(np.zeros((16, 16), np.uint8), model=model, style=None)


@pytest.mark.slow
def test_inference_imports_no_training_code():
    """colorize() loads neither scikit-learn nor deepcolor.train; tqdm only as far as `import torch` itself does (torch.hub)."""
    import subprocess
    import sys

    probe = (
        "import sys, json; import torch; torch_only = set(sys.modules); "
        "import deepcolor, numpy as np; deepcolor.colorize(np.zeros((64, 64), np.uint8)); "
        "print(json.dumps(sorted(m for m in sys.modules if (m.split('.')[0] in ('sklearn', 'tqdm') or '.train' in m) and m not in torch_only)))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"
