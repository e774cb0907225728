"""How long `compare` takes: the block bootstrap at its largest (600 intervals per side) and,
given two results.json files, a real comparison.

    python benchmarks/bench_compare.py                     # synthetic: 600 intervals, 3 operations
    python benchmarks/bench_compare.py BASE NEW            # two runs (files or folders)

The synthetic load is one scenario with three operations, 600 one-second intervals per side and
`--per-interval` requests per operation per interval (lognormal latency, median 5 ms); each
comparison reads 4 groups × 7 figures (the operations and the whole) with 1,000 resamples.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from readiness.compare.inputs import load_run
from readiness.compare.runs import compare_runs
from readiness.metrics.histogram import LatencyHistogram
from readiness.results import IntervalData, OperationIntervals, RunResult


def _synthetic_intervals(
    rng: np.random.Generator, n: int, per: int, ops: list[str]
) -> IntervalData:
    operations: dict[str, OperationIntervals] = {}
    for op in ops:
        texts = []
        for _ in range(n):
            hist = LatencyHistogram()
            hist.record_many(rng.lognormal(np.log(5000), 0.6, per).astype(np.int64))
            texts.append(hist.encode())
        operations[op] = OperationIntervals(histograms=texts, ok=[per] * n, failed=[0] * n)
    return IntervalData(width_s=1, seconds=[1.0] * n, operations=operations)


def synthetic_run(seed: int, intervals: int, per: int) -> RunResult:
    rng = np.random.default_rng(seed)
    ops = ["echo", "read", "add"]
    latency = {
        "count": 1,
        "p50": 5.0,
        "p90": 9.0,
        "p95": 11.0,
        "p99": 15.0,
        "p999": 20.0,
        "max": 30.0,
        "mean": 6.0,
    }
    totals = {
        "sent": 1,
        "ok": 1,
        "errors": {},
        "throughput_rps": float(per * 3),
        "success_rate": 1.0,
    }
    scenario: dict[str, Any] = {
        "name": "soak",
        "kind": "throughput",
        "target": "demo",
        "status": "passed",
        "error": None,
        "load": {"model": "open", "rate": per * 3},
        "totals": totals,
        "latency_ms": latency,
        "operations": [
            {"name": op, "method": "tools/call", "totals": totals, "latency_ms": latency}
            for op in ops
        ],
        "intervals": _synthetic_intervals(rng, intervals, per, ops),
    }
    run: dict[str, Any] = {
        "schema_version": 2,
        "run": {"name": "bench", "started_at": "", "tool_version": "x", "config": ""},
        "environment": {"hostname": "h", "cpu_count": 2, "platform": "p"},
        "targets": [{"name": "demo", "transport": "stdio", "server_info": {}}],
        "scenarios": [scenario],
    }
    return run  # type: ignore[return-value]


def timed(base: RunResult, new: RunResult, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compare_runs(copy.deepcopy(base), copy.deepcopy(new))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--intervals", type=int, default=600)
    parser.add_argument("--per-interval", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.files:
        base, _ = load_run(args.files[0])
        new, _ = load_run(args.files[1])
        label = f"{args.files[0]} vs {args.files[1]}"
    else:
        base = synthetic_run(1, args.intervals, args.per_interval)
        new = synthetic_run(2, args.intervals, args.per_interval)
        label = (
            f"synthetic: {args.intervals} intervals × 3 operations × {args.per_interval} requests"
        )
    times = timed(base, new, args.repeats)
    rows = len(compare_runs(base, new)["rows"])
    print(f"{label}: {rows} rows")
    print(
        f"compare_runs: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {args.repeats} runs"
    )


if __name__ == "__main__":
    main()
