"""The one way to list inputs and name outputs.

Batch naming (`output_paths`, in `deepcolor.io.names`)
    See its docstring: deterministic, independent of processing order, and
    collision-free for same stems with different extensions and for same
    names in different folders.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


from deepcolor.errors import InputError
from deepcolor.io.claims import claim_output, claim_path, written_since  # noqa: F401  (re-exported: the per-output claim)
from deepcolor.io.common import ImageReadError, ImageWriteError, error_reason, is_image_path, one_line
from deepcolor.io.names import output_paths

logger = logging.getLogger("deepcolor.io")


def _is_input_path(path: str | os.PathLike, videos: bool) -> bool:
    """An image file name, or with ``videos`` also a video's (`deepcolor.io.video`: apply's batches take both)."""
    if is_image_path(path):
        return True
    from deepcolor.io.video import is_video_path

    return videos and is_video_path(path)


def _entry_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an input file; None for a regular file (directly or through a link)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if isinstance(exc, FileNotFoundError):
            return "broken symbolic link" if os.path.islink(path) else "no such file or folder"
        return f"cannot access ({error_reason(exc)})"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "is a folder"
    kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
    return f"not a regular file ({kind})"


def _folder_entries(folder: Path, recursive: bool, problems: list[tuple[Path, str]], videos: bool = False) -> list[Path]:
    """Image-named, non-hidden entries of a folder (and its sub-folders when recursive; linked folders not followed)."""
    if recursive:
        found: list[Path] = []

        def unreadable(exc: OSError) -> None:
            problems.append((Path(exc.filename), f"cannot list folder ({error_reason(exc)})"))

        for root, dirs, files in os.walk(folder, onerror=unreadable):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(Path(root) / f for f in files if not f.startswith(".") and _is_input_path(f, videos))
        return found
    try:
        names = os.listdir(folder)
    except OSError as exc:
        problems.append((folder, f"cannot list folder ({error_reason(exc)})"))
        return []
    subfolders = _subfolders(folder, names)
    if subfolders:
        logger.info("%s: %d sub-folder(s) not searched (--recursive searches them)", one_line(str(folder)), len(subfolders))
    return [folder / n for n in names if not n.startswith(".") and _is_input_path(n, videos)]


def _subfolders(folder: Path, names: Iterable[str]) -> list[str]:
    """The non-hidden sub-folders among ``names`` (linked ones included: they are what a user sees as folders)."""
    return [n for n in names if not n.startswith(".") and os.path.isdir(folder / n)]


def no_inputs_message(specs: Iterable[str | os.PathLike], *, recursive: bool) -> str:
    """The one line for a run that found no input image, with a hint when sub-folders were not searched."""
    if not recursive:
        for raw in specs:
            folder = Path(os.fspath(raw))
            with contextlib.suppress(OSError):
                if folder.is_dir() and _subfolders(folder, os.listdir(folder)):
                    return f"no input images in {one_line(str(folder))}, only sub-folders; pass --recursive to search them"
    return "no input images"


def find_inputs(
    specs: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = False, videos: bool = False
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files named by files and folders, and the entries that cannot be inputs.

    Parameters
    ----------
    specs : path-like or iterable of path-like
        Files and folders. A folder contributes its entries with a supported
        image extension; hidden entries (``.*``: temp files, claims, macOS
        ``._*`` resource forks) and sub-folders named like images are passed
        over. A given file without an image extension is skipped with a
        logged warning.
    recursive : bool, keyword-only
        Descend into sub-folders (symbolic links to folders are not followed).
    videos : bool, keyword-only
        Video files (`deepcolor.io.video.VIDEO_EXTENSIONS`) are inputs too.

    Returns
    -------
    paths : list of Path
        Regular files (directly or through a working link), sorted by path
        string, each file once by its real path (the first spelling kept).
    problems : list of (Path, str)
        Names that look like inputs but are not readable files, each with a
        one-line reason: missing, a symbolic link loop, a broken link, a FIFO
        or device, a folder that cannot be listed.
    """
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    candidates: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for raw in specs:
        p = Path(os.fspath(raw))
        reason = _entry_problem(p)
        if reason == "is a folder":
            for entry in _folder_entries(p, recursive, problems, videos):
                why = _entry_problem(entry)
                if why is None:
                    candidates.append(entry)
                elif why != "is a folder":
                    problems.append((entry, why))
        elif reason is not None:
            problems.append((p, reason))
        elif _is_input_path(p, videos):
            candidates.append(p)
        else:
            logger.warning("%s: skipped, not a supported image extension", one_line(str(p)))
    paths: list[Path] = []
    seen: set[str] = set()
    for p in sorted(candidates, key=str):
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            paths.append(p)
    return paths, sorted(problems, key=lambda item: str(item[0]))


def list_images(paths: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Image files named by ``paths`` (see `find_inputs`), entries that cannot be read passed over with a warning.

    Raises
    ------
    ImageReadError
        A given path does not exist.
    """
    found, problems = find_inputs(paths, recursive=recursive)
    for path, reason in problems:
        if reason == "no such file or folder":
            raise ImageReadError(path, reason)
        logger.warning("%s: skipped (%s)", one_line(str(path)), reason)
    return found


# --------------------------------------------------------------------------- writing



def ensure_not_input(out_path: str | os.PathLike, input_paths: Iterable[str | os.PathLike]) -> None:
    """Raise `ImageWriteError` when ``out_path`` is the same file as any input.

    Existing files are compared with `os.path.samefile` (catches symbolic and
    hard links, ``..`` and case-insensitive file systems); otherwise resolved
    paths are compared.
    """
    out = Path(os.fspath(out_path))
    out_resolved = os.path.realpath(out)  # realpath, unlike Path.resolve, does not raise on a link loop
    for raw in input_paths:
        inp = Path(os.fspath(raw))
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # one of them does not exist (yet)
            same = out_resolved == os.path.realpath(inp)
        if same:
            raise ImageWriteError(out, f"is the input file {inp}; refusing to overwrite an input")


# --------------------------------------------------------------------------- batch naming


def read_manifest(path: str | os.PathLike) -> list[Path]:
    """The paths a manifest lists: UTF-8 text, one path a line, relative to the manifest's folder, ``#`` comments.

    Raises
    ------
    ValueError
        Naming the manifest, when it cannot be read or is not UTF-8.
    """
    path = Path(os.fspath(path))
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{one_line(str(path))}: manifest is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise InputError(f"{one_line(str(path))}: cannot read manifest ({error_reason(exc)})") from None
    listed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entry = Path(line)
            listed.append(entry if entry.is_absolute() else path.parent / entry)
    return listed


def expand_inputs(specs: Sequence[str | os.PathLike], *, problems: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Folders, manifest files (``.txt``, see `read_manifest`) and image files -> image paths.

    What ``fit --images``, ``evaluate --images`` and the benchmarks read. With
    ``problems`` (a list), names that cannot be inputs (a file a manifest lists
    that is missing, a link loop, a FIFO) are appended to it as ``(path,
    reason)`` and skipped, so a run goes past them and lists them; without it
    the first such name is an `ImageReadError`.
    """
    paths: list[Path] = []

    def note(path: Path, reason: str) -> None:
        if problems is None:
            raise ImageReadError(path, reason)
        problems.append((path, reason))

    for spec in specs:
        p = Path(os.fspath(spec))
        if p.suffix.lower() == ".txt" and _entry_problem(p) is None:
            for entry in read_manifest(p):
                why = _entry_problem(entry)
                if why is None:
                    paths.append(entry)
                else:
                    note(entry, why)
        else:
            found, bad = find_inputs([p])
            paths.extend(found)
            for path, reason in bad:
                note(path, reason)
    return paths


# --------------------------------------------------------------------------- apply's outputs

SEMANTIC_SUFFIX = ".semantic.png"


@dataclass(frozen=True)
class PlannedOutput:
    """Where one input's results go: the colorized image and, when asked for, its label map."""

    source: Path
    target: Path
    semantic: Path | None = None


def semantic_path(target: str | os.PathLike) -> Path:
    """The label map written beside an output: ``NAME.semantic.png`` for ``NAME.EXT``."""
    target = Path(os.fspath(target))
    return target.with_name(target.stem + SEMANTIC_SUFFIX)


def _beside(inputs: Sequence[Path], ext: str | None, suffix: str) -> list[Path]:
    """`output_paths` into each input's own folder."""
    by_folder: dict[Path, list[int]] = defaultdict(list)
    for i, p in enumerate(inputs):
        by_folder[p.parent].append(i)
    targets: list[Path] = [Path()] * len(inputs)
    for folder, members in by_folder.items():
        for i, t in zip(members, output_paths([inputs[i] for i in members], folder, ext=ext, suffix=suffix)):
            targets[i] = t
    return targets


def drop_own_outputs(inputs: Sequence[Path], *, ext: str | None, suffix: str) -> tuple[list[Path], list[Path]]:
    """Split folder contents into inputs and the outputs (and label maps) earlier runs wrote beside them.

    A file is an earlier output when another file of the listing would be
    written to its name (``a_colorized.jpg`` beside ``a.jpg``, or
    ``a_colorized.semantic.png``); a photo of one's own called
    ``x_colorized.jpg`` with no ``x.*`` beside it stays an input.
    Returns ``(inputs, outputs)``.
    """
    kept = list(inputs)
    while True:
        made = set()
        for planned in plan_outputs(kept, ext=ext, suffix=suffix, semantic=True, _avoid_inputs=False):
            for path in (planned.target, planned.semantic, semantic_path(planned.target)):
                made.add(os.path.normcase(os.path.abspath(path)).casefold())
        again = [p for p in kept if os.path.normcase(os.path.abspath(p)).casefold() not in made]
        if len(again) == len(kept):
            return kept, [p for p in inputs if p not in set(kept)]
        kept = again


def plan_outputs(
    inputs: Sequence[Path],
    *,
    out_dir: str | os.PathLike | None = None,
    out_file: str | os.PathLike | None = None,
    ext: str | None = None,
    suffix: str = "",
    semantic: bool = False,
    _avoid_inputs: bool = True,
) -> list[PlannedOutput]:
    """The outputs of a batch: into ``out_dir``, to ``out_file`` (one input), or beside each input.

    Colour outputs are named by `output_paths`. A label map is named
    `semantic_path` of its output unless that name is taken by another
    planned output or map, or by an input: then it gets the hash tag of its
    input (``a_3f09c2d1.semantic.png``), so no output is ever lost to a clash
    and no input is ever written over.
    """
    inputs = [Path(os.fspath(p)) for p in inputs]
    if out_file is not None:
        if len(inputs) != 1:
            raise InputError(f"one output file needs exactly one input, got {len(inputs)}")
        targets = [Path(os.fspath(out_file))]
    elif out_dir is not None:
        targets = output_paths(inputs, out_dir, ext=ext, suffix=suffix)
    else:
        targets = _beside(inputs, ext, suffix)
    if not semantic:
        return [PlannedOutput(p, t) for p, t in zip(inputs, targets)]

    def key(path: Path) -> str:
        return os.path.normcase(os.path.abspath(path)).casefold()

    maps = [semantic_path(t) for t in targets]
    taken = defaultdict(int)
    for path in [*targets, *maps]:
        taken[key(path)] += 1
    for path in inputs if _avoid_inputs else ():
        taken[key(path)] += 1
    for i, (src, target) in enumerate(zip(inputs, targets)):
        if taken[key(maps[i])] > 1:
            tag = hashlib.sha1(os.fsencode(os.path.realpath(src))).hexdigest()[:8]
            maps[i] = target.with_name(f"{target.stem}_{tag}{SEMANTIC_SUFFIX}")
    return [PlannedOutput(p, t, m) for p, t, m in zip(inputs, targets, maps)]


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
            raise InputError(f"not a folder: {d}")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in _PAIR_IMAGE_SUFFIXES and p.is_file()}
    labels = {p.stem: p for p in sorted(labels_dir.iterdir()) if p.suffix.lower() == ".png" and p.is_file()}
    stems = sorted(set(images) & set(labels))
    if not stems:
        raise InputError(f"no image in {images_dir} has a label <stem>.png in {labels_dir}")
    unmatched = len(images) - len(stems)
    if unmatched:
        logger.warning("%d images in %s have no label and are skipped", unmatched, images_dir)
    return [images[s] for s in stems], [labels[s] for s in stems]
