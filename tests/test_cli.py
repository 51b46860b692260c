"""The command-line tools end to end: apply, evaluate and fit, on real photographs."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

import deepcolor
from deepcolor.apply import main as apply_main
from deepcolor.evaluate import main as evaluate_main
from deepcolor.fit import main as fit_main
from deepcolor.colorspace import rgb_to_luma
from deepcolor.io import read_image
from deepcolor.metrics import psnr, to_uint8


def _gray8(rgb):
    return to_uint8(rgb_to_luma(rgb / 255.0))


def _digest(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture()
def photos(tmp_path):
    """A folder of small real photos (from scikit-image) saved as gray JPEG and PNG, plus bad files."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_gray8(data.coffee()[::4, ::4])).save(folder / "a.jpg", quality=95)
    Image.fromarray(_gray8(data.chelsea()[::4, ::4])).save(folder / "a.png")
    (folder / "empty.jpg").write_bytes(b"")
    good = (folder / "a.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.txt").write_text("not an image")
    return folder


def _no_traceback(captured):
    assert "Traceback" not in captured.err and "Traceback" not in captured.out


def test_apply_batch_goes_past_bad_files(photos, tmp_path, capsys):
    """A folder batch colorizes the good files, names a.jpg/a.png apart, reports the bad ones last and exits 1."""
    before = {p.name: _digest(p) for p in photos.iterdir()}
    out = tmp_path / "out"
    status = apply_main([str(photos), "-o", str(out), "-q"])
    captured = capsys.readouterr()
    _no_traceback(captured)
    assert status == 1
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.jpg", "a.png"]  # the journal is hidden
    assert "2 file(s) failed" in captured.err and "empty.jpg" in captured.err and "truncated.jpg" in captured.err
    failure_lines = [line for line in captured.err.splitlines() if line.startswith("  ")]
    assert len(failure_lines) == 2 and all(line.count(".jpg") == 1 for line in failure_lines)  # each file named once
    assert {p.name: _digest(p) for p in photos.iterdir()} == before  # inputs untouched
    # The outputs are colour images whose luma is the input's.
    result = read_image(out / "a.png")
    assert result.pixels.ndim == 3 and not result.is_gray
    src = read_image(photos / "a.png").pixels
    assert np.abs(rgb_to_luma(result.pixels) - src).max() < 2 / 255


def test_apply_same_format_collision(photos, tmp_path):
    """--format png maps a.jpg and a.png to two distinct outputs, never one overwriting the other."""
    out = tmp_path / "out"
    apply_main([str(photos / "a.jpg"), str(photos / "a.png"), "-o", str(out), "--format", "png", "-q"])
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert len(names) == 2 and all(n.endswith(".png") for n in names)


def test_apply_default_output_and_resume(photos, capsys):
    """Without -o the output lands beside the input; a re-run keeps it unless --overwrite."""
    src = photos / "a.png"
    assert apply_main([str(src), "-q"]) == 0
    out = photos / "a_colorized.png"
    assert out.is_file()
    out.write_bytes(b"sentinel")  # a re-run must not touch an existing output ...
    assert apply_main([str(src), "-q"]) == 0
    assert out.read_bytes() == b"sentinel"
    assert apply_main([str(src), "--overwrite", "-q"]) == 0  # ... unless asked to
    assert out.read_bytes() != b"sentinel"
    # Re-running over the folder does not treat our outputs as inputs.
    apply_main([str(photos), "-q"])
    capsys.readouterr()
    assert not any("_colorized_colorized" in p.name for p in photos.iterdir())


def test_apply_refuses_to_overwrite_input(photos, capsys):
    """-o equal to the input is an error and the input is untouched."""
    src = photos / "a.png"
    before = _digest(src)
    assert apply_main([str(src), "-o", str(src), "--overwrite", "-q"]) != 0
    _no_traceback(capsys.readouterr())
    assert _digest(src) == before


def test_apply_alpha_and_16_bit(tmp_path):
    """Alpha is carried to the output; a 16-bit input gives a 16-bit output."""
    gray = _gray8(data.astronaut()[::8, ::8])
    alpha = np.linspace(0, 255, gray.size).reshape(gray.shape).astype(np.uint8)
    Image.fromarray(np.dstack([gray, alpha]), mode="LA").save(tmp_path / "la.png")
    g16 = (gray.astype(np.uint16) * 257 + 3).astype(np.uint16)
    import cv2

    cv2.imwrite(str(tmp_path / "deep.png"), g16)
    out = tmp_path / "out"
    assert apply_main([str(tmp_path / "la.png"), str(tmp_path / "deep.png"), "-o", str(out), "-q"]) == 0
    la = read_image(out / "la.png")
    np.testing.assert_allclose(la.alpha, alpha / 255.0, atol=1 / 255)
    deep = read_image(out / "deep.png")
    assert deep.bit_depth == 16 and deep.pixels.ndim == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["{photos}/a.png", "--model", "{tmp}/nope.safetensors"], "model file not found"),
        (["{photos}/a.png", "-o", "{tmp}/missing/deeper/out.png"], "does not exist"),
        (["{tmp}/nothing_here.png"], "no input images"),
        (["{photos}/a.png", "--saturation", "-1"], "saturation"),
    ],
)
def test_apply_bad_usage_is_one_line(photos, tmp_path, capsys, args, message):
    """Bad models, missing folders, missing inputs and bad flags: one line on stderr, non-zero exit."""
    argv = [a.format(photos=photos, tmp=tmp_path) for a in args] + ["-q"]
    assert apply_main(argv) != 0
    captured = capsys.readouterr()
    _no_traceback(captured)
    assert message in captured.err


def test_evaluate_reports_json_and_csv(tmp_path, capsys):
    """evaluate prints medians and ends with one JSON object; --csv records each image's cluster."""
    folder = tmp_path / "colour"
    folder.mkdir()
    Image.fromarray(data.coffee()[::2, ::2]).save(folder / "coffee.png")
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
    csv_path = tmp_path / "rows.csv"
    assert evaluate_main(["--images", str(folder), "--csv", str(csv_path), "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert set(summary) == {"n", "psnr_median", "gray_psnr_median", "gain_median", "colorfulness_ratio"}
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("image,psnr,gray_psnr,gain") and "cluster" in rows[0] and len(rows) == 3
    # The figures are the protocol's, recomputed here independently: gray version, colorize, 8-bit PSNR.
    expected, expected_gray = [], []
    for name in ("chelsea.png", "coffee.png"):
        original = np.asarray(Image.open(folder / name).convert("RGB"))
        luma = (np.floor(rgb_to_luma(original.astype(np.float32) / 255.0) * 255.0 + 0.5) / 255.0).astype(np.float32)
        gray = to_uint8(np.repeat(luma[..., None], 3, axis=2))
        expected.append(psnr(to_uint8(deepcolor.colorize(luma)), original))
        expected_gray.append(psnr(gray, original))
    assert summary["n"] == 2
    assert summary["psnr_median"] == pytest.approx(np.median(expected), abs=1e-3)
    assert summary["gray_psnr_median"] == pytest.approx(np.median(expected_gray), abs=1e-3)
    assert summary["gain_median"] > 0.5  # the shipped model clearly beats gray on these photos
    assert all(",L" in r for r in rows[1:])  # each image used a cluster of the hierarchy


def _train_folder(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel"):
        Image.fromarray(getattr(data, name)()[::4, ::4]).save(folder / f"{name}.png")
    return folder


@pytest.mark.slow
def test_fit_trains_resumes_and_loads(tmp_path, monkeypatch, capsys):
    """A small fit writes a loadable bundle; after an interruption the re-run reuses finished work."""
    import deepcolor.train.cheng as training
    from deepcolor.pipeline import load_model

    folder = _train_folder(tmp_path)
    out = tmp_path / "m.safetensors"
    argv = ["--images", str(folder), "--out", str(out), "--samples-per-image", "300", "--epochs", "2",
            "--n-top", "2", "--mu", "2", "--min-cluster-size", "2", "--max-layers", "2", "-q"]
    calls = []
    real = training.fit_regressor

    def interrupting(*a, **k):
        calls.append(k.get("desc"))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(training, "fit_regressor", interrupting)
    assert fit_main(argv) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not out.exists()
    samples = sorted((tmp_path / "m.safetensors.work" / "samples").iterdir())
    assert len(samples) == 6
    stamps = [p.stat().st_mtime_ns for p in samples]

    calls.clear()
    monkeypatch.setattr(training, "fit_regressor", lambda *a, **k: (calls.append(k.get("desc")), real(*a, **k))[1])
    assert fit_main(argv) == 0
    assert [p.stat().st_mtime_ns for p in samples] == stamps  # features were not recomputed
    assert "global" not in calls  # the two global MLPs finished before the interruption
    model = load_model(out)
    assert model.clusters and set(model.global_regressors) == {"semantic", "plain"}
    assert "--samples-per-image 300" in model.card["command"]


def test_fit_bad_input(tmp_path, capsys):
    """A fit with no images or a missing folder is one line and a non-zero exit."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fit_main(["--images", str(empty), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert fit_main(["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "m.safetensors")]) == 2
    captured = capsys.readouterr()
    _no_traceback(captured)
    assert "no training images found" in captured.err and "no such file or folder" in captured.err


def test_colorize_example_writes_the_gray_photo_and_its_colours(tmp_path, monkeypatch, capsys):
    """`deepcolor colorize --example` needs no photo: scikit-image's astronaut, gray, and its colorization, here."""
    from deepcolor.cli.main import main as deepcolor_main

    monkeypatch.chdir(tmp_path)
    assert deepcolor_main(["colorize", "--example", "-q"]) == 0
    _no_traceback(capsys.readouterr())
    gray = read_image(tmp_path / "example_gray.png").pixels
    colour = read_image(tmp_path / "example_colorized.png")
    assert gray.ndim == 2 and gray.shape == data.astronaut().shape[:2]
    assert colour.pixels.ndim == 3 and not colour.is_gray
    assert np.abs(rgb_to_luma(colour.pixels) - gray).max() < 2 / 255  # the gray photo's luma, kept
    assert deepcolor_main(["colorize", "--example", "photo.jpg", "-q"]) == 2  # its own photo only
    assert "give no INPUT" in capsys.readouterr().err


def test_console_script_is_declared():
    """setup.cfg installs `deepcolor` as deepcolor.cli.main:main."""
    import configparser
    from pathlib import Path

    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[1] / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"].strip()
    assert scripts == "deepcolor = deepcolor.cli.main:main"
    assert "py.typed" in config["options.package_data"]["deepcolor"]
    from deepcolor.cli.main import main

    assert callable(main)


@pytest.mark.slow
def test_module_entry_points_answer_help():
    """`python -m deepcolor --help` lists the four commands; the old module commands still answer --help; `models` lists both."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]

    def run(*argv):
        done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=root, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    top = run("deepcolor", "--help")
    assert all(f"  {name}" in top for name in ("colorize", "fit", "evaluate", "models"))
    for module in ("deepcolor.apply", "deepcolor.evaluate", "deepcolor.fit"):
        assert "usage: python -m " + module in run(module, "--help")
    listing = run("deepcolor", "models")
    assert "\ncheng\n" in "\n" + listing and "\nglobal-prior\n" in listing and "MB)" in listing
