"""Split manifests: the shipped protocol never mixes splits, and a user's folder splits deterministically."""

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ROOT / "data" / "splits"


def _prepare():
    spec = importlib.util.spec_from_file_location("prepare", ROOT / "data" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _names(manifest):
    return {Path(line).name for line in (SPLITS / manifest).read_text().split()}


def test_shipped_manifests_are_disjoint():
    """No image is in two of train / select / camvid_test / bsds500_val, and the counts match the protocol."""
    sets = {m: _names(m) for m in ("train.txt", "select.txt", "camvid_test.txt", "bsds500_val.txt")}
    assert {m: len(s) for m, s in sets.items()} == {"train.txt": 549, "select.txt": 119, "camvid_test.txt": 233, "bsds500_val.txt": 100}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], (a, b)


def test_folder_split_is_stable_and_skips_bad_files(tmp_path, capsys):
    """Own-folder splits depend on file names only; gray and corrupt files are skipped and reported."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = data.coffee()[::8, ::8]
    for i in range(30):
        Image.fromarray(np.roll(rgb, i, axis=1)).save(photos / f"p{i:02d}.jpg")
    Image.fromarray(data.camera()[::8, ::8]).save(photos / "gray.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    prepare = _prepare()
    assert prepare.main(["folder", str(photos), "--out", str(tmp_path / "a"), "--val", "0.2", "--test", "0.2"]) == 0
    err = capsys.readouterr().err
    assert "gray.png" in err and "broken.jpg" in err
    splits = {s: (tmp_path / "a" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert sum(len(v) for v in splits.values()) == 30 and all(splits.values())
    # More photos later never move an old one to another split.
    Image.fromarray(rgb).save(photos / "new.jpg")
    prepare.main(["folder", str(photos), "--out", str(tmp_path / "b"), "--val", "0.2", "--test", "0.2"])
    for s, lines in splits.items():
        assert set(lines) <= set((tmp_path / "b" / f"{s}.txt").read_text().split())
