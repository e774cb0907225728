"""How much memory the generator needs for a long run: 1,000,000 `tools/call` requests through
`run_load` (closed model, recording included) against the no-op stdio server.

Run: `python benchmarks/bench_memory.py` (about a minute at 20–50k requests/s; `--help`).
Reports this process's peak RSS (`ru_maxrss`, which excludes the server child) against the
150 MB budget, the RSS once a second during the run (so growth shows as a slope, not only a
peak), and what the recording itself holds at the end. The load is bounded in count and time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import Target, open_readiness_engine
from machine import describe, pin_cpus

from readiness.engine.progress import Progress

BUDGET_MB = 150.0
MAX_REQUESTS = 10_000_000
_MB = 1024 * 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssTimeline:
    """The engine's once-a-second progress, with this process's RSS at that moment."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.points: list[tuple[float, int, float]] = []  # (elapsed s, sent, RSS MB)

    def __call__(self, progress: Progress) -> None:
        rss = self._process.memory_info().rss / _MB
        self.points.append((progress.elapsed_s, progress.sent, rss))
        if len(self.points) % 10 == 0:
            print(
                f"  {progress.elapsed_s:5.0f} s  {progress.sent:>9,} sent  "
                f"{progress.rps:8,.0f} req/s  RSS {rss:6.1f} MB",
                file=sys.stderr,
                flush=True,
            )


async def measure(args: argparse.Namespace) -> None:
    server_cpu = pin_cpus() if args.pin else None
    timeline = RssTimeline()
    process = psutil.Process()
    async with open_readiness_engine(
        Target(server_cpu=server_cpu, request_timeout=args.request_timeout),
        instruments=args.instruments,
        on_progress=timeline,
    ) as client:
        await client.run(args.concurrency, 10_000)  # warm-up: imports, caches, first intervals
        rss_before = process.memory_info().rss / _MB
        peak_before = peak_rss_mb()
        timeline.points.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        failures = await client.run(args.concurrency, args.requests)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rss_after = process.memory_info().rss / _MB
        recording = client.last_recording
    peak = peak_rss_mb()
    print(f"Machine: {describe()}")
    print(
        f"Load: {args.requests:,} requests, closed model, {args.concurrency} in flight, "
        f"stdio no-op server, request timeout {args.request_timeout:g} s"
        + (", scenario instruments on" if args.instruments else "")
    )
    print(
        f"Took {wall:.1f} s ({args.requests / wall:,.0f} req/s), "
        f"{cpu * 1e6 / args.requests:.1f} µs CPU per request, {failures} failed"
    )
    print(f"RSS: {rss_before:.1f} MB before the run, {rss_after:.1f} MB after")
    if timeline.points:
        first, last = timeline.points[0], timeline.points[-1]
        slope = (last[2] - first[2]) / max(last[1] - first[1], 1) * 1e6
        print(
            f"RSS during the run: {min(p[2] for p in timeline.points):.1f}–"
            f"{max(p[2] for p in timeline.points):.1f} MB over {len(timeline.points)} "
            f"one-second samples; {slope:+.2f} MB per million requests from first to last"
        )
        step = max(len(timeline.points) // 30, 1)
        print(
            "RSS by second (s: MB): "
            + ", ".join(f"{t:.0f}: {rss:.1f}" for t, _, rss in timeline.points[::step])
        )
    if recording is not None:
        print(f"Recording at the end: {len(recording.intervals)} one-second intervals")
    verdict = "met" if peak < BUDGET_MB else "**MISSED**"
    print(
        f"Peak RSS (ru_maxrss, generator only): {peak:.1f} MB "
        f"(before the run {peak_before:.1f} MB); budget < {BUDGET_MB:.0f} MB: {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--instruments", action="store_true", help="also watch the run as a scenario does"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=10.0, help="seconds (readiness's default: 10)"
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args(argv)
    if not 0 < args.requests <= MAX_REQUESTS:
        parser.error(f"requests must be between 1 and {MAX_REQUESTS:,}")
    anyio.run(measure, args)


if __name__ == "__main__":
    main()
