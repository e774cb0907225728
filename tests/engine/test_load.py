"""The run loop against the real demo server over stdio: counts, timing and correction."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import pytest

from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel, run_load
from readiness.engine.progress import ignore_progress
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload
from readiness.metrics.summary import latency_summary, overall, recording_totals
from readiness.protocol.client import open_connection
from readiness.protocol.connection import Connection, ConnectOptions, StdioParams
from readiness.protocol.outcome import Outcome

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
    conn: Connection, plan: LoadPlan, ops: Sequence[Operation] = (ECHO,), deadline_s: float = 60
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


async def sdk_p50_ms(flags: Sequence[str], calls: int) -> float:
    """The same calls timed by the official SDK client: an independent reference."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "readiness.demo", *flags])
    times: list[float] = []
    with anyio.fail_after(60):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(calls):
                started = time.perf_counter()
                await session.call_tool("echo", {"text": "hi"})
                times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@pytest.mark.anyio
async def test_p50_under_fixed_5ms_latency_matches_an_independent_measurement() -> None:
    # The SDK server adds its own round trip (and more after idling in a sleep), so the
    # figure to match is the same server timed by the SDK's client, not a bare 5 ms.
    flags = ("--latency", "fixed:5ms")
    async with demo(*flags) as conn:
        run = await drive(conn, closed(1, requests=300))
    ours = latency_summary(overall(run.recording)[0])["p50"]
    reference = await sdk_p50_ms(flags, 300)
    assert ours is not None
    assert ours >= 5.0
    assert ours == pytest.approx(reference, rel=0.2)


@pytest.mark.anyio
async def test_a_server_stall_shows_in_corrected_p99_but_not_in_uncorrected() -> None:
    plan = LoadPlan(
        model="open", level=constant(200, 4.0), duration=4.0, requests=None, max_in_flight=2
    )
    async with demo() as conn:
        pid = conn.pid
        assert pid is not None

        async def stall() -> None:
            await anyio.sleep(1.5)
            os.kill(pid, signal.SIGSTOP)
            try:
                await anyio.sleep(1.0)
            finally:
                os.kill(pid, signal.SIGCONT)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stall)
            run = await drive(conn, plan)
    corrected, uncorrected, _ = overall(run.recording)
    totals = recording_totals(run.recording)
    assert totals["ok"] == totals["sent"] == 800, totals
    assert totals["late"] > 0
    assert corrected.percentile_us(99) > 500_000
    assert uncorrected.percentile_us(99) < 200_000


@pytest.mark.anyio
async def test_open_model_sends_on_schedule_without_waiting_for_replies() -> None:
    # Each request takes 300 ms; a sender that waited for replies could not send 40 in 1 s.
    work = Operation(0, "work", "tools/call", {"name": "work", "arguments": {"ms": 300}}, 1.0)
    plan = LoadPlan(model="open", level=constant(40, 1.0), duration=1.0, requests=None)
    async with demo() as conn:
        run = await drive(conn, plan, ops=(work,))
    totals = recording_totals(run.recording)
    assert totals["sent"] == 40
    assert totals["ok"] == 40
    assert totals["late"] == 0


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
