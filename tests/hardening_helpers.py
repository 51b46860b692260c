"""What issue 29's tests share: a model that costs nothing, and ``deepcolor colorize`` run in this process with it."""

from __future__ import annotations

import numpy as np

from deepcolor.models.base import ChromaPrediction


class Tint:
    """A model that costs nothing: chroma a smooth function of the luma, so every frame is coloured."""

    name = "tint"
    options = ()
    capabilities = frozenset()

    def predict_chroma(self, luma, **options):
        u = 0.05 * np.sin(6 * luma)
        return ChromaPrediction(np.stack([u, 0.1 - u], axis=-1).astype(np.float32))


class TintWithLabels(Tint):
    """`Tint` with a label map (so ``--save-semantic`` is accepted)."""

    capabilities = frozenset({"labels"})

    def label_map(self, luma):
        return (luma > 0.5).astype(np.uint8) * 255


def run_colorize(argv, monkeypatch, capsys, model=None):
    """``deepcolor colorize -q ARGV`` in this process with ``model`` (default `Tint`, registered as a kind while
    the test runs); returns (exit status, stderr, whether the model was asked for)."""
    import deepcolor.apply as apply_module
    from deepcolor.models import registry

    model = model or Tint()
    asked = []
    if model.name not in registry.names():  # a kind for this test only (monkeypatch removes it)
        monkeypatch.setitem(registry.ENTRIES, model.name, registry.ModelEntry(model.name, type(model), "a test kind"))

    def fake(args):
        asked.append(True)
        return model

    monkeypatch.setattr(apply_module, "model_from_args", fake)
    code = apply_module.main(["-q", *map(str, argv)])
    return code, capsys.readouterr().err, bool(asked)
