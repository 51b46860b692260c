"""Batch throughput on Dask, and the figures for scaling to a 100k-file cluster.

Part 1, throughput (same run, same images): a folder tree of ``--images`` gray
photographs (BSDS500, scaled by ``--scale``; scikit-image photographs when the
shared data are absent) colorized with the shipped model by `run_batch` with
the apply task, (a) in this process without Dask, (b) on a local cluster of 1
and (c) 2 single-threaded worker processes. Clusters are started and every
worker has loaded the model before the clock starts (start-up is reported on
its own); each run writes a fresh output tree; the configurations take turns,
``--repeats`` rounds, and the median run is reported. CPU time of the
colorizing processes over wall time says how many cores a configuration
actually got on a shared machine.

Part 2, simulation (no model): the engine's cost per task (scheduler, driver,
journal commit, progress bar) from ``--tasks`` no-op tasks on 2 workers; the
journal at 100,000 rows (size on disk, commit time, the rerun's read of it);
and what a lost worker costs (a worker SIGKILLed mid-batch of sleeping tasks:
extra wall time, tasks run twice, time until the nanny's replacement joins).

    PYTHONPATH=. python benchmarks/bench_batch.py [--images 200] [--scale 0.5] [--repeats 3] [--tasks 4000]

Writes benchmarks/results/batch.md and batch.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import RESULTS, SHARED_DATA, write_atomic

from deepcolor.batch import Job, Journal, run_batch


# ------------------------------------------------------------------ images
def make_tree(folder: Path, n: int, scale: float) -> list[Path]:
    """``n`` gray PNGs in 4 sub-folders (BSDS500 when present); returns their paths."""
    import cv2
    import numpy as np

    sources = sorted((SHARED_DATA / "bsds500" / "images").glob("*/*.jpg"))
    if not sources:
        from skimage import data

        photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
        grays = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY) for p in photos]
    paths = []
    for i in range(n):
        if sources:
            gray = cv2.imread(str(sources[i % len(sources)]), cv2.IMREAD_GRAYSCALE)
        else:  # vary the crop so the images differ
            g = grays[i % len(grays)]
            gray = np.roll(g, 7 * i, axis=1)[: 321, : 481]
        if scale != 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        path = folder / f"box{i % 4}" / f"scan{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), gray)
        paths.append(path)
    return paths


def _load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ part 1: throughput
def apply_jobs(src: Path, out: Path) -> tuple[list[Job], int]:
    """The jobs of `apply src -o out --recursive`, planned as the CLI plans them."""
    from deepcolor.batch import mirrored_outputs, plan_batch
    from deepcolor.io import list_images, output_paths

    pairs = mirrored_outputs([(src, p) for p in list_images([src], recursive=True)], out, name_outputs=output_paths)
    out.mkdir(parents=True, exist_ok=True)
    return plan_batch(pairs, out)


def throughput(n: int, scale: float, repeats: int, work: Path) -> dict:
    """images/s of the three configurations, their runs interleaved so a change of load hits them alike."""
    import contextlib

    from distributed import Client

    from deepcolor.batch.apply import colorize_task, model_resource
    from deepcolor.batch.cluster import local_cluster
    from deepcolor.batch.engine import load_resource

    src = work / "in"
    make_tree(src, n, scale)
    resource = model_resource(None)
    task = colorize_task()
    names = {0: "single process (no Dask)", 1: "1 worker", 2: "2 workers"}
    clients: dict[int, object] = {0: None}
    results: dict[str, dict] = {name: {"runs": [], "cores": [], "cpu_per_image": []} for name in names.values()}

    def cpu_seconds(client) -> float:
        """CPU time (user + system) used so far by the processes that colorize."""
        times = client.run(os.times).values() if client is not None else [os.times()]
        return sum(t.user + t.system for t in times)

    with contextlib.ExitStack() as stack:
        for workers in (0, 1, 2):  # start, load the model, compile: none of it timed
            t0 = time.perf_counter()
            if workers:
                cluster = stack.enter_context(local_cluster(workers))
                clients[workers] = stack.enter_context(Client(cluster))
                clients[workers].wait_for_workers(workers)
                clients[workers].run(load_resource, resource)
            else:
                load_resource(resource)
            warm = apply_jobs(src, work / f"warm{workers}")[0][: 2 * max(1, workers)]
            run_batch(warm, task, resource=resource, client=clients[workers], progress=False)
            results[names[workers]]["startup_s"] = time.perf_counter() - t0
            print(f"{names[workers]}: started and warm in {time.perf_counter() - t0:.1f} s", flush=True)
        for r in range(repeats):
            for workers, name in names.items():
                jobs, _ = apply_jobs(src, work / f"out{workers}_{r}")
                cpu0, t0 = cpu_seconds(clients[workers]), time.perf_counter()
                report = run_batch(jobs, task, resource=resource, client=clients[workers], progress=False)
                seconds, cpu = time.perf_counter() - t0, cpu_seconds(clients[workers]) - cpu0
                assert report.done == n and not report.failed, report.failed[:3]
                row = results[name]
                row["runs"].append(n / seconds)
                row["cores"].append(cpu / seconds)
                row["cpu_per_image"].append(cpu / n)
                print(f"  {name} run {r + 1}: {n / seconds:.2f} images/s on {cpu / seconds:.2f} cores (load {_load_average()})", flush=True)
    for row in results.values():
        row["images_per_s"] = statistics.median(row["runs"])
        row["cores_used"] = statistics.median(row["cores"])
        row["cpu_s_per_image"] = statistics.median(row["cpu_per_image"])
        row["load_after"] = _load_average()
    results[names[0]].pop("startup_s")
    one = results["1 worker"]["images_per_s"]
    for row in results.values():
        row["vs_1_worker"] = row["images_per_s"] / one
    return results


# ------------------------------------------------------------------ part 2: simulation
def _noop(job: Job, resource) -> str:
    return "done"


def _sleep(job: Job, resource, *, seconds: float, log: str) -> str:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, f"{job.key} {os.getpid()}\n".encode())
    os.close(fd)
    time.sleep(seconds)
    return "done"


def _fake_jobs(n: int, out: Path) -> list[Job]:
    return [
        Job(f"box{i // 1000:03d}/folder{i // 100 % 10}/scan{i:06d}.tif", out / f"s{i}", out / f"s{i}", f"box{i // 1000:03d}/s{i}.tif", 123_456, 1_700_000_000_000_000_000 + i)
        for i in range(n)
    ]


def engine_overhead(n_tasks: int, work: Path) -> dict:
    """Wall time per no-op task through the whole engine on 2 workers, journal included."""
    from distributed import Client

    from deepcolor.batch.cluster import local_cluster

    out = work / "overhead"
    out.mkdir()
    with local_cluster(2) as cluster, Client(cluster) as client, Journal.in_folder(out) as journal:
        client.wait_for_workers(2)
        run_batch(_fake_jobs(50, out), _noop, client=client, progress=False)  # warm the connections
        t0 = time.perf_counter()
        report = run_batch(_fake_jobs(n_tasks, out), _noop, client=client, journal=journal, progress=True, desc="no-op tasks")
        seconds = time.perf_counter() - t0
    assert report.done == n_tasks
    return {"tasks": n_tasks, "seconds": seconds, "ms_per_task": 1000 * seconds / n_tasks, "load": _load_average()}


def journal_at_scale(rows: int, work: Path) -> dict:
    """Size and speed of a journal of ``rows`` files."""
    folder = work / "journal"
    folder.mkdir()
    jobs = _fake_jobs(rows, folder)
    with Journal.in_folder(folder, settings='{"model": "colorizer.safetensors", "saturation": 1.0}') as journal:
        single = 5000
        t0 = time.perf_counter()
        for job in jobs[:single]:  # the engine's way: one committed transaction per file
            journal.record(job.key, job.output_key, "done", size=job.size, mtime_ns=job.mtime_ns, seconds=0.25, worker="node017.cluster:123456")
        per_commit = (time.perf_counter() - t0) / single
        journal.record_many(
            dict(input=j.key, output=j.output_key, status="done", size=j.size, mtime_ns=j.mtime_ns, seconds=0.25, worker="node017.cluster:123456")
            for j in jobs[single:]
        )
        t0 = time.perf_counter()
        assert len(journal.rows()) == rows
        read = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {"rows": rows, "bytes": size, "bytes_per_row": size / rows, "commit_ms": 1000 * per_commit, "read_all_s": read}


def lost_worker(work: Path, n: int = 40, seconds: float = 0.25) -> dict:
    """A sleeping batch on 2 workers, with and without one worker SIGKILLed halfway."""
    from distributed import Client

    from deepcolor.batch.cluster import local_cluster

    out = work / "lost"
    out.mkdir()
    result = {}
    with local_cluster(2) as cluster, Client(cluster) as client:
        for kill in (False, True):
            client.wait_for_workers(2)
            log = work / f"lost_{kill}.log"
            log.touch()
            task = functools.partial(_sleep, seconds=seconds, log=str(log))
            rejoined: list[float] = []

            def killer() -> None:
                while len(log.read_text().splitlines()) < n // 2:
                    time.sleep(0.01)
                time.sleep(seconds / 2)  # mid-task
                pid = int(log.read_text().splitlines()[-1].split()[1])
                os.kill(pid, signal.SIGKILL)
                t_kill = time.perf_counter()
                while len(client.nthreads()) == 2:
                    time.sleep(0.01)
                client.wait_for_workers(2, timeout=120)
                rejoined.append(time.perf_counter() - t_kill)

            thread = threading.Thread(target=killer, daemon=True)
            if kill:
                thread.start()
            t0 = time.perf_counter()
            report = run_batch(_fake_jobs(n, out), task, client=client, progress=False)
            wall = time.perf_counter() - t0
            if kill:
                thread.join(120)
            runs = len(log.read_text().splitlines())
            result["killed" if kill else "clean"] = {
                "wall_s": wall, "done": report.done, "failed": len(report.failed), "task_runs": runs,
                "rejoin_s": rejoined[0] if rejoined else None,
            }
    return {"tasks": n, "task_s": seconds, **result}


# ------------------------------------------------------------------ report
def write_report(res: dict) -> None:
    lines = [
        "# Batch throughput on Dask (`python benchmarks/bench_batch.py`)",
        "",
        f"{res['images']} gray images (BSDS500 at scale {res['scale']}, {res['pixels']}) in 4 folders, shipped model, "
        f"full apply task (read, colorize, refine, atomic write); median of {res['repeats']} runs; "
        f"load average before: {res['load_before']} (1/5/15 min, 2-core machine shared with other jobs).",
        "",
        "| configuration | images/s | vs 1 worker | cores it got | CPU s per image | start-up (s) | load after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in res["throughput"].items():
        startup = f"{row['startup_s']:.1f}" if "startup_s" in row else "-"
        lines.append(
            f"| {name} | {row['images_per_s']:.2f} | {row['vs_1_worker']:.2f}x | {row['cores_used']:.2f} | "
            f"{row['cpu_s_per_image']:.3f} | {startup} | {row['load_after']} |"
        )
    lines += [
        "",
        "Cores it got: CPU time of the colorizing processes / wall time (the driver's own share excluded); "
        "with other jobs on the machine, a worker gets less than a core, and images/s follow the cores obtained.",
    ]
    o, j, lw = res["overhead"], res["journal"], res["lost_worker"]
    lines += [
        "",
        "## Simulation: what 100k files cost the engine",
        "",
        f"- Engine cost per task: {o['ms_per_task']:.2f} ms ({o['tasks']} no-op tasks on 2 local workers, "
        f"journal and progress bar included; load {o['load']}).",
        f"- Journal at {j['rows']:,} rows: {j['bytes'] / 1e6:.1f} MB ({j['bytes_per_row']:.0f} B/row); "
        f"one committed row {j['commit_ms']:.3f} ms; a rerun reads all rows in {j['read_all_s']:.2f} s.",
        f"- Lost worker ({lw['tasks']} tasks of {lw['task_s']} s on 2 workers, one SIGKILLed halfway): "
        f"wall {lw['clean']['wall_s']:.1f} s clean vs {lw['killed']['wall_s']:.1f} s with the kill; "
        f"{lw['killed']['task_runs'] - lw['tasks']} task(s) ran twice; the replacement worker joined "
        f"{lw['killed']['rejoin_s']:.1f} s after the kill; {lw['killed']['failed']} failed.",
    ]
    write_atomic(RESULTS / "batch.md", "\n".join(lines) + "\n")
    write_atomic(RESULTS / "batch.json", json.dumps(res, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--skip-throughput", action="store_true", help="only the simulation")
    args = parser.parse_args()
    res = {"images": args.images, "scale": args.scale, "repeats": args.repeats, "load_before": _load_average()}
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        work = Path(tmp)
        res["journal"] = journal_at_scale(100_000, work)
        print(res["journal"], flush=True)
        res["overhead"] = engine_overhead(args.tasks, work)
        print(res["overhead"], flush=True)
        res["lost_worker"] = lost_worker(work)
        print(res["lost_worker"], flush=True)
        if not args.skip_throughput:
            res["throughput"] = throughput(args.images, args.scale, args.repeats, work)
            import cv2

            h, w = cv2.imread(str(next((work / "in").rglob("*.png"))), cv2.IMREAD_GRAYSCALE).shape
            res["pixels"] = f"about {w}x{h}"
            write_report(res)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
