"""The resilience layer in real runs: the engine drives the demo server over stdio through it.

A few ordering rules are pinned with a fake transport and a fake clock, where a real server
could not make the timing deterministic.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from readiness.clock import FakeClock
from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel, run_load
from readiness.engine.progress import ignore_progress
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload
from readiness.metrics.summary import recording_totals
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, StdioParams
from readiness.protocol.outcome import Outcome, Reply
from readiness.protocol.stdio import StdioConnection
from readiness.reports import markdown
from readiness.reports.templating import template_environment
from readiness.resilience.config import ResilienceConfig
from readiness.resilience.requester import ResilientRequester
from readiness.results import ResilienceStats
from readiness.scenarios.resilience_results import resilience_result
from readiness.scenarios.throughput import run_throughput
from tests.suites import scenario_context

LABEL = ProgressLabel("test", "throughput", "demo", "load")
ECHO = Operation(0, "echo", "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, 1.0)
STATUS = Operation(0, "status", "resources/read", {"uri": "demo://status"}, 1.0)


def reported(requester: ResilientRequester) -> ResilienceStats:
    """The layer's statistics as results.json holds them."""
    return resilience_result(requester.statistics())


def layer(conn: Any, clock: FakeClock | None = None, **config: Any) -> ResilientRequester:
    return ResilientRequester(conn, ResilienceConfig.model_validate(config), clock)


@asynccontextmanager
async def demo(*flags: str, request_timeout: float = 10.0) -> AsyncIterator[StdioConnection]:
    params = StdioParams(sys.executable, ("-m", "readiness.demo", *flags))
    options = ConnectOptions(protocol="2025-11-25", request_timeout=request_timeout)
    with anyio.fail_after(60):
        async with open_connection(params, options) as conn:
            yield conn


async def drive(
    requester: ResilientRequester, plan: LoadPlan, ops: Sequence[Operation] = (ECHO,)
) -> LoadRun:
    with anyio.fail_after(60):
        return await run_load(
            requester,
            Workload(ops),
            plan,
            deadline_s=30,
            label=LABEL,
            on_progress=ignore_progress,
        )


def closed(
    concurrency: int,
    *,
    requests: int | None = None,
    duration: float | None = None,
    think_time: float = 0.0,
) -> LoadPlan:
    return LoadPlan(
        model="closed",
        level=constant(concurrency, 0),
        duration=duration,
        requests=requests,
        think_time=think_time,
    )


async def tool_calls_served(conn: StdioConnection) -> int:
    """The demo server's own count of the tool calls it answered."""
    reply = await conn.request("resources/read", {"uri": "demo://status"})
    assert reply.result is not None, reply
    return int(orjson.loads(reply.result["contents"][0]["text"])["calls_served"])


# --- breaker --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tool_errors_are_not_server_failures_so_the_breaker_stays_closed() -> None:
    async with demo("--error-rate", "1") as conn:
        requester = layer(conn, breaker={"consecutive_failures": 5})
        run = await drive(requester, closed(4, requests=100))
    totals = recording_totals(run.recording)
    assert totals["errors"]["tool_error"] == 100
    assert totals["rejected"] == 0
    breaker = reported(requester)["breaker"]
    assert breaker["state"] == "closed"
    assert breaker["transitions"] == []
    assert (breaker["admitted"], breaker["failures"], breaker["rejected"]) == (100, 0, 0)


@pytest.mark.anyio
async def test_a_crashed_server_opens_the_breaker_and_later_requests_are_rejected_unsent() -> None:
    threshold, concurrency = 5, 2
    async with demo("--crash-after", "5") as conn:
        requester = layer(
            conn, breaker={"consecutive_failures": threshold, "recovery_timeout": "60s"}
        )
        run = await drive(requester, closed(concurrency, requests=300))
    totals = recording_totals(run.recording)
    transport = totals["errors"]["transport"]
    ok = totals["ok"]
    assert 5 - concurrency < ok <= 5  # the crash takes calls still in flight down with it
    # Past the threshold only calls already admitted fail: the rest never leave readiness.
    assert threshold <= transport < threshold + concurrency
    assert totals["rejected"] == 300 - ok - transport > 250
    assert totals["success_rate"] == pytest.approx(ok / (ok + transport))  # rejections excluded
    breaker = reported(requester)["breaker"]
    assert breaker["rejected"] == totals["rejected"]
    assert breaker["admitted"] == ok + transport
    assert breaker["state"] == "open"
    assert breaker["opened"] == 1
    [opened] = breaker["transitions"]
    assert (opened["from"], opened["to"]) == ("closed", "open")
    assert opened["reason"] == f"{threshold} consecutive failures"
    assert opened["at_s"] >= 0


@pytest.mark.anyio
@pytest.mark.timeout(30)  # a layer that never yields would spin here forever
async def test_an_open_breaker_lets_a_trial_through_after_its_timeout_and_reopens_if_it_fails() -> (
    None
):
    async with demo("--crash-after", "3") as conn:
        requester = layer(conn, breaker={"consecutive_failures": 2, "recovery_timeout": "100ms"})
        # No think time: only the layer's own yield on a rejection lets the run reach its end.
        run = await drive(requester, closed(1, duration=0.6))
    totals = recording_totals(run.recording)
    transitions = reported(requester)["breaker"]["transitions"]
    moves = [(t["from"], t["to"]) for t in transitions]
    failed_trials = moves.count(("half_open", "open"))
    assert failed_trials >= 1
    # A last probe may have come due after the load ended, with no call left to try it.
    due = [("open", "half_open")] if len(moves) % 2 == 0 else []
    assert moves == [
        ("closed", "open"),
        *[("open", "half_open"), ("half_open", "open")] * failed_trials,
        *due,
    ]
    # Each trial was one real send to the dead server; everything else was rejected unsent.
    assert totals["errors"]["transport"] == 2 + failed_trials
    assert totals["rejected"] == totals["sent"] - 3 - 2 - failed_trials > 0
    for before, after in itertools.pairwise(transitions):
        if after["to"] == "half_open":  # stamped when the recovery timeout ran out
            assert after["at_s"] - before["at_s"] == pytest.approx(0.1, abs=0.002)
        else:
            assert after["reason"].startswith("trial call failed (transport")


# --- rate limit -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_rate_limit_of_50_per_second_admits_about_50_sends_in_one_second() -> None:
    async with demo() as conn:
        requester = layer(conn, rate_limit={"rate": "50/s", "burst": 1})
        run = await drive(requester, closed(1, duration=1.0))
        served = await tool_calls_served(conn)
    totals = recording_totals(run.recording)
    assert 40 <= totals["sent"] <= 52
    assert totals["ok"] == totals["sent"]
    limiter = reported(requester)["limiter"]
    assert limiter["acquired"] == served == totals["sent"]
    assert limiter["waited"] > totals["sent"] / 2  # the bucket held one token, then ran dry
    assert 0 < limiter["max_wait_ms"] <= 20.5


# --- cache ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_repeated_reads_are_answered_from_the_cache_and_tool_calls_are_not() -> None:
    echo = Operation(1, "echo", "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, 1.0)
    async with demo() as conn:
        requester = layer(conn, cache={"methods": ["resources/read"], "ttl": "60s"})
        before = conn.statistics().sent
        run = await drive(requester, closed(4, requests=400), [STATUS, echo])
        sent_to_server = conn.statistics().sent - before
        served = await tool_calls_served(conn)
    totals = recording_totals(run.recording)
    reads, calls = run.recording.sent_by_op
    assert totals["ok"] == 400
    cache = reported(requester)["cache"]
    assert cache["hits"] + cache["misses"] == reads
    assert cache["misses"] <= 4  # only reads sent before the first answer came back
    assert cache["hit_rate"] > 0.9
    assert served == calls
    assert sent_to_server == cache["misses"] + calls


# --- retry ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_timed_out_reads_are_retried_within_max_attempts_and_the_budget() -> None:
    # A stopped server answers nothing: every attempt times out. The budget starts with 10
    # retries and earns no more (0% of requests, 0 per second), so exactly 10 are spent.
    async with demo(request_timeout=0.1) as conn:
        requester = layer(
            conn,
            retry={
                "max_attempts": 3,
                "base": "1ms",
                "cap": "5ms",
                "budget": "0%",
                "min_retries": 0,
            },
        )
        assert conn.pid is not None
        os.kill(conn.pid, signal.SIGSTOP)
        try:
            before = conn.statistics()
            reads = await drive(requester, closed(4, requests=20), [STATUS])
            middle = conn.statistics()
            calls = await drive(requester, closed(4, requests=8), [ECHO])
            after = conn.statistics()
        finally:
            os.kill(conn.pid, signal.SIGCONT)
    assert recording_totals(reads.recording)["errors"]["timeout"] == 20
    assert recording_totals(calls.recording)["errors"]["timeout"] == 8
    retry = reported(requester)["retry"]
    assert retry["calls"] == 20  # tools/call is not retried unless opted in
    assert retry["retries"] == 10
    assert retry["attempts"] == 30 == middle.sent - before.sent == middle.timeouts - before.timeouts
    assert retry["gave_up"] <= 5  # at most 10 retries / 2 per call reached max_attempts
    assert retry["gave_up"] + retry["budget_exhausted"] == 20
    assert retry["recovered"] == 0
    assert after.sent - middle.sent == 8


@pytest.mark.anyio
async def test_tool_calls_are_retried_when_opted_in_and_each_attempt_waits_for_the_limiter() -> (
    None
):
    async with demo(request_timeout=0.1) as conn:
        requester = layer(
            conn,
            retry={"max_attempts": 2, "base": 0, "cap": 0, "retry_tools": True},
            rate_limit={"rate": "1000/s", "burst": 100},
        )
        assert conn.pid is not None
        os.kill(conn.pid, signal.SIGSTOP)
        try:
            await drive(requester, closed(2, requests=4), [ECHO])
        finally:
            os.kill(conn.pid, signal.SIGCONT)
    stats = reported(requester)
    retry = stats["retry"]
    assert (retry["calls"], retry["attempts"], retry["gave_up"]) == (4, 8, 4)
    assert stats["limiter"]["acquired"] == 8  # every attempt is a send, and sends are limited


# --- ordering, with a fake transport --------------------------------------------------------


class FakeServer:
    """A transport stand-in: answers with `outcome`, or holds every request while `hold`."""

    def __init__(self) -> None:
        self.outcome = Outcome.OK
        self.sent: list[str] = []
        self.hold = False
        self.released = anyio.Event()

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        self.sent.append(method)
        if self.hold:
            await self.released.wait()
        return Reply(self.outcome, result={} if self.outcome is Outcome.OK else None)


@pytest.mark.anyio
async def test_a_cache_hit_is_served_even_while_the_circuit_is_open() -> None:
    server = FakeServer()
    requester = layer(
        server,
        FakeClock(),
        breaker={"consecutive_failures": 1, "recovery_timeout": "10s"},
        cache={"methods": ["tools/list"]},
    )
    cached = await requester.request("tools/list")
    server.outcome = Outcome.TIMEOUT
    assert (await requester.request("ping")).outcome is Outcome.TIMEOUT  # opens the circuit
    assert await requester.request("tools/list") is cached
    rejected = await requester.request("ping")
    assert (rejected.outcome, rejected.detail) == (Outcome.REJECTED, "circuit open")
    assert server.sent == ["tools/list", "ping"]


@pytest.mark.anyio
async def test_only_successful_replies_are_cached() -> None:
    server = FakeServer()
    server.outcome = Outcome.RPC_ERROR
    requester = layer(server, FakeClock(), cache={"methods": ["tools/list"]})
    await requester.request("tools/list")
    server.outcome = Outcome.OK
    await requester.request("tools/list")
    await requester.request("tools/list")
    assert server.sent == ["tools/list", "tools/list"]
    assert reported(requester)["cache"]["hits"] == 1


@pytest.mark.anyio
async def test_a_cancelled_trial_call_gives_its_permit_back() -> None:
    clock = FakeClock()
    server = FakeServer()
    requester = layer(server, clock, breaker={"consecutive_failures": 1, "recovery_timeout": "10s"})
    server.outcome = Outcome.TRANSPORT
    await requester.request("ping")
    clock.advance(10)
    server.hold = True
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(requester.request, "ping")  # takes the only trial permit
            await anyio.wait_all_tasks_blocked()
            busy = await requester.request("ping")
            assert (busy.outcome, busy.detail) == (
                Outcome.REJECTED,
                "circuit half-open, trial calls in flight",
            )
            tg.cancel_scope.cancel()
    server.hold = False
    server.outcome = Outcome.OK
    assert (await requester.request("ping")).outcome is Outcome.OK  # the permit was free again
    breaker = reported(requester)["breaker"]
    assert breaker["state"] == "closed"
    assert [t["to"] for t in breaker["transitions"]] == ["open", "half_open", "closed"]


def test_only_configured_primitives_appear_in_the_statistics() -> None:
    stats = reported(layer(FakeServer(), FakeClock(), rate_limit={"rate": 10}))
    assert set(stats) == {"config", "limiter"}
    assert stats["config"] == {"rate_limit": {"rate": 10.0, "burst": 1}}


# --- a whole scenario -----------------------------------------------------------------------

SUITE = """\
[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo", "--crash-after", "50"]

[targets.resilience]
breaker = { consecutive_failures = 3, recovery_timeout = "60s" }
cache = { methods = ["resources/read"], ttl = "60s" }

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hi" }

[[workload.operations]]
call = "resources/read"
uri = "demo://status"

[[scenarios]]
name = "throughput"
kind = "throughput"
load = { concurrency = 2, requests = 200 }
"""


@pytest.mark.anyio
async def test_a_scenario_reports_what_its_target_resilience_layer_did(tmp_path: Path) -> None:
    ctx = scenario_context(tmp_path, SUITE)
    with anyio.fail_after(60):
        result = await run_throughput(ctx)
    resilience = result["resilience"]
    assert set(resilience) == {"config", "breaker", "cache"}
    assert resilience["breaker"]["rejected"] == result["totals"]["rejected"] > 0
    assert resilience["cache"]["hits"] > 0
    assert orjson.loads(orjson.dumps(result))["resilience"] == resilience  # results.json holds it
    text = markdown._environment().get_template("_resilience.md.j2").render(s=result)
    assert "| Circuit breaker | opens after 3 consecutive failures" in text
    assert "| closed | open | 3 consecutive failures |" in text
    assert "Latency percentiles in this scenario include the" in text
    page = template_environment().get_template("_resilience.html.j2").render(s=result)
    assert "<h3>Resilience layer</h3>" in page


@pytest.mark.anyio
async def test_without_resilience_config_the_connection_is_used_as_it_is(tmp_path: Path) -> None:
    text = "\n".join(
        line
        for line in SUITE.splitlines()
        if not line.startswith(("[targets.resilience]", "breaker =", "cache ="))
    )
    ctx = scenario_context(tmp_path, text)
    server = FakeServer()
    assert ctx.resilient(server) is server
    assert ctx.resilience_stats() is None
    rendered = markdown._environment().get_template("_resilience.md.j2").render(s={})
    assert rendered.strip() == ""
