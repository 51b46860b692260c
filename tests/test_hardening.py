"""Hostile-input defects (issues 9 and 20), one test each, on small real photographs."""

import hashlib
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

import deepcolor
from deepcolor.apply import main as apply_main
from deepcolor.evaluate import main as evaluate_main
from deepcolor.fit import main as fit_main
from deepcolor.pipeline import colorize_luma, load_model


def _digest(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _gray(path, rgb):
    Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L"))).save(path)
    return path


@pytest.fixture()
def photo(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return _gray(folder / "c.jpg", data.coffee()[::6, ::6])


def _run(main, argv, capsys):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        status = exc.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.err


def test_issue9_1_save_semantic_never_overwrites(photo, tmp_path, capsys):
    """--save-semantic writes over no input and no existing map; same-named inputs keep every output."""
    out = tmp_path / "o"
    out.mkdir()
    other = _gray(out / "c.semantic.png", data.chelsea()[::6, ::6])  # an input that lives where c.jpg's map would go
    before = _digest(other)
    _run(apply_main, [photo, other, "-o", out, "--save-semantic", "-q"], capsys)
    assert _digest(other) == before
    precious = tmp_path / "precious.semantic.png"
    precious.write_bytes(b"keep me")
    status, err = _run(apply_main, [photo, "-o", tmp_path / "precious.jpg", "--save-semantic", "-q"], capsys)
    assert precious.read_bytes() == b"keep me" and status == 1 and "exists" in err
    folder = tmp_path / "pair"
    folder.mkdir()
    _gray(folder / "a.jpg", data.coffee()[::6, ::6])
    _gray(folder / "a.semantic.png", data.chelsea()[::6, ::6])
    status, _ = _run(apply_main, [folder, "-o", tmp_path / "pair_out", "--save-semantic", "-q"], capsys)
    assert status == 0 and len([n for n in os.listdir(tmp_path / "pair_out") if not n.startswith(".deepcolor-journal") and not n.endswith(".json")]) == 4  # 2 images + 2 maps (+ their legends), none lost


def test_issue9_2_symlink_loop_is_one_failure(photo, capsys):
    """A symlink loop in a folder is listed as a failure; the rest of the batch runs (apply and evaluate)."""
    folder = photo.parent
    os.symlink("loopB.jpg", folder / "loopA.jpg")
    os.symlink("loopA.jpg", folder / "loopB.jpg")
    status, err = _run(apply_main, [folder, "-q"], capsys)
    assert status == 1 and (folder / "c_colorized.jpg").is_file()
    assert err.count("symbolic link loop") == 2
    Image.fromarray(data.coffee()[::6, ::6]).save(folder / "colour.jpg")
    status, err = _run(evaluate_main, ["--images", folder, "-q"], capsys)
    assert status == 1 and "symbolic link loop" in err


def test_issue9_3_tiled_equals_untiled():
    """Tiles with halos give the whole-image chroma within 1e-3 (measured: 5e-5) and the same cluster."""
    model = load_model("cheng")
    gray = np.asarray(Image.fromarray(data.astronaut()).convert("L"), np.float32)[::2, ::2] / 255.0  # 256 x 256
    whole = colorize_luma(gray, model)
    tiled = colorize_luma(gray, model, tile=96)
    assert tiled.info == whole.info
    assert np.abs(tiled.chroma - whole.chroma).max() < 1e-3
    assert np.abs(np.floor(tiled.rgb() * 255 + 0.5) - np.floor(whole.rgb() * 255 + 0.5)).max() <= 1


def test_issue9_3_api_pixel_limit():
    """colorize refuses an image over max_pixels (default 100 million) before any work, and says how to raise it."""
    huge = np.broadcast_to(np.uint8(128), (20000, 20000))  # no memory behind it
    with pytest.raises(ValueError, match="max_pixels"):
        deepcolor.colorize(huge)
    with pytest.raises(ValueError, match="max_pixels"):
        deepcolor.colorize(np.zeros((40, 40), np.uint8), max_pixels=1000)
    assert deepcolor.colorize(np.full((40, 40), 90, np.uint8), max_pixels=1600).shape == (40, 40, 3)


def test_issue9_4_names_are_escaped(tmp_path, capsys):
    """Escape codes and newlines in file names reach the terminal escaped, one line per failed file."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "evil\033[2J.jpg").write_bytes(b"junk")
    (folder / "new\nline.jpg").write_bytes(b"junk")
    status, err = _run(apply_main, [folder, "-q"], capsys)
    assert status == 1 and "\033" not in err
    assert len([line for line in err.splitlines() if line.startswith("  ")]) == 2


def test_issue9_5_bad_arguments_fail_before_work(photo, tmp_path, capsys):
    """Bad paths and numbers are one-line usage errors (exit 2) before any image is touched."""
    cases = [
        (fit_main, ["--images", photo.parent, "--out", tmp_path]),
        (evaluate_main, ["--images", photo.parent, "--csv", tmp_path]),
        (evaluate_main, ["--images", photo.parent, "--limit", "-1"]),
        (apply_main, [photo.parent, "-o", tmp_path / "typo" / "deep" / "out"]),
        (apply_main, [photo, "--max-pixels", "-5"]),
        (apply_main, [photo, "--max-pixels", "0"]),
    ]
    for main, argv in cases:
        status, err = _run(main, argv, capsys)
        assert status == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert sorted(os.listdir(photo.parent)) == ["c.jpg"] and not (tmp_path / "typo").exists()


def test_issue9_6_missing_manifest_entries_are_skipped(tmp_path, capsys):
    """fit skips and lists a missing file a manifest names (as evaluate does); --csv makes no folders."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, img in enumerate([data.coffee(), data.chelsea(), data.astronaut()]):
        Image.fromarray(img[::8, ::8]).save(folder / f"p{i}.jpg")
    manifest = tmp_path / "train.txt"
    manifest.write_text("photos/p0.jpg\nphotos/p1.jpg\nphotos/gone.jpg\nphotos/p2.jpg\n")
    out = tmp_path / "m.safetensors"
    status, err = _run(fit_main, ["--images", manifest, "--out", out, "--no-semantic", "--no-clusters", "--epochs", "1",
                                  "--samples-per-image", "50", "--no-calibrate", "-q"], capsys)
    assert status == 1 and out.is_file() and "gone.jpg" in err
    status, err = _run(evaluate_main, ["--images", folder, "--csv", tmp_path / "a" / "b" / "x.csv", "-q"], capsys)
    assert status == 2 and not (tmp_path / "a").exists()


def test_issue9_7_saturation_must_be_finite(photo, capsys):
    """--saturation inf/nan is a usage error without numpy warnings; the API raises ValueError."""
    for value in ("inf", "nan", "-1"):
        status, err = _run(apply_main, [photo, "--saturation", value], capsys)
        assert status == 2 and "--saturation" in err and "Warning" not in err
    for value in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="saturation"):
            deepcolor.colorize(np.zeros((16, 16), np.uint8), saturation=value)


def test_issue9_9_smaller_cases(photo, tmp_path, capsys):
    """-o with a non-image extension, a FIFO, a photo named *_colorized, a Latin-1 manifest, a stale temp file."""
    for name in ("out.gif", "result.txt"):
        status, err = _run(apply_main, [photo, "-o", tmp_path / name], capsys)
        assert status == 2 and name in err and not (tmp_path / name).exists()
    os.mkfifo(photo.parent / "pipe.jpg")
    status, err = _run(apply_main, [photo.parent / "pipe.jpg", "-q"], capsys)
    assert "not a regular file" in err and "no such file" not in err
    own = _gray(photo.parent / "holiday_colorized.jpg", data.chelsea()[::6, ::6])
    stale = photo.parent / ".c_colorized.0123abcd.tmp.jpg"
    stale.write_bytes(b"left by kill -9")
    _run(apply_main, [photo.parent, "-q"], capsys)
    assert (photo.parent / "holiday_colorized_colorized.jpg").is_file() and own.is_file()
    assert stale.exists()  # no claim recorded it: it may be the user's, so it stays
    manifest = tmp_path / "latin1.txt"
    manifest.write_bytes(b"caf\xe9.jpg\n")
    status, err = _run(evaluate_main, ["--images", manifest], capsys)
    assert status == 2 and "latin1.txt" in err


# --------------------------------------------------------------------------- second round


def test_saturation_is_bounded_in_the_cli_and_the_api(photo, tmp_path, capsys):
    """--saturation 1e39 (finite, beyond float32) is a one-line usage error, no warnings; colorize() refuses it too."""
    out = tmp_path / "o.png"
    for value in ("1e39", "10.5"):
        status, err = _run(apply_main, [photo, "-o", out, "--saturation", value], capsys)
        assert status == 2 and "--saturation" in err and "Warning" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    for value in (1e39, 10.5, -0.1):
        with pytest.raises(ValueError, match="saturation"):
            deepcolor.colorize(np.full((16, 16), 90, np.uint8), saturation=value)
    assert deepcolor.colorize(np.full((16, 16), 90, np.uint8), saturation=10).shape == (16, 16, 3)


class _NaNChroma:
    """A model whose chroma is NaN: what an overflowing gain or broken weights give."""

    name = kind = "broken"

    def predict_chroma(self, luma, **options):
        from deepcolor.pipeline import ChromaPrediction

        return ChromaPrediction(np.full(luma.shape + (2,), np.nan, np.float32), {}, {})


def test_an_output_that_lost_the_luma_is_not_written(photo, tmp_path):
    """The last check before encoding: a result whose luma moved fails the file (one line) and writes nothing."""
    from deepcolor.apply import ApplyOptions, apply_file
    from deepcolor.colorspace import check_luma_kept

    out = tmp_path / "o.png"
    result = apply_file(photo, out, _NaNChroma(), ApplyOptions(refine=False))
    assert result.status == "failed" and "luma" in result.message and not out.exists()
    with pytest.raises(ValueError, match="luma"):
        deepcolor.colorize(np.full((16, 16), 90, np.uint8), model=_NaNChroma(), refine=False)
    luma = np.full((4, 4), 90 / 255, np.float32)
    assert check_luma_kept(luma, np.full((4, 4, 3), 90, np.uint8)).dtype == np.uint8  # gray: exact
    with pytest.raises(ValueError, match="luma"):
        check_luma_kept(luma, np.full((4, 4, 3), 92, np.uint8))


def test_colorize_arguments_are_checked(photo):
    """refine takes bools only; alpha (H, W, 4) is refused, not dropped; a non-model or non-array is a ValueError that says what it got."""
    gray = np.full((16, 16), 90, np.uint8)
    with pytest.raises(ValueError, match="refine must be True or False"):
        deepcolor.colorize(gray, refine="no")
    with pytest.raises(ValueError, match="alpha"):
        deepcolor.colorize(np.zeros((16, 16, 4), np.uint8))
    with pytest.raises(ValueError, match="model must be"):
        deepcolor.colorize(gray, model=42)
    for bad, named in ((None, "NoneType"), ("photo.jpg", "str")):
        with pytest.raises(ValueError, match=named):
            deepcolor.colorize(bad)


def _model_copy(tmp_path, name, change):
    """The shipped colorizer file with ``change(tensors)`` applied, saved under ``name``."""
    from deepcolor.modelfile import default_weights_path, load_model_file, save_model_file

    tensors, config = load_model_file(default_weights_path("colorizer"))
    change(tensors)
    return save_model_file(tmp_path / name, tensors, kind="colorizer", config=config)


def _damaged_with_nan(path, name):
    """``path`` rewritten with a NaN in tensor ``name`` (deepcolor never writes one: a file damaged afterwards)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(path), "numpy") as fh:
        meta = fh.metadata()
    tensors = load_file(str(path))
    tensors[name][(0,) * tensors[name].ndim] = np.nan
    save_file(tensors, str(path), metadata=meta)
    return path


def test_model_file_messages_say_what_is_wrong(photo, tmp_path, capsys):
    """A folder, a missing tensor, the FCN file, NaN weights: one line each that says what the file is, at load."""
    from deepcolor.modelfile import ModelFileError, default_weights_path

    (tmp_path / "folder.safetensors").mkdir()
    missing = _model_copy(tmp_path, "missing.safetensors", lambda t: t.pop("global.semantic.layers.2.weight"))
    nan = _damaged_with_nan(_model_copy(tmp_path, "nan.safetensors", lambda t: None), "global.semantic.layers.0.weight")
    cases = [
        (tmp_path / "folder.safetensors", "is a folder"),
        (missing, "layers.2.weight"),
        (default_weights_path("fcn"), "semantic FCN"),
        (nan, "NaN"),
    ]
    for model, expected in cases:
        with pytest.raises((ModelFileError, ValueError)) as err:
            load_model(model)
        assert expected in str(err.value) and not str(err.value).endswith(":"), str(err.value)
        status, err_text = _run(apply_main, [photo, "-o", tmp_path / "o.png", "--model", model, "-q"], capsys)
        assert status == 2 and expected in err_text and len(err_text.strip().splitlines()) == 1, err_text
    assert "colorizer" in str(pytest.raises(ValueError, load_model, default_weights_path("fcn")).value)


def test_one_input_into_an_existing_folder_named_like_an_image(photo, tmp_path, capsys):
    """-o result.jpg, an existing folder: the output goes into it (it is not 'several inputs')."""
    folder = tmp_path / "result.jpg"
    folder.mkdir()
    status, err = _run(apply_main, [photo, "-o", folder, "-q"], capsys)
    assert status == 0, err
    assert (folder / "c.jpg").is_file()


def test_control_characters_in_argument_paths_are_escaped(photo, tmp_path, capsys):
    """-o and --model paths with escape codes or newlines reach the terminal escaped, on one line."""
    status, err = _run(apply_main, [photo, "--model", tmp_path / "evil\033[2J\nmodel.safetensors", "-q"], capsys)
    assert status == 2 and "\033" not in err and len(err.strip().splitlines()) == 1 and "model.safetensors" in err
    status, err = _run(apply_main, [photo, "-o", tmp_path / "no\033[31m" / "x\ny.jpg", "-q"], capsys)
    assert status == 2 and "\033" not in err and len(err.strip().splitlines()) == 1, err


def test_nothing_is_skipped_or_left_silently(photo, tmp_path, capsys, caplog, monkeypatch):
    """Sub-folders not searched are said; --save-semantic without a label map is refused; refused runs leave no folder."""
    import logging
    import sys

    folder = tmp_path / "album"
    (folder / "2019").mkdir(parents=True)
    _gray(folder / "2019" / "a.jpg", data.coffee()[::6, ::6])
    status, err = _run(apply_main, [folder, "-q"], capsys)
    assert status == 2 and "only sub-folders" in err and "--recursive" in err
    from deepcolor.io import find_inputs

    with caplog.at_level(logging.INFO, logger="deepcolor.io"):
        find_inputs([photo.parent, folder])
    assert "1 sub-folder(s) not searched" in caplog.text
    out = tmp_path / "gp"
    status, err = _run(apply_main, [photo, "-o", out, "--method", "global-prior", "--save-semantic", "-q"], capsys)
    assert status == 2 and "label map" in err and not out.exists()
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the 'distributed' extra were not installed
    out = tmp_path / "dist"
    status, err = _run(apply_main, [photo.parent, "-o", out, "--workers", "2", "-q"], capsys)
    assert status == 2 and "distributed" in err and not out.exists()


def test_a_large_image_shows_progress_per_tile(tmp_path, capsys):
    """An image above the tile size gets a bar of its tiles (minutes for 10000^2 would otherwise show nothing); -q shows none."""
    from deepcolor.apply import ApplyOptions, apply_file

    src = tmp_path / "large.png"
    Image.fromarray(np.asarray(Image.fromarray(data.camera()).resize((1300, 1100)))).save(src)
    result = apply_file(src, tmp_path / "o.png", load_model("cheng"), ApplyOptions(refine=False, tile_progress=True))
    assert result.status == "colorized"
    err = capsys.readouterr().err
    assert "tiles" in err and "4/4" in err, err
    result = apply_file(src, tmp_path / "q.png", load_model("cheng"), ApplyOptions(refine=False))
    assert "tiles" not in capsys.readouterr().err


def test_help_says_what_o_makes(capsys):
    """-o without an image extension makes a folder: --help says so."""
    assert apply_main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "without an image extension is made as a folder" in text
