"""Planning a batch: mirrored output names, and which files the journal says are still to do."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from deepcolor.errors import InputError
from deepcolor.batch.engine import Job
from deepcolor.batch.journal import Journal

__all__ = ["mirror_roots", "mirrored_outputs", "plan_batch"]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def mirror_roots(specs: Sequence[str | os.PathLike], inputs: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(root, input)`` pairs: the folder given on the command line that an input was found in, else its own folder."""
    folders = [Path(os.fspath(s)) for s in specs if Path(os.fspath(s)).is_dir()]
    pairs = []
    for source in inputs:
        root = next((f for f in folders if source.is_relative_to(f)), source.parent)
        pairs.append((root, source))
    return pairs


def mirrored_outputs(
    sources: Sequence[tuple[Path, Path]],
    out_dir: str | os.PathLike,
    *,
    name_outputs: Callable[..., list[Path]],
    ext: str | None = None,
    suffix: str = "",
) -> list[tuple[Path, Path]]:
    """Output path of every input, mirroring each input's place below its root.

    ``root/sub/a.jpg`` becomes ``out_dir/sub/a.jpg``. Names inside one output
    folder are made by ``name_outputs(inputs, folder, ext=ext, suffix=suffix)``
    (the project's one batch-naming function), so ``a.jpg`` and ``a.png`` that
    meet in one folder get distinct names the same way a flat batch does.
    Inputs inside ``out_dir`` (earlier outputs, when the output folder sits in
    the input tree) are left out; an ``out_dir`` that is or holds an input
    root is a ValueError.

    Parameters
    ----------
    sources : sequence of (root, input) pairs
        ``input`` is a file at or below the folder ``root``.
    out_dir : path-like
        The output folder.

    Returns
    -------
    list of (input, output) pairs, in input order.
    """
    out_dir = Path(os.fspath(out_dir))
    out_resolved = out_dir.resolve()
    for root in {r.resolve() for r, _ in sources}:
        if _inside(root, out_resolved):
            raise InputError(f"output folder {out_dir} is or holds the input folder {root}; give one outside it")
    groups: dict[Path, list[Path]] = {}
    for root, source in sources:
        if _inside(source.resolve(), out_resolved):
            continue
        try:
            relative = source.parent.resolve().relative_to(root.resolve())
        except ValueError:
            raise InputError(f"{source} is not below {root}") from None
        groups.setdefault(out_dir / relative, []).append(source)
    outputs: dict[Path, Path] = {}
    for folder, members in groups.items():
        outputs.update(zip(members, name_outputs(members, folder, ext=ext, suffix=suffix)))
    return [(source, outputs[source]) for _, source in sources if source in outputs]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:  # the task reports it with the reader's own words
        return -1, -1
    return st.st_size, st.st_mtime_ns


def plan_batch(
    pairs: Sequence[tuple[Path, Path]],
    out_dir: str | os.PathLike | None,
    *,
    journal: Journal | None = None,
    overwrite: bool = False,
) -> tuple[list[Job], int]:
    """Jobs still to do, and how many the journal says are done already.

    A file is skipped when its journal row says done, for the same input size
    and modification time, under this run's settings, and its output is still
    there. An input that changed since its output was written by an earlier
    run gets that output replaced (it is ours and stale) even without
    ``overwrite``. Folders below ``out_dir`` are created here, once each. An
    output that is one of the inputs is an `ImageWriteError` (as `deepcolor.io.ensure_not_input`
    raises for one file), before any work.

    Parameters
    ----------
    pairs : sequence of (input, output)
        From `mirrored_outputs` (or any naming).
    out_dir : path-like or None
        The output folder; journal keys of outputs are relative to it (None:
        outputs lie beside their inputs, keys are the paths as given).
    journal : Journal, optional
    overwrite : bool
        Whether tasks may replace outputs the journal does not vouch for.

    Returns
    -------
    jobs : list of Job
    skipped : int
    """
    out_dir = Path(os.fspath(out_dir)) if out_dir is not None else None
    absolute = [Path(os.path.abspath(p)) for p, _ in pairs]  # not resolved: a linked file keeps its place
    base = Path(os.path.commonpath([p.parent for p in absolute])) if absolute else Path(".")
    inputs = {p.resolve() for p, _ in pairs}
    for source, target in pairs:
        if target.resolve() in inputs:  # e.g. -o the input folder with --format: never overwrite an input
            from deepcolor.io import ImageWriteError

            raise ImageWriteError(target, "is an input file of this batch; refusing to overwrite an input")
    rows = journal.rows() if journal is not None else {}
    jobs: list[Job] = []
    skipped = 0
    made: set[Path] = set()
    for (source, target), source_abs in zip(pairs, absolute):
        key = source_abs.relative_to(base).as_posix()
        try:
            output_key = target.relative_to(out_dir).as_posix() if out_dir is not None else target.as_posix()
        except ValueError:
            output_key = target.as_posix()
        size, mtime_ns = _stamp(source)
        row = rows.get(key)
        ours = row is not None and row.status == "done" and row.output == output_key
        if journal is not None and ours and journal.is_current(row, size=size, mtime_ns=mtime_ns) and target.exists():
            skipped += 1
            continue
        stale = ours and (row.size, row.mtime_ns) != (size, mtime_ns)
        if out_dir is not None and target.parent not in made and _inside(target.parent, out_dir):
            target.parent.mkdir(parents=True, exist_ok=True)  # the mirrored tree below the output folder
            made.add(target.parent)
        jobs.append(Job(key, source, target, output_key, size, mtime_ns, overwrite=overwrite or stale))
    return jobs, skipped
