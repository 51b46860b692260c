"""Micro-benchmarks behind docs/speed.md: the MLPs' products, the thread pools' waits, the encoder's runtimes.

    python benchmarks/bench_speed_parts.py mlp        # stacked vs one-after-the-other MLPs (CPU and wall seconds)
    python benchmarks/bench_speed_parts.py threads    # the scene FCN with torch at 1 and 2 threads (run it with and
                                                      # without OMP_WAIT_POLICY=PASSIVE in the environment)
    python benchmarks/bench_speed_parts.py runtimes   # the scene FCN in torch, channels-last, ONNX Runtime, OpenCV DNN
                                                      # (needs the onnx and onnxruntime packages; not deepcolor's deps)

Each prints one line per measurement with the load average. ``import torch`` comes first on purpose: the
OpenMP waiting policy is then whatever the environment says (deepcolor sets PASSIVE only when it is
imported before torch).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch  # noqa: I001  (before deepcolor: see the docstring)
import numpy as np


def _timed(name: str, fn, repeats: int = 3) -> None:
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        print(f"{name}: wall {time.perf_counter() - t:.3f} s, CPU {time.process_time() - c:.3f} s, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


def mlp() -> None:
    from deepcolor.models.stacked_mlp import WeightedSum
    from deepcolor.pipeline import load_model

    model = load_model()
    source = next(c.key for c in model.clusters if c.uses_own_mlp("semantic") and c.blend.get("semantic", (1, 0))[1] != 0)
    stacked, loop = model.stacked(source, semantic=True), WeightedSum(model.combination(source, semantic=True))
    rows = np.random.default_rng(0).random((262_144, stacked.in_features), dtype=np.float32)
    print("max |stacked - loop|", float(np.abs(stacked.predict(rows) - loop.predict(rows)).max()))
    _timed("MLPs one after the other (torch Linear)", lambda: loop.predict(rows))
    _timed("stacked, one baddbmm a layer (torch)", lambda: stacked.predict(rows))
    _timed("stacked, numpy matmul (the device branch on the host)", lambda: stacked.predict(rows, device="cuda"))


def threads() -> None:
    from deepcolor.features.scene import scene_small_and_pooled
    from deepcolor.pipeline import load_model

    model = load_model()
    luma = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    scene_small_and_pooled(luma, model.fcn)
    print("OMP_WAIT_POLICY =", os.environ.get("OMP_WAIT_POLICY"))
    for n in (1, 2, 1, 2, 1, 2):
        torch.set_num_threads(n)
        _timed(f"scene FCN, {n} torch thread(s)", lambda: scene_small_and_pooled(luma, model.fcn), repeats=1)


def runtimes() -> None:
    import cv2
    import onnxruntime as ort

    from deepcolor.pipeline import load_model

    fcn = load_model().fcn.eval()

    class Whole(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            maps, pooled = self.net.encoder(x)
            return self.net.decoder(maps[1:]), pooled

    net = Whole(fcn).eval()
    x = torch.randn(1, 3, 480, 320)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "scene.onnx")
        torch.onnx.export(net, (x,), path, dynamo=False, opset_version=17, input_names=["x"], output_names=["logits", "pooled"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        dnn = cv2.dnn.readNetFromONNX(path)
    with torch.inference_mode():
        reference = [t.numpy() for t in net(x)]
        last = Whole(fcn).eval().to(memory_format=torch.channels_last)

    def run_dnn():
        dnn.setInput(x.numpy())
        return dnn.forward(["logits", "pooled"])

    def run_torch(model, tensor):
        with torch.inference_mode():
            return [t.numpy() for t in model(tensor)]

    runs = {"torch": lambda: run_torch(net, x), "torch channels-last": lambda: run_torch(last, x.to(memory_format=torch.channels_last)),
            "onnxruntime": lambda: session.run(None, {"x": x.numpy()}), "opencv dnn": run_dnn}
    for name, fn in runs.items():
        print(name, "max |diff| vs torch", [float(np.abs(np.asarray(a) - b).max()) for a, b in zip(fn(), reference)])
    for _ in range(3):
        for name, fn in runs.items():
            _timed(name, fn, repeats=1)


if __name__ == "__main__":
    {"mlp": mlp, "threads": threads, "runtimes": runtimes}[sys.argv[1] if len(sys.argv) > 1 else "mlp"]()
