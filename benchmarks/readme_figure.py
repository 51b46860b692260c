"""The README's before/after picture, ``docs/images/example.png``.

Runs ``deepcolor colorize --example`` once per shipped method (scikit-image's
astronaut photo, made gray) into a scratch folder and lays the results side by
side, downscaled: original | gray | both (the default) | cheng | global-prior.

    PYTHONPATH=. python benchmarks/readme_figure.py [--out docs/images/example.png] [--width 192]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

METHODS = ("both", "cheng", "global-prior")


def _colorize_example(method: str, folder: Path) -> Image.Image:
    """The colorized example photo of ``method``, from the command itself."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "deepcolor", "colorize", "--example", "--method", method, "-o", str(folder), "-q"]
    subprocess.run(command, check=True)
    return Image.open(folder / "example_colorized.png").convert("RGB")


def _labelled(image: Image.Image, label: str, width: int) -> Image.Image:
    """``image`` scaled to ``width`` pixels wide with ``label`` on a white strip below it."""
    height = round(image.height * width / image.width)
    panel = Image.new("RGB", (width, height + 18), "white")
    panel.paste(image.resize((width, height), Image.LANCZOS), (0, 0))
    ImageDraw.Draw(panel).text((4, height + 3), label, fill="black")
    return panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/example.png")
    parser.add_argument("--width", type=int, default=192, help="width of each panel in pixels")
    args = parser.parse_args()
    original = Image.fromarray(np.asarray(data.astronaut())).convert("RGB")
    with tempfile.TemporaryDirectory() as scratch:
        results = {method: _colorize_example(method, Path(scratch) / method) for method in METHODS}
        gray = Image.open(Path(scratch) / METHODS[0] / "example_gray.png").convert("RGB")
    panels = [_labelled(original, "original", args.width), _labelled(gray, "gray input", args.width)]
    panels += [_labelled(results[method], f"--method {method}", args.width) for method in METHODS]
    figure = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
    for index, panel in enumerate(panels):
        figure.paste(panel, (index * (args.width + 4), 0))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # 256 adaptive colours keep the file small (a README picture, not a measurement)
    figure.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"{args.out}: {figure.width}x{figure.height}, {Path(args.out).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
