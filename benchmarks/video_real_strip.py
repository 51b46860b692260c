"""A strip of the shared real clips: frames 0, n/3, 2n/3, n-1; rows per clip: original, --per-frame, stable.

Reads the outputs `bench_video.py --real --cache DIR` left in DIR (STEM_per_frame.mp4, STEM_stable.mp4).
Usage: ``python benchmarks/video_real_strip.py DIR benchmarks/results/video_real_strip.jpg``.
"""

import sys
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def tiles(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    n = len(frames)
    return np.concatenate([cv2.resize(frames[i], (240, 240 * frames[i].shape[0] // frames[i].shape[1]), interpolation=cv2.INTER_AREA)
                           for i in (0, n // 3, 2 * n // 3, n - 1)], axis=1)


def main() -> None:
    cache, target = Path(sys.argv[1]), Path(sys.argv[2])
    rows = []
    for stem in ("highway_traffic", "asl_walk"):
        rows += [tiles(SHARED_VIDEO / f"{stem}.mp4"), tiles(cache / f"{stem}_per_frame.mp4"), tiles(cache / f"{stem}_stable.mp4")]
    Image.fromarray(np.concatenate(rows, axis=0)).save(target, quality=85)


if __name__ == "__main__":
    main()
