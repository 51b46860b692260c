"""Prepare split manifests: for the shared datasets, or for a user's own folder of colour photos.

A manifest is a text file with one image path per line, relative to the
manifest's own folder; ``python -m deepcolor.fit --images`` and
``python -m deepcolor.evaluate --images`` take manifests as well as folders.

    python data/prepare.py shared [--root ../shared/data] [--out data/splits]
    python data/prepare.py folder PHOTOS --out PHOTOS_SPLITS [--val 0.1] [--test 0.1]

The shared protocol (v2):

- train: CamVid ``train`` + ``val`` less the whole sequence 0006R0, BSDS500
  ``train`` less a held-out tenth, and about 80% of each ``photos/`` folder
  (``intel6/`` included) and of the MSRC-21 photos;
- select: CamVid 0006R0 (a sequence the colorizer never trains on, as
  Seq05VD in the report set is), the BSDS500 hold-out, about 10% of each
  ``photos/`` folder and of MSRC-21;
- report: CamVid ``test``, BSDS500 ``val`` and about 10% of each ``photos/``
  folder and of MSRC-21, in ``photos_test.txt`` (never trained or selected on).

Photos, MSRC-21 and the BSDS500 hold-out are split by a hash of the file name,
bucket by bucket within each folder (so each folder keeps its proportions), and
adding photos never moves an old one to another split: the folders added later
(``intel6/``, MSRC-21) only add lines, every older line stays in its manifest.
The same hash gives the MSRC-21 hold-out of the scene FCN (`msrc_split`). ``train_v1.txt`` and
``select_v1.txt`` keep the first protocol (CamVid ``val`` for selection, no
photos) that the v1 shipped model was trained with.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

# BSDS500 has no selection split of its own beside the `val` we report on, so
# this many `train` images (picked by name hash) are held out for selection.
BSDS_SELECT_FRACTION = 0.1
# CamVid's `val` is sequence 0016E5, also in `train`: selecting on it rewards
# memorising a sequence. 0006R0 (101 train frames) is held out whole instead.
CAMVID_SELECT_SEQUENCE = "0006R0"
# photos/: name-hash buckets [0, 0.1) report, [0.1, 0.2) select, the rest train.
PHOTOS_REPORT_FRACTION = 0.1
PHOTOS_SELECT_FRACTION = 0.1
PHOTOS_FOLDERS = ("imagenet_sample", "imagenet_det", "sun8", "intel6")
MSRC_IMAGES = Path("msrc21") / "images"  # relative to the shared data root; split like a photos/ folder


def _bucket(name: str) -> float:
    """A stable number in [0, 1) from a file name."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "little") / 2**64


def _write_manifest(path: Path, images: list[Path]) -> None:
    from deepcolor.io.write import atomic_write_bytes

    lines = [os.path.relpath(p, path.parent.resolve()) for p in images]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    print(f"{path}: {len(images)} images")


def _read_list(root: Path, dataset: str, split: str) -> list[str]:
    listing = root / dataset / f"{split}.txt"
    if not listing.is_file():
        raise SystemExit(f"prepare: error: {listing} not found (is --root the shared data folder?)")
    return [s.strip() for s in listing.read_text().splitlines() if s.strip()]


def photo_split(name: str) -> str:
    """The split of a ``photos/`` file: ``"report"``, ``"select"`` or ``"train"``, from its name alone."""
    b = _bucket(name)
    if b < PHOTOS_REPORT_FRACTION:
        return "report"
    return "select" if b < PHOTOS_REPORT_FRACTION + PHOTOS_SELECT_FRACTION else "train"


def msrc_split(name: str) -> str:
    """The split of an MSRC-21 photo (``"report"`` is the scene FCN's hold-out): the photos' name hash."""
    return photo_split(name)


def _photos(root: Path) -> dict[str, list[Path]]:
    parts: dict[str, list[Path]] = {"train": [], "select": [], "report": []}
    photos = root / "photos"
    if not photos.is_dir():
        raise SystemExit(f"prepare: error: {photos} not found (is --root the shared data folder?)")
    for folder in [photos / f for f in PHOTOS_FOLDERS] + [root / MSRC_IMAGES]:
        for path in sorted(folder.rglob("*.jpg")):
            parts[photo_split(path.name)].append(path)
    return parts


def prepare_shared(root: Path, out: Path) -> None:
    camvid = lambda split: [root / "camvid" / "images" / split / f"{s}.jpg" for s in _read_list(root, "camvid", split)]  # noqa: E731
    bsds = lambda split: [root / "bsds500" / "images" / split / f"{s}.jpg" for s in _read_list(root, "bsds500", split)]  # noqa: E731
    bsds_train = bsds("train")
    bsds_select = [p for p in bsds_train if _bucket(p.stem) < BSDS_SELECT_FRACTION]
    bsds_fit = [p for p in bsds_train if p not in bsds_select]
    camvid_all = camvid("train") + camvid("val")
    camvid_select = [p for p in camvid_all if p.name.startswith(CAMVID_SELECT_SEQUENCE)]
    camvid_fit = [p for p in camvid_all if p not in camvid_select]
    photos = _photos(root)
    _write_manifest(out / "train.txt", camvid_fit + bsds_fit + photos["train"])
    _write_manifest(out / "select.txt", camvid_select + bsds_select + photos["select"])
    _write_manifest(out / "camvid_test.txt", camvid("test"))
    _write_manifest(out / "bsds500_val.txt", bsds("val"))
    _write_manifest(out / "photos_test.txt", photos["report"])
    # The first protocol, kept so the v1 model's training command still reproduces it.
    _write_manifest(out / "train_v1.txt", camvid("train") + bsds_fit)
    _write_manifest(out / "select_v1.txt", camvid("val") + bsds_select)


def prepare_folder(folder: Path, out: Path, val: float, test: float) -> int:
    from deepcolor.io import ImageReadError, list_images, read_image

    if not folder.is_dir():
        raise SystemExit(f"prepare: error: {folder} is not a folder")
    splits: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    skipped: list[str] = []
    for path in list_images([folder], recursive=True):
        try:
            image = read_image(path)
        except ImageReadError as exc:
            skipped.append(str(exc))
            continue
        if image.is_gray:
            skipped.append(f"{path}: gray image, cannot teach colour")
            continue
        b = _bucket(path.name)
        splits["test" if b < test else "val" if b < test + val else "train"].append(path.resolve())
    for name, images in splits.items():
        _write_manifest(out / f"{name}.txt", images)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python data/prepare.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("shared", help="manifests of the shared CamVid + BSDS500 + photos protocol")
    s.add_argument("--root", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    s.add_argument("--out", default=str(Path(__file__).resolve().parent / "splits"))
    f = sub.add_parser("folder", help="train/val/test manifests of your own folder of colour photos")
    f.add_argument("folder")
    f.add_argument("--out", required=True)
    f.add_argument("--val", type=float, default=0.1)
    f.add_argument("--test", type=float, default=0.1)
    args = parser.parse_args(argv)
    if args.what == "shared":
        prepare_shared(Path(args.root), Path(args.out))
        return 0
    if not (0 <= args.val < 1 and 0 <= args.test < 1 and args.val + args.test < 1):
        raise SystemExit("prepare: error: --val and --test must be fractions that sum to less than 1")
    return prepare_folder(Path(args.folder), Path(args.out), args.val, args.test)


if __name__ == "__main__":
    sys.exit(main())
