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


def _lines(manifest):
    return (SPLITS / manifest).read_text().split()


def test_shipped_manifests_are_disjoint():
    """No image is in two of train / select / the report sets, and the counts match the protocol.

    Compared by path: names alone collide across sources (intel6's forest/23084.jpg is not BSDS500's 23084.jpg).
    """
    sets = {m: set(_lines(m)) for m in ("train.txt", "select.txt", "camvid_test.txt", "bsds500_val.txt", "photos_test.txt")}
    assert {m: len(s) for m, s in sets.items()} == {
        "train.txt": 5928,
        "select.txt": 777,
        "camvid_test.txt": 233,
        "bsds500_val.txt": 100,
        "photos_test.txt": 672,
    }
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], (a, b)
    # v1 (the shipped v1 model's protocol) is disjoint from every report set too.
    for v1 in ("train_v1.txt", "select_v1.txt"):
        for report in ("camvid_test.txt", "bsds500_val.txt", "photos_test.txt"):
            assert not set(_lines(v1)) & sets[report], (v1, report)


def test_camvid_selection_is_a_sequence_never_trained_on():
    """The selection split's CamVid frames are one whole sequence that train does not hold."""
    select = {Path(p).name[:6] for p in _lines("select.txt") if "/camvid/" in p}
    train = {Path(p).name[:6] for p in _lines("train.txt") if "/camvid/" in p}
    assert select == {"0006R0"} and not select & train
    assert train == {"0001TP", "0016E5"}


def test_photos_split_by_folder_and_name_hash():
    """Each photos/ folder lands about 80/10/10 in train/select/report, decided by the name alone."""
    prepare = _prepare()
    for manifest, part in (("train.txt", "train"), ("select.txt", "select"), ("photos_test.txt", "report")):
        photos = [Path(p) for p in _lines(manifest) if "/photos/" in p]
        assert photos and all(prepare.photo_split(p.name) == part for p in photos)
    total = {"train": 0, "select": 0, "report": 0}
    for folder in prepare.PHOTOS_FOLDERS:
        counts = {m: sum(f"/photos/{folder}/" in p for p in _lines(m)) for m in ("train.txt", "select.txt", "photos_test.txt")}
        n = sum(counts.values())
        assert 0.74 < counts["train.txt"] / n < 0.86, (folder, counts)
        assert 0.05 < counts["photos_test.txt"] / n < 0.15, (folder, counts)
        total["train"] += counts["train.txt"]
    assert total["train"] == 2880 + 2059  # intel6 added 2059


def test_msrc_photos_split_by_name_hash():
    """The MSRC-21 photos are in train / select / photos_test by the same name hash (msrc_split), about 80/10/10."""
    prepare = _prepare()
    counts = {}
    for manifest, part in (("train.txt", "train"), ("select.txt", "select"), ("photos_test.txt", "report")):
        msrc = [Path(p) for p in _lines(manifest) if "/msrc21/images/" in p]
        assert msrc and all(prepare.msrc_split(p.name) == part for p in msrc)
        counts[part] = len(msrc)
    assert counts == {"train": 440, "select": 47, "report": 55}


# Line count and sha1 (first 16 hex digits) of the sorted lines of each manifest before intel6/ and
# MSRC-21 were added: `grep -v -e /intel6/ -e /msrc21/ M | sort | sha1sum`.
MANIFESTS_BEFORE_INTEL6_MSRC = {
    "bsds500_val.txt": (100, "9ac315d1142238ff"),
    "camvid_test.txt": (233, "ca35e457ac0584c7"),
    "photos_test.txt": (354, "ccafd0d00cb306df"),
    "select.txt": (472, "95d57b876021a10d"),
    "select_v1.txt": (119, "b0636d3b52042ff1"),
    "train.txt": (3429, "5875707bdf0e6e16"),
    "train_v1.txt": (549, "ca67233446555fb5"),
}


def test_adding_intel6_and_msrc_kept_every_old_entry_in_its_manifest():
    """Less the added folders, each manifest holds exactly the lines it held before they were added."""
    import hashlib

    for manifest, (count, digest) in MANIFESTS_BEFORE_INTEL6_MSRC.items():
        old = sorted(line for line in (SPLITS / manifest).read_text().splitlines() if "/intel6/" not in line and "/msrc21/" not in line)
        assert len(old) == count, manifest
        assert hashlib.sha1(("\n".join(old) + "\n").encode()).hexdigest()[:16] == digest, manifest


def test_regenerating_gives_the_committed_manifests(tmp_path):
    """prepare.py shared on the shared data writes byte-identical manifests (skipped without ../shared)."""
    import pytest

    root = ROOT.parent / "shared" / "data"
    if not (root / "msrc21").is_dir() or not (root / "photos" / "intel6").is_dir():
        pytest.skip(f"needs the shared datasets at {root}")
    out = SPLITS  # relative paths depend on the folder depth: write beside, compare, remove
    prepare = _prepare()
    tmp_out = out.parent / "splits_check.work"
    try:
        prepare.prepare_shared(root, tmp_out)
        for manifest in MANIFESTS_BEFORE_INTEL6_MSRC:
            assert (tmp_out / manifest).read_text() == (out / manifest).read_text(), manifest
    finally:
        import shutil

        shutil.rmtree(tmp_out, ignore_errors=True)


def test_photo_split_is_stable_under_added_files():
    """A file's split depends only on its own name: new names never move old ones."""
    prepare = _prepare()
    names = [f"img_{i}.jpg" for i in range(2000)]
    before = {n: prepare.photo_split(n) for n in names}
    after = {n: prepare.photo_split(n) for n in names + [f"new_{i}.jpg" for i in range(500)]}
    assert all(after[n] == before[n] for n in names)
    shares = {part: sum(v == part for v in before.values()) / len(names) for part in ("train", "select", "report")}
    assert 0.77 < shares["train"] < 0.83 and 0.08 < shares["select"] < 0.12 and 0.08 < shares["report"] < 0.12


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
