"""Worker processes: a closed load from `readiness run --workers 2` against the same load from
one worker, on the no-op HTTP server pinned to its own CPU (budget: 2 workers ≥ 1.4× one on a
2-core machine), and the merged histogram checked against the shards' histograms merged.

Run: `python benchmarks/bench_workers.py [--rounds 3] [--seconds 5] [--concurrency 32]`.
Rounds alternate 1 and 2 workers so drifting background load hits both alike; the medians
and their ratio are printed. Every load goes to 127.0.0.1 and is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def run(folder: Path, suite: Path, workers: int) -> dict[str, Any]:
    out = folder / f"w{workers}-{len(list(folder.iterdir()))}"
    subprocess.run(
        [sys.executable, "-m", "readiness.cli", "run", "-c", str(suite), "--quiet",
         "--workers", str(workers), "--out", str(out)],
        check=False, capture_output=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )  # fmt: skip
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    scenario: dict[str, Any] = data["scenarios"][0]
    if workers > 1:
        shards = [
            json.loads((out / "workers" / str(i) / "results.json").read_text())["scenarios"][0]
            for i in range(workers)
        ]
        merged = LatencyHistogram.decode(scenario["histograms"]["corrected"])
        parts = [LatencyHistogram.decode(s["histograms"]["corrected"]) for s in shards]
        assert merged == LatencyHistogram.merged(parts), "merged histogram differs"
    return scenario


async def main(args: argparse.Namespace) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    print(describe())
    print(f"server pinned to CPU {server_cpu}; workers unpinned; closed load, "
          f"{args.concurrency} users, {args.seconds} s per run, {args.rounds} rounds")  # fmt: skip
    rates: dict[int, list[float]] = {1: [], 2: []}
    async with running_noop_http(server_cpu) as target:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            suite = folder / "suite.toml"
            suite.write_text(
                SUITE.format(url=target.url, concurrency=args.concurrency, seconds=args.seconds)
            )
            runs = folder / "runs"
            runs.mkdir()
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    anyio.run(main, parser.parse_args())
