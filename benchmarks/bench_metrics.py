"""What live metrics cost: client CPU per request with `/metrics` served and scraped every
second, against the same load without them (budget: at most 5% more).

The engine (`run_load`, watched as a scenario watches it) drives a no-op server in
time-bounded slices, the endpoint open throughout (as in a run). Each round runs one slice
of each kind, in alternating order: "plain" — the load not registered and the scraper
stopped (SIGSTOP) — and "exposed" — the load and the instruments registered with LiveMetrics
(as `drive()` does), a separate scraper process fetching /metrics once a second. Ratios are
taken within a round; the table gives the median over rounds, and the scrapes' own CPU
(thread time of rendering them, measured by the endpoint) as a share of the slices' CPU.

    python benchmarks/bench_metrics.py [--transport stdio|http] [--rounds 8] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import (
    CALL,
    CALL_PARAMS,
    LOAD_DEADLINE_S,
    Target,
    _open_readiness,
    running_noop_http,
)
from machine import describe, pin_cpus, wait_for_quiet

from readiness.engine.load import LoadPlan, ProgressLabel, run_load
from readiness.engine.progress import ignore_progress
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload
from readiness.metrics.endpoint import MetricsExport, open_metrics
from readiness.metrics.live import Exposed
from readiness.metrics.recorder import Recorder
from readiness.protocol.connection import Connection
from readiness.protocol.outcome import Outcome
from readiness.scenarios.instruments import watch

SCRAPER = """
import os, sys, time, urllib.request
url, parent = sys.argv[1], os.getppid()
while os.getppid() == parent:  # ends with the benchmark, however that ends
    time.sleep(1.0)
    try:
        urllib.request.urlopen(url, timeout=5).read()
    except OSError:
        pass
"""


@dataclass(frozen=True)
class Slice:
    requests: int
    cpu_s: float
    wall_s: float
    scrapes: int
    scrape_cpu_s: float = 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s * 1e6 / max(self.requests, 1)


async def one_slice(
    conn: Connection, concurrency: int, seconds: float, export: MetricsExport | None
) -> Slice:
    """One time-bounded load; with `export`, registered as `drive()` registers it."""
    workload = Workload([Operation(0, "echo", CALL, CALL_PARAMS, 1.0)])
    plan = LoadPlan(
        model="closed", level=constant(concurrency, seconds), duration=seconds, requests=None
    )
    label = ProgressLabel("bench", "throughput", "noop", "load")
    recorder = Recorder(1)
    live = None if export is None else export.live
    scrapes0, scrape_cpu0 = (0, 0.0) if live is None else (live.scrapes, live.scrape_cpu_s)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    exposed = None if live is None else Exposed(live, "noop", "bench")
    async with watch(conn.pid, live=exposed):
        registered = (
            nullcontext() if live is None else live.load("noop", "bench", ["echo"], recorder)
        )
        with registered:
            run = await run_load(
                conn,
                workload,
                plan,
                deadline_s=LOAD_DEADLINE_S,
                label=label,
                on_progress=ignore_progress,
                recorder=recorder,
            )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ok = run.recording.operations[0].counts[Outcome.OK]
    if live is None:
        return Slice(ok, cpu, wall, 0)
    return Slice(ok, cpu, wall, live.scrapes - scrapes0, live.scrape_cpu_s - scrape_cpu0)


async def bench(
    target: Target, args: argparse.Namespace, port: int, scraper: int
) -> list[tuple[Slice, Slice]]:
    """Rounds of a plain slice (scraper stopped, load not registered) and an exposed one
    (registered, scraper running), in alternating order, the endpoint open throughout as in
    a run: its start-up is once per run, not per slice."""
    rounds: list[tuple[Slice, Slice]] = []
    async with _open_readiness(target) as conn, open_metrics(port=port) as export:
        await one_slice(conn, args.concurrency, 1.0, None)  # warm-up

        async def plain() -> Slice:
            os.kill(scraper, signal.SIGSTOP)
            return await one_slice(conn, args.concurrency, args.seconds, None)

        async def exposed() -> Slice:
            os.kill(scraper, signal.SIGCONT)
            try:
                return await one_slice(conn, args.concurrency, args.seconds, export)
            finally:
                os.kill(scraper, signal.SIGSTOP)

        for i in range(args.rounds):
            await wait_for_quiet(below_cores=0.3, within=10.0)
            if i % 2 == 0:
                p, e = await plain(), await exposed()
            else:
                e, p = await exposed(), await plain()
            rounds.append((p, e))
            print(
                f"round {i + 1}: plain {p.cpu_us:.1f} µs/req ({p.requests:,} req),"
                f" exposed {e.cpu_us:.1f} µs/req ({e.requests:,} req,"
                f" {e.scrapes} scrapes, {e.scrape_cpu_s * 1000:.1f} ms),"
                f" ratio {e.cpu_us / p.cpu_us:.3f}",
                file=sys.stderr,
            )
    return rounds


async def main_async(
    args: argparse.Namespace, port: int, scraper: int
) -> list[tuple[Slice, Slice]]:
    if args.transport == "stdio":
        return await bench(Target(server_cpu=args.server_cpu), args, port, scraper)
    async with running_noop_http(args.server_cpu) as target:
        return await bench(target, args, port, scraper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    args.server_cpu = None if args.no_pin else pin_cpus()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    # Its own process: the scraper's CPU is not the generator's.
    scraper = subprocess.Popen(
        [sys.executable, "-c", SCRAPER, f"http://127.0.0.1:{port}/metrics"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rounds = anyio.run(main_async, args, port, scraper.pid)
    finally:
        os.kill(scraper.pid, signal.SIGCONT)
        scraper.kill()
        scraper.wait(timeout=10)
    ratios = [e.cpu_us / p.cpu_us for p, e in rounds]
    median = statistics.median(ratios)
    plain = statistics.median(p.cpu_us for p, _ in rounds)
    exposed = statistics.median(e.cpu_us for _, e in rounds)
    rps = statistics.median(p.requests / p.wall_s for p, _ in rounds)
    scrapes = sum(e.scrapes for _, e in rounds)
    # The scrapes' own CPU (thread time of rendering them) against all CPU of those slices.
    share = sum(e.scrape_cpu_s for _, e in rounds) / sum(e.cpu_s for _, e in rounds)
    per_scrape_ms = sum(e.scrape_cpu_s for _, e in rounds) / max(scrapes, 1) * 1000
    print(describe())
    print(
        "| transport | in flight | rounds | plain req/s | plain CPU µs/request |"
        " exposed + scraped 1/s | exposed ÷ plain: median round (range) | scrapes |"
        " CPU per scrape | scrapes' share of CPU | budget ≤ 5% |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    met = "met" if median <= 1.05 and share <= 0.05 else "MISSED"
    print(
        f"| {args.transport} | {args.concurrency} | {len(rounds)} | {rps:,.0f} | {plain:.1f} |"
        f" {exposed:.1f} | {median:.3f}× ({min(ratios):.3f}–{max(ratios):.3f}) | {scrapes} |"
        f" {per_scrape_ms:.2f} ms | {share:.2%} | {met} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
