"""`[targets.resilience.batch]`: request frames written to a stdio server in batches, against
the real demo server, and what the batcher did reported in the scenario's resilience stats."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from readiness.config import parse_suite
from readiness.errors import ConfigError, ExitCode
from readiness.protocol.client import open_connection
from readiness.protocol.connection import BatchOptions, ConnectOptions, StdioParams
from readiness.protocol.outcome import Outcome, Reply
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import BatchStats, ScenarioResult
from readiness.runner import finish, new_state
from readiness.scenarios.throughput import run_throughput
from tests.servers import demo_command
from tests.suites import scenario_context

ROOT = Path(__file__).resolve().parents[2]
IN_FLIGHT = 64
REQUESTS = 600
ECHO = {"name": "echo", "arguments": {"text": "hi"}}


def suite_text(resilience: str, requests: int = REQUESTS) -> str:
    return (
        textwrap.dedent(
            f"""\
        [[targets]]
        name = "demo"
        transport = "stdio"
        command = "{sys.executable}"
        args = ["-m", "readiness.demo"]
        cwd = "{ROOT}"
        """
        )
        + textwrap.dedent(resilience)
        + textwrap.dedent(
            f"""
        [[scenarios]]
        name = "batched"
        kind = "throughput"
        load = {{ concurrency = {IN_FLIGHT}, requests = {requests} }}

        [[scenarios.workload.operations]]
        call = "tools/call"
        tool = "echo"
        arguments = {{ text = "hi" }}
        """
        )
    )


def batch_of(result: ScenarioResult) -> BatchStats:
    assert "resilience" in result
    assert "batch" in result["resilience"]
    return result["resilience"]["batch"]


@pytest.mark.anyio
async def test_64_requests_in_flight_all_succeed_and_share_their_stdio_writes(
    tmp_path: Path,
) -> None:
    text = suite_text('[targets.resilience.batch]\nmax_size = 32\nmax_delay = "1ms"\n')
    with anyio.fail_after(60):
        result = await run_throughput(scenario_context(tmp_path, text, environ={}))

    assert result["status"] == "passed", result["error"]
    assert result["totals"]["ok"] == REQUESTS
    batch = batch_of(result)
    # Every request of the load (and the preflight's tools/list) went out in some batch.
    assert batch["items"] >= REQUESTS
    assert batch["mean_batch_size"] > 1
    assert 1 < batch["max_batch_size"] <= 32
    assert batch["batches"] < batch["items"]
    assert batch["by_size"] + batch["by_time"] + batch["by_close"] == batch["batches"]
    assert result["resilience"]["config"]["batch"] == {"max_size": 32, "max_delay": 0.001}

    state = new_state(parse_suite(text, "suite.toml", environ={}), tmp_path, [])
    state.result["scenarios"].append(result)
    finish(state)
    writes = f"{batch['items']:,} requests in {batch['batches']:,} writes"
    assert "| Batching | up to 32 requests per stdio write" in render_markdown(state.result)
    assert writes in render_markdown(state.result)
    assert writes in render_html(state.result)


@pytest.mark.anyio
async def test_without_batching_no_batch_statistics_are_reported(tmp_path: Path) -> None:
    text = suite_text("[targets.resilience.breaker]\nconsecutive_failures = 5\n", 100)
    with anyio.fail_after(60):
        result = await run_throughput(scenario_context(tmp_path, text, environ={}))

    assert result["totals"]["ok"] == 100
    assert "resilience" in result
    assert "breaker" in result["resilience"]
    assert "batch" not in result["resilience"]
    assert "batch" not in result["resilience"]["config"]


@pytest.mark.anyio
async def test_batches_never_exceed_max_size_and_the_handshake_is_not_held() -> None:
    command, *args = demo_command()
    # A delay far beyond the test's deadline: only full batches can go out, and the handshake
    # completes only because it bypasses the batcher.
    options = ConnectOptions(batch=BatchOptions(max_size=8, max_delay=3600.0))
    replies: list[Reply] = []

    async def call() -> None:
        replies.append(await conn.request("tools/call", ECHO))

    with anyio.fail_after(30):
        async with open_connection(
            StdioParams(command, tuple(args), cwd=str(ROOT)), options
        ) as conn:
            async with anyio.create_task_group() as tg:
                for _ in range(IN_FLIGHT):
                    tg.start_soon(call)
            stats = conn.batch_statistics()

    assert [r.outcome for r in replies] == [Outcome.OK] * IN_FLIGHT
    assert stats is not None
    assert (stats.batches, stats.items, stats.max_batch_size) == (IN_FLIGHT // 8, IN_FLIGHT, 8)
    assert stats.by_size == stats.batches


@pytest.mark.anyio
async def test_closing_the_connection_writes_the_pending_batch_and_answers_every_request() -> None:
    command, *args = demo_command()
    options = ConnectOptions(batch=BatchOptions(max_size=1000, max_delay=3600.0))
    replies: list[Reply] = []

    async def call() -> None:
        replies.append(await conn.request("tools/call", ECHO))

    with anyio.fail_after(30):
        async with (
            anyio.create_task_group() as tg,
            open_connection(StdioParams(command, tuple(args), cwd=str(ROOT)), options) as conn,
        ):
            for _ in range(5):
                tg.start_soon(call)
            await wait_all_tasks_blocked()
            pending = conn.batch_statistics()
            assert pending is not None
            assert (pending.batches, pending.pending) == (0, 5)

    stats = conn.batch_statistics()
    assert stats is not None
    assert (stats.batches, stats.items, stats.by_close, stats.pending) == (1, 5, 1, 0)
    # Each request got exactly one answer: the server's, or the closed connection's.
    assert len(replies) == 5
    assert {r.outcome for r in replies} <= {Outcome.OK, Outcome.TRANSPORT}


def test_batching_on_an_http_target_is_refused_with_its_key_and_line() -> None:
    text = textwrap.dedent(
        """\
        [[targets]]
        name = "web"
        transport = "http"
        url = "http://127.0.0.1:8000/mcp"

        [targets.resilience.batch]
        max_size = 16

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = { concurrency = 1, requests = 5 }
        """
    )
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "suite.toml", environ={})
    error = caught.value
    assert (error.file, error.key, error.line) == (
        "suite.toml",
        'targets[0] (name="web").resilience.batch',
        6,
    )
    assert "stdio targets only" in error.message
    assert error.exit_code == ExitCode.USAGE
