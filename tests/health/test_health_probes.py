"""The target's health endpoints polled beside real scenarios against real servers on
loopback: the demo goes not-ready while it is killed and back after its restart, its metrics
agree with ours when it counts its own failures and disagree when the failures happen outside
it, and a server whose liveness always says ok while every call fails is caught lying."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import HealthResult, ScenarioResult
from tests.servers import free_port
from tests.suites import run_all

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 0.25
# All three probes, polled every INTERVAL: the `health` table both end-to-end tests give.
ALL_PROBES = (
    '{ liveness = "/healthz", readiness = "/readyz", metrics = "/metrics",'
    f' interval = "{INTERVAL}s" }}'
)
RESTART_AFTER = 2.0
LIE_AFTER = 2.0

ECHO = """
[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hi" }
"""


def http_target(name: str, port: int, args: str, health: str) -> str:
    return textwrap.dedent(
        f"""
        [[targets]]
        name = "{name}"
        transport = "http"
        command = "{sys.executable}"
        args = [{args}]
        url = "http://127.0.0.1:{port}/mcp"
        cwd = "{ROOT}"
        request_timeout = "2s"
        health = {health}
        """
    )


def demo_target(name: str, port: int, *knobs: str, health: str) -> str:
    args = ", ".join(
        f'"{a}"' for a in ("-m", "readiness.demo", "--http", "--port", str(port), *knobs)
    )
    return http_target(name, port, args, health)


def health_of(result: ScenarioResult) -> HealthResult:
    assert result["status"] != "error", result["error"]
    assert "health" in result
    return result["health"]


@pytest.mark.anyio
async def test_the_demo_goes_not_ready_while_killed_and_ready_again_after_its_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    text = (
        demo_target("web", port, health=ALL_PROBES)
        + textwrap.dedent(
            f"""
        [[scenarios]]
        name = "web-outage"
        kind = "recovery"
        load = {{ model = "open", rate = 30, duration = "10s" }}
        inject = "3s.."

        [[scenarios.faults]]
        type = "kill"
        restart_after = "{RESTART_AFTER}s"
        """
        )
        + ECHO
    )
    with anyio.fail_after(100):
        state = await run_all(tmp_path, text)
    (result,) = state.result["scenarios"]
    h = health_of(result)
    # Polled on the server itself, not through the fault proxy in front of it.
    assert {p["url"] for p in h["probes"]} == {
        f"http://127.0.0.1:{port}/healthz",
        f"http://127.0.0.1:{port}/readyz",
        f"http://127.0.0.1:{port}/metrics",
    }
    assert "chaos" in result
    outage = result["chaos"]["outage"]
    assert outage is not None
    assert outage["restored_s"] is not None
    flip = {f["probe"]: f for f in h["flips"]}["readiness"]
    assert flip["fault_s"] == outage["injected_s"]
    assert flip["restore_s"] == outage["restored_s"]
    # Not ready during the outage, and ready again only once the restart delay had passed.
    assert flip["down_s"] is not None
    assert flip["up_s"] is not None
    assert flip["fault_s"] is not None
    assert flip["restore_s"] is not None
    assert flip["fault_s"] <= flip["down_s"] < flip["restore_s"]
    assert flip["up_s"] >= flip["fault_s"] + RESTART_AFTER
    states = [t["state"] for t in h["transitions"] if t["probe"] == "readiness"]
    assert states[:3] == ["up", "unreachable", "up"]
    readiness = {p["probe"]: p for p in h["probes"]}["readiness"]
    assert readiness["unreachable"] > 0
    assert readiness["up"] > 0
    assert readiness["polls"] == readiness["up"] + readiness["down"] + readiness["unreachable"]
    # A dead server says nothing, so its liveness cannot have lied.
    assert h["liveness"] is not None
    assert h["liveness"]["lied"] is not True
    # The restart reset its counters; the calls that failed while it was dead never reached
    # it, so it counted no errors while we saw some: a disagreement, flagged.
    m = h["metrics"]
    assert m is not None
    series = {s["role"]: s for s in m["series"]}
    assert series["requests"]["resets"] == 1
    assert series["errors"]["delta"] == 0
    assert series["errors"]["ours"] is not None
    assert series["errors"]["ours"] > 0
    assert any(d.startswith("error rate") for d in m["disagreements"])
    markdown = render_markdown(state.result)
    assert "### Target health" in markdown
    assert "The server's metrics disagree" in markdown
    html = render_html(state.result)
    assert "<title>Health probes over time</title>" in html


@pytest.mark.anyio
async def test_metrics_agree_when_the_server_counts_its_own_failures_and_it_says_not_ready(
    tmp_path: Path,
) -> None:
    port = free_port()
    text = demo_target("failing", port, "--error-rate", "0.6", "--seed", "1", health=ALL_PROBES)
    text += (
        textwrap.dedent(
            """
        [[scenarios]]
        name = "errors"
        kind = "throughput"
        load = { model = "open", rate = 20, duration = "3s" }
        """
        )
        + ECHO
    )
    with anyio.fail_after(100):
        state = await run_all(tmp_path, text)
    (result,) = state.result["scenarios"]
    h = health_of(result)
    probes = {p["probe"]: p for p in h["probes"]}
    # Failing most calls on purpose: alive, but honestly not ready.
    assert probes["readiness"]["polls"] > 0
    assert probes["readiness"]["down"] == probes["readiness"]["polls"]
    assert probes["liveness"]["up"] == probes["liveness"]["polls"] > 0
    m = h["metrics"]
    assert m is not None
    series = {s["role"]: s for s in m["series"]}
    assert series["requests"]["delta"] == series["requests"]["ours"] == result["totals"]["sent"]
    assert series["errors"]["delta"] == series["errors"]["ours"]
    assert series["errors"]["delta"] == result["totals"]["errors"]["tool_error"] > 0
    assert m["disagreements"] == []
    assert series["memory"]["after"] is not None
    assert series["memory"]["after"] > 0


@pytest.mark.anyio
async def test_a_liveness_that_says_ok_while_every_call_fails_is_caught_lying(
    tmp_path: Path,
) -> None:
    liar_port, honest_port = free_port(), free_port()
    health = f'{{ liveness = "/healthz", interval = "{INTERVAL}s", lie_after = "{LIE_AFTER}s" }}'
    liar = http_target(
        "liar", liar_port, f'"{ROOT / "tests" / "liar_server.py"}", "{liar_port}"', health
    )
    honest = demo_target("honest", honest_port, "--error-rate", "1", health=health)
    text = liar + honest + ECHO
    for name in ("liar", "honest"):
        text += textwrap.dedent(
            f"""
            [[scenarios]]
            name = "{name}-fails"
            kind = "throughput"
            target = "{name}"
            load = {{ model = "open", rate = 20, duration = "5s" }}
            thresholds = ["liveness_lied == false"]
            """
        )
    with anyio.fail_after(100):
        state = await run_all(tmp_path, text)
    liar_result, honest_result = state.result["scenarios"]
    assert liar_result["totals"]["ok"] == honest_result["totals"]["ok"] == 0

    lied = health_of(liar_result)["liveness"]
    assert lied is not None
    assert lied["lied"] is True
    assert lied["failing_s"] >= LIE_AFTER
    assert lied["spans"]
    assert all(end - start >= LIE_AFTER for start, end in lied["spans"])
    assert f"at least {LIE_AFTER:g} s in a row" in lied["rule"]

    truthful = health_of(honest_result)["liveness"]
    assert truthful is not None
    assert truthful["failing_s"] >= LIE_AFTER
    assert truthful["lied"] is False
    assert "**Yes** — it said alive while every MCP call failed" in render_markdown(state.result)
    # The lie is a check a suite can gate on.
    (caught,) = liar_result["checks"]
    assert (caught["metric"], caught["observed"], caught["passed"]) == ("liveness_lied", 1.0, False)
    (cleared,) = honest_result["checks"]
    assert (cleared["observed"], cleared["passed"]) == (0.0, True)
