"""The subscriptions scenario: sessions subscribe to a resource, a tool call changes it, and
every subscriber is told; then they unsubscribe and are told no more. Against the demo over
HTTP (one server, many sessions: a real fan-out) and stdio, and server-everything from npm."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import anyio
import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import ScenarioResult, load_results
from tests.scenarios.test_twoway import everything_server
from tests.servers import free_port
from tests.suites import run_all

pytestmark = pytest.mark.anyio


def demo(transport: str, protocol: str = "2025-11-25") -> str:
    if transport == "stdio":
        return f"""
[[targets]]
name = "demo"
transport = "stdio"
command = "{sys.executable}"
args = ["-m", "readiness.demo"]
protocol = "{protocol}"
"""
    port = free_port()
    return f"""
[[targets]]
name = "demo"
transport = "http"
command = "{sys.executable}"
args = ["-m", "readiness.demo", "--http", "--port", "{port}"]
url = "http://127.0.0.1:{port}/mcp"
protocol = "{protocol}"
"""


def scenario(*, sessions: int, updates: int, uri: str, tool: str, trigger_on: str) -> str:
    return f"""
[[scenarios]]
name = "fanout"
kind = "subscriptions"
thresholds = ["delivery_ratio >= 99%", "after_unsubscribe == 0", "lost_updates == 0"]

[scenarios.subscribe]
uri = "{uri}"
sessions = {sessions}
updates = {updates}
trigger = {{ tool = "{tool}" }}
trigger_on = "{trigger_on}"
interval = "10ms"
settle = "5s"
after_unsubscribe = "200ms"
"""


async def run_one(tmp_path: Path, text: str) -> ScenarioResult:
    with anyio.fail_after(120):
        state = await run_all(tmp_path, text)
    [result] = state.result["scenarios"]
    return result


async def test_every_subscriber_of_the_demo_over_http_is_told_of_every_update(
    tmp_path: Path,
) -> None:
    text = demo("http") + scenario(
        sessions=4, updates=5, uri="demo://counter", tool="bump_counter", trigger_on="one"
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", (result.get("error"), result["checks"])
    figures = result["subscriptions"]
    assert figures["subscribed"] == figures["unsubscribed"] == 4
    assert figures["updates"] == 5
    assert figures["expected"] == figures["delivered"] == 20
    assert (figures["lost"], figures["duplicates"], figures["after_unsubscribe"]) == (0, 0, 0)
    assert figures["delivery_ratio"] == 1.0
    assert figures["latency_ms"]["count"] == 20
    assert figures["spread_ms"]["count"] == 5  # one spread per update, across 4 sessions
    # The updates came on each session's standalone GET stream.
    stream = figures["stream"]
    assert stream["sessions"] == 4
    assert stream["notifications"] == 20
    # 4 subscribes, 5 updates and the one after unsubscribing, 4 unsubscribes: all ok
    assert result["totals"]["ok"] == 14
    run = load_results(tmp_path / "results.json")
    assert "### Resource subscriptions" in render_markdown(run)
    assert "<h3>Resource subscriptions</h3>" in render_html(run)


async def test_each_stdio_session_is_told_of_its_own_updates(tmp_path: Path) -> None:
    # Over stdio every session is a server process of its own: each bumps its own counter.
    text = demo("stdio") + scenario(
        sessions=2, updates=3, uri="demo://counter", tool="bump_counter", trigger_on="each"
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", (result.get("error"), result["checks"])
    figures = result["subscriptions"]
    assert figures["expected"] == figures["delivered"] == 6
    assert figures["after_unsubscribe"] == 0
    assert "stream" not in figures


async def test_a_subscriptions_scenario_under_2026_rules_says_why_it_cannot_run(
    tmp_path: Path,
) -> None:
    text = demo("stdio", "2026-07-28") + scenario(
        sessions=1, updates=1, uri="demo://counter", tool="bump_counter", trigger_on="one"
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "error"
    assert "2025 protocol generation" in str(result["error"])


async def test_server_everything_tells_each_subscriber_over_http(tmp_path: Path) -> None:
    # toggle-subscriber-updates sends the caller one update at once (then one every 5 s,
    # which this short run does not reach).
    entry = everything_server()
    port = free_port()
    text = f"""
[[targets]]
name = "everything"
transport = "http"
command = "{shutil.which("node")}"
args = ["{entry}", "streamableHttp"]
env = {{ PORT = "{port}" }}
url = "http://127.0.0.1:{port}/mcp"
protocol = "2025-11-25"
""" + scenario(
        sessions=3,
        updates=1,
        uri="demo://resource/static/document/architecture.md",
        tool="toggle-subscriber-updates",
        trigger_on="each",
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", (result.get("error"), result["checks"])
    figures = result["subscriptions"]
    assert figures["expected"] == figures["delivered"] == 3
    assert figures["after_unsubscribe"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", "needs [scenarios.subscribe]"),
        (
            '[scenarios.subscribe]\nuri = "x://y"\ntrigger = { tool = "t" }\n'
            '[scenarios.load]\nmodel = "closed"\nconcurrency = 1\nrequests = 1\n',
            "sets its load with [scenarios.subscribe]",
        ),
    ],
)
def test_a_subscriptions_scenario_is_checked_when_loaded(
    tmp_path: Path, extra: str, message: str
) -> None:
    text = demo("stdio") + f'[[scenarios]]\nname = "s"\nkind = "subscriptions"\n{extra}'
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_suite(text, str(tmp_path / "suite.toml"))


def test_subscribe_belongs_to_subscriptions_scenarios_only(tmp_path: Path) -> None:
    text = demo("stdio") + (
        '[[scenarios]]\nname = "s"\nkind = "throughput"\n'
        'load = { model = "closed", concurrency = 1, requests = 1 }\n'
        '[scenarios.subscribe]\nuri = "x://y"\ntrigger = { tool = "t" }\n'
    )
    with pytest.raises(ConfigError, match="subscribe applies to"):
        parse_suite(text, str(tmp_path / "suite.toml"))
