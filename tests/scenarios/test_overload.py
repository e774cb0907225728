"""The overload scenario against the real demo server: a load ramped well past what the server
can serve shows it overloaded, its figures agree with each other and with the per-second
record, a probe raises the rate until the server does not keep up, a server that keeps up with
everything offered ends inconclusive and says why, a server that dies is reported dead, and the
report shows the figures. The demo's capacity comes from its configuration: with fixed latency
L and at most N calls served at once it cannot serve more than N / L calls per second, so every
"cannot keep up" below is derived from configured values, not this machine's speed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.config import parse_suite
from readiness.config.scenario import OVERLOAD_PROBE_RESOLUTION
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
from readiness.scenarios.overload_probe import Reading, next_rate, read_probe
from tests import clirun
from tests.suites import run_all

ROOT = Path(__file__).resolve().parents[2]


def bounded_demo(latency_ms: int, max_concurrent: int) -> tuple[list[str], float]:
    """Demo flags for a server that serves at most max_concurrent / latency calls per second,
    and that bound."""
    flags = ["--latency", f"fixed:{latency_ms}ms", "--max-concurrent", str(max_concurrent)]
    return flags, max_concurrent * 1000.0 / latency_ms


# At most 200 calls/s: 300/s is half as much again, 25/s and 50/s are well within.
FAST_FLAGS, FAST_CAPACITY = bounded_demo(10, 2)
# At most 50 calls/s, for the probe: few requests per step.
SLOW_FLAGS, SLOW_CAPACITY = bounded_demo(20, 1)


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


def run_cli(folder: Path, text: str) -> tuple[subprocess.CompletedProcess[str], RunResult]:
    """Run the suite with `python -m readiness.cli run`, for its exit code and output."""
    suite = folder / "suite.toml"
    suite.write_text(text)
    proc = clirun.run_cli(
        "run", "-c", str(suite), "--out", str(folder / "out"), "-q",
        cwd=ROOT, timeout=90, env={"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return proc, load_results(folder / "out" / "results.json")


@pytest.fixture(scope="module")
def overloaded(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    scenario = """
        capacity = "100/s"
        overload_factor = 3
        ramp = "2s"
        hold = "2s"
        cooldown = "3s"
        recovery_window = "1s"
    """
    return run(tmp_path_factory.mktemp("overload"), overload_suite(FAST_FLAGS, scenario))


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
    assert (o["low_rate"], o["peak_rate"], o["drop_at_s"]) == (50.0, 300.0, 6.0)
    assert o["peak_rate"] > FAST_CAPACITY
    assert o["max_in_flight"] == 300
    assert o["outcome"] == "overloaded"
    assert o["alive"], o["alive_detail"]
    assert "answered (ok)" in o["alive_detail"]

    # The server cannot serve 300/s: no second of the hold kept up, and overloaded requests
    # waited far longer than steady ones (or were never answered).
    kept = o["seconds_kept_up"]
    assert kept[4:6] == [False, False]
    steady, over = o["steady"], o["overloaded"]
    assert steady["p99_ms"] is not None
    assert over["p99_ms"] is not None
    assert over["p99_ms"] > steady["p99_ms"]
    assert o["max_sustainable_rate"] is not None
    assert o["max_sustainable_rate"] <= FAST_CAPACITY
    assert o["highest_kept_up_rate"] == o["max_sustainable_rate"]
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
    assert abs(o["offered"]["overloaded"] - 600) <= 1
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
        assert "not recovered" not in o["reason"]
    else:
        assert after == []
        assert o["recovery_time_s"] is None
        assert "not recovered" in o["reason"]


def test_the_markdown_and_html_reports_show_the_overload_figures(overloaded: RunResult) -> None:
    o = only_scenario(overloaded)["overload"]
    markdown = render_markdown(overloaded)
    section = markdown[markdown.index("### Overload") :]
    assert "| Capacity | 100.0/s (configured) |" in section
    assert "| Peak offered rate | 300.0/s |" in section
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
    assert '<td>Peak offered rate</td><td class="num">300.0/s</td>' in html


def test_a_probe_raises_the_rate_until_the_server_does_not_keep_up_then_bisects(
    tmp_path: Path,
) -> None:
    # Four times even the lowest rate offered is past the server's bound, so the load that
    # follows overloads it however low a busy machine made the probe's reading.
    scenario = """
        steps = [20]
        step_duration = "1s"
        overload_factor = 4
        ramp = "1s"
        hold = "1s"
        cooldown = "1s"
        recovery_window = "1s"
    """
    assert 1.5 * SLOW_CAPACITY < 4 * 20
    result = only_scenario(run(tmp_path, overload_suite(SLOW_FLAGS, scenario)))

    o = result["overload"]
    assert o["outcome"] == "overloaded", (o["probe_kept_up"], o["seconds_p95_ms"])
    assert o["capacity_source"] == "probe"
    rates = [step["level"] for step in o["probe"]]
    kept = o["probe_kept_up"]
    saturated = [g["saturated"] for g in o["probe_generator"]]
    readings = [
        Reading(rate, ok, saturated=sat)
        for rate, ok, sat in zip(rates, kept, saturated, strict=True)
    ]
    # Each rate is the one the probe's rule picks after the steps before it, and the rule had
    # nothing more to try when the probe stopped.
    for i, rate in enumerate(rates):
        assert next_rate(readings[:i], [20.0], o["max_rate"]) == rate
    assert next_rate(readings, [20.0], o["max_rate"]) is None
    assert (
        len(rates)
        <= parse_suite(overload_suite(SLOW_FLAGS, scenario), "suite.toml")
        .scenarios[0]
        .probe_step_bound()
    )

    # A server bounded at 50 calls/s cannot keep up with a rate well past it: the found
    # capacity is at most that bound, and the first rate that did not keep up is within the
    # probe's resolution of it.
    assert all(not ok for rate, ok in zip(rates, kept, strict=True) if rate >= 1.2 * SLOW_CAPACITY)
    capacity = o["capacity_rps"]
    assert capacity is not None
    assert capacity <= SLOW_CAPACITY
    failed = min(rate for rate, ok in zip(rates, kept, strict=True) if not ok)
    if any(kept):
        assert capacity == max(rate for rate, ok in zip(rates, kept, strict=True) if ok)
        assert failed <= capacity * (1 + OVERLOAD_PROBE_RESOLUTION)
        assert o["capacity_reason"].startswith(
            f"{capacity:g}/s was the highest probe rate that kept up; at {failed:g}/s "
        )
    assert (o["low_rate"], o["peak_rate"]) == (capacity / 2, capacity * 4)
    assert result["load"]["probe_steps"] == rates
    assert result["load"]["probe_step_duration"] == 1.0
    assert o["alive"]


def test_a_server_the_probe_cannot_overload_within_max_rate_ends_inconclusive_and_says_why(
    tmp_path: Path,
) -> None:
    # max_rate is a quarter of what the server can serve: nothing offered can overload it. A
    # wide tolerance keeps a stall of this busy machine from passing for an overload.
    scenario = """
        steps = [25]
        step_duration = "1s"
        max_rate = "50/s"
        recovery_tolerance = "2000%"
    """
    text = overload_suite(FAST_FLAGS, scenario)
    proc, run_result = run_cli(tmp_path, text)
    result = only_scenario(run_result)

    assert FAST_CAPACITY > 50.0
    assert proc.returncode == 1, proc.stderr  # inconclusive is not a pass
    assert "INCONCLUSIVE" in proc.stdout
    assert "inconclusive: a scenario could not be judged" in proc.stderr
    assert run_result["run"]["status"] == "inconclusive"
    assert result["status"] == "inconclusive"

    o = result["overload"]
    assert o["outcome"] == "not_overloaded"
    assert o["max_rate"] == 50.0
    rates = [step["level"] for step in o["probe"]]
    assert max(rates) <= 50.0
    assert o["capacity_rps"] is None
    assert o["max_sustainable_rate"] is None  # no limit was seen, so none is reported
    assert (o["recovered"], o["recovery_time_s"]) == (None, None)  # nothing to recover from
    assert o["low_rate"] is None  # the overload load did not run
    highest = o["highest_kept_up_rate"]
    assert highest == max(rate for rate, ok in zip(rates, o["probe_kept_up"], strict=True) if ok)
    reason = o["capacity_reason"]
    assert reason.startswith(f"not overloaded: the server kept up at {highest:g}/s, the highest")
    if not any(g["saturated"] for g in o["probe_generator"]):
        assert rates == [25.0, 50.0]
        assert reason.startswith(
            "not overloaded: the server kept up at 50/s, the highest rate offered;"
            " the generator limit was not reached: at 50/s the generator used "
        )
        assert reason.endswith("; max_rate (50/s) stopped the probe, raise it to push further")
    else:
        assert "the generator limit was reached at " in reason
    assert o["generator_limit"] in reason
    assert o["alive"], o["alive_detail"]

    # The checks that need an overload have no value and are not judged; alive still is.
    by_metric = {c["metric"]: c for c in result["checks"]}
    assert (by_metric["alive"]["observed"], by_metric["alive"]["passed"]) == (1.0, True)
    assert (by_metric["recovered"]["observed"], by_metric["recovered"]["passed"]) == (None, False)
    # The headline figures are the probe step at the highest rate the server kept up with.
    assert result["totals"]["sent"] == o["probe"][rates.index(highest)]["totals"]["sent"]

    markdown = render_markdown(run_result)
    section = markdown[markdown.index("### Overload") :]
    assert "**Not overloaded: the overload figures cannot be read" in section
    assert "The overload load did not run" in section
    assert "Maximum sustainable rate" not in section
    assert "while overloaded" not in section
    recovered_rows = [line for line in markdown.splitlines() if "`recovered == true`" in line]
    assert recovered_rows
    assert any("❔ NOT JUDGED" in line for line in recovered_rows), recovered_rows
    assert not any("FAIL" in line for line in recovered_rows), recovered_rows
    assert "run ❔ inconclusive" in markdown
    html = render_html(run_result)
    assert "Not overloaded: the overload figures cannot be read" in html
    assert "Maximum sustainable rate" not in html


def test_a_configured_capacity_the_server_keeps_up_with_is_labelled_not_overloaded(
    tmp_path: Path,
) -> None:
    # A peak of 40/s against a server that serves up to 200/s; a wide tolerance keeps a stall
    # of this busy machine from passing for an overload.
    scenario = """
        capacity = "20/s"
        ramp = "1s"
        hold = "1s"
        cooldown = "1s"
        recovery_window = "1s"
        recovery_tolerance = "2000%"
    """
    run_result = run(tmp_path, overload_suite(FAST_FLAGS, scenario))
    result = only_scenario(run_result)

    o = result["overload"]
    assert o["peak_rate"] == 40.0
    assert o["peak_rate"] < FAST_CAPACITY
    assert o["outcome"] == "not_overloaded", o["seconds_p95_ms"]
    assert result["status"] == "inconclusive"
    assert o["max_sustainable_rate"] is None
    assert o["highest_kept_up_rate"] == 40.0
    assert (o["recovered"], o["recovery_time_s"]) == (None, None)
    assert o["reason"].startswith(
        "not overloaded: the server kept up at 40/s, the highest rate offered;"
        " the generator limit was"
    )
    markdown = render_markdown(run_result)
    section = markdown[markdown.index("### Overload") :]
    assert "| Highest rate offered (kept up: not overloaded) | 40.0/s |" in section
    assert "| Highest rate kept up (a lower bound, not a limit) | 40.0/s |" in section
    assert "| Latency at the peak, p50 / p99 (ms) |" in section
    assert "| Recovered after the drop | — (nothing to recover from) |" in section
    assert "while overloaded" not in section
    assert "Maximum sustainable rate" not in section


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


# --- the probe's rule, on readings made up from a server that keeps up to a threshold ---------


def probe_against(
    threshold: float,
    ladder: list[float],
    max_rate: float,
    generator_limit: float = float("inf"),
) -> list[Reading]:
    """The probe's steps against a server that keeps up with any rate up to `threshold` and a
    generator saturated from `generator_limit` on (where it also falls behind)."""
    readings: list[Reading] = []
    while (rate := next_rate(readings, ladder, max_rate)) is not None:
        saturated = rate >= generator_limit
        readings.append(Reading(rate, rate <= threshold and not saturated, saturated=saturated))
        assert len(readings) < 50
    return readings


def test_the_probe_doubles_until_a_rate_does_not_keep_up_then_bisects_to_the_resolution() -> None:
    readings = probe_against(700, [100], max_rate=10_000)
    assert [r.rate for r in readings] == [100, 200, 400, 800, 600, 700]
    verdict = read_probe(readings, 10_000)
    assert (verdict.capacity, verdict.overloaded, verdict.highest_kept_up) == (700, True, 700)
    assert verdict.reason.startswith("700/s was the highest probe rate that kept up; at 800/s")


def test_the_probe_climbs_a_given_ladder_before_doubling_past_its_last_rate() -> None:
    readings = probe_against(5_000, [100, 300, 1_000], max_rate=10_000)
    assert [r.rate for r in readings] == [100, 300, 1_000, 2_000, 4_000, 8_000, 6_000, 5_000]


def test_the_probe_never_offers_more_than_max_rate_and_then_says_it_was_not_overloaded() -> None:
    readings = probe_against(float("inf"), [100], max_rate=1_000)
    assert [r.rate for r in readings] == [100, 200, 400, 800, 1_000]
    verdict = read_probe(readings, 1_000)
    assert (verdict.capacity, verdict.overloaded, verdict.highest_kept_up) == (None, False, 1_000)
    assert verdict.reason.startswith(
        "not overloaded: the server kept up at 1,000/s, the highest rate offered;"
        " the generator limit was not reached: at 1,000/s the generator used 0% of a core"
    )
    assert verdict.reason.endswith("max_rate (1,000/s) stopped the probe, raise it to push further")


def test_a_step_the_generator_could_not_drive_caps_the_probe_and_is_not_held_against_it() -> None:
    readings = probe_against(float("inf"), [100], max_rate=10_000, generator_limit=1_500)
    # 1,600/s runs twice: the generator's limit counts once it shows again.
    assert [r.rate for r in readings] == [100, 200, 400, 800, 1_600, 1_600, 1_200, 1_400]
    verdict = read_probe(readings, 10_000)
    assert (verdict.capacity, verdict.overloaded, verdict.highest_kept_up) == (None, False, 1_400)
    assert verdict.reason.startswith(
        "not overloaded: the server kept up at 1,400/s, the highest rate the generator could"
        " offer (at 1,600/s it could not); the generator limit was reached at 1,600/s"
    )


def test_a_server_that_fails_below_the_generator_limit_is_overloaded_whatever_the_generator() -> (
    None
):
    readings = probe_against(1_000, [100], max_rate=10_000, generator_limit=1_500)
    verdict = read_probe(readings, 10_000)
    assert verdict.overloaded
    assert verdict.capacity is not None
    assert verdict.capacity <= 1_000


def test_a_step_saturated_twice_that_kept_up_is_the_last_the_probe_offers() -> None:
    saturated = Reading(200, True, saturated=True, saturation="CPU 95%")
    readings = [Reading(100, True), saturated]
    assert next_rate(readings, [100], 10_000) == 200  # once may be the machine's hiccup
    readings.append(saturated)
    assert next_rate(readings, [100], 10_000) is None
    verdict = read_probe(readings, 10_000)
    assert not verdict.overloaded
    assert verdict.generator_limit == "the generator limit was reached at 200/s (CPU 95%)"


def test_a_step_saturated_once_is_run_again_and_only_the_second_run_counts() -> None:
    # A busy machine's lag spike on the first step used to end the probe at once: the
    # server "kept up at 200/s" and the overload scenario was inconclusive.
    hiccup = Reading(200, False, saturated=True, saturation="event loop 87 ms late")
    readings = [hiccup]
    assert next_rate(readings, [200], 10_000) == 200
    readings.append(Reading(200, True))
    assert next_rate(readings, [200], 10_000) == 400
    readings += [Reading(400, True), Reading(800, False, why="p95 over the bound")]
    assert next_rate(readings, [200], 10_000) == 600
    readings.append(Reading(600, False, why="p95 over the bound"))
    assert next_rate(readings, [200], 10_000) == 500
    readings.append(Reading(500, True))
    assert next_rate(readings, [200], 10_000) is None
    verdict = read_probe(readings, 10_000)
    assert (verdict.capacity, verdict.overloaded, verdict.highest_kept_up) == (500, True, 500)
    assert "generator limit was reached" not in verdict.generator_limit


def test_when_even_the_first_rate_does_not_keep_up_it_is_the_capacity() -> None:
    readings = [Reading(100, False, why="50 of 100 requests due (50.0%) succeeded")]
    assert next_rate(readings, [100], 10_000) is None
    verdict = read_probe(readings, 10_000)
    assert (verdict.capacity, verdict.overloaded) == (100, True)
    assert verdict.reason.startswith("even the lowest probe rate, 100/s, did not keep up (50 of")


def test_a_probe_stopped_before_any_step_found_nothing() -> None:
    verdict = read_probe([], 10_000)
    assert (verdict.capacity, verdict.overloaded) == (None, False)
    assert next_rate([], [20_000], 10_000) == 10_000


@given(
    threshold=st.floats(min_value=1, max_value=20_000),
    start=st.floats(min_value=1, max_value=1_000),
    max_rate=st.floats(min_value=1_000, max_value=10_000),
)
def test_the_probe_brackets_the_threshold_within_its_step_bound(
    threshold: float, start: float, max_rate: float
) -> None:
    readings = probe_against(threshold, [start], max_rate)
    verdict = read_probe(readings, max_rate)
    rates = [r.rate for r in readings]
    assert max(rates) <= max_rate
    text = overload_suite([], f"steps = [{start!r}]\nmax_rate = {max_rate!r}\n")
    bound = parse_suite(text, "suite.toml").scenarios[0].probe_step_bound()
    assert len(readings) <= bound
    if threshold >= max_rate:
        assert not verdict.overloaded
        assert verdict.highest_kept_up == max_rate
    elif threshold < start:
        assert (verdict.capacity, verdict.overloaded) == (start, True)
    else:
        assert verdict.overloaded
        assert verdict.capacity is not None
        failed = min(r.rate for r in readings if not r.kept_up)
        assert verdict.capacity <= threshold < failed
        assert failed <= verdict.capacity * (1 + OVERLOAD_PROBE_RESOLUTION) + 1e-9


# --- max_rate in the configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "key", "message"),
    [
        ('steps = [100, 400]\nmax_rate = "200/s"', "max_rate", "the probe step 400/s is above"),
        ('capacity = "500/s"\nmax_rate = "500/s"', "max_rate", "capacity 500/s leaves no room"),
        ('capacity = "20000/s"', "capacity", "max_rate (10,000/s, the default)"),
        ('max_rate = "0/s"', "max_rate", ""),
    ],
)
def test_a_max_rate_below_what_the_scenario_offers_is_refused_naming_the_key_and_line(
    tmp_path: Path, keys: str, key: str, message: str
) -> None:
    text = overload_suite([], keys + "\n")
    wanted = next(line for line in keys.splitlines() if line.startswith(key))
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, str(tmp_path / "suite.toml"))
    error = caught.value
    assert error.key == f'scenarios[0] (name="overload").{key}'
    assert error.line == 1 + text.splitlines().index(wanted)
    assert message in error.message


def test_max_rate_applies_to_overload_scenarios_only(tmp_path: Path) -> None:
    text = overload_suite([], "").replace('kind = "overload"', 'kind = "throughput"')
    text += 'load = { concurrency = 1, requests = 1 }\nmax_rate = "100/s"\n'
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, str(tmp_path / "suite.toml"))
    assert caught.value.key == 'scenarios[0] (name="overload").max_rate'
    assert 'applies to kind = "overload" only' in caught.value.message
