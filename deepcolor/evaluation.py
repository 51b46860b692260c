"""The evaluation protocol: colour photos, their gray version, colorized and compared.

See docs/protocol.md: native resolution; the gray input is
the BT.601 luma of the 8-bit original rounded to 8 bits; results rounded to
8-bit RGB; PSNR over all pixels and channels, peak 255; the gray baseline is
the same luma with zero chroma. `python -m deepcolor.evaluate`, ``fit``'s
validation and the benchmarks all go through `evaluate_paths`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepcolor.colorspace import merge_luma_chroma, quantize_luma, rgb_to_luma
from deepcolor.io.common import DEFAULT_MAX_PIXELS

__all__ = ["gray_version", "settings_grid", "evaluate_paths", "summarize_rows", "write_rows_csv"]


def gray_version(rgb8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gray photograph of an 8-bit colour photo.

    Parameters
    ----------
    rgb8 : ndarray, shape (H, W, 3), uint8

    Returns
    -------
    luma : ndarray, shape (H, W), float32
        BT.601 luma rounded to 8 bits, in [0, 1]: the colorizer's input.
    gray : ndarray, shape (H, W, 3), uint8
        The same luma with zero chroma (R = G = B): the gray baseline.
    """
    rgb8 = np.asarray(rgb8)
    if rgb8.ndim != 3 or rgb8.shape[2] != 3 or rgb8.dtype != np.uint8:
        raise ValueError(f"gray_version needs an (H, W, 3) uint8 image, got {rgb8.shape} {rgb8.dtype}")
    luma = quantize_luma(rgb_to_luma(rgb8.astype(np.float32) / 255.0))
    return luma, result_rgb8(luma, np.zeros(luma.shape + (2,), np.float32))


def result_rgb8(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The protocol's result: (H, W) luma kept, (H, W, 2) chroma scaled into gamut, rounded to (H, W, 3) uint8 RGB."""
    from deepcolor.metrics import to_uint8

    return to_uint8(merge_luma_chroma(luma, chroma))


def settings_grid(model) -> dict[str, dict[str, Any]]:
    """The settings an evaluation of ``model`` compares, by name (`deepcolor.models.base.evaluation_settings`):
    Cheng's ``{"semantic+clusters": {"semantic": True, "clusters": True}, ...}``, one setting named after any other kind."""
    from deepcolor.models.base import evaluation_settings

    return evaluation_settings(model)


def evaluate_paths(
    paths: Sequence[Path],
    model,
    *,
    settings: dict[str, dict[str, Any]],
    refine: bool = True,
    progress: bool = True,
    on_image: Callable[[Path, dict[str, dict]], None] | None = None,
    skip: Callable[[Path], bool] | None = None,
    device: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[dict[str, list[dict]], list[tuple[Path, str]]]:
    """Per-image metrics of colour images colorized from their gray version, for each named setting.

    A setting maps ``refine`` (default: the ``refine`` argument) and the
    model's options (Cheng: ``semantic``, ``clusters``) to their values; each
    runs the path `deepcolor.colorize` and ``apply`` run (tiled above 1024
    pixels a side), so its figures are theirs. ``on_image(path, {setting:
    row})`` is called after each image (benchmarks use it to checkpoint) and
    images for which ``skip(path)`` is true are not processed. ``device``
    and ``max_pixels`` as in `deepcolor.pipeline.colorize`: each setting is
    one `deepcolor.colorizer.Colorizer`, built once.

    Returns ``({setting: [row, ...]}, failures)``; a row holds ``image``,
    ``psnr``, ``gray_psnr``, ``gain``, ``colorfulness``,
    ``colorfulness_original``, ``seconds``, then the model's account of the
    image (its ``info``: Cheng's ``cluster``, the global prior's ``scene``, ...).
    """
    from tqdm.auto import tqdm

    from deepcolor.errors import one_line_message
    from deepcolor.io import ImageReadError, read_image
    from deepcolor.metrics import colorfulness, psnr, to_uint8
    from deepcolor.colorizer import Colorizer

    colorizers = {
        name: Colorizer(model, device=device, refine=s.get("refine", refine), max_pixels=max_pixels,
                        **{k: v for k, v in s.items() if k != "refine"})
        for name, s in settings.items()
    }
    rows: dict[str, list[dict]] = {name: [] for name in settings}
    failed: list[tuple[Path, str]] = []
    for path in tqdm(paths, desc="evaluate", unit="img", disable=not progress):
        if skip is not None and skip(path):
            continue
        try:
            image = read_image(path, max_pixels=max_pixels)
        except ImageReadError as exc:
            failed.append((path, one_line_message(exc)))
            continue
        if image.pixels.ndim != 3:
            failed.append((path, "gray image: nothing to compare the colours with"))
            continue
        original = to_uint8(image.pixels)
        luma, gray = gray_version(original)
        gray_psnr = psnr(gray, original)
        c_orig = colorfulness(original)
        this_image: dict[str, dict] = {}
        for name, colorizer in colorizers.items():
            t0 = time.perf_counter()
            out = result_rgb8(luma, colorizer(luma))
            value = psnr(out, original)
            this_image[name] = {
                    "image": str(path),
                    "psnr": value,
                    "gray_psnr": gray_psnr,
                    "gain": value - gray_psnr,
                    "colorfulness": colorfulness(out),
                    "colorfulness_original": c_orig,
                    "seconds": time.perf_counter() - t0,
                    **{k: v for k, v in colorizer.info.items() if isinstance(v, (str, int, float, bool))},
                }
            rows[name].append(this_image[name])
        if on_image is not None:
            on_image(path, this_image)
    return rows, failed


def summarize_rows(rows: Sequence[dict]) -> dict:
    """Medians and quartiles of `evaluate_paths` rows, and the colorfulness ratio of medians."""
    from deepcolor.metrics import summarize

    if not rows:
        return {"n": 0}
    p = summarize([r["psnr"] for r in rows])
    g = summarize([r["gray_psnr"] for r in rows])
    gain = summarize([r["gain"] for r in rows])
    c = np.median([r["colorfulness"] for r in rows])
    co = np.median([r["colorfulness_original"] for r in rows])
    # Full precision here: rounding twice (here, then when printing) moves the last digit.
    return {
        "n": p["n"],
        "psnr_median": p["median"],
        "psnr_q1": p["q1"],
        "psnr_q3": p["q3"],
        "gray_psnr_median": g["median"],
        "gray_psnr_q1": g["q1"],
        "gray_psnr_q3": g["q3"],
        "gain_median": gain["median"],
        "gain_q1": gain["q1"],
        "gain_q3": gain["q3"],
        "colorfulness_ratio": float(c / co) if co > 0 else float("nan"),
    }


def write_rows_csv(path: Path, rows: Sequence[dict]) -> None:
    """Per-image rows as CSV (floats to 4 decimals), written atomically; nothing for no rows."""
    from deepcolor.io import atomic_open

    if not rows:
        return
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
