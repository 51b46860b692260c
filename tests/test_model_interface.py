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


def fit_toy(argv: list[str], prog: str) -> int:
    """The toy kind's trainer (``deepcolor fit toy --strength S --out FILE``): its own flags, its own file."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--strength", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    save_model_file(args.out, {"w": np.zeros(1, np.float32)}, kind="toy", config={"strength": args.strength})
    return 0


@pytest.fixture()
def toy(tmp_path):
    """The toy kind registered (and removed afterwards) and a model file of it."""
    registry.register(registry.ModelEntry("toy", ToyModel, "a constant tint (test)", training="nothing", figures="none",
                                          trainer=fit_toy))
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
         "--save-semantic needs --method cheng or both (the toy model has no per-pixel label map)"),
    ):
        assert apply_main([*argv, "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "x.png").exists()


def test_a_toy_kind_trains_by_its_registry_entry_and_runs_on_workers(toy, tmp_path, capsys):
    """`deepcolor fit toy` runs the trainer its entry names (no package file knows the kind); the file it
    writes colorizes on a Dask worker, which learns the kind from the entry that travels with the model."""
    trained = tmp_path / "trained.safetensors"
    assert deepcolor_main(["fit", "toy", "--strength", "3", "--out", str(trained)]) == 0
    assert deepcolor.load_model(trained).strength == 3.0
    folder = tmp_path / "in"
    folder.mkdir()
    gray = _gray_photo(folder / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    argv = [str(folder), "-o", str(out), "--model", str(trained), "--tint", "0.05", "--no-refine", "--device", "cpu",
            "--workers", "1", "-q"]
    assert apply_main(argv) == 0, capsys.readouterr().err
    rgb = np.asarray(Image.open(out / "a.png")).astype(np.float32) / 255.0
    y = gray / 255.0
    inside = (y > 0.09) & (y < 0.5)
    np.testing.assert_allclose(rgb[..., 2][inside], y[inside] + 2.03211 * 0.15, atol=2 / 255)  # U = 0.05 * strength 3
    assert deepcolor_main(["fit", "toy", "--out", str(tmp_path / "x.safetensors")]) == 2  # its own flags: --strength missing


def test_save_semantic_with_a_model_without_a_label_map_is_one_line(tmp_path, capsys):
    """--save-semantic with the global-prior model is refused before any work (it used to write nothing, silently)."""
    _gray_photo(tmp_path / "in.png")
    assert apply_main([str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--method", "global-prior", "--save-semantic", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["deepcolor.apply: error: --save-semantic needs --method cheng or both (the global-prior model has no per-pixel label map)"]
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
    """`deepcolor --help` names the five commands; an unknown command is one line and exit 2."""
    assert deepcolor_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in ("colorize", "fit", "evaluate", "models", "serve"))
    assert deepcolor_main(["paint"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "deepcolor: error: argument COMMAND: invalid choice: 'paint' (choose from 'colorize', 'fit', 'evaluate', 'models', 'serve')"]


class BrokenModel:
    """A model kind whose prediction has a bug: the exception depends on the image's width (``width % 3``)."""

    name: ClassVar[str] = "broken"
    options: ClassVar[tuple[Option, ...]] = ()
    BUGS: ClassVar[tuple[type[Exception], ...]] = (ValueError, OSError, IndexError)

    def predict_chroma(self, luma: np.ndarray) -> ChromaPrediction:
        raise self.BUGS[luma.shape[1] % 3](f"injected bug at width {luma.shape[1]}")

    @classmethod
    def load(cls, path: str | Path) -> "BrokenModel":
        load_model_file(path, kind=cls.name)
        return cls()


@pytest.fixture()
def broken(tmp_path):
    """The broken kind registered (and removed afterwards) and a model file of it."""
    registry.register(registry.ModelEntry("broken", BrokenModel, "a model with a bug (test)"))
    path = save_model_file(tmp_path / "broken.safetensors", {"w": np.zeros(1, np.float32)}, kind="broken", config={})
    yield path
    registry.unregister("broken")


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_bugs_in_a_model_are_internal_errors_serially_and_on_workers(broken, tmp_path, capsys, workers):
    """A ValueError, an OSError and an IndexError raised by a model's prediction each fail their file as
    "internal error (...); rerun with -v", exit 1, in this process and on Dask workers (the kind registered at
    run time travels to them); an unreadable input beside them stays the user's one-line error."""
    folder = tmp_path / "in"
    folder.mkdir()
    gray = to_uint8(rgb_to_luma(data.coffee()[::8, ::8] / 255.0))
    for width, bug in zip((60, 61, 62), BrokenModel.BUGS):  # 60 % 3 == 0: ValueError, 61: OSError, 62: IndexError
        Image.fromarray(gray[:, :width]).save(folder / f"{bug.__name__}.png")
    (folder / "corrupt.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    out.mkdir()
    capsys.readouterr()
    argv = [str(folder), "-o", str(out), "--model", str(broken), "--device", "cpu", "-q"]
    assert apply_main([*argv, *(["--workers", str(workers)] if workers else [])]) == 1
    err = capsys.readouterr().err
    for width, bug in zip((60, 61, 62), BrokenModel.BUGS):
        line = f"{bug.__name__}.png: internal error ({bug.__name__}: injected bug at width {width}); rerun with -v for the traceback"
        assert line in err, err
    corrupt = [line for line in err.splitlines() if "corrupt.png" in line]
    assert len(corrupt) == 1 and "internal error" not in corrupt[0] and "not a recognized image" in corrupt[0], err
    assert "Traceback" not in err and "'tuple' object" not in err
    assert list(out.glob("*.png")) == []


def test_a_declared_error_is_one_line_and_a_bug_is_internal_in_a_command(tmp_path, capsys, monkeypatch):
    """The command's own contract: a DeepcolorError is "error: <line>", a ValueError from deeper down is an
    internal error with the -v hint (it used to pass for the user's error)."""
    from deepcolor.cli.runtime import run_command
    from deepcolor.errors import DeepcolorError, InputError

    def declared() -> int:
        raise InputError("--saturation must be finite\nsecond line")

    def numpy_bug() -> int:
        return int(np.zeros(2) + np.zeros(3))  # operands could not be broadcast: a ValueError

    assert issubclass(InputError, (DeepcolorError, ValueError))
    assert run_command("prog", declared) == 2
    assert capsys.readouterr().err.splitlines() == ["prog: error: --saturation must be finite"]
    assert run_command("prog", numpy_bug) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("prog: internal error (ValueError: operands could not be broadcast"), err
    assert err[0].endswith("rerun with -v for the traceback")
