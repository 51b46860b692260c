"""Issue 29 in the API and the model names: a kind name means the kind, arguments of the wrong type are one-line
errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import deepcolor
from deepcolor.modelfile import ModelFileError, default_weights_path
from deepcolor.models import registry
from hardening_helpers import Tint


class _Shipped(Tint):
    """Stands for a shipped model already loaded (the registry's per-process cache), so no weights are read."""

    def __init__(self, name):
        self.name = name


@pytest.fixture()
def shipped(monkeypatch):
    for name in ("cheng", "global-prior", "both"):
        monkeypatch.setitem(registry._SHIPPED, name, _Shipped(name))  # noqa: SLF001 (the cache is the seam)
    return registry._SHIPPED  # noqa: SLF001


def test_a_file_named_like_a_kind_never_replaces_the_shipped_model(tmp_path, monkeypatch, shipped, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cheng").write_text("my notes\n")
    shutil.copy(default_weights_path("colorizer"), tmp_path / "global-prior")  # a Cheng model file named global-prior
    assert deepcolor.load_model("cheng") is shipped["cheng"]
    assert deepcolor.load_model("global-prior") is shipped["global-prior"]
    assert "not read" in caplog.text  # the ambiguity is said, one line each
    assert all("\n" not in r.getMessage() for r in caplog.records)
    assert deepcolor.load_model("./global-prior").name == "cheng"  # a path is a path


def test_colorize_command_uses_the_kind_beside_a_file_named_like_it(tmp_path, monkeypatch, capsys, shipped):
    from deepcolor.cli.runtime import model_from_args
    import deepcolor.apply as apply_module

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cheng").write_text("my notes\n")
    (tmp_path / registry.DEFAULT_METHOD).write_text("my notes\n")  # named like the default kind
    seen = []
    monkeypatch.setattr(apply_module, "model_from_args", lambda args: seen.append(model_from_args(args)) or Tint())
    monkeypatch.setitem(registry.ENTRIES, "tint", registry.ModelEntry("tint", Tint, "a test kind"))
    from deepcolor.io import write_image

    write_image(tmp_path / "photo.png", np.full((8, 8), 0.5, np.float32))
    assert apply_module.main(["-q", "photo.png"]) == 0, capsys.readouterr().err
    assert seen == [shipped[registry.DEFAULT_METHOD]]


def test_an_unknown_model_name_says_so():
    with pytest.raises(ValueError, match="unknown model kind 'chen'.*known: cheng, global-prior"):
        deepcolor.load_model("chen")


@pytest.mark.parametrize("bad", [42, 1.5, ["cheng"]])
def test_a_model_that_is_neither_name_nor_path_is_a_declared_error(bad):
    with pytest.raises(ModelFileError) as caught:
        deepcolor.load_model(bad)
    assert "\n" not in str(caught.value) and "kind name" in str(caught.value)


@pytest.mark.parametrize("value", ["0.5", True, np.True_, b"1"])
def test_vividness_must_be_a_number_not_a_string_or_bool(value):
    from deepcolor.models.global_prior import check_vividness

    with pytest.raises(ValueError, match="vividness must be a number"):
        check_vividness(value)


@pytest.mark.parametrize("value", ["no", 0, 1, None])
def test_return_info_must_be_a_bool(value):
    with pytest.raises(ValueError, match="return_info must be True or False"):
        deepcolor.colorize(np.zeros((8, 8), np.uint8), model=Tint(), return_info=value)


def test_a_method_that_contradicts_the_model_is_refused():
    with pytest.raises(ValueError, match="method='global-prior', but the model given is a tint model"):
        deepcolor.colorize(np.zeros((8, 8), np.uint8), model=Tint(), method="global-prior")
    rgb = deepcolor.colorize(np.zeros((8, 8), np.uint8), model=Tint(), method="tint")  # agreeing is fine
    assert rgb.shape == (8, 8, 3)
