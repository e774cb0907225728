"""How much a core the resource sampler costs at its default interval.

Samples a real process tree (the demo server over stdio, started by this script and ended by
pid) and this process, for a fixed span, and reports the sampler's CPU as a share of one core
against the same span spent idle (the reference, measured in the same script).

    python benchmarks/bench_sampler.py [--seconds 20] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import anyio

from readiness.metrics.sampler import ProcessSampler


async def span(seconds: float, pids: list[int], interval: float) -> float:
    """CPU seconds this process used over `seconds`, sampling `pids` (none: idle)."""
    cpu0 = time.process_time()
    async with anyio.create_task_group() as tg:
        samplers = [ProcessSampler(pid, interval=interval) for pid in pids]
        for sampler in samplers:
            await tg.start(sampler.run)
        await anyio.sleep(seconds)
        for sampler in samplers:
            sampler.stop()
    return time.process_time() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "readiness.demo"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(2.0)  # let the server finish importing so its start-up is not sampled
        idle = anyio.run(span, args.seconds, [], args.interval)
        busy = anyio.run(span, args.seconds, [server.pid, os.getpid()], args.interval)
    finally:
        server.kill()
        server.wait(timeout=10)
    cost = (busy - idle) / args.seconds * 100
    print(f"interval {args.interval:g}s, {args.seconds:g}s span, 2 processes sampled")
    print(f"idle reference: {idle * 1000:.1f} ms CPU; sampling: {busy * 1000:.1f} ms CPU")
    print(f"sampler cost: {cost:.2f}% of one core (budget < 1%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
