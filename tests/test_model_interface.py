"""The model interface: a new model kind joins by one registry entry, and a bug in a model shows as one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from skimage import data

import deepcolor
from deepcolor.apply import main as apply_main
from deepcolor.cli.main import main as deepcolor_main
from deepcolor.colorspace import rgb_to_luma
from deepcolor.evaluate import main as evaluate_main
from deepcolor.metrics import to_uint8
from deepcolor.modelfile import load_model_file, save_model_file
from deepcolor.models import registry
from deepcolor.models.base import ChromaModel, ChromaPrediction, Option


class ToyModel:
    """A model kind defined outside the package: a constant chroma U = tint * strength, V = 0."""

    name: ClassVar[str] = "toy"
    options: ClassVar[tuple[Option, ...]] = (Option("tint", float, 0.05, "U of every pixel, before the file's strength"),)
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def predict_chroma(self, luma: np.ndarray, *, tint: float = 0.05) -> ChromaPrediction:
        chroma = np.zeros(luma.shape + (2,), np.float32)
        chroma[..., 0] = tint * self.strength
        return ChromaPrediction(chroma=chroma, info={"tint_used": float(tint * self.strength)})

    @classmethod
    def load(cls, path: str | Path) -> "ToyModel":
        _, config = load_model_file(path, kind=cls.name)
        return cls(float(config["strength"]))


@pytest.fixture()
def toy(tmp_path):
    """The toy kind registered (and removed afterwards) and a model file of it."""
    registry.register(registry.ModelEntry("toy", ToyModel, "a constant tint (test)", training="nothing", figures="none"))
    path = save_model_file(tmp_path / "toy.safetensors", {"w": np.zeros(1, np.float32)}, kind="toy", config={"strength": 2.0})
    yield path
    registry.unregister("toy")


def _gray_photo(path: Path) -> np.ndarray:
    gray = to_uint8(rgb_to_luma(data.coffee()[::8, ::8] / 255.0))
    Image.fromarray(gray).save(path)
    return gray


def test_a_toy_kind_is_listed_loaded_applied_and_evaluated(toy, tmp_path, capsys):
    """Registered at run time, the toy kind is in `deepcolor models`, its file loads by its kind, its own flag
    reaches its predict_chroma from apply and evaluate, and another kind's flag is refused."""
    assert deepcolor_main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "toy\n  a constant tint (test)" in listing and "--tint" in listing and "cheng" in listing
    model = deepcolor.load_model(toy)
    assert isinstance(model, ToyModel) and isinstance(model, ChromaModel)
    assert "toy" in [row["name"] for row in deepcolor.list_models()]

    gray = _gray_photo(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert apply_main([str(tmp_path / "in.png"), "-o", str(out), "--model", str(toy), "--tint", "0.1", "--no-refine", "--device", "cpu", "-q"]) == 0
    rgb = np.asarray(Image.open(out)).astype(np.float32) / 255.0
    # BT.601: R = Y + 1.13983 V, G = Y - 0.39465 U - 0.58060 V, B = Y + 2.03211 U; here U = 0.1 * strength 2 = 0.2,
    # V = 0, inside the gamut (0 <= G, B <= 1) for Y in [0.08, 0.59]: elsewhere the chroma is scaled down.
    y = gray / 255.0
    inside = (y > 0.09) & (y < 0.58)
    assert inside.mean() > 0.3
    np.testing.assert_allclose(rgb[..., 2][inside], y[inside] + 2.03211 * 0.2, atol=2 / 255)
    np.testing.assert_allclose(rgb[..., 0][inside], y[inside], atol=2 / 255)

    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(data.chelsea()[::4, ::4]).save(colour / "chelsea.png")
    csv_path = tmp_path / "rows.csv"
    capsys.readouterr()
    assert evaluate_main(["--images", str(colour), "--method", "toy", "--model", str(toy), "--tint", "0.01",
                          "--csv", str(csv_path), "--device", "cpu", "-q"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 1
    header, row = csv_path.read_text().splitlines()
    assert header.endswith(",tint_used") and row.endswith(",0.0200")  # the model's own account, 0.01 * 2

    for argv, message in (
        ([str(tmp_path / "in.png"), "-o", str(tmp_path / "x.png"), "--tint", "0.1"], f"--tint: options of --method toy, not {registry.DEFAULT_METHOD}"),
        ([str(tmp_path / "in.png"), "-o", str(tmp_path / "x.png"), "--model", str(toy), "--no-clusters"],
         "--no-clusters: options of --method cheng, not toy"),
        ([str(tmp_path / "in.png"), "-o", str(tmp_path / "x.png"), "--model", str(toy), "--save-semantic"],
         "--save-semantic needs --method cheng (the toy model has no per-pixel label map)"),
    ):
        assert apply_main([*argv, "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "x.png").exists()


def test_save_semantic_with_a_model_without_a_label_map_is_one_line(tmp_path, capsys):
    """--save-semantic with the global-prior model is refused before any work (it used to write nothing, silently)."""
    _gray_photo(tmp_path / "in.png")
    assert apply_main([str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--method", "global-prior", "--save-semantic", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["deepcolor.apply: error: --save-semantic needs --method cheng (the global-prior model has no per-pixel label map)"]
    assert not (tmp_path / "out.png").exists()


def _inject_index_error(monkeypatch):
    from deepcolor.models.cheng import ChengModel

    def broken_predict_chroma(self, luma: np.ndarray, **options: Any) -> ChromaPrediction:
        raise IndexError("injected bug in predict_chroma")

    monkeypatch.setattr(ChengModel, "predict_chroma", broken_predict_chroma)


@pytest.mark.parametrize("verbose", [False, True])
def test_a_bug_in_a_model_is_an_internal_error(tmp_path, capsys, monkeypatch, verbose):
    """An IndexError raised in predict_chroma: the file fails as "internal error" in one line; -v adds its traceback.
    evaluate (no per-file engine) ends with the same one line, exit 2, and the traceback under -v."""
    _inject_index_error(monkeypatch)
    _gray_photo(tmp_path / "in.png")
    loud = ["-v"] if verbose else ["-q"]
    assert apply_main([str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--method", "cheng", *loud]) == 1
    err = capsys.readouterr().err
    assert "in.png: internal error (IndexError: injected bug in predict_chroma); rerun with -v for the traceback" in err
    assert ("Traceback (most recent call last)" in err) == verbose
    assert ("in broken_predict_chroma" in err) == verbose  # the frame that raised
    assert not (tmp_path / "out.png").exists()

    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(data.chelsea()[::4, ::4]).save(colour / "chelsea.png")
    assert evaluate_main(["--images", str(colour), "--method", "cheng", *loud]) == 2
    err = capsys.readouterr().err
    assert "deepcolor.evaluate: internal error (IndexError: injected bug in predict_chroma); rerun with -v for the traceback" in err
    assert ("Traceback (most recent call last)" in err) == verbose and ("in broken_predict_chroma" in err) == verbose


def test_colorize_returns_the_models_account_and_loads_by_name():
    """colorize(..., return_info=True) gives the model's own account; a shipped model loads by its name."""
    gray = to_uint8(rgb_to_luma(data.astronaut()[::8, ::8] / 255.0))
    rgb, info = deepcolor.colorize(gray, model="cheng", device="cpu", return_info=True)
    assert rgb.shape == gray.shape + (3,) and rgb.dtype == np.uint8
    assert set(info) == {"cluster"} and info["cluster"].startswith(("L", "global"))
    np.testing.assert_array_equal(rgb, deepcolor.colorize(gray, method="cheng", device="cpu"))
    _, prior_info = deepcolor.colorize(gray, model="global-prior", device="cpu", return_info=True)
    assert {"scene", "scene_probability"} <= set(prior_info)
    assert {"colorize", "load_model", "list_models", "ChromaModel"} <= set(dir(deepcolor))


def test_console_command_help_lists_the_commands(capsys):
    """`deepcolor --help` names the four commands; an unknown command is one line and exit 2."""
    assert deepcolor_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in ("colorize", "fit", "evaluate", "models"))
    assert deepcolor_main(["paint"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "deepcolor: error: argument COMMAND: invalid choice: 'paint' (choose from 'colorize', 'fit', 'evaluate', 'models')"]
