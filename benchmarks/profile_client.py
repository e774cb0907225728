"""Where one benchmark client spends its time: one measured run under cProfile, printed as
microseconds per request by function (own time, then time including callees).

Run: `python benchmarks/profile_client.py --client readiness-engine --transport stdio`.
cProfile slows every Python call, so compare clients with each other under it, not with the
figures of bench_client.py. For a low-overhead view, run the same command with `--no-profile`
under `py-spy record --format raw -o stacks.txt -- …` and read the stacks.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import CLIENTS, openers
from clients import Target, running_noop_http
from machine import pin_cpus


@asynccontextmanager
async def _target(transport: str, server_cpu: int | None) -> AsyncIterator[Target]:
    if transport == "stdio":
        yield Target(server_cpu=server_cpu)
    else:
        async with running_noop_http(server_cpu) as target:
            yield target


async def profile(args: argparse.Namespace) -> None:
    server_cpu = pin_cpus() if args.pin else None
    async with _target(args.transport, server_cpu) as target:
        opener = openers(target)[args.client]
        async with opener() as client:
            await client.run(args.concurrency, max(args.requests // 10, 200))
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            cpu0 = time.process_time()
            if profiler is not None:
                profiler.enable()
            failures = await client.run(args.concurrency, args.requests)
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - cpu0
    print(
        f"{args.client} over {args.transport}, {args.concurrency} in flight: "
        f"{args.requests} requests, {failures} failed, "
        f"{cpu * 1e6 / args.requests:.1f} µs CPU per request"
        + (" (under cProfile)" if profiler is not None else "")
    )
    if profiler is not None:
        report(profiler, args.requests, args.top)


def report(profiler: cProfile.Profile, requests: int, top: int) -> None:
    stats = pstats.Stats(profiler)
    rows = stats.stats  # type: ignore[attr-defined]
    entries: list[tuple[float, float, int, str]] = []
    for (filename, line, name), (_, calls, own, cumulative, _) in rows.items():
        where = f"{Path(filename).name}:{line}" if line else filename
        entries.append((own, cumulative, calls, f"{name} ({where})"))
    for title, cumulative_first in (("own time", False), ("including callees", True)):
        print(f"\nby {title}: µs per request (own, cumulative), calls per request, function")
        ranked = sorted(entries, key=lambda e: e[1] if cumulative_first else e[0], reverse=True)
        for own, cumulative, calls, label in ranked[:top]:
            print(
                f"{own * 1e6 / requests:8.2f} {cumulative * 1e6 / requests:8.2f} "
                f"{calls / requests:6.2f}  {label}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", choices=CLIENTS, default="readiness-engine")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args(argv)
    if not 0 < args.requests <= 2_000_000:
        parser.error("requests must be between 1 and 2,000,000")
    anyio.run(profile, args)


if __name__ == "__main__":
    main()
