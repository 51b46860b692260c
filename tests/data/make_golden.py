"""Regenerate tests/data/golden_chroma.npz (only when a model change is meant to change outputs).

    PYTHONPATH=. python tests/data/make_golden.py
"""

from pathlib import Path

import numpy as np
from skimage import data

from deepcolor.evaluation import gray_version
from deepcolor.pipeline import load_model

CROP = (slice(200, 248), slice(100, 164))  # 48 x 64 pixels of skimage's astronaut photo: every variant colourful


def golden_luma() -> np.ndarray:
    return gray_version(data.astronaut()[CROP])[0]


if __name__ == "__main__":
    model = load_model()
    luma = golden_luma()
    arrays = {}
    for semantic in (True, False):
        for clusters in (True, False):
            p = model.predict_chroma(luma, semantic=semantic, clusters=clusters)
            arrays[f"semantic{int(semantic)}_clusters{int(clusters)}"] = p.chroma
            arrays[f"semantic{int(semantic)}_clusters{int(clusters)}_cluster"] = np.array(p.info["cluster"])
    np.savez_compressed(Path(__file__).with_name("golden_chroma.npz"), **arrays)
    print({k: v.shape for k, v in arrays.items()})
