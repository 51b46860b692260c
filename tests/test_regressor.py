"""The chroma MLP: architecture, least-squares fit, determinism, save/load."""

import numpy as np
import pytest

from deepcolor.regressor import ChromaMLP, Regressor
from deepcolor.train.mlp import fit_regressor


@pytest.mark.parametrize("width", [81, 92])
def test_architecture_halves_the_input(width):
    """Three hidden layers of width // 2, ReLU, two outputs."""
    net = ChromaMLP(width)
    linear = [m for m in net.layers if hasattr(m, "weight")]
    assert [tuple(m.weight.shape) for m in linear] == [(width // 2, width), (width // 2, width // 2), (width // 2, width // 2), (2, width // 2)]


def _toy(n=4000, d=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32) * 3 + 5
    w = rng.standard_normal((d, 2)).astype(np.float32) * 0.01
    return x, (np.tanh(x - 5) @ w).astype(np.float32)


def test_learns_a_smooth_map():
    """The fit explains most of the variance of a smooth nonlinear target."""
    x, y = _toy(d=20)
    reg = fit_regressor(x, y, epochs=15, batch_size=128, seed=0)
    resid = reg.predict(x) - y
    # Predicting zero scores 1.0; the fit measured 0.21.
    assert np.mean(resid**2) < 0.35 * np.mean(y**2)


def test_deterministic_and_round_trips():
    """Same seed, same weights; to_tensors/from_tensors predicts identically."""
    x, y = _toy(n=600)
    a = fit_regressor(x, y, epochs=2, seed=3)
    b = fit_regressor(x, y, epochs=2, seed=3)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    c = Regressor.from_tensors(a.to_tensors("r"), "r")
    np.testing.assert_allclose(c.predict(x), a.predict(x), atol=1e-6)


def test_constant_feature_column_stays_finite():
    """A constant input column (zero std) does not produce NaNs."""
    x, y = _toy(n=300)
    x[:, 0] = 1.0
    assert np.isfinite(fit_regressor(x, y, epochs=1).predict(x)).all()


def test_bad_input():
    """Shape mismatches and non-finite values are ValueErrors."""
    x, y = _toy(n=10)
    with pytest.raises(ValueError):
        fit_regressor(x, y[:5])
    x[0, 0] = np.nan
    with pytest.raises(ValueError):
        fit_regressor(x, y)
    with pytest.raises(ValueError):
        fit_regressor(x[:, :0], y)
    reg = fit_regressor(np.nan_to_num(x), y, epochs=1)
    with pytest.raises(ValueError, match="shape"):
        reg.predict(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="incomplete"):
        Regressor.from_tensors({"r.mean": np.zeros(3, np.float32)}, "r")
