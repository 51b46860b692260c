"""Batch naming: the output file of every input of a batch (`output_paths`), collision-free and stable."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from deepcolor.errors import InputError
from deepcolor.io.common import SUPPORTED_EXTENSIONS
from deepcolor.io.video import is_video_path

__all__ = ["output_paths"]


def _normalize_ext(ext: str) -> str:
    ext = ext if ext.startswith(".") else f".{ext}"
    if ext.lower() not in SUPPORTED_EXTENSIONS:
        raise InputError(f"ext must be one of {sorted(SUPPORTED_EXTENSIONS)}, got {ext!r}")
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
        Output format extension (``"png"`` or ``".png"``) of every image; default:
        keep each input's extension. A video keeps its own.
    suffix : str, keyword-only
        Appended to every stem, e.g. ``"_color"``; must not contain a path separator.

    Returns
    -------
    list of Path
    """

    ext = _normalize_ext(ext) if ext is not None else None
    if not isinstance(suffix, str) or "/" in suffix or os.sep in suffix or "\0" in suffix:
        raise InputError(f"suffix must be a string without path separators, got {suffix!r}")
    srcs = [Path(os.fspath(p)) for p in inputs]
    absolute = [Path(os.path.abspath(p)) for p in srcs]
    _refuse_duplicates(srcs, absolute)
    videos = [is_video_path(p) for p in srcs]  # --format is an image format: a video keeps its container

    def name(i: int, tag: str) -> str:
        tag = f"_{tag}" if tag else ""
        return f"{srcs[i].stem}{tag}{suffix}{ext if ext is not None and not videos[i] else srcs[i].suffix}"

    names = _distinct_names(name, srcs, absolute)
    return [Path(os.fspath(out_dir)) / n for n in names]


def _refuse_duplicates(srcs: list[Path], absolute: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for src, ab in zip(srcs, absolute):
        key = os.path.realpath(ab)
        if key in seen:
            raise InputError(f"input listed twice: {seen[key]} and {src}")
        seen[key] = src


def _tag_levels(src: Path, ab: Path) -> list[str]:
    """The tags of `output_paths`' steps 1-4, in order: extension, folders, folders and extension, ..."""
    source_ext = src.suffix.lstrip(".").lower()
    parents = [p.name for p in ab.parents if p.name]
    levels = [source_ext]
    for depth in range(1, len(parents) + 1):
        folders = "_".join(reversed(parents[:depth]))
        levels.append(folders)
        levels.append(f"{folders}_{source_ext}")
    return levels


def _hash_tag(ab: Path) -> str:
    return hashlib.sha1(os.fsencode(os.path.realpath(ab))).hexdigest()[:8]


def _distinct_names(name, srcs: list[Path], absolute: list[Path]) -> list[str]:
    """One name per input (``name(i, tag)`` builds them): plain, else the first tag level that tells a group apart, else the hash."""
    names = [name(i, "") for i in range(len(srcs))]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        groups[n.casefold()].append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        levels = [_tag_levels(srcs[i], absolute[i]) for i in members]
        for level in range(min(len(lv) for lv in levels)):
            candidate = [name(i, lv[level]) for i, lv in zip(members, levels)]
            if len({c.casefold() for c in candidate}) == len(candidate):
                break
        else:
            candidate = [name(i, _hash_tag(absolute[i])) for i in members]
        for i, c in zip(members, candidate):
            names[i] = c
    counts: dict[str, int] = defaultdict(int)
    for n in names:
        counts[n.casefold()] += 1
    for i, n in enumerate(names):  # a tagged name that meets another name of the batch falls back to the hash
        if counts[n.casefold()] > 1 and n != name(i, ""):
            names[i] = name(i, _hash_tag(absolute[i]))
    if len({n.casefold() for n in names}) != len(names):  # only a name that looks like a hash tag can get here
        raise InputError("cannot find distinct output names for this batch; rename the clashing inputs")
    return names


# --------------------------------------------------------------------------- command-line inputs
