"""Scenarios against servers that call back into the client ([targets.client]): the demo over
stdio and HTTP on both protocol generations, and the reference server-everything from npm.
Figures come out per operation, with the simulated LLM's time split from the server's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from readiness.metrics.histogram import LatencyHistogram
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import ScenarioResult, load_results
from tests.servers import free_port
from tests.suites import run_all

pytestmark = pytest.mark.anyio

THINK_MS = 20  # the simulated LLM's fixed think time
CLIENT = f"""
[targets.client]
sampling = {{ reply = "Paris.", latency = "fixed:{THINK_MS}ms", model = "sim-1" }}
elicitation = {{ action = "accept" }}
roots = ["file:///srv/project"]
"""
EVERYTHING_VERSION = "2026.8.31"  # @modelcontextprotocol/server-everything, from `npm view`
EVERYTHING_CACHE = Path(
    os.environ.get("READINESS_NPM_CACHE", Path.home() / ".cache" / "readiness-tests" / "npm")
)


def demo_target(transport: str, protocol: str) -> str:
    if transport == "stdio":
        where = ""
        args = '["-m", "readiness.demo"]'
    else:
        port = free_port()
        where = f'url = "http://127.0.0.1:{port}/mcp"'
        args = f'["-m", "readiness.demo", "--http", "--port", "{port}"]'
    return f"""
[[targets]]
name = "demo"
transport = "{transport}"
command = "{sys.executable}"
args = {args}
{where}
protocol = "{protocol}"
request_timeout = "5s"
{CLIENT}
"""


def workload(*tools: tuple[str, str]) -> str:
    return "".join(
        f"""
[[workload.operations]]
call = "tools/call"
tool = "{tool}"
arguments = {arguments}
"""
        for tool, arguments in tools
    )


SCENARIO = """
[[scenarios]]
name = "callbacks"
kind = "throughput"
load = {{ model = "closed", concurrency = {concurrency}, requests = {requests}, duration = "2s" }}
thresholds = ["success_rate >= 99%", "answer_failures == 0", "server_time_p99 < 60s"]
"""


async def run_one(tmp_path: Path, text: str) -> ScenarioResult:
    with anyio.fail_after(120):
        state = await run_all(tmp_path, text)
    [result] = state.result["scenarios"]
    return result


@pytest.mark.parametrize(
    ("transport", "protocol"),
    [
        ("stdio", "2025-11-25"),
        ("stdio", "2026-07-28"),
        ("http", "2025-11-25"),
        ("http", "2026-07-28"),
    ],
)
async def test_demo_two_way_figures_split_client_time_from_server_time(
    tmp_path: Path, transport: str, protocol: str
) -> None:
    # One virtual user over stdio 2025: a reply cannot say which call it belongs to, so only
    # one call in flight lets the client's time be charged to it (HTTP and 2026 can say).
    concurrency = 1 if (transport, protocol) == ("stdio", "2025-11-25") else 3
    text = (
        demo_target(transport, protocol)
        + workload(
            ("ask_llm", '{ question = "capital of France?" }'),
            ("ask_user", "{}"),
            ("list_roots", "{}"),
        )
        + SCENARIO.format(concurrency=concurrency, requests=30)
    )
    result = await run_one(tmp_path, text)
    print(
        "DEBUG",
        {
            k: v
            for k, v in result.items()
            if k in ("protocol", "error_samples", "failures", "notes", "errors")
        },
    )
    assert result["status"] == "passed", result["checks"]
    two_way = result["two_way"]
    ops = {o["operation"]: o for o in two_way["operations"]}
    asked = {"ask_llm": "sampling/createMessage", "ask_user": "elicitation/create"}
    asked["list_roots"] = "roots/list"
    for tool, method in asked.items():
        calls = ops[f"tools/call {tool}"]
        assert calls["server_requests_per_call"] == 1.0
        assert two_way["server_requests"][method] == calls["calls"]
        assert calls["input_rounds"] == (calls["calls"] if protocol == "2026-07-28" else 0)
    assert sum(two_way["server_requests"].values()) == result["totals"]["ok"] == 30
    assert two_way["unattributed"] == 0
    assert two_way["outside_calls"] == 0  # the demo asks only inside its calls
    sampled = ops["tools/call ask_llm"]
    # Every sampling answer waited the configured think time, and it is the client's.
    client, server = sampled["client_ms"]["p50"], sampled["server_ms"]["p50"]
    end_to_end = sampled["end_to_end_ms"]["p50"]
    assert client is not None
    assert client >= THINK_MS
    assert server is not None
    assert end_to_end is not None
    assert server <= end_to_end
    checks = {c["metric"]: c for c in result["checks"]}
    assert checks["server_time_p99"]["observed"] is not None
    markdown = render_markdown(load_results(tmp_path / "results.json"))
    assert "### Two-way MCP" in markdown
    assert "server → client `sampling/createMessage` 1 per call" in markdown


def everything_server() -> Path:
    """server-everything installed once into a cache directory; skips when npm cannot."""
    entry = (
        EVERYTHING_CACHE
        / f"server-everything-{EVERYTHING_VERSION}"
        / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    )
    if entry.exists():
        return entry
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to fetch @modelcontextprotocol/server-everything")
    prefix = entry.parents[4]
    prefix.mkdir(parents=True, exist_ok=True)
    package = f"@modelcontextprotocol/server-everything@{EVERYTHING_VERSION}"
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), package],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm could not fetch {package} within 300 s")
    if done.returncode != 0 or not entry.exists():
        pytest.skip(f"npm could not fetch {package}: {done.stderr.strip()[-300:]}")
    return entry


async def test_server_everything_callback_tools_hold_under_load(tmp_path: Path) -> None:
    entry = everything_server()
    text = (
        f"""
[[targets]]
name = "everything"
transport = "stdio"
command = "{shutil.which("node")}"
args = ["{entry}", "stdio"]
request_timeout = "5s"
{CLIENT}
"""
        + workload(
            ("trigger-sampling-request", '{ prompt = "capital of France?" }'),
            ("trigger-elicitation-request", "{}"),
            ("get-roots-list", "{}"),
        )
        + SCENARIO.format(concurrency=1, requests=60)
    )
    result = await run_one(tmp_path, text)
    assert result["totals"]["success_rate"] is not None
    assert result["totals"]["success_rate"] >= 0.99, result["totals"]
    assert result["status"] == "passed", result["checks"]
    two_way = result["two_way"]
    ops = {o["operation"]: o for o in two_way["operations"]}
    for tool, method in (
        ("trigger-sampling-request", "sampling/createMessage"),
        ("trigger-elicitation-request", "elicitation/create"),
    ):
        calls = ops[f"tools/call {tool}"]
        assert calls["server_requests_per_call"] == 1.0
        assert two_way["server_requests"][method] == calls["calls"] > 0
    # It asks for the roots once a session, 350 ms after initialize, and keeps them: never
    # once a call (whether that one request falls in the measured load depends on timing).
    assert two_way["server_requests"].get("roots/list", 0) <= 1
    assert ops["tools/call get-roots-list"]["calls"] > 0
    assert two_way["answer_failures"] == {}


async def test_server_everything_over_http_answers_roots_on_the_standalone_stream(
    tmp_path: Path,
) -> None:
    # It asks for the roots on the GET stream 350 ms after initialize; get-roots-list waits
    # for that answer, so without the stream every call of it hangs.
    entry = everything_server()
    port = free_port()
    text = (
        f"""
[[targets]]
name = "everything"
transport = "http"
command = "{shutil.which("node")}"
args = ["{entry}", "streamableHttp"]
env = {{ PORT = "{port}" }}
url = "http://127.0.0.1:{port}/mcp"
protocol = "2025-11-25"
request_timeout = "5s"
{CLIENT}
"""
        + workload(
            ("get-roots-list", "{}"),
            ("trigger-sampling-request", '{ prompt = "capital of France?" }'),
        )
        + SCENARIO.format(concurrency=2, requests=40)
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", result["checks"]
    assert result["totals"]["ok"] == 40
    two_way = result["two_way"]
    stream = two_way["stream"]
    assert stream["refused"] == {}
    assert stream["opened"] >= stream["sessions"] >= 1
    # Every session's roots/list came on its stream, answered outside any call (and, being
    # asked at start-up, outside the measured load whose figures the rest are).
    assert stream["server_requests"] >= 1
    assert two_way["server_requests"].get("roots/list", 0) <= stream["server_requests"]
    assert two_way["outside_calls"] == 0
    assert two_way["duplicate_requests"] == 0
    assert "Standalone GET stream" in render_markdown(load_results(tmp_path / "results.json"))


PROGRESS_AND_CANCEL = """
[[workload.operations]]
call = "tools/call"
tool = "slow"
name = "slow-progress"
arguments = { steps = 3, step_ms = 5 }
progress = true

[[workload.operations]]
call = "tools/call"
tool = "slow"
name = "slow-cancelled"
arguments = { steps = 3, step_ms = 1000 }
progress = true
cancel_after = "100ms"

[[scenarios]]
name = "long"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 12, duration = "2s" }
thresholds = ["success_rate >= 99%", "lost_progress == 0", "late_after_cancel == 0"]
"""


@pytest.mark.parametrize(
    ("transport", "protocol"),
    [(t, p) for t in ("stdio", "http") for p in ("2025-11-25", "2026-07-28")],
)
async def test_progress_and_cancellation_figures_for_the_demo_long_tool(
    tmp_path: Path, transport: str, protocol: str
) -> None:
    result = await run_one(tmp_path, demo_target(transport, protocol) + PROGRESS_AND_CANCEL)
    assert result["status"] == "passed", result["checks"]
    two_way = result["two_way"]
    ops = {o["operation"]: o for o in two_way["operations"]}
    progress = ops["slow-progress"]["progress"]
    assert progress["calls"] == ops["slow-progress"]["calls"] > 0
    assert progress["events_per_call"] == 3.0  # one notification a step
    assert progress["without_progress"] == 0
    # The long calls were cut at cancel_after, long before their first step ended: the demo
    # stopped, so no progress and no reply came after the cancellation.
    cancellation = ops["slow-cancelled"]["cancellation"]
    assert cancellation["cancelled"] == ops["slow-cancelled"]["calls"] > 0
    assert cancellation["finished_before_cancel"] == 0
    assert cancellation["cancel_after_s"] == 0.1
    assert two_way["late_progress"] == 0
    assert result["totals"]["ok"] == 12
    run = load_results(tmp_path / "results.json")
    markdown = render_markdown(run)
    assert "Progress (operations with `progress = true`" in markdown
    assert "Cancellation (operations with `cancel_after`" in markdown
    html = render_html(run)
    assert "<h3>Two-way MCP</h3>" in html
    assert "<title>Two-way call graph per operation</title>" in html


async def test_server_everything_research_tasks_are_polled_to_their_result(
    tmp_path: Path,
) -> None:
    # Each task takes the server four 1 s stages; an ambiguous one also asks the user (an
    # elicitation delivered through tasks/result while the task is input_required).
    entry = everything_server()
    text = f"""
[[targets]]
name = "everything"
transport = "stdio"
command = "{shutil.which("node")}"
args = ["{entry}", "stdio"]
request_timeout = "10s"
{CLIENT}

[[workload.operations]]
call = "tools/call"
tool = "simulate-research-query"
arguments = {{ topic = "python", ambiguous = true }}
task = true
poll_interval = "250ms"

[[scenarios]]
name = "tasks"
kind = "throughput"
load = {{ model = "closed", concurrency = 2, requests = 2, duration = "2s" }}
thresholds = ["success_rate >= 99%", "stuck_tasks == 0"]
"""
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", result["checks"]
    [research] = [o for o in result["two_way"]["operations"] if "tasks" in o]
    tasks = research["tasks"]
    assert tasks["outcomes"] == {"completed": 2}
    assert tasks.get("input_rounds") == 2  # each ambiguous task stopped once for the user
    assert tasks["polls_per_task"] >= 1
    accepted, completed = tasks["accepted_ms"]["p50"], tasks["completed_ms"]["p50"]
    assert accepted is not None
    assert completed is not None
    assert accepted < completed  # the task was accepted at once and finished later
    # (and, as every session declaring roots, one roots/list right after initialize)
    assert result["two_way"]["server_requests"]["elicitation/create"] == 2
    assert "Tasks (operations with `task = true`)" in render_markdown(
        load_results(tmp_path / "results.json")
    )


async def test_two_way_figures_leave_out_the_warm_up_and_keep_mergeable_histograms(
    tmp_path: Path,
) -> None:
    text = (
        demo_target("stdio", "2026-07-28")
        + workload(("ask_llm", '{ question = "capital of France?" }'))
        + """
[[scenarios]]
name = "warmed"
kind = "throughput"
warmup = "300ms"
load = { model = "closed", concurrency = 2, requests = 10, duration = "5s" }
"""
    )
    result = await run_one(tmp_path, text)
    assert result["status"] == "passed", result["checks"]
    two_way = result["two_way"]
    [sampled] = two_way["operations"]
    # Only the measured load's ten calls: the warm-up's (and pre-flight's) are not counted.
    assert sampled["calls"] == result["totals"]["ok"] == 10
    assert two_way["server_requests"] == {"sampling/createMessage": 10}
    assert sampled.get("methods") == {"sampling/createMessage": 10}
    histograms = sampled.get("histograms")
    assert histograms is not None
    server = LatencyHistogram.decode(histograms["server"])
    client = LatencyHistogram.decode(histograms["client"])
    assert server.count == client.count == 10
    assert client.percentile_us(50) >= THINK_MS * 1000 * 0.99  # the histogram's resolution
