"""The one model-file loader: round trip and one-line errors."""

import json

import numpy as np
import pytest

from deepcolor.modelfile import FORMAT_VERSION, ModelFileError, load_model_file, save_model_file


def test_round_trip(tmp_path):
    """Tensors and config come back identical; no temp file is left."""
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
    path = save_model_file(tmp_path / "m.safetensors", tensors, kind="thing", config={"x": [1, 2]})
    back, config = load_model_file(path, kind="thing")
    assert config == {"x": [1, 2]}
    for k in tensors:
        np.testing.assert_array_equal(back[k], tensors[k])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def _one_line_error(path, **kw):
    with pytest.raises(ModelFileError) as info:
        load_model_file(path, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_errors(tmp_path):
    """Missing, truncated, foreign, wrong-kind and too-new files give one-line errors."""
    good = save_model_file(tmp_path / "m.safetensors", {"a": np.zeros(1000, np.float32)}, kind="thing", config={})
    assert "not found" in _one_line_error(tmp_path / "none.safetensors")
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(good.read_bytes()[:500])
    assert "not a readable" in _one_line_error(truncated)
    text = tmp_path / "x.safetensors"
    text.write_text("hello, not a model")
    _one_line_error(text)
    assert "expected 'other'" in _one_line_error(good, kind="other")
    from safetensors.numpy import save_file

    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "foreign.safetensors"))
    assert "not a deepcolor" in _one_line_error(tmp_path / "foreign.safetensors")
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "new.safetensors"),
              metadata={"format": "deepcolor", "version": str(FORMAT_VERSION + 1), "kind": "thing", "config": json.dumps({})})
    assert "version" in _one_line_error(tmp_path / "new.safetensors")


def test_load_model_opens_a_file_by_its_kind(tmp_path, monkeypatch):
    """load_model reads a file's kind and picks its class; old kind strings still load; an unknown, broken or
    uninstalled kind is one clear line."""
    from deepcolor.models import registry
    from deepcolor.models.cheng import ChengModel
    from deepcolor.models.global_prior import GlobalPriorModel
    from deepcolor.modelfile import default_weights_path, read_model_kind
    from deepcolor.models.registry import ModelEntry, load_model

    # The shipped files carry the old kind strings; they read as the kinds' one names.
    assert read_model_kind(default_weights_path("colorizer")) == "cheng"
    assert read_model_kind(default_weights_path("global_prior")) == "global-prior"
    cheng = load_model(default_weights_path("colorizer"))
    assert isinstance(cheng, ChengModel) and cheng.name == cheng.kind == "cheng"
    assert isinstance(load_model("global-prior"), GlobalPriorModel)
    # A file written now carries the one name, and loads back.
    resaved = cheng.save(tmp_path / "cheng.safetensors")
    assert read_model_kind(resaved) == "cheng" and isinstance(load_model(resaved), ChengModel)

    odd = save_model_file(tmp_path / "odd.safetensors", {"w": np.zeros(1, np.float32)}, kind="no_such_kind", config={})
    with pytest.raises(ModelFileError, match="kind 'no_such_kind', not a colorizer"):
        load_model(odd)
    # A global-prior file whose config does not describe the network: one line, naming the file.
    prior = save_model_file(tmp_path / "gp.safetensors", {"w": np.zeros(1, np.float32)}, kind="global_prior", config={})
    with pytest.raises(ModelFileError, match="global-prior config/tensors do not match") as exc:
        load_model(prior)
    assert "\n" not in str(exc.value) and "gp.safetensors" in str(exc.value)
    # A registered kind whose module this installation lacks.
    monkeypatch.setitem(registry.ENTRIES, "absent", ModelEntry("absent", "deepcolor.models.not_installed:Absent", "test"))
    absent = save_model_file(tmp_path / "absent.safetensors", {"w": np.zeros(1, np.float32)}, kind="absent", config={})
    with pytest.raises(ModelFileError, match="needs deepcolor.models.not_installed") as exc:
        load_model(absent)
    assert "\n" not in str(exc.value)
