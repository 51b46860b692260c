"""Regenerate tests/data/golden_chroma.npz (only when a model change is meant to change outputs).

Per setting: ``semantic{0,1}_clusters{0,1}`` the per-pixel path (``dense=True``, the paper's), its cluster,
and ``grid_...`` the default path (chroma on a grid, guided-upsampled: `deepcolor.features.grid`).

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
    model = load_model("cheng")
    luma = golden_luma()
    arrays = {}
    old = dict(np.load(Path(__file__).with_name("golden_chroma.npz")))
    for semantic in (True, False):
        for clusters in (True, False):
            key = f"semantic{int(semantic)}_clusters{int(clusters)}"
            p = model.predict_chroma(luma, semantic=semantic, clusters=clusters, dense=True)  # the paper's per-pixel path
            arrays[key] = p.chroma
            arrays[f"{key}_cluster"] = np.array(p.info["cluster"])
            arrays[f"grid_{key}"] = model.predict_chroma(luma, semantic=semantic, clusters=clusters).chroma  # the default
            if key in old:
                print(key, "dense vs the stored array: max |diff|", float(np.abs(arrays[key] - old[key]).max()))
    np.savez_compressed(Path(__file__).with_name("golden_chroma.npz"), **arrays)
    print({k: v.shape for k, v in arrays.items()})
