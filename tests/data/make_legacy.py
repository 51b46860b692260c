"""Write tests/data/legacy_colorizer.safetensors and legacy_chroma.npz with the code of commit c559652
(before the scene FCN could feed the descriptor): a tiny 92-d colorizer on a tiny 11-class FCN, and
its chroma and label map of the golden crop, so tests check that a file of that format still loads
and predicts the same to the bit. Run with that commit's package first on the path:

    git archive c559652 deepcolor | tar -x -C /tmp/old && (cd /tmp && PYTHONPATH=/tmp/old python REPO/tests/data/make_legacy.py)
"""

from pathlib import Path

import numpy as np
import torch

from deepcolor.evaluation import gray_version
from deepcolor.features.semantic_net import SemanticFCN
from deepcolor.models.cheng import ChengModel
from deepcolor.regressor import ChromaMLP, Regressor

HERE = Path(__file__).parent


def _regressor(width: int, seed: int) -> Regressor:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    return Regressor(ChromaMLP(width, 8).eval(), rng.normal(0, 0.1, width).astype(np.float32), np.ones(width, np.float32), 0.1)


if __name__ == "__main__":
    from skimage import data

    torch.manual_seed(0)
    fcn = SemanticFCN(channels=(4, 4, 8, 8)).eval()
    model = ChengModel(global_regressors={"semantic": _regressor(92, 1), "plain": _regressor(81, 2)}, fcn=fcn)
    path = model.save(HERE / "legacy_colorizer.safetensors")
    loaded = ChengModel.load(path)
    luma = gray_version(data.astronaut()[200:248, 100:164])[0]
    np.savez_compressed(HERE / "legacy_chroma.npz", semantic=loaded.predict_chroma(luma).chroma,
                        plain=loaded.predict_chroma(luma, semantic=False).chroma, labels=loaded.label_map(luma))
    print(path, path.stat().st_size)
