"""Journeys against the demo server for real: a saved id carried from create_note to
read_note over stdio and HTTP, in the closed and the open model; a failed step and a missing
value end a journey, classified, and every step keeps figures of its own."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import JourneyResult, ScenarioResult
from tests.servers import demo_http_server
from tests.suites import run_all

STDIO_TARGET = """
[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]
"""

HTTP_TARGET = """
[[targets]]
name = "demo"
transport = "http"
url = "%s"
"""

CREATE_THEN_READ = """
[[workload.journeys]]
name = "create-then-read"
weight = 3

[[workload.journeys.steps]]
call = "tools/call"
tool = "create_note"
arguments = { text = "{{ random.string(20) }}" }
save = { id = "%s" }

[[workload.journeys.steps]]
call = "tools/call"
tool = "read_note"
arguments = { id = "{{ saved.id }}" }
think_time = "1ms"
"""

BROKEN = """
[[workload.journeys]]
name = "no-such-value"
weight = 1

[[workload.journeys.steps]]
call = "tools/call"
tool = "create_note"
arguments = { text = "x" }
save = { id = "structuredContent.nope" }

[[workload.journeys.steps]]
call = "tools/call"
tool = "read_note"
arguments = { id = "{{ saved.id }}" }

[[workload.journeys]]
name = "wrong-id"
weight = 1
steps = [
  { call = "tools/call", tool = "create_note", arguments = { text = "x" } },
  { call = "tools/call", tool = "read_note", arguments = { id = "nobody-made-this" } },
  { call = "tools/call", tool = "echo", arguments = { text = "never sent" } },
]
"""

SCENARIO = """
[[scenarios]]
name = "journeys"
kind = "throughput"
load = %s
"""


def text_of(target: str, journeys: str, load: str) -> str:
    return textwrap.dedent(target) + journeys + SCENARIO % load


def by_name(scenario: ScenarioResult) -> dict[str, JourneyResult]:
    return {j["name"]: j for j in scenario.get("journeys", [])}


def step_counts(scenario: ScenarioResult) -> dict[str, dict[str, Any]]:
    return {op["name"]: dict(op["totals"]) for op in scenario["operations"]}


def assert_every_journey_carried_its_id(scenario: ScenarioResult, journeys: int) -> None:
    (walked,) = scenario.get("journeys", [])
    assert walked["started"] == journeys
    assert walked["completed"] == journeys
    assert walked["failed"] == walked["missing_value"] == walked["unfinished"] == 0
    assert walked["duration_ms"]["count"] == journeys
    steps = step_counts(scenario)
    create = steps["create-then-read 1. tools/call create_note"]
    read = steps["create-then-read 2. tools/call read_note"]
    assert create["ok"] == journeys
    # read_note by an id nobody created is a tool error: every read found its note.
    assert read["ok"] == journeys
    assert read["errors"]["tool_error"] == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "load"),
    [
        ("structuredContent.id", '{ model = "closed", concurrency = 3, requests = 12 }'),
        ("content[0].text.id", '{ model = "open", rate = "50/s", requests = 12 }'),
    ],
)
async def test_a_journey_carries_a_saved_id_to_the_next_step_over_stdio(
    tmp_path: Path, path: str, load: str
) -> None:
    state = await run_all(tmp_path, text_of(STDIO_TARGET, CREATE_THEN_READ % path, load))
    (scenario,) = state.result["scenarios"]
    assert scenario["error"] is None
    assert_every_journey_carried_its_id(scenario, 12)


@pytest.mark.anyio
async def test_a_journey_carries_a_saved_id_to_the_next_step_over_http(tmp_path: Path) -> None:
    with demo_http_server() as server:
        text = text_of(
            HTTP_TARGET % server.url,
            CREATE_THEN_READ % "structuredContent.id",
            '{ model = "closed", concurrency = 2, requests = 10 }',
        )
        state = await run_all(tmp_path, text)
    (scenario,) = state.result["scenarios"]
    assert scenario["error"] is None
    assert_every_journey_carried_its_id(scenario, 10)


@pytest.mark.anyio
async def test_a_failed_step_or_a_missing_value_ends_the_journey_classified(
    tmp_path: Path,
) -> None:
    load = '{ model = "closed", concurrency = 2, requests = 20 }'
    state = await run_all(tmp_path, text_of(STDIO_TARGET, BROKEN, load))
    (scenario,) = state.result["scenarios"]
    journeys = by_name(scenario)
    missing, wrong = journeys["no-such-value"], journeys["wrong-id"]
    assert missing["started"] + wrong["started"] == 20
    assert missing["completed"] == wrong["completed"] == 0
    assert missing["missing_value"] == missing["started"] > 0
    assert [s["missing_value"] for s in missing["steps"]] == [missing["started"], 0]
    assert wrong["failed"] == wrong["started"] > 0
    assert [s["failed"] for s in wrong["steps"]] == [0, wrong["started"], 0]
    steps = step_counts(scenario)
    assert steps["no-such-value 2. tools/call read_note"]["sent"] == 0
    assert steps["wrong-id 2. tools/call read_note"]["errors"]["tool_error"] == wrong["started"]
    assert steps["wrong-id 3. tools/call echo"]["sent"] == 0

    markdown = render_markdown(state.result)
    assert "### Journeys" in markdown
    assert "| no-such-value | no-such-value 1. tools/call create_note | 0 |" in markdown
    assert "| wrong-id | wrong-id 2. tools/call read_note |" in markdown
    html = render_html(state.result)
    assert "<h3>Journeys</h3>" in html
    assert "<td>wrong-id</td><td>wrong-id 2. tools/call read_note</td>" in html


BAD_JOURNEYS = [
    ('id = "structuredContent.id"', 'id = "result.id"', "starts at"),
    ("{{ saved.id }}", "{{ saved.idd }}", "needs an earlier journey step that saves 'idd'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_JOURNEYS)
def test_a_bad_journey_is_a_config_error_naming_its_key_and_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    journeys = (CREATE_THEN_READ % "structuredContent.id").replace(old, new)
    text = text_of(STDIO_TARGET, journeys, '{ model = "closed", concurrency = 1, requests = 1 }')
    with pytest.raises(ConfigError) as info:
        parse_suite(text, str(tmp_path / "suite.toml"))
    assert message in info.value.message
    assert info.value.key is not None
    assert info.value.key.startswith('workload.journeys[0] (name="create-then-read").steps[')
    assert info.value.line is not None
    assert new in text.splitlines()[info.value.line - 1]
