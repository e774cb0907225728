"""Worker processes: a closed load from `readiness run --workers 2` against the same load from
one worker, on the no-op HTTP server pinned to its own CPU (budget: 2 workers ≥ 1.4× one on a
2-core machine), and the merged histogram checked against the shards' histograms merged.

Run: `python benchmarks/bench_workers.py [--rounds 3] [--seconds 5] [--concurrency 32]`.
Rounds alternate 1 and 2 workers so drifting background load hits both alike; the medians
and their ratio are printed. Every load goes to 127.0.0.1 and is bounded in time.

With `--dask` (needs readiness[distributed]) the rounds alternate `--workers 2` and `--dask`
on a 2-worker LocalCluster bound to 127.0.0.1 (one `shard` slot each): the same two shards,
placed by Dask instead of by readiness (budget: within noise of each other).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import running_noop_http
from machine import describe

from readiness.metrics.histogram import LatencyHistogram

BUDGET = 1.4
SUITE = """
[run]
name = "bench-workers"

[[targets]]
name = "noop"
transport = "http"
url = "{url}"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = {{ text = "hi" }}

[[scenarios]]
name = "capacity"
kind = "throughput"
warmup = "1s"
load = {{ model = "closed", concurrency = {concurrency}, duration = "{seconds}s" }}
thresholds = ["success_rate >= 99%"]
"""


def run(folder: Path, suite: Path, workers: int, dask: str | None = None) -> dict[str, Any]:
    out = folder / f"w{workers}-{len(list(folder.iterdir()))}"
    split = ["--dask", dask] if dask else ["--workers", str(workers)]
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "run", "-c", str(suite), "--quiet",
         *split, "--out", str(out)],
        check=False, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    if not (out / "results.json").exists():
        raise SystemExit(f"the run wrote no results (exit {done.returncode}): {done.stderr}")
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    scenario: dict[str, Any] = data["scenarios"][0]
    if dask:  # the shards came back over Dask: the merge is checked by count
        merged = LatencyHistogram.decode(scenario["histograms"]["corrected"])
        assert merged.count == scenario["totals"]["ok"], "merged histogram lost samples"
    elif workers > 1:
        shards = [
            json.loads((out / "workers" / str(i) / "results.json").read_text())["scenarios"][0]
            for i in range(workers)
        ]
        merged = LatencyHistogram.decode(scenario["histograms"]["corrected"])
        parts = [LatencyHistogram.decode(s["histograms"]["corrected"]) for s in shards]
        assert merged == LatencyHistogram.merged(parts), "merged histogram differs"
    return scenario


@contextmanager
def suite_folder(url: str, args: argparse.Namespace) -> Iterator[tuple[Path, Path]]:
    """A temporary folder holding the suite against `url` and a folder for the runs."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suite = folder / "suite.toml"
        suite.write_text(SUITE.format(url=url, concurrency=args.concurrency, seconds=args.seconds))
        runs = folder / "runs"
        runs.mkdir()
        yield suite, runs


async def main(args: argparse.Namespace) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    print(describe())
    print(f"server pinned to CPU {server_cpu}; workers unpinned; closed load, "
          f"{args.concurrency} users, {args.seconds} s per run, {args.rounds} rounds")  # fmt: skip
    rates: dict[int, list[float]] = {1: [], 2: []}
    async with running_noop_http(server_cpu) as target:
        with suite_folder(target.url, args) as (suite, runs):
            for _ in range(args.rounds):
                for workers in (1, 2):
                    s = await anyio.to_thread.run_sync(run, runs, suite, workers)
                    rps = s["totals"]["throughput_rps"]
                    cpu = s["generator"]["cpu_percent"]
                    rates[workers].append(rps)
                    print(f"  {workers} worker(s): {rps:8.0f} req/s  generator CPU {cpu:5.0f}%"
                          f"  sent {s['totals']['sent']}")  # fmt: skip
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    ratio = two / one if one else float("nan")
    verdict = "meets" if ratio >= BUDGET else "MISSES"
    print(f"median: 1 worker {one:.0f} req/s, 2 workers {two:.0f} req/s; ratio {ratio:.2f}×"
          f" ({verdict} the {BUDGET}× budget); merged histograms exact")  # fmt: skip


async def main_dask(args: argparse.Namespace) -> None:
    from distributed import LocalCluster

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    print(describe())
    print(f"server pinned to CPU {server_cpu}; shards unpinned; closed load, "
          f"{args.concurrency} users, {args.seconds} s per run, {args.rounds} rounds")  # fmt: skip
    rates: dict[str, list[float]] = {"--workers 2": [], "--dask": []}
    with LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
        resources={"shard": 1}, dashboard_address="127.0.0.1:0",
    ) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        async with running_noop_http(server_cpu) as target:
            with suite_folder(target.url, args) as (suite, runs):
                for _ in range(args.rounds):
                    for label, dask in (("--workers 2", None), ("--dask", address)):
                        s = await anyio.to_thread.run_sync(run, runs, suite, 2, dask)
                        rps = s["totals"]["throughput_rps"]
                        rates[label].append(rps)
                        print(f"  {label:12} {rps:8.0f} req/s  sent {s['totals']['sent']}")
    local, dask_ = statistics.median(rates["--workers 2"]), statistics.median(rates["--dask"])
    ratio = dask_ / local if local else float("nan")
    print(f"median: --workers 2 {local:.0f} req/s, --dask (2-worker LocalCluster) {dask_:.0f}"
          f" req/s; ratio {ratio:.2f}×; merged histograms hold every sample")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--dask", action="store_true", help="--workers 2 against --dask")
    parsed = parser.parse_args()
    anyio.run(main_dask if parsed.dask else main, parsed)
