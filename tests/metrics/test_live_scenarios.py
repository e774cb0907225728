"""A failure scenario against the real demo server, with the run's live metrics attached: each
once-a-second progress tick (inside the measured load) sees the fault window, the breaker's
state and the growing counters, and the final counters equal the scenario's result."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from readiness.engine.progress import Progress
from readiness.metrics.live import LiveMetrics, LiveSnapshot
from readiness.scenarios.chaos import run_failure
from tests.suites import scenario_context

ROOT = Path(__file__).resolve().parents[2]

SUITE = f"""
[[targets]]
name = "demo"
transport = "stdio"
command = "{sys.executable}"
args = ["-m", "readiness.demo"]
cwd = "{ROOT}"
request_timeout = "2s"

[targets.resilience.breaker]
consecutive_failures = 1000

[[scenarios]]
name = "errors"
kind = "failure"
load = {{ model = "open", rate = 40, duration = "4s" }}
thresholds = ["lost == 0"]
faults = [
  {{ type = "error", tool = "echo", probability = 0.5, during = "0s..4s" }},
  {{ type = "latency", tool = "add", latency = "1ms", during = "3900ms..4s" }},
]

[[scenarios.workload.operations]]
call = "tools/call"
tool = "echo"
arguments = {{ text = "hi" }}

[[scenarios.workload.operations]]
call = "tools/call"
tool = "add"
arguments = {{ a = 1, b = 2 }}
"""


@pytest.mark.anyio
async def test_a_failure_scenario_shows_its_faults_breaker_and_counts_while_it_runs(
    tmp_path: Path,
) -> None:
    live = LiveMetrics()
    seen: list[LiveSnapshot] = []

    def tick(progress: Progress) -> None:
        if progress.phase == "load":  # the measured load, not its warm-up
            seen.append(live.snapshot())

    ctx = replace(scenario_context(tmp_path, textwrap.dedent(SUITE), on_progress=tick), live=live)
    with anyio.fail_after(90):
        result = await run_failure(ctx)

    assert seen, "no progress tick during the load"
    first = seen[0]
    states = first.faults[("demo", "errors")]
    assert [(s.type, s.active) for s in states] == [("error", True), ("latency", False)]
    assert first.breakers == {("demo", "errors"): "closed"}
    assert first.running == [("demo", "errors")]
    assert ("demo", "errors") in first.servers or result["server"]["measured"] is False
    ok_seen = [sum(s.operations[("demo", "errors", "tools/call echo")].counts) for s in seen]
    assert ok_seen == sorted(ok_seen)
    assert ok_seen[-1] > 0

    after = live.snapshot()
    assert after.faults == {}
    assert after.running == []
    for op in result["operations"]:
        totals = after.operations[("demo", "errors", op["name"])]
        errors = op["totals"]["errors"]
        assert totals.counts == [
            op["totals"]["ok"],
            errors["tool_error"],
            errors["rpc_error"],
            errors["timeout"],
            errors["transport"],
            op["totals"]["rejected"],
        ]
        assert totals.sent == op["totals"]["sent"]
    echo = after.operations[("demo", "errors", "tools/call echo")]
    assert echo.counts[2] > 0  # the injected JSON-RPC errors were counted as such
