"""How much CPU readiness's client and engine spend per request, against raw reference clients
driving the same no-op MCP server, over stdio and Streamable HTTP.

Run: `python benchmarks/bench_client.py` (about three minutes; `--help` for the knobs).

For each transport and concurrency, every client is opened at once (for stdio, each starts
its own no-op server child, pinned to the other CPU), warmed up, and then the clients take
turns in rounds: in each round every client sends one slice of `tools/call` requests from N
closed-loop callers, in an order that rotates from round to round. Slices are short and
interleaved so that the machine's drift (a shared virtual machine's speed changes by tens of
percent from second to second) hits every client alike; ratios are taken between slices of
the same round. Client CPU is the `time.process_time()` delta of this process (the server is
another process); throughput is requests over wall time. A round in which other processes
used more than a fifth of a core is discarded and run again. All traffic stays on 127.0.0.1;
every load is bounded.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import (
    BenchClient,
    Target,
    open_raw_http,
    open_raw_socket_http,
    open_raw_stdio,
    open_readiness_connection,
    open_readiness_engine,
    running_noop_http,
)
from machine import (
    busy_s,
    describe,
    io_syscalls,
    pin_cpus,
    process_cpu_s,
    steal_s,
    wait_for_quiet,
)

CLIENTS = (
    "reference",
    "raw-socket",
    "readiness-aiohttp",
    "readiness-conn",
    "readiness-engine",
    "readiness-scenario",
)
READINESS = CLIENTS[2:]
# Over HTTP, readiness-conn/engine/scenario take the default client (auto: the fast one for
# http://); readiness-aiohttp is readiness-conn on aiohttp, the client before the fast path.
HTTP_ONLY = ("raw-socket", "readiness-aiohttp")
FAST_BUDGET = 0.5  # fast readiness-conn CPU/request ÷ readiness-aiohttp's
RAW_BUDGET = 1.5  # fast readiness-conn CPU/request ÷ raw-socket's
JUDGED = "readiness-engine"  # the budget is on the client with recording included
CPU_BUDGET = 1.5  # readiness CPU/request ÷ reference CPU/request
SCALING_BUDGET = 0.9  # throughput at the highest concurrency ÷ at the lowest
MAX_SLICE = 1_000_000  # every load is bounded
QUIET_CORES = 0.15  # before each round, wait for other processes to use less than this …
QUIET_WAIT_S = 30.0  # … for at most this long
DISTURBED_PERCENT = 20.0  # other processes' CPU (% of a core) that spoils a round
MAX_ROUNDS_FACTOR = 3  # give up after this many times the rounds asked for

Opener = Callable[[], AbstractAsyncContextManager[BenchClient]]


@dataclass(frozen=True)
class Slice:
    """One client's turn in one round."""

    transport: str
    client: str
    concurrency: int
    round: int
    requests: int
    failures: int
    cpu_s: float
    sys_s: float  # the kernel's part of cpu_s (pipe and socket I/O, wake-ups)
    wall_s: float
    server_cpu_s: float | None
    other_cpu_s: float  # what other processes on the machine used meanwhile
    steal_s: float  # time the hypervisor gave our virtual CPUs to someone else
    reads: int  # read and write system calls: fewer per request means better batching
    writes: int

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s * 1e6 / self.requests

    @property
    def other_cpu_percent(self) -> float:
        return 100 * self.other_cpu_s / self.wall_s


def openers(target: Target) -> dict[str, Opener]:
    return {
        "reference": lambda: (open_raw_stdio if target.url is None else open_raw_http)(target),
        "raw-socket": lambda: open_raw_socket_http(target),
        "readiness-aiohttp": lambda: open_readiness_connection(target, "aiohttp"),
        "readiness-conn": lambda: open_readiness_connection(target),
        "readiness-engine": lambda: open_readiness_engine(target),
        "readiness-scenario": lambda: open_readiness_engine(target, instruments=True),
    }


async def run_slice(
    client: BenchClient, server: psutil.Process | None, *, transport: str, name: str,
    concurrency: int, round_: int, requests: int,
) -> Slice:  # fmt: skip
    busy0, steal0, server0 = busy_s(), steal_s(), process_cpu_s(server)
    reads0, writes0 = io_syscalls()
    sys0, cpu0, wall0 = os.times().system, time.process_time(), time.perf_counter()
    failures = await client.run(concurrency, requests)
    wall1, cpu1, sys1 = time.perf_counter(), time.process_time(), os.times().system
    reads1, writes1 = io_syscalls()
    busy1, steal1, server1 = busy_s(), steal_s(), process_cpu_s(server)
    server_cpu = None if server0 is None or server1 is None else server1 - server0
    other = busy1 - busy0 - (cpu1 - cpu0) - (server_cpu or 0.0)
    return Slice(
        transport=transport,
        client=name,
        concurrency=concurrency,
        round=round_,
        requests=requests,
        failures=failures,
        cpu_s=cpu1 - cpu0,
        sys_s=sys1 - sys0,
        wall_s=wall1 - wall0,
        server_cpu_s=server_cpu,
        other_cpu_s=max(other, 0.0),
        steal_s=steal1 - steal0,
        reads=reads1 - reads0,
        writes=writes1 - writes0,
    )


async def run_level(
    transport: str, target: Target, concurrency: int, args: argparse.Namespace
) -> tuple[list[Slice], int]:
    """The clean slices of `args.rounds` rounds at one concurrency, and the rounds discarded."""
    names = [n for n in args.clients if transport == "http" or n not in HTTP_ONLY]
    requests = args.stdio_slice if transport == "stdio" else args.http_slice
    clean: list[Slice] = []
    discarded = 0
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(openers(target)[name]()) for name in names}
        servers = {
            name: None if c.server_pid is None else psutil.Process(c.server_pid)
            for name, c in clients.items()
        }
        for client in clients.values():
            await client.run(concurrency, requests)  # warm-up: connections, caches, JIT-free
        round_ = 0
        while len(clean) < args.rounds * len(names) and round_ < args.rounds * MAX_ROUNDS_FACTOR:
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            gc.collect()
            if not args.noisy:
                await wait_for_quiet(below_cores=QUIET_CORES, within=QUIET_WAIT_S)
            slices = [
                await run_slice(
                    clients[name],
                    servers[name],
                    transport=transport,
                    name=name,
                    concurrency=concurrency,
                    round_=round_,
                    requests=requests,
                )
                for name in order
            ]
            round_ += 1
            spoiled = (
                not args.noisy and max(s.other_cpu_percent for s in slices) > DISTURBED_PERCENT
            )
            if spoiled:
                discarded += 1
            else:
                clean.extend(slices)
            print(
                f"  {transport:5} c={concurrency:<3} round {round_:>2}"
                + (" (discarded: other processes were busy)" if spoiled else "")
                + "".join(f"  {s.client} {s.cpu_us_per_request:.1f}" for s in slices)
                + " µs/req",
                file=sys.stderr,
                flush=True,
            )
    return clean, discarded


async def run_all(args: argparse.Namespace) -> tuple[list[Slice], dict[str, int]]:
    slices: list[Slice] = []
    discarded: dict[str, int] = {}
    server_cpu = pin_cpus() if args.pin else None

    async def levels(transport: str, target: Target) -> None:
        for concurrency in args.concurrency:
            clean, dropped = await run_level(transport, target, concurrency, args)
            slices.extend(clean)
            discarded[f"{transport} c={concurrency}"] = dropped

    if "stdio" in args.transport:
        await levels("stdio", Target(server_cpu=server_cpu))
    if "http" in args.transport:
        async with running_noop_http(server_cpu) as target:
            await levels("http", target)
    return slices, discarded


# -- summary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    transport: str
    client: str
    concurrency: int
    slices: int
    requests: int
    cpu_us: float  # all clean slices: CPU over requests
    cpu_us_median: float  # the median slice
    sys_us: float
    reads_per_request: float
    writes_per_request: float
    ratio: float | None  # median over rounds of (this ÷ reference), same round
    ratio_total: float | None  # cpu_us ÷ reference cpu_us
    rps: float  # all clean slices: requests over wall time
    client_cpu_percent: float
    server_cpu_percent: float | None
    other_cpu_percent: float
    failures: int


def summarize(slices: Sequence[Slice]) -> list[Row]:
    groups: dict[tuple[str, int, str], list[Slice]] = {}
    for s in slices:
        groups.setdefault((s.transport, s.concurrency, s.client), []).append(s)
    rows = []
    for (transport, concurrency, client), group in sorted(
        groups.items(), key=lambda kv: (kv[0][0] != "stdio", kv[0][1], CLIENTS.index(kv[0][2]))
    ):
        reference = {s.round: s for s in groups.get((transport, concurrency, "reference"), [])}
        paired = [
            s.cpu_us_per_request / reference[s.round].cpu_us_per_request
            for s in group
            if s.round in reference
        ]
        requests = sum(s.requests for s in group)
        cpu = sum(s.cpu_s for s in group)
        wall = sum(s.wall_s for s in group)
        ref_group = list(reference.values())
        ref_cpu_us = (
            sum(s.cpu_s for s in ref_group) * 1e6 / sum(s.requests for s in ref_group)
            if ref_group
            else None
        )
        server = [s.server_cpu_s for s in group if s.server_cpu_s is not None]
        is_reference = client == "reference"
        rows.append(
            Row(
                transport=transport,
                client=client,
                concurrency=concurrency,
                slices=len(group),
                requests=requests,
                cpu_us=cpu * 1e6 / requests,
                cpu_us_median=statistics.median(s.cpu_us_per_request for s in group),
                sys_us=sum(s.sys_s for s in group) * 1e6 / requests,
                reads_per_request=sum(s.reads for s in group) / requests,
                writes_per_request=sum(s.writes for s in group) / requests,
                ratio=None if is_reference or not paired else statistics.median(paired),
                ratio_total=None
                if is_reference or ref_cpu_us is None
                else cpu * 1e6 / requests / ref_cpu_us,
                rps=requests / wall,
                client_cpu_percent=100 * cpu / wall,
                server_cpu_percent=100 * sum(server) / wall if server else None,
                other_cpu_percent=100 * sum(s.other_cpu_s for s in group) / wall,
                failures=sum(s.failures for s in group),
            )
        )
    return rows


def _find(rows: Sequence[Row], transport: str, concurrency: int, client: str) -> Row | None:
    for row in rows:
        if (row.transport, row.concurrency, row.client) == (transport, concurrency, client):
            return row
    return None


def figures_table(rows: Sequence[Row]) -> str:
    lines = [
        "| transport | in flight | client | requests | CPU µs/request (median slice) "
        "| of which kernel | pipe reads / writes per request "
        "| CPU ÷ reference: median round (all) | req/s | req/s ÷ reference "
        "| busy: client / server / others | failures |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ref = _find(rows, row.transport, row.concurrency, "reference")
        ratio = (
            "—"
            if row.ratio is None or row.ratio_total is None
            else f"{row.ratio:.2f}× ({row.ratio_total:.2f}×)"
        )
        rps_ratio = "—" if ref is None or ref is row else f"{row.rps / ref.rps:.2f}×"
        server = "—" if row.server_cpu_percent is None else f"{row.server_cpu_percent:.0f}%"
        # /proc/self/io counts read(2) and write(2), not a socket's recv and send.
        syscalls = (
            f"{row.reads_per_request:.2f} / {row.writes_per_request:.2f}"
            if row.transport == "stdio"
            else "—"
        )
        lines.append(
            f"| {row.transport} | {row.concurrency} | {row.client} | {row.requests:,} "
            f"| {row.cpu_us:.1f} ({row.cpu_us_median:.1f}) | {row.sys_us:.1f} "
            f"| {syscalls} | {ratio} "
            f"| {row.rps:,.0f} | {rps_ratio} | {row.client_cpu_percent:.0f}% / {server} / "
            f"{row.other_cpu_percent:.0f}% | {row.failures} |"
        )
    return "\n".join(lines)


def paired_ratio(
    slices: Sequence[Slice], transport: str, concurrency: int, client: str, base: str
) -> float | None:
    """The median over rounds of client CPU/request ÷ base CPU/request in the same round."""
    by_round: dict[int, dict[str, float]] = {}
    for s in slices:
        if s.transport == transport and s.concurrency == concurrency:
            by_round.setdefault(s.round, {})[s.client] = s.cpu_us_per_request
    ratios = [r[client] / r[base] for r in by_round.values() if client in r and base in r]
    return statistics.median(ratios) if ratios else None


def budget_table(rows: Sequence[Row], slices: Sequence[Slice]) -> str:
    lines = ["| budget | measured | verdict |", "| --- | --- | --- |"]
    transports = sorted({r.transport for r in rows}, key=lambda t: t != "stdio")
    levels = sorted({r.concurrency for r in rows})
    for transport in transports:
        for concurrency in levels:
            ours = _find(rows, transport, concurrency, JUDGED)
            if ours is None or ours.ratio is None:
                continue
            verdict = "met" if ours.ratio <= CPU_BUDGET else "**MISSED**"
            lines.append(
                f"| {transport}, {concurrency} in flight: {JUDGED} CPU/request ≤ "
                f"{CPU_BUDGET}× reference | {ours.ratio:.2f}× (median round; all slices "
                f"{ours.ratio_total:.2f}×) | {verdict} |"
            )
    for concurrency in levels:
        for base, budget in (("readiness-aiohttp", FAST_BUDGET), ("raw-socket", RAW_BUDGET)):
            paired = paired_ratio(slices, "http", concurrency, "readiness-conn", base)
            if paired is None:
                continue
            verdict = "met" if paired <= budget else "**MISSED**"
            lines.append(
                f"| http, {concurrency} in flight: readiness-conn (fast client) CPU/request ≤ "
                f"{budget}× {base} | {paired:.2f}× (median round) | {verdict} |"
            )
    if len(levels) >= 2:
        low, high = levels[0], levels[-1]
        for transport in transports:
            for client in CLIENTS:
                a = _find(rows, transport, low, client)
                b = _find(rows, transport, high, client)
                if a is None or b is None:
                    continue
                ratio = b.rps / a.rps
                judged = client in READINESS
                verdict = ("met" if ratio >= SCALING_BUDGET else "**MISSED**") if judged else "—"
                lines.append(
                    f"| {transport}, {client}: req/s at {high} in flight ≥ {SCALING_BUDGET:.0%} "
                    f"of req/s at {low} | {b.rps:,.0f} ÷ {a.rps:,.0f} = {ratio:.0%} | {verdict} |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transport", nargs="+", choices=("stdio", "http"), default=["stdio", "http"]
    )
    parser.add_argument("--concurrency", nargs="+", type=int, default=[8, 64])
    parser.add_argument("--rounds", type=int, default=20, help="clean rounds per level")
    parser.add_argument("--stdio-slice", type=int, default=5_000, help="requests per turn")
    parser.add_argument("--http-slice", type=int, default=1_000, help="requests per turn")
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    parser.add_argument("--json", type=Path, help="also write every slice here")
    parser.add_argument(
        "--render", type=Path, help="print the tables of a run saved with --json; run nothing"
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the client and the servers to separate CPUs",
    )
    parser.add_argument(
        "--noisy",
        action="store_true",
        help="keep every round however busy the machine is (ratios within a round still hold;"
        " absolute figures do not)",
    )
    args = parser.parse_args(argv)
    if "reference" not in args.clients:
        parser.error("--clients must include reference: every figure is a ratio to it")
    for n in (args.stdio_slice, args.http_slice):
        if not 0 < n <= MAX_SLICE:
            parser.error(f"a slice must be between 1 and {MAX_SLICE} requests")
    if not 0 < args.rounds <= 1000:
        parser.error("rounds must be between 1 and 1000")
    if args.render is not None:
        saved = orjson.loads(args.render.read_bytes())
        machine = saved["machine"]
        slices = [Slice(**s) for s in saved["slices"]]
        discarded = saved["discarded_rounds"]
        args.rounds, args.stdio_slice, args.http_slice = (
            saved["rounds"],
            saved["stdio_slice"],
            saved["http_slice"],
        )
    else:
        machine = describe()
        print(f"machine: {machine}", file=sys.stderr)
        slices, discarded = anyio.run(run_all, args)
    rows = summarize(slices)
    print(f"\nMachine: {machine}")
    print(
        f"Rounds: {args.rounds} clean per level; slices of {args.stdio_slice} (stdio) and "
        f"{args.http_slice} (HTTP) requests; discarded rounds: "
        + ", ".join(f"{k}: {v}" for k, v in discarded.items())
        + "\n"
    )
    print(figures_table(rows))
    print()
    print(budget_table(rows, slices))
    if args.json is not None:
        data = {
            "machine": machine,
            "rounds": args.rounds,
            "stdio_slice": args.stdio_slice,
            "http_slice": args.http_slice,
            "discarded_rounds": discarded,
            "slices": [asdict(s) for s in slices],
            "summary": [asdict(r) for r in rows],
        }
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
