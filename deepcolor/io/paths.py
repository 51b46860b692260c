"""The one way to list inputs and name outputs.

Batch naming (`output_paths`)
    See its docstring: deterministic, independent of processing order, and
    collision-free for same stems with different extensions and for same
    names in different folders.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path


from deepcolor.io.common import SUPPORTED_EXTENSIONS, ImageReadError, ImageWriteError, _one_line, _reason, is_image_path

logger = logging.getLogger("deepcolor.io")


def list_images(paths: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Image files named by ``paths``: files as given, folders expanded.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        Files and folders. A file is kept when `is_image_path` says so (else
        skipped with a logged warning); a folder contributes its files with
        supported extensions, hidden entries (name starting with ``"."``,
        e.g. temporary files and macOS ``._*`` resource forks) skipped.
    recursive : bool, keyword-only
        Descend into sub-folders (symbolic links to folders are not followed).

    Returns
    -------
    list of Path
        Sorted by path string, each file once (duplicates by resolved path
        removed, the first spelling kept).

    Raises
    ------
    ImageReadError
        A given path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        logger.warning("%s: folder skipped (%s)", _one_line(str(exc.filename)), _reason(exc))

    for raw in paths:
        p = Path(os.fspath(raw))
        if p.is_dir():
            if recursive:
                for root, dirs, files in os.walk(p, onerror=unreadable):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    found.extend(Path(root) / f for f in files if not f.startswith(".") and is_image_path(f))
            else:
                try:
                    entries = list(p.iterdir())
                except OSError as exc:
                    raise ImageReadError(p, f"cannot list folder ({_reason(exc)})") from None
                found.extend(c for c in entries if not c.name.startswith(".") and is_image_path(c))
        elif p.exists():
            if is_image_path(p):
                found.append(p)
            else:
                logger.warning("%s: skipped, not a supported image extension", _one_line(str(p)))
        else:
            raise ImageReadError(p, "no such file or folder")
    result: list[Path] = []
    seen: set[Path] = set()
    for p in sorted(found, key=str):
        key = p.resolve()
        if key not in seen and p.is_file():
            seen.add(key)
            result.append(p)
    return result


# --------------------------------------------------------------------------- writing



def ensure_not_input(out_path: str | os.PathLike, input_paths: Iterable[str | os.PathLike]) -> None:
    """Raise `ImageWriteError` when ``out_path`` is the same file as any input.

    Existing files are compared with `os.path.samefile` (catches symbolic and
    hard links, ``..`` and case-insensitive file systems); otherwise resolved
    paths are compared.
    """
    out = Path(os.fspath(out_path))
    out_resolved = out.resolve()
    for raw in input_paths:
        inp = Path(os.fspath(raw))
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # one of them does not exist (yet)
            same = out_resolved == inp.resolve()
        if same:
            raise ImageWriteError(out, f"is the input file {inp}; refusing to overwrite an input")


# --------------------------------------------------------------------------- batch naming


def _normalize_ext(ext: str) -> str:
    ext = ext if ext.startswith(".") else f".{ext}"
    if ext.lower() not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"ext must be one of {sorted(SUPPORTED_EXTENSIONS)}, got {ext!r}")
    return ext.lower()


def output_paths(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    ext: str | None = None,
    suffix: str = "",
) -> list[Path]:
    """Collision-free output paths for a batch, one per input, in input order.

    The name of ``dir/a.jpg`` is ``out_dir/a<suffix>.jpg``, or
    ``out_dir/a<suffix><ext>`` when ``ext`` forces a format. Names are
    compared case-insensitively (safe on Windows/macOS volumes). When several
    inputs get the same name, ALL of them get a tag between stem and suffix:
    the first of these that tells the group apart is used,

    1. the source extension: ``a_jpg.png``, ``a_png.png``;
    2. the parent folder: ``a_dir1.jpg``, ``a_dir2.jpg``;
    3. parent folder and source extension: ``a_dir1_jpg.png``;
    4. more parent folders, nearest last: ``a_x_scans.jpg``, ``a_y_scans.jpg``;
    5. a hash of the absolute input path: ``a_3f09c2d1.jpg``.

    A tagged name that still clashes with another name of the batch falls
    back to the hash. The result depends only on the set of inputs, never on
    their order.

    Parameters
    ----------
    inputs : sequence of path-like
        Input files, each listed once (same resolved path twice is an error).
    out_dir : path-like
        Output folder.
    ext : str, optional, keyword-only
        Output format extension (``"png"`` or ``".png"``); default: keep each
        input's extension.
    suffix : str, keyword-only
        Appended to every stem, e.g. ``"_color"``; must not contain a path separator.

    Returns
    -------
    list of Path
    """
    import hashlib

    if ext is not None:
        ext = _normalize_ext(ext)
    if not isinstance(suffix, str) or "/" in suffix or os.sep in suffix or "\0" in suffix:
        raise ValueError(f"suffix must be a string without path separators, got {suffix!r}")
    out_dir = Path(os.fspath(out_dir))
    srcs = [Path(os.fspath(p)) for p in inputs]
    absolute = [Path(os.path.abspath(p)) for p in srcs]
    seen: dict[Path, Path] = {}
    for src, ab in zip(srcs, absolute):
        key = ab.resolve()
        if key in seen:
            raise ValueError(f"input listed twice: {seen[key]} and {src}")
        seen[key] = src

    def out_ext(src: Path) -> str:
        return ext if ext is not None else src.suffix

    def name(src: Path, tag: str) -> str:
        tag = f"_{tag}" if tag else ""
        return f"{src.stem}{tag}{suffix}{out_ext(src)}"

    def tag_levels(src: Path, ab: Path) -> list[str]:
        source_ext = src.suffix.lstrip(".").lower()
        parents = [p.name for p in ab.parents if p.name]
        levels = [source_ext]
        for depth in range(1, len(parents) + 1):
            folders = "_".join(reversed(parents[:depth]))
            levels.append(folders)
            levels.append(f"{folders}_{source_ext}")
        return levels

    def hash_tag(ab: Path) -> str:
        return hashlib.sha1(os.fsencode(str(ab.resolve()))).hexdigest()[:8]

    names = [name(s, "") for s in srcs]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        groups[n.casefold()].append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        levels = [tag_levels(srcs[i], absolute[i]) for i in members]
        depth = min(len(lv) for lv in levels)
        for level in range(depth):
            candidate = [name(srcs[i], lv[level]) for i, lv in zip(members, levels)]
            if len({c.casefold() for c in candidate}) == len(candidate):
                break
        else:
            candidate = [name(srcs[i], hash_tag(absolute[i])) for i in members]
        for i, c in zip(members, candidate):
            names[i] = c
    counts: dict[str, int] = defaultdict(int)
    for n in names:
        counts[n.casefold()] += 1
    tagged = [names[i] != name(srcs[i], "") for i in range(len(names))]
    for i, n in enumerate(names):
        if counts[n.casefold()] > 1 and tagged[i]:
            names[i] = name(srcs[i], hash_tag(absolute[i]))
    if len({n.casefold() for n in names}) != len(names):  # only a name that looks like a hash tag can get here
        raise ValueError("cannot find distinct output names for this batch; rename the clashing inputs")
    return [out_dir / n for n in names]


# --------------------------------------------------------------------------- command-line inputs


def expand_inputs(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Folders, manifest files (``.txt``, one path per line, relative to the manifest) and image files -> image paths.

    What ``fit --images`` and ``evaluate --images`` and the benchmarks read.
    A name that does not exist is an `ImageReadError`.
    """
    paths: list[Path] = []
    for spec in specs:
        p = Path(os.fspath(spec))
        if p.is_file() and p.suffix.lower() == ".txt":
            base = p.parent
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    paths.append(q if q.is_absolute() else base / q)
        elif p.exists():
            paths.extend(list_images([p]))
        else:
            raise ImageReadError(p, "no such file or folder")
    return paths


def collect_inputs(
    specs: Sequence[str | os.PathLike], *, recursive: bool = False, skip_suffix: str | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The inputs of ``apply``: files as given, folders listed; each file once, in order.

    Files inside folders whose stem ends with ``skip_suffix`` (our own earlier
    outputs) are left out. Returns ``(inputs, [(path, reason), ...])`` for
    names that do not exist, so a batch goes past them and lists them.
    """
    failed: list[tuple[Path, str]] = []
    inputs: list[Path] = []
    seen: set[Path] = set()
    for spec in specs:
        p = Path(os.fspath(spec))
        if p.is_dir():
            found = list_images([p], recursive=recursive)
            if skip_suffix:
                found = [q for q in found if not q.stem.endswith(skip_suffix)]
        elif p.is_file() or p.is_symlink():
            found = [p]
        else:
            failed.append((p, "no such file or folder"))
            continue
        for q in found:
            if q.resolve() not in seen:
                seen.add(q.resolve())
                inputs.append(q)
    return inputs, failed


# --------------------------------------------------------------------------- labelled pairs

_PAIR_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def match_pairs(images_dir: str | Path, labels_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Image and label files matched by stem, sorted by stem.

    Parameters
    ----------
    images_dir, labels_dir : path
        ``images_dir/<stem>.{jpg,jpeg,png}`` pairs with ``labels_dir/<stem>.png``.

    Returns
    -------
    image_paths, label_paths : list of Path
        Same length, at least 1.

    Raises
    ------
    ValueError
        A folder is missing or no stem matches.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise ValueError(f"not a folder: {d}")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in _PAIR_IMAGE_SUFFIXES and p.is_file()}
    labels = {p.stem: p for p in sorted(labels_dir.iterdir()) if p.suffix.lower() == ".png" and p.is_file()}
    stems = sorted(set(images) & set(labels))
    if not stems:
        raise ValueError(f"no image in {images_dir} has a label <stem>.png in {labels_dir}")
    unmatched = len(images) - len(stems)
    if unmatched:
        logger.warning("%d images in %s have no label and are skipped", unmatched, images_dir)
    return [images[s] for s in stems], [labels[s] for s in stems]
