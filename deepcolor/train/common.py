"""What several trainers read: a colour training photo, and the scene label a photo's path carries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["IGNORE", "scene_label", "real_labels", "read_colour"]

IGNORE = -100  # CrossEntropy's ignore index: an image without a scene label


def scene_label(path: str | Path) -> str | None:
    """The scene or object label a photo's path carries, or None.

    ``photos/sun8/<category>/x.jpg`` -> ``sun8/<category>``;
    ``photos/imagenet_det/nID_NUM_<class>.jpg`` -> ``object/<class>``;
    ``photos/imagenet_sample/nID_<class>.jpg`` -> ``object/<class>`` (kept only
    if a detection class of that name exists, see `real_labels`);
    ``camvid/.../<SEQ>_<frame>.png`` -> ``camvid/<SEQ>``; anything else None.
    """
    p = Path(path)
    parts = p.parts
    if "sun8" in parts:
        i = parts.index("sun8")
        if i + 2 < len(parts):
            return f"sun8/{parts[i + 1]}"
    stem = p.stem
    if "imagenet_det" in parts:
        bits = stem.split("_", 2)
        return f"object/{bits[2]}" if len(bits) == 3 else None
    if "imagenet_sample" in parts:
        bits = stem.split("_", 1)
        return f"object/{bits[1]}" if len(bits) == 2 else None
    if "camvid" in parts and "_" in stem:
        return f"camvid/{stem.split('_', 1)[0]}"
    return None


def real_labels(paths: Sequence[Path], *, min_count: int = 2) -> tuple[np.ndarray, list[str]]:
    """Class index per training path (`IGNORE` where none) and the class names.

    A class needs ``min_count`` training photos; a name only ``imagenet_sample``
    carries is one photo of a class, which is memorised, not learned, so it is dropped.
    """
    names = [scene_label(p) for p in paths]
    counts: dict[str, int] = {}
    for n in names:
        if n is not None:
            counts[n] = counts.get(n, 0) + 1
    classes = sorted(c for c, k in counts.items() if k >= min_count)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(n, IGNORE) if n else IGNORE for n in names], dtype=np.int64), classes


def read_colour(path: Path) -> np.ndarray:
    """A colour photo as (H, W, 3) uint8 RGB (the protocol's original); an `ImageReadError` (a ValueError) for a gray one."""
    from deepcolor.io import ImageReadError, read_image
    from deepcolor.metrics import to_uint8

    image = read_image(path)
    if image.pixels.ndim != 3:
        raise ImageReadError(path, "gray image, no colour to learn from or compare with")
    return to_uint8(image.pixels)
