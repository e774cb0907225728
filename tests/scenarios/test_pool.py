"""The pool scenario against the real demo server: many virtual users share a few sessions
(stdio: a server process each; HTTP: an MCP session each), waits and reuse are measured, a
wait that runs out fails its request, a dead session is recycled, and nothing is left behind."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import orjson
import psutil
import pytest

from readiness.clock import FakeClock
from readiness.config import parse_suite
from readiness.engine.progress import Progress
from readiness.protocol.outcome import Outcome, Reply
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.resilience.pool import SessionPool
from readiness.resilience.pooled import TIMEOUT_SLACK_S, PooledRequester
from readiness.results import PoolResult, ScenarioResult, dump_json, load_results
from readiness.runner import finish, new_state, plan_pairs, run_suite
from readiness.scenarios.pool import pool_config, pool_load, run_pool
from readiness.scenarios.throughput import run_throughput
from readiness.target import TargetSession
from tests.resilience.timeline import run_until
from tests.servers import demo_http_server
from tests.suites import scenario_context

ROOT = Path(__file__).resolve().parents[2]


def pool_table(size: int, wait: str | None = None) -> str:
    wait_line = f'wait_timeout = "{wait}"' if wait is not None else ""
    return f"""
        [targets.resilience.pool]
        size = {size}
        {wait_line}
        """


def stdio_target(*server_flags: str, size: int, wait: str | None = None) -> str:
    args = ", ".join(f'"{a}"' for a in ["-m", "readiness.demo", *server_flags])
    return f"""
        [[targets]]
        name = "server"
        transport = "stdio"
        command = "{sys.executable}"
        args = [{args}]
        cwd = "{ROOT}"
        {pool_table(size, wait)}
        """


def http_target(url: str, pid: int, *, size: int) -> str:
    # A dated protocol with sessions, so each pooled session has its own Mcp-Session-Id.
    return f"""
        [[targets]]
        name = "server"
        transport = "http"
        url = "{url}"
        protocol = "2025-11-25"
        pid = {pid}
        {pool_table(size)}
        """


def pool_suite(target: str, scenario: str) -> str:
    return textwrap.dedent(target) + textwrap.dedent(
        f"""
        [[scenarios]]
        name = "pool"
        kind = "pool"
        {scenario}
        """
    )


async def run(tmp_path: Path, text: str) -> ScenarioResult:
    with anyio.fail_after(60):
        return await run_pool(scenario_context(tmp_path, text))


def demo_children() -> list[psutil.Process]:
    """Demo servers this test process started that still exist (zombies included)."""
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "readiness.demo" in " ".join(child.cmdline()):
                left.append(child)
        except psutil.ZombieProcess:
            left.append(child)
        except psutil.NoSuchProcess:
            pass
    return left


def assert_every_request_has_an_outcome(result: ScenarioResult) -> None:
    totals = result["totals"]
    e = totals["errors"]
    errors = e["tool_error"] + e["rpc_error"] + e["timeout"] + e["transport"]
    assert totals["sent"] == totals["ok"] + errors + totals["rejected"]
    assert totals["cancelled"] == 0


def assert_waits_ordered(pool: PoolResult, acquisitions: int) -> None:
    wait = pool["wait_ms"]
    assert wait["count"] == acquisitions
    figures = [wait["p50"], wait["p95"], wait["p99"], wait["max"]]
    present = [f for f in figures if f is not None]
    assert len(present) == 4
    assert present == sorted(present)
    assert present[0] >= 0


@pytest.mark.anyio
async def test_many_virtual_users_share_a_few_stdio_sessions_and_the_report_shows_the_pool(
    tmp_path: Path,
) -> None:
    text = pool_suite(
        stdio_target(size=2),
        "load = { concurrency = 20, requests = 300 }",
    )
    suite = parse_suite(text, str(tmp_path / "suite.toml"))
    state = new_state(suite, tmp_path, ["readiness", "run"])
    with anyio.fail_after(60):
        await run_suite(suite, state, plan_pairs(suite))
    assert demo_children() == []

    loaded = load_results(tmp_path / "results.json")
    [result] = loaded["scenarios"]
    assert result["status"] == "passed", result["checks"]
    pool = result["pool"]
    assert pool["virtual_users"] == 20
    assert 1 <= pool["created"] <= 2
    assert pool["created"] + pool["reused"] == 300
    assert pool["reused"] > pool["created"]
    assert 1 <= pool["max_in_use"] <= 2
    assert pool["recycled"] == pool["wait_timeouts"] == pool["over_timeout"] == 0
    assert_waits_ordered(pool, 300)
    assert_every_request_has_an_outcome(result)
    assert result["totals"]["ok"] == 300
    assert [c["expression"] for c in result["checks"]] == [
        "success_rate >= 99%",
        "pool_timeouts == 0",
    ]
    assert result["server"]["measured"]

    assert orjson.loads(dump_json(loaded)) == orjson.loads(dump_json(state.result))
    markdown = render_markdown(loaded)
    assert "### Session pool" in markdown
    assert f"| Sessions created | {pool['created']} |" in markdown
    assert f"| Acquisitions served by an open session (reused) | {pool['reused']} |" in markdown
    html = render_html(loaded)
    assert "<h3>Session pool</h3>" in html
    assert f'<tr><th>Sessions created</th><td class="num">{pool["created"]}</td></tr>' in html


@pytest.mark.anyio
async def test_an_http_pool_opens_an_mcp_session_per_slot_and_reuses_them(
    tmp_path: Path,
) -> None:
    with demo_http_server() as server:
        text = pool_suite(
            http_target(server.url, server.pid, size=3),
            "load = { concurrency = 30, requests = 300 }",
        )
        result = await run(tmp_path, text)

    assert result["status"] == "passed", result["checks"]
    pool = result["pool"]
    assert 1 <= pool["created"] <= 3
    assert pool["created"] + pool["reused"] == 300
    assert pool["reused"] > pool["created"]
    assert 1 <= pool["max_in_use"] <= 3
    assert pool["wait_timeouts"] == pool["over_timeout"] == pool["recycled"] == 0
    assert_waits_ordered(pool, 300)
    assert_every_request_has_an_outcome(result)
    assert result["totals"]["ok"] == 300
    assert result["server"]["measured"]


@pytest.mark.anyio
async def test_when_the_http_server_dies_its_sessions_are_recycled_and_reopening_fails_cleanly(
    tmp_path: Path,
) -> None:
    with demo_http_server(["--crash-after", "50"]) as server:
        text = pool_suite(
            http_target(server.url, server.pid, size=3),
            "load = { concurrency = 12, requests = 200 }",
        )
        result = await run(tmp_path, text)

    pool = result["pool"]
    assert pool["recycled"] >= 1
    assert pool["open_failures"] >= 1
    totals = result["totals"]
    assert totals["errors"]["transport"] == pool["recycled"] + pool["open_failures"]
    assert totals["ok"] + totals["errors"]["transport"] == 200
    assert pool["over_timeout"] == 0
    assert_every_request_has_an_outcome(result)
    assert result["status"] == "failed"


@pytest.mark.anyio
async def test_a_pool_wait_shorter_than_a_slow_call_fails_requests_as_pool_wait_timeouts(
    tmp_path: Path,
) -> None:
    text = pool_suite(
        stdio_target("--latency", "fixed:50ms", size=1, wait="10ms"),
        "load = { concurrency = 10, requests = 100 }",
    )
    result = await run(tmp_path, text)

    pool = result["pool"]
    assert pool["wait_timeouts"] > 0
    totals = result["totals"]
    # Each gave-up wait is one failed request, classed as a timeout; no call itself timed out.
    assert totals["errors"]["timeout"] == pool["wait_timeouts"]
    assert totals["ok"] == 100 - pool["wait_timeouts"]
    assert pool["created"] + pool["reused"] == totals["ok"]
    assert pool["max_in_use"] == 1
    assert pool["over_timeout"] == 0
    assert_waits_ordered(pool, 100)
    assert_every_request_has_an_outcome(result)
    assert result["status"] == "failed"
    by_metric = {c["metric"]: c for c in result["checks"]}
    assert by_metric["pool_timeouts"]["observed"] == pool["wait_timeouts"]
    assert not by_metric["pool_timeouts"]["passed"]
    assert demo_children() == []


@pytest.mark.anyio
async def test_a_session_whose_server_process_died_is_recycled_for_a_new_one(
    tmp_path: Path,
) -> None:
    # Each pooled stdio session is its own process, and each exits on its 41st tool call.
    text = pool_suite(
        # Waiting out a new process's start must not time out, however busy the machine.
        stdio_target("--crash-after", "40", size=1, wait="30s"),
        "load = { concurrency = 4, requests = 60 }",
    )
    result = await run(tmp_path, text)

    pool = result["pool"]
    assert pool["recycled"] == 1
    # The first session was open before the load (it listed the tools); its replacement
    # was created during it.
    assert pool["open_at_start"] == 1
    assert pool["created"] == 1
    totals = result["totals"]
    # A session carries one request at a time, so its death fails exactly that request.
    assert totals["errors"]["transport"] == 1
    assert totals["ok"] == 59
    assert pool["open_failures"] == 0
    assert pool["max_in_use"] == 1
    assert pool["over_timeout"] == 0
    assert_every_request_has_an_outcome(result)
    assert demo_children() == []


@pytest.mark.anyio
async def test_a_pool_scenario_cancelled_mid_load_leaves_no_server_process_behind(
    tmp_path: Path,
) -> None:
    scope = anyio.CancelScope()
    progress: list[Progress] = []

    def cancel_once_sending(update: Progress) -> None:
        progress.append(update)
        if update.sent > 0:
            scope.cancel()

    text = pool_suite(stdio_target(size=2), 'load = { concurrency = 20, duration = "30s" }')
    ctx = scenario_context(tmp_path, text, on_progress=cancel_once_sending)
    with anyio.fail_after(60):
        with scope:
            await run_pool(ctx)
    assert scope.cancelled_caught
    assert progress
    assert demo_children() == []


def test_without_a_load_a_pool_runs_ten_virtual_users_per_session_for_ten_seconds(
    tmp_path: Path,
) -> None:
    text = pool_suite(stdio_target(size=3), "")
    suite = parse_suite(text, str(tmp_path / "suite.toml"))
    load = pool_load(suite.scenarios[0], pool_config(suite.targets[0]).size)
    assert (load.model, load.concurrency, load.duration) == ("closed", 30, 10.0)


class ScriptedSession:
    """A pooled session whose server answers each request after a scripted hold."""

    def __init__(self, clock: FakeClock, script: list[tuple[float, Outcome]]) -> None:
        self.conn = self
        self.uses = 0
        self._clock = clock
        self._script = script

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        hold, outcome = self._script.pop(0)
        await self._clock.sleep(hold)
        return Reply(outcome)


@pytest.mark.anyio
async def test_a_request_is_over_its_timeout_only_past_its_wait_request_and_open_budget() -> None:
    clock = FakeClock()
    wait, request, opening = 1.0, 2.0, 5.0
    budget = wait + request + TIMEOUT_SLACK_S
    script = [
        (opening + 0.1, Outcome.OK),  # the first request opened the session: within budget
        (budget - 0.1, Outcome.OK),
        (budget + 0.1, Outcome.OK),  # over
        (0.0, Outcome.TRANSPORT),  # its session is recycled
        (budget + 0.1, Outcome.OK),  # on a new session, so allowed the open too
    ]
    opened: list[ScriptedSession] = []

    async def open_session() -> ScriptedSession:
        opened.append(ScriptedSession(clock, script))
        return opened[-1]

    async def close_session(session: ScriptedSession) -> None:
        pass

    pool = SessionPool(open_session, close_session, max_size=1, acquire_timeout=wait, clock=clock)
    pooled = PooledRequester(
        pool, wait_timeout=wait, request_timeout=request, open_timeout=opening, clock=clock
    )
    replies: list[Reply] = []

    async def send_all() -> None:
        for _ in range(5):
            replies.append(await pooled.request("tools/call"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send_all)
            await run_until(clock, lambda: len(replies) == 5)

    assert [r.outcome for r in replies] == [Outcome.OK] * 3 + [Outcome.TRANSPORT, Outcome.OK]
    assert len(opened) == 2
    stats = pooled.statistics()
    assert stats.over_timeout == 1
    assert pool.statistics().discarded == 1


@pytest.mark.anyio
async def test_a_request_that_waits_out_the_pool_timeout_fails_as_a_pool_wait_timeout() -> None:
    clock = FakeClock()
    held = anyio.Event()
    release = anyio.Event()

    class Holder(ScriptedSession):
        async def request(
            self,
            method: str,
            params: dict[str, Any] | None = None,
            *,
            timeout: float | None = None,
        ) -> Reply:
            held.set()
            await release.wait()
            return Reply(Outcome.OK)

    async def open_session() -> ScriptedSession:
        return Holder(clock, [])

    async def close_session(session: ScriptedSession) -> None:
        pass

    pool = SessionPool(open_session, close_session, max_size=1, acquire_timeout=0.5, clock=clock)
    pooled = PooledRequester(
        pool, wait_timeout=0.5, request_timeout=10.0, open_timeout=1.0, clock=clock
    )
    replies: list[Reply] = []

    async def send() -> None:
        replies.append(await pooled.request("ping"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            await held.wait()
            tg.start_soon(send)
            await run_until(clock, lambda: len(replies) == 1)
            release.set()

    [gave_up, served] = replies[0], replies[1]
    assert gave_up.outcome is Outcome.TIMEOUT
    assert gave_up.detail.startswith("pool wait: no session free within 0.5s")
    assert served.outcome is Outcome.OK
    stats = pooled.statistics()
    assert stats.wait_timeouts == 1
    assert stats.max_in_use == 1
    assert stats.wait.count == 2
    assert stats.wait.max_us == 500_000


@pytest.mark.anyio
async def test_a_pool_scenario_stopped_by_its_timeout_keeps_what_it_measured(
    tmp_path: Path,
) -> None:
    text = pool_suite(
        stdio_target(size=1),
        'timeout = "3s"\nload = { concurrency = 10, duration = "60s" }',
    )
    suite = parse_suite(text, str(tmp_path / "suite.toml"))
    state = new_state(suite, tmp_path, ["readiness", "run"])
    with anyio.fail_after(60):
        await run_suite(suite, state, plan_pairs(suite))

    [result] = state.result["scenarios"]
    assert result["partial"]
    assert result["stopped"] == "its timeout of 3 s passed"
    pool = result["pool"]
    assert pool["wait_ms"]["count"] == pool["created"] + pool["reused"]
    assert demo_children() == []


@pytest.mark.anyio
async def test_a_pooled_target_serves_a_plain_throughput_scenario_through_its_pool(
    tmp_path: Path,
) -> None:
    text = stdio_target(size=2) + textwrap.dedent(
        """
        [[scenarios]]
        name = "plain"
        kind = "throughput"
        load = { concurrency = 8, requests = 200 }
        """
    )
    sessions: list[TargetSession] = []
    ctx = replace(scenario_context(tmp_path, text), on_connected=sessions.append)
    with anyio.fail_after(60):
        result = await run_throughput(ctx)

    assert result["status"] == "passed", result["checks"]
    assert result["totals"]["ok"] == 200
    [session] = sessions
    assert session.pool is not None
    stats = session.pool.sessions.statistics()
    # Eight users on two sessions: the second was opened (a server process of its own) and
    # both were lent again and again.
    assert stats.created == 2
    assert stats.reused >= 200 - stats.created
    assert (tmp_path / "logs" / "server-plain-session2.stderr.log").exists()
    assert demo_children() == []

    # The result and the report say what the pool did, over the whole scenario: every request
    # it sent (the load's 200, and the preflight's) borrowed a session, opened or reused.
    pool = result["pool"]
    assert pool.get("whole_scenario") is True
    assert pool["virtual_users"] is None
    assert (pool["pool_size"], pool.get("pools"), pool["created"]) == (2, 1, stats.created)
    assert pool["reused"] == stats.reused
    assert pool["wait_ms"]["count"] == pool["created"] + pool["reused"] >= 200
    assert 1 <= pool["max_in_use"] <= 2
    assert pool["recycled"] == pool["wait_timeouts"] == pool["over_timeout"] == 0
    state = new_state(parse_suite(text, str(tmp_path / "suite.toml")), tmp_path, [])
    state.result["scenarios"].append(result)
    finish(state)
    markdown = render_markdown(state.result)
    assert "### Session pool" in markdown
    assert "Figures cover the whole scenario, preflight and warm-up included." in markdown
    assert f"| Sessions created | {pool['created']} |" in markdown
    assert "| Virtual users |" not in markdown
    html = render_html(state.result)
    assert "<h3>Session pool</h3>" in html
    assert "Virtual users" not in html
