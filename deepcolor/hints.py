"""Colour where the user says: point hints, read from the API, a JSON file or an RGBA hint image,
spread along the luma by Levin, Lischinski & Weiss's optimisation (*Colorization using
Optimization*, SIGGRAPH 2004).

A hint is a colour at a pixel. Its chroma (U, V) is read from its RGB, kept inside the RGB gamut
at that pixel's luma (`hint_chroma`): the luma of the photograph is never changed, only its
colour. `propagate` solves for the chroma *difference* between the hints and the model's
prediction, so that far from every hint the model's chroma is unchanged:

    minimise  sum_(r~s) w_rs (D_r - D_s)^2  +  prior * sum_r D_r^2  +  HINT_WEIGHT * sum_hints (D_h - d_h)^2

on a coarse grid of at most ``grid`` pixels a side (the luma area-averaged), where ``w_rs =
exp(-(Y_r - Y_s)^2 / (2 sigma^2))`` joins 8-neighbours of similar luma (a strong luma edge stops
the colour), ``d_h`` is each hint's chroma minus the model's at its point, and ``prior`` (small)
pulls the difference back to zero away from the hints. The sparse symmetric positive definite
system is solved directly (scipy's SuperLU) for U and V together; the coarse difference is
brought back to full resolution by joint bilateral upsampling (`joint_bilateral_upsample`), so
it steps where the gray image steps, and added to the model's chroma.

Hint files
----------
``hints.json``: a list of ``{"x": column, "y": row, "colour": "#rrggbb" or [r, g, b]}`` (or
``"color"``, ``"rgb"``; an optional ``"frame"``), or ``{"hints": [...]}``, the form the web page
downloads. ``hints.png``: an RGBA image of the photo's size whose opaque pixels (alpha >= 128)
are hints, the shape a paint program makes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from deepcolor.colorspace import RGB_TO_YUV, YUV_TO_RGB

__all__ = [
    "Hint",
    "HintError",
    "GRID",
    "SIGMA",
    "PRIOR",
    "as_hints",
    "parse_colour",
    "read_hints",
    "hints_json",
    "check_hints",
    "hint_chroma",
    "propagate",
    "joint_bilateral_upsample",
    "affinity_laplacian",
]

GRID = 160  # longest side of the coarse grid the system is solved on (25.6k unknowns at most: ~0.2 s)
SIGMA = 0.05  # luma difference (0..1) at which neighbours' affinity falls to exp(-1/2)
PRIOR = 1e-5  # weight of the model's chroma (the difference pulled to 0), against affinities ~1
HINT_WEIGHT = 1e3  # a hint's weight: a strong constraint, the system stays well conditioned
HINT_ALPHA = 128  # a hint image's pixels at least this opaque are hints


class HintError(ValueError):
    """A bad hint or hint file: the message is one line, fit for the command line and the page."""


@dataclass(frozen=True)
class Hint:
    """A colour at a pixel: ``x`` column, ``y`` row (pixels, 0 <= x < W, 0 <= y < H), ``rgb`` 0..255;
    ``frame``: the video frame it was placed on (None for a photo)."""

    x: float
    y: float
    rgb: tuple[int, int, int]
    frame: int | None = None


def parse_colour(colour: Any) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"#rgb"`` (the ``#`` optional) or an (r, g, b) of integers 0..255 -> (r, g, b); HintError otherwise."""
    if isinstance(colour, str):
        text = colour.strip().removeprefix("#")
        if len(text) == 3:
            text = "".join(c * 2 for c in text)
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise HintError(f"bad colour {colour!r}: use '#rrggbb' or (r, g, b) with 0..255")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    if isinstance(colour, (list, tuple, np.ndarray)) and len(colour) == 3:
        values = []
        for v in colour:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)):
                raise HintError(f"bad colour {list(colour)!r}: use '#rrggbb' or (r, g, b) with 0..255")
            if not (math.isfinite(float(v)) and float(v).is_integer() and 0 <= v <= 255):
                raise HintError(f"bad colour {list(colour)!r}: each of r, g, b must be an integer 0..255")
            values.append(int(v))
        return values[0], values[1], values[2]
    raise HintError(f"bad colour {colour!r}: use '#rrggbb' or (r, g, b) with 0..255")


def _coordinate(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise HintError(f"bad hint {name} {value!r}: a number of pixels")
    if not math.isfinite(float(value)):
        raise HintError(f"bad hint {name} {value!r}: not finite")
    return float(value)


def _one_hint(item: Any) -> Hint:
    if isinstance(item, Hint):
        return Hint(_coordinate(item.x, "x"), _coordinate(item.y, "y"), parse_colour(item.rgb), item.frame)
    if isinstance(item, dict):
        colour_keys = [k for k in ("colour", "color", "rgb") if k in item]
        if "x" not in item or "y" not in item or len(colour_keys) != 1:
            raise HintError(f"bad hint {item!r}: needs x, y and one of colour, color, rgb")
        frame = item.get("frame")
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
            raise HintError(f"bad hint frame {frame!r}: a frame number >= 0")
        return Hint(_coordinate(item["x"], "x"), _coordinate(item["y"], "y"), parse_colour(item[colour_keys[0]]), frame)
    if isinstance(item, (list, tuple)) and len(item) == 3:
        return Hint(_coordinate(item[0], "x"), _coordinate(item[1], "y"), parse_colour(item[2]))
    raise HintError(f"bad hint {item!r}: use (x, y, colour), a dict with x, y, colour, or a Hint")


def as_hints(items: Iterable[Any] | None) -> list[Hint]:
    """Hints from ``Hint``, ``(x, y, colour)`` or ``{"x", "y", "colour"}`` items (colour ``"#rrggbb"`` or (r, g, b)).

    Raises
    ------
    HintError
        A malformed item (one line naming it).
    """
    if items is None:
        return []
    if isinstance(items, (str, bytes, dict, Hint)):
        raise HintError("hints must be a list of (x, y, colour) items")
    return [_one_hint(item) for item in items]


def hints_json(hints: Sequence[Hint]) -> str:
    """The ``hints.json`` text of ``hints`` (`read_hints` reads it back)."""
    rows = []
    for h in hints:
        row: dict[str, Any] = {"x": h.x, "y": h.y, "colour": "#%02x%02x%02x" % tuple(h.rgb)}
        if h.frame is not None:
            row["frame"] = h.frame
        rows.append(row)
    return json.dumps({"hints": rows}, indent=1) + "\n"


def _read_hint_image(path: Path, shape: tuple[int, int] | None) -> list[Hint]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if "A" not in im.getbands() and not (im.mode == "P" and "transparency" in im.info):
                raise HintError(f"{path}: a hint image needs an alpha channel (RGBA: opaque pixels are hints)")
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise HintError(f"{path}: not a readable hint image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if shape is not None and rgba.shape[:2] != tuple(shape):
        raise HintError(f"{path}: the hint image is {rgba.shape[1]}x{rgba.shape[0]}, the photo {shape[1]}x{shape[0]}")
    ys, xs = np.nonzero(rgba[..., 3] >= HINT_ALPHA)
    if ys.size == 0:
        raise HintError(f"{path}: the hint image has no opaque pixels (alpha >= {HINT_ALPHA})")
    colours = rgba[ys, xs, :3].tolist()
    return [Hint(float(x), float(y), (c[0], c[1], c[2])) for x, y, c in zip(xs.tolist(), ys.tolist(), colours)]


def read_hints(path: str | Path, shape: tuple[int, int] | None = None) -> list[Hint]:
    """The hints of a ``hints.json`` or an RGBA ``hints.png`` (see the module's notes).

    Parameters
    ----------
    path : str or Path
    shape : (H, W), optional
        The photo's; a hint image of another size, or a hint outside it, is refused.

    Raises
    ------
    HintError
        Unreadable, malformed or wrong-size: one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise HintError(f"{path}: no such hints file")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HintError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
        if isinstance(data, dict) and set(data) >= {"hints"}:
            data = data["hints"]
        if not isinstance(data, list):
            raise HintError(f"{path}: expected a list of hints or {{\"hints\": [...]}}")
        try:
            hints = as_hints(data)
        except HintError as exc:
            raise HintError(f"{path}: {exc}") from None
    else:
        hints = _read_hint_image(path, shape)
    if shape is not None:
        try:
            check_hints(hints, shape)
        except HintError as exc:
            raise HintError(f"{path}: {exc}") from None
    return hints


def check_hints(hints: Sequence[Hint], shape: tuple[int, ...]) -> None:
    """HintError (one line) unless every hint lies in an image of ``shape`` (H, W, ...) with an 8-bit RGB colour."""
    height, width = int(shape[0]), int(shape[1])
    for h in hints:
        if not isinstance(h, Hint):
            raise HintError(f"bad hint {h!r}: not a Hint (see deepcolor.hints.as_hints)")
        if not (math.isfinite(h.x) and math.isfinite(h.y) and 0 <= h.x < width and 0 <= h.y < height):
            raise HintError(f"hint at x={h.x:g}, y={h.y:g} lies outside the {width}x{height} image")
        parse_colour(h.rgb)


def _hint_pixels(hints: Sequence[Hint]) -> tuple[np.ndarray, np.ndarray]:
    """Integer (rows, columns) of the hints' pixels."""
    rows = np.array([int(h.y) for h in hints], np.intp)
    cols = np.array([int(h.x) for h in hints], np.intp)
    return rows, cols


def _gamut_scale(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Per row, the factor in (0, 1] that keeps ``luma`` + ``chroma`` inside the RGB cube (as `merge_luma_chroma` clamps)."""
    delta = chroma @ YUV_TO_RGB[:, 1:].T.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(delta > 0, (1.0 - luma[:, None]) / delta, np.inf)
        down = np.where(delta < 0, -luma[:, None] / delta, np.inf)
    return np.minimum(1.0, np.minimum(up, down).min(axis=1)).astype(np.float32)


def hint_chroma(hints: Sequence[Hint], luma: np.ndarray) -> np.ndarray:
    """U, V of each hint's colour as its pixel can show it: the colour's chroma, scaled towards gray
    just enough to stay inside the RGB gamut at that pixel's luma (the luma is the photo's).

    Parameters
    ----------
    hints : sequence of Hint
        Inside ``luma`` (`check_hints`).
    luma : ndarray, shape (H, W), float in [0, 1]

    Returns
    -------
    ndarray, shape (N, 2), float32
    """
    if not hints:
        return np.zeros((0, 2), np.float32)
    rgb = np.array([h.rgb for h in hints], np.float32) / 255.0
    chroma = (rgb @ RGB_TO_YUV[1:].T.astype(np.float32)).astype(np.float32)
    rows, cols = _hint_pixels(hints)
    pixel_luma = np.clip(np.asarray(luma, np.float32)[rows, cols], 0.0, 1.0)
    return (chroma * _gamut_scale(pixel_luma, chroma)[:, None]).astype(np.float32)


def _coarse_shape(shape: tuple[int, int], grid: int) -> tuple[int, int]:
    scale = min(1.0, grid / max(shape))
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def affinity_laplacian(coarse_luma: np.ndarray, sigma: float = SIGMA) -> scipy.sparse.csr_matrix:
    """The graph Laplacian of 8-neighbour affinities ``exp(-(dY)^2 / (2 sigma^2))`` on a (h, w) luma grid, (h*w, h*w)."""
    h, w = coarse_luma.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = index[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        b = index[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
        a, b = a.ravel(), b.ravel()
        diff = coarse_luma.ravel()[a] - coarse_luma.ravel()[b]
        scale = 1.0 if dy == 0 or dx == 0 else 1.0 / math.sqrt(2.0)  # diagonal neighbours are farther
        rows.append(a)
        cols.append(b)
        weights.append(scale * np.exp(-diff * diff / (2.0 * sigma * sigma)))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights).astype(np.float64)
    adjacency = scipy.sparse.coo_matrix((v, (r, c)), shape=(h * w, h * w)).tocsr()
    adjacency = adjacency + adjacency.T
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree) - adjacency).tocsr()


def joint_bilateral_upsample(luma: np.ndarray, coarse_luma: np.ndarray, coarse: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """A coarse field brought to the luma's resolution, each pixel taking the 2 x 2 coarse cells around it
    weighted bilinearly times ``exp(-(Y - Y_cell)^2 / (2 sigma^2))`` (Kopf et al.'s joint bilateral upsampling).

    A pixel takes its value from the cells of its own luma, so a step in the field stays on the
    luma's edge even where a coarse cell straddles it (the guided filter's linear fit leaks there).

    Parameters
    ----------
    luma : ndarray, shape (H, W), float32 in [0, 1]
    coarse_luma : ndarray, shape (h, w), float32
        The luma area-averaged to the coarse grid.
    coarse : ndarray, shape (h, w, C), float32
    sigma : float

    Returns
    -------
    ndarray, shape (H, W, C), float32
    """
    (height, width), (h, w) = luma.shape, coarse_luma.shape
    ys = np.clip((np.arange(height) + 0.5) * (h / height) - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * (w / width) - 0.5, 0, w - 1)
    y0, x0 = np.minimum(ys.astype(np.intp), max(h - 2, 0)), np.minimum(xs.astype(np.intp), max(w - 2, 0))
    fy, fx = (ys - y0).astype(np.float32), (xs - x0).astype(np.float32)
    total = np.zeros(luma.shape + (coarse.shape[2],), np.float32)
    weight_sum = np.zeros(luma.shape, np.float32)
    inv = np.float32(-0.5 / (sigma * sigma))
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        rows = np.minimum(y0 + dy, h - 1)
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            cols = np.minimum(x0 + dx, w - 1)
            cell_luma = coarse_luma[rows[:, None], cols[None, :]]
            # A floor keeps the bilinear weight where no cell shares the pixel's luma (thin features).
            weight = wy[:, None] * wx[None, :] * (np.exp(inv * (luma - cell_luma) ** 2) + np.float32(1e-4))
            total += weight[..., None] * coarse[rows[:, None], cols[None, :]]
            weight_sum += weight
    return total / weight_sum[..., None]


def propagate(
    luma: np.ndarray,
    chroma: np.ndarray,
    hints: Sequence[Hint] | Iterable[Any],
    *,
    grid: int = GRID,
    sigma: float = SIGMA,
    prior: float = PRIOR,
) -> np.ndarray:
    """The model's chroma with the hints' colours spread along the luma (see the module's notes).

    Parameters
    ----------
    luma : ndarray, shape (H, W), float32 in [0, 1]
    chroma : ndarray, shape (H, W, 2), float32
        The model's U, V: the soft prior.
    hints : sequence of Hint (or items `as_hints` reads)
        Inside the image (HintError otherwise).
    grid, sigma, prior : keyword-only
        Coarse grid's longest side, luma affinity scale, weight of the model's chroma.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        Equal to ``chroma`` where no hint reaches (exactly, with no hints).
    """
    luma = np.ascontiguousarray(luma, np.float32)
    chroma = np.ascontiguousarray(chroma, np.float32)
    if luma.ndim != 2 or chroma.shape != luma.shape + (2,):
        raise ValueError(f"luma must be (H, W) and chroma (H, W, 2), got {luma.shape} and {chroma.shape}")
    hints = as_hints(hints)
    check_hints(hints, luma.shape)
    if not hints:
        return chroma.copy()
    rows, cols = _hint_pixels(hints)
    wanted = hint_chroma(hints, luma) - chroma[rows, cols]  # (N, 2): each hint's difference to the model

    h, w = _coarse_shape(luma.shape, grid)
    coarse_luma = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w).astype(np.float64)
    cells = (rows * h // luma.shape[0]) * w + cols * w // luma.shape[1]
    count = np.bincount(cells, minlength=h * w).astype(np.float64)
    target = np.stack([np.bincount(cells, wanted[:, k], minlength=h * w) for k in range(2)], axis=1)
    hinted = count > 0
    target[hinted] /= count[hinted, None]  # hints sharing a cell: their mean

    system = affinity_laplacian(coarse_luma, sigma) + scipy.sparse.diags(prior + HINT_WEIGHT * hinted)
    # Minimum degree on A + A^T suits this symmetric 2-D stencil: 2x faster than the default COLAMD at 256^2.
    factor = scipy.sparse.linalg.splu(system.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    difference = factor.solve(HINT_WEIGHT * target).reshape(h, w, 2)
    if (h, w) != luma.shape:
        difference = joint_bilateral_upsample(luma, coarse_luma.astype(np.float32), difference.astype(np.float32), sigma)
    return (chroma + difference.astype(np.float32)).astype(np.float32)
