"""The run loop against the real demo server over stdio: counts, timing and correction."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup

from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel, Requester, run_load
from readiness.engine.progress import ignore_progress
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload
from readiness.metrics.summary import (
    latency_summary,
    merge_recordings,
    overall,
    recording_totals,
)
from readiness.protocol.client import open_connection
from readiness.protocol.connection import Connection, ConnectOptions, StdioParams
from readiness.protocol.outcome import Outcome, Reply

LABEL = ProgressLabel("test", "throughput", "demo", "load")
ECHO = Operation(0, "echo", "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, 1.0)


@asynccontextmanager
async def demo(*flags: str, request_timeout: float = 10.0) -> AsyncIterator[Connection]:
    params = StdioParams(sys.executable, ("-m", "readiness.demo", *flags))
    options = ConnectOptions(protocol="2025-11-25", request_timeout=request_timeout)
    with anyio.fail_after(60):
        async with open_connection(params, options) as conn:
            yield conn


async def drive(
    conn: Requester, plan: LoadPlan, ops: Sequence[Operation] = (ECHO,), deadline_s: float = 60
) -> LoadRun:
    with anyio.fail_after(deadline_s + 30):
        return await run_load(
            conn,
            Workload(ops),
            plan,
            deadline_s=deadline_s,
            label=LABEL,
            on_progress=ignore_progress,
        )


def closed(
    concurrency: int, *, requests: int | None = None, duration: float | None = None
) -> LoadPlan:
    return LoadPlan(
        model="closed", level=constant(concurrency, 0), duration=duration, requests=requests
    )


@pytest.mark.anyio
async def test_requests_n_sends_exactly_n_and_every_request_has_one_outcome() -> None:
    async with demo() as conn:
        run = await drive(conn, closed(7, requests=101))
    totals = recording_totals(run.recording)
    assert totals["sent"] == 101
    assert totals["ok"] == 101
    assert run.recording.completed == 101
    assert totals["cancelled"] == 0
    assert not run.partial


@pytest.mark.anyio
async def test_p50_under_fixed_5ms_latency_matches_an_independent_measurement() -> None:
    # The SDK server adds its own round trip (and more after idling in a sleep), so the
    # figure to match is the same server timed by the SDK's client, not a bare 5 ms. The two
    # clients take turns, so a busy spell on this machine falls on both measurements alike.
    from mcp import ClientSession, StdioServerParameters, stdio_client

    flags = ("--latency", "fixed:5ms")
    params = StdioServerParameters(command=sys.executable, args=["-m", "readiness.demo", *flags])
    reference: list[float] = []
    runs: list[LoadRun] = []
    async with demo(*flags) as conn:
        with anyio.fail_after(120):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as sdk:
                await sdk.initialize()
                for _ in range(5):
                    runs.append(await drive(conn, closed(1, requests=60)))
                    for _ in range(60):
                        started = time.perf_counter()
                        await sdk.call_tool("echo", {"text": "hi"})
                        reference.append((time.perf_counter() - started) * 1000)
    ours = latency_summary(overall(merge_recordings([r.recording for r in runs]))[0])["p50"]
    assert ours is not None
    assert ours >= 5.0  # the configured latency is a floor on any machine
    assert ours == pytest.approx(statistics.median(reference), rel=0.2)


class StallAt:
    """Passes requests to the server, stopping its process (SIGSTOP) for `seconds` just before
    the `at`-th request goes out: the stall begins mid-load by count, not by a guessed sleep."""

    def __init__(self, conn: Connection, at: int, seconds: float, tg: TaskGroup) -> None:
        assert conn.pid is not None
        self._conn = conn
        self._pid = conn.pid
        self._at = at
        self._seconds = seconds
        self._tg = tg
        self._count = 0
        self.resumed = anyio.Event()

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        self._count += 1
        if self._count == self._at:
            os.kill(self._pid, signal.SIGSTOP)
            self._tg.start_soon(self._resume)
        return await self._conn.request(method, params, timeout=timeout)

    async def _resume(self) -> None:
        try:
            await anyio.sleep(self._seconds)  # the stall's length: the fault under test
        finally:
            os.kill(self._pid, signal.SIGCONT)
            self.resumed.set()


@pytest.mark.anyio
async def test_a_server_stall_shows_in_corrected_p99_but_not_in_uncorrected() -> None:
    rate, seconds, in_flight, stall_s = 200, 4.0, 2, 1.0
    plan = LoadPlan(
        model="open",
        level=constant(rate, seconds),
        duration=seconds,
        requests=None,
        max_in_flight=in_flight,
    )
    async with demo() as conn, anyio.create_task_group() as tg:
        stalling = StallAt(conn, at=rate, seconds=stall_s, tg=tg)  # a second into the schedule
        run = await drive(stalling, plan)
    assert stalling.resumed.is_set()
    corrected, uncorrected, _ = overall(run.recording)
    totals = recording_totals(run.recording)
    assert totals["ok"] == totals["sent"] == rate * seconds, totals
    # While the server was stopped the dispatcher had its few slots taken: it sent late.
    assert totals["late"] > 0
    # Requests due in the stall's first half (rate × stall / 2 of them, 12.5% here) waited
    # at least half the stall from their intended start: the corrected p99 holds the stall.
    assert rate * stall_s / 2 > 0.01 * totals["sent"]
    assert corrected.percentile_us(99) >= stall_s / 2 * 1e6
    # Timed from the actual send, only the requests in flight when it began saw the stall.
    assert in_flight < 0.01 * totals["sent"]
    assert uncorrected.percentile_us(99) < stall_s / 2 * 1e6


class HoldUntilAllSent:
    """Holds every request until `expected` of them are waiting, then lets them all through:
    a sender that waited for a reply before sending the next would never get there."""

    def __init__(self, conn: Connection, expected: int) -> None:
        self._conn = conn
        self._expected = expected
        self._waiting = 0
        self.most_waiting = 0
        self._all_sent = anyio.Event()

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        self._waiting += 1
        self.most_waiting = max(self.most_waiting, self._waiting)
        if self._waiting == self._expected:
            self._all_sent.set()
        with anyio.fail_after(30):
            await self._all_sent.wait()
        self._waiting -= 1
        return await self._conn.request(method, params, timeout=timeout)


@pytest.mark.anyio
async def test_open_model_sends_on_schedule_without_waiting_for_replies() -> None:
    rate, seconds = 40, 1.0
    plan = LoadPlan(model="open", level=constant(rate, seconds), duration=seconds, requests=None)
    async with demo() as conn:
        held = HoldUntilAllSent(conn, expected=rate)
        run = await drive(held, plan)
    totals = recording_totals(run.recording)
    assert held.most_waiting == rate  # every request of the schedule was out before any reply
    assert totals["sent"] == totals["ok"] == rate
    assert (totals["late"], totals["dropped"]) == (0, 0)  # max_in_flight was never reached
    assert not run.partial


@pytest.mark.anyio
async def test_slow_replies_time_out_per_request_timeout() -> None:
    work = Operation(0, "work", "tools/call", {"name": "work", "arguments": {"ms": 5000}}, 1.0)
    async with demo(request_timeout=0.3) as conn:
        run = await drive(conn, closed(3, requests=6), ops=(work,))
    totals = recording_totals(run.recording)
    assert totals["errors"]["timeout"] == 6
    assert totals["ok"] == 0
    assert totals["success_rate"] == 0.0


@pytest.mark.anyio
async def test_the_deadline_ends_a_load_and_counts_what_was_in_flight() -> None:
    work = Operation(0, "work", "tools/call", {"name": "work", "arguments": {"ms": 5000}}, 1.0)
    async with demo() as conn:
        run = await drive(conn, closed(4, duration=0.2), ops=(work,), deadline_s=0.5)
    totals = recording_totals(run.recording)
    assert run.partial
    assert totals["sent"] == 4
    assert totals["cancelled"] == 4


@pytest.mark.anyio
async def test_a_crashing_server_yields_transport_errors_not_a_hang() -> None:
    async with demo("--crash-after", "20") as conn:
        run = await drive(conn, closed(2, requests=60))
    totals = recording_totals(run.recording)
    # The server exits on call 21 with os._exit: an answer still in its write buffer is lost.
    assert totals["sent"] == 60
    assert 15 <= totals["ok"] <= 20
    assert totals["errors"]["transport"] == 60 - totals["ok"]


@pytest.mark.anyio
async def test_error_classes_are_counted_per_operation() -> None:
    bad = Operation(1, "nope", "no/such/method", None, 1.0)
    async with demo("--error-rate", "1", "--seed", "1") as conn:
        run = await drive(conn, closed(2, requests=40), ops=(ECHO, bad))
    echo, nope = run.recording.operations
    sent_echo, sent_nope = run.recording.sent_by_op
    assert sent_echo + sent_nope == 40
    assert sent_echo > 0
    assert sent_nope > 0
    assert echo.counts[Outcome.TOOL_ERROR] == sent_echo == sum(echo.counts)
    assert nope.counts[Outcome.RPC_ERROR] == sent_nope == sum(nope.counts)
    assert recording_totals(run.recording)["rpc_error_codes"] == {"-32601": sent_nope}


@pytest.mark.anyio
async def test_a_duration_bounded_load_against_a_dead_server_still_ends() -> None:
    # A dead stdio connection answers instantly without yielding; the users must not spin.
    async with demo("--crash-after", "5") as conn:
        run = await drive(conn, closed(2, duration=1.0), deadline_s=3.0)
    totals = recording_totals(run.recording)
    assert totals["ok"] <= 5
    assert totals["errors"]["transport"] > 0
    assert totals["sent"] == totals["ok"] + totals["errors"]["transport"] + totals["cancelled"]


class InterruptAfter:
    """Sets `interrupt` once `count` replies have come back, as a Ctrl-C would mid-load."""

    def __init__(self, conn: Connection, count: int, interrupt: anyio.Event) -> None:
        self._conn = conn
        self._count = count
        self._interrupt = interrupt

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        reply = await self._conn.request(method, params, timeout=timeout)
        self._count -= 1
        if self._count <= 0:
            self._interrupt.set()
        return reply


@pytest.mark.anyio
async def test_an_interrupted_open_load_counts_only_the_arrivals_already_due_as_dropped() -> None:
    # An hour at a rate no generator keeps up with: walking the rest of that schedule to count
    # it held the event loop (and every signal) for as long as it took.
    rate, hour = 50_000, 3600.0
    plan = LoadPlan(model="open", level=constant(rate, hour), duration=hour, requests=None)
    interrupt = anyio.Event()
    async with demo() as conn:
        started = time.perf_counter()
        with anyio.fail_after(60):
            run = await run_load(
                InterruptAfter(conn, 200, interrupt),
                Workload((ECHO,)),
                plan,
                deadline_s=hour,
                label=LABEL,
                on_progress=ignore_progress,
                interrupt=interrupt,
            )
        elapsed = time.perf_counter() - started
    totals = recording_totals(run.recording)
    assert run.partial
    assert totals["ok"] >= 200
    assert 0 < totals["dropped"] <= rate * elapsed  # due by the time the load ended, no more
