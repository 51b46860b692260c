"""CPU seconds of one warm `colorize_luma` call (median of 3), robust to a shared machine's load: run it single-threaded
in each tree, e.g. ``OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PYTHONPATH=TREE python benchmarks/bench_cpu_call.py cheng 1024``. Prints one JSON line."""
import sys, time, json, numpy as np, cv2
from pathlib import Path
import deepcolor
from deepcolor.pipeline import colorize_luma, load_model
method, size = sys.argv[1], int(sys.argv[2])
img = sorted(Path("/work/shared/data/bsds500/images/val").glob("*.jpg"))[0]
g = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2GRAY)
luma = cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
m = load_model(method=method)
colorize_luma(luma[:64, :64].copy(), m); colorize_luma(luma, m)
cpu, wall = [], []
for _ in range(3):
    t, c = time.perf_counter(), time.process_time(); r = colorize_luma(luma, m); r.rgb()
    wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
print(json.dumps({"method": method, "size": size, "cpu_s": float(np.median(cpu)), "wall_s": float(np.median(wall))}))
