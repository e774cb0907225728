"""The overload scenario against the real demo server: a load ramped well past what the server
can serve shows it overloaded, its figures agree with each other and with the per-second
record, a probe finds the capacity, a server that dies is reported dead, and the report shows
the figures."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import numpy as np
import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import RunResult, ScenarioResult, load_results
from readiness.scenarios.overload_figures import (
    Seconds,
    Shape,
    max_sustainable,
    recovered_at,
    scheduled,
)
from tests.suites import run_all

ROOT = Path(__file__).resolve().parents[2]
# With 5 ms of added latency the demo server serves 200–450 calls/s on 2 cores, so 600/s
# is well past it and 50/s is well within it.
SLOW_DEMO = ["--latency", "fixed:5ms"]


def overload_suite(server_flags: list[str], scenario: str) -> str:
    args = ", ".join(f'"{a}"' for a in ["-m", "readiness.demo", *server_flags])
    return textwrap.dedent(
        f"""
        [[targets]]
        name = "server"
        transport = "stdio"
        command = "{sys.executable}"
        args = [{args}]
        cwd = "{ROOT}"
        request_timeout = "5s"

        [[workload.operations]]
        call = "tools/call"
        tool = "echo"
        arguments = {{ text = "hello" }}

        [[scenarios]]
        name = "overload"
        kind = "overload"
        """
    ) + textwrap.dedent(scenario)


def run(folder: Path, text: str) -> RunResult:
    """Run the suite as `readiness run` does and read back the results.json it wrote."""

    async def go() -> None:
        with anyio.fail_after(90):
            await run_all(folder, text)

    anyio.run(go, backend="asyncio")
    return load_results(folder / "results.json")


@pytest.fixture(scope="module")
def overloaded(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    scenario = """
        capacity = "100/s"
        overload_factor = 6
        ramp = "2s"
        hold = "2s"
        cooldown = "3s"
        recovery_window = "1s"
    """
    return run(tmp_path_factory.mktemp("overload"), overload_suite(SLOW_DEMO, scenario))


def only_scenario(result: RunResult) -> ScenarioResult:
    [scenario] = result["scenarios"]
    assert scenario["error"] is None
    return scenario


def test_a_load_past_capacity_shows_the_server_overloaded_then_alive(
    overloaded: RunResult,
) -> None:
    scenario = only_scenario(overloaded)
    o = scenario["overload"]
    assert (o["capacity_rps"], o["capacity_source"]) == (100.0, "configured")
    assert (o["low_rate"], o["peak_rate"], o["drop_at_s"]) == (50.0, 600.0, 6.0)
    assert o["max_in_flight"] == 600
    assert o["alive"], o["alive_detail"]
    assert "answered (ok)" in o["alive_detail"]

    # The server cannot serve 600/s: no second of the hold kept up, and overloaded requests
    # waited far longer than steady ones (or were never answered).
    kept = o["seconds_kept_up"]
    assert kept[4:6] == [False, False]
    steady, over = o["steady"], o["overloaded"]
    assert steady["p99_ms"] is not None
    assert over["p99_ms"] is not None
    assert over["p99_ms"] > steady["p99_ms"]
    assert o["max_sustainable_rate"] is not None
    assert o["max_sustainable_rate"] < 600.0
    assert [c["expression"] for c in scenario["checks"]] == ["alive == true", "recovered == true"]
    assert scenario["checks"][0]["passed"]


def test_the_overload_figures_agree_with_the_per_second_record(overloaded: RunResult) -> None:
    scenario = only_scenario(overloaded)
    o = scenario["overload"]
    offered, ok, kept = o["seconds_offered"], o["seconds_ok"], o["seconds_kept_up"]
    assert len(offered) == len(ok) == len(kept) == len(o["seconds_p95_ms"]) == 9

    # Every scheduled arrival was sent or dropped, and each phase's count is the schedule's.
    totals = scenario["totals"]
    assert sum(offered) == totals["sent"] + totals["dropped"]
    assert offered[:2] == [50, 50]
    assert abs(o["offered"]["overloaded"] - 1200) <= 1
    assert o["offered"]["after"] == 150
    over = o["overloaded"]
    assert over["completed"] + o["dropped"]["overloaded"] == o["offered"]["overloaded"]
    assert over["ok"] + over["errors"] + over["rejected"] == over["completed"]

    # The maximum sustainable rate is the busiest second before the drop that kept up.
    before_drop = [offered[s] for s in range(6) if kept[s]]
    assert o["max_sustainable_rate"] == pytest.approx(max(before_drop), abs=1)

    # Recovery starts at the first second after the drop that kept up (the window is 1 s).
    after = [s for s in range(6, len(kept)) if kept[s]]
    if o["recovered"]:
        assert o["recovery_time_s"] == after[0] - 6
        assert o["reason"] == ""
    else:
        assert after == []
        assert o["recovery_time_s"] is None
        assert "not recovered" in o["reason"]


def test_the_markdown_and_html_reports_show_the_overload_figures(overloaded: RunResult) -> None:
    o = only_scenario(overloaded)["overload"]
    markdown = render_markdown(overloaded)
    section = markdown[markdown.index("### Overload") :]
    assert "| Capacity | 100.0/s (configured) |" in section
    assert "| Peak offered rate | 600.0/s |" in section
    assert f"| Maximum sustainable rate | {o['max_sustainable_rate']:.1f}/s |" in section
    assert f"| Requests due while overloaded | {o['offered']['overloaded']:,} |" in section
    assert "| Server alive afterwards | yes (" in section
    recovered = "| Recovered after the drop | yes, " if o["recovered"] else "**no**"
    assert recovered in section
    assert "Rule: A second kept up when at least 99% of the requests due in it succeeded" in (
        section
    )
    html = render_html(overloaded)
    assert "<h3>Overload</h3>" in html
    assert '<td>Peak offered rate</td><td class="num">600.0/s</td>' in html


def test_a_probe_finds_the_capacity_and_stops_at_the_first_rate_that_does_not_keep_up(
    tmp_path: Path,
) -> None:
    scenario = """
        steps = [50, 600, 1200]
        step_duration = "1s"
        ramp = "1s"
        hold = "1s"
        cooldown = "1s"
        recovery_window = "1s"
    """
    result = only_scenario(run(tmp_path, overload_suite(SLOW_DEMO, scenario)))

    o = result["overload"]
    assert (o["capacity_rps"], o["capacity_source"]) == (50.0, "probe")
    assert [step["level"] for step in o["probe"]] == [50.0, 600.0]
    assert o["probe_kept_up"] == [True, False]
    assert o["capacity_reason"].startswith(
        "50/s was the highest probe rate that kept up; at 600/s "
    )
    assert o["probe"][0]["totals"]["ok"] == 50
    assert (o["low_rate"], o["peak_rate"]) == (25.0, 100.0)
    assert result["load"]["probe_steps"] == [50.0, 600.0, 1200.0]
    assert result["load"]["probe_step_duration"] == 1.0
    assert o["alive"]


def test_a_server_that_dies_under_overload_is_reported_dead_and_not_recovered(
    tmp_path: Path,
) -> None:
    # 2 s at 50/s is 100 calls; the server exits on call 151, during the ramp.
    scenario = """
        capacity = "100/s"
        ramp = "1s"
        hold = "1s"
        cooldown = "1s"
        recovery_window = "1s"
    """
    result = only_scenario(run(tmp_path, overload_suite(["--crash-after", "150"], scenario)))

    o = result["overload"]
    assert not o["alive"]
    assert o["alive_detail"].startswith("tools/call echo: transport")
    assert not o["recovered"]
    assert o["recovery_time_s"] is None
    assert "not recovered" in o["reason"]
    assert o["overloaded"]["ok"] == 0
    assert o["overloaded"]["errors"] == o["overloaded"]["completed"] > 0
    assert o["steady"]["ok"] == 100
    alive, recovered = result["checks"]
    assert (alive["observed"], alive["passed"]) == (0.0, False)
    assert (recovered["observed"], recovered["passed"]) == (0.0, False)
    assert result["status"] == "failed"


def test_an_overload_scenario_with_a_load_is_refused_naming_the_key_and_line(
    tmp_path: Path,
) -> None:
    text = overload_suite([], 'load = { model = "open", rate = 100, duration = "5s" }\n')
    line = 1 + text.splitlines().index('load = { model = "open", rate = 100, duration = "5s" }')
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, str(tmp_path / "suite.toml"))
    error = caught.value
    assert error.key == 'scenarios[0] (name="overload").load'
    assert error.line == line
    assert "capacity" in error.message


def test_each_seconds_offered_rate_is_the_schedules_average_and_the_drop_is_instant() -> None:
    shape = Shape(low=50.0, peak=600.0, steady_s=2.0, ramp_s=2.0, hold_s=2.0, cooldown_s=3.0)
    rates = [shape.mean_rate(s, s + 1.0) for s in range(9)]
    assert rates == pytest.approx([50, 50, 187.5, 462.5, 600, 600, 50, 50, 50])
    counts = np.bincount(np.floor(scheduled(shape.plan())).astype(np.int64))
    assert len(counts) == 9
    assert np.all(np.abs(counts - np.array(rates)) <= 1)


def test_recovery_needs_a_whole_window_of_seconds_that_kept_up_after_the_drop() -> None:
    kept = [True, True, False, True, True, False, True, True, True]
    seconds = Seconds(
        offered=[10] * 9,
        ok=[10] * 9,
        p95_ms=[1.0] * 9,
        rate=[10.0, 10.0, 20.0, 30.0, 40.0, 40.0, 10.0, 10.0, 10.0],
        kept_up=kept,
    )
    assert recovered_at(seconds, drop_at_s=5.0, window_s=2.0) == 6
    assert recovered_at(seconds, drop_at_s=5.0, window_s=4.0) is None
    assert recovered_at(seconds, drop_at_s=2.5, window_s=2.0) == 3  # whole seconds only
    assert max_sustainable(seconds, drop_at_s=5.0) == 40.0
    assert max_sustainable(seconds, drop_at_s=4.0) == 30.0
