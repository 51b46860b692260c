"""Two speed checks of issue 25 beside `bench_apply.py`, each on this tree and a reference tree in the same run.

``--concurrent``: the 1024^2 time of each method (`bench_apply.py`'s child: median of 3 after a
warm-up) quiet, then with a second colorize process of the same tree running beside it (another
child looping on the same image); the growth is the ratio. Threads set once and never more
than the cores should keep it near 2 on 2 cores.

``--video``: frames per CPU second of `colorize_video` (stable mode, H.264) on 20 CamVid frames
at 480x360 (`bench_video.throughput`, one run), the default method.

    python benchmarks/bench_speed.py --concurrent --video --reference /work/wt/ref [--tree .]

The load average is printed with each figure (the CPU is shared). Writes benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, ROOT, write_atomic

HERE = Path(__file__).resolve().parent

_VIDEO = """
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import bench_video
from deepcolor.pipeline import load_model
with tempfile.TemporaryDirectory() as tmp:
    print(json.dumps(bench_video.throughput(load_model(), Path(tmp), (480, 360), int(sys.argv[2]), 1)))
"""


def _env(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree))


def _child(tree: Path, method: str, repeats: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "bench_apply.py"), "--child", "1024", "--repeats", str(repeats), "--method", method],
                            cwd=tree, env=_env(tree), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _median_s(proc: subprocess.Popen) -> float:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(err.strip().splitlines()[-1:] if err else "child failed")
    return float(json.loads(out.strip().splitlines()[-1])["median_s"])


def concurrent(tree: Path, method: str) -> dict:
    """Quiet and beside-another-process 1024^2 medians of one tree and method."""
    load = os.getloadavg()[0]
    quiet = _median_s(_child(tree, method, 3))
    other = _child(tree, method, 12)  # the second process: warms up, then colorizes 12 times
    time.sleep(8.0)
    beside = _median_s(_child(tree, method, 3))
    other.kill()
    other.communicate()
    return {"tree": str(tree), "method": method, "quiet_s": quiet, "beside_s": beside, "growth": beside / quiet, "load": load}


def video(tree: Path, frames: int) -> dict:
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", _VIDEO, str(HERE), str(frames)], cwd=tree, env=_env(tree), capture_output=True,
                         text=True, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {"tree": str(tree), "load": load, **row}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--reference", type=Path, required=True, metavar="TREE")
    parser.add_argument("--concurrent", action="store_true")
    parser.add_argument("--video", action="store_true")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=["cheng", "global-prior"])
    args = parser.parse_args()
    trees = [args.tree.resolve(), args.reference.resolve()]
    results: dict[str, list] = {"concurrent": [], "video": []}
    if args.concurrent:
        for method in args.methods:
            for tree in trees:  # interleaved: this tree, then the reference
                results["concurrent"].append(concurrent(tree, method))
                print(json.dumps(results["concurrent"][-1]), flush=True)
    if args.video:
        for tree in trees:
            results["video"].append(video(tree, args.frames))
            print(json.dumps(results["video"][-1]), flush=True)
    write_atomic(RESULTS / "speed.json", json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
