"""Fleets: several [[targets]] in one suite, each scenario against each target (or the ones it
names), summarised as one row per target in results.json, the reports and junit.xml."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from readiness.config import parse_suite
from readiness.config.scoring import ScoringConfig
from readiness.errors import ConfigError
from readiness.fleet import fleet_row
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown, render_summary
from readiness.results import RunResult, as_stored, load_results
from readiness.runner import plan_pairs
from readiness.scoring import attach_scores
from tests.clirun import results, run_cli, suite
from tests.reports import load_sample

ALL_KINDS = Path(__file__).parent / "reports" / "all_kinds_results.json"
SLOW_MS = 300  # the slow demo's added latency per call: its p99 cannot be below it; far above
# any stall a busy machine puts into the fast demo's p99 (a 1 s load: about 1% of it)

FLEET = f"""
[run]
name = "fleet"

[[targets]]
name = "fast"
transport = "stdio"
command = "${{PYTHON}}"
args = ["-m", "readiness.demo"]

[[targets]]
name = "slow"
transport = "stdio"
command = "${{PYTHON}}"
args = ["-m", "readiness.demo", "--latency", "fixed:{SLOW_MS}ms"]

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = {{ text = "hi" }}

[[scenarios]]
name = "throughput"
kind = "throughput"
load = {{ concurrency = 1, duration = "1s" }}
thresholds = ["p99 < {SLOW_MS // 2}ms"]

[[scenarios]]
name = "fast-only"
kind = "throughput"
targets = ["fast"]
load = {{ concurrency = 1, duration = "0.5s" }}
"""

ROW_KEYS = {
    "target",
    "status",
    "label",
    "score",
    "scenarios_status",
    "scenarios_total",
    "checks_passed",
    "checks_total",
    "throughput_rps",
    "p99_ms",
    "leak",
    "recovery_time_s",
    "recovered",
    "findings",
    "worst_finding",
}


def three_targets(scenario_targets: str) -> str:
    targets = "".join(
        f'[[targets]]\nname = "{name}"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n\n'
        for name in ("a", "b", "c")
    )
    return (
        targets
        + '[[scenarios]]\nname = "t"\nkind = "throughput"\n'
        + scenario_targets
        + 'load = { concurrency = 1, duration = "1s" }\n'
    )


def test_a_scenario_runs_against_every_target_unless_it_names_some() -> None:
    every = parse_suite(three_targets(""), "s.toml")
    assert [t.name for _, t in plan_pairs(every)] == ["a", "b", "c"]
    named = parse_suite(three_targets('targets = ["c", "a"]\n'), "s.toml")
    assert [t.name for _, t in plan_pairs(named)] == ["a", "c"]  # in the suite's order


def test_target_may_be_given_several_times() -> None:
    every = parse_suite(three_targets(""), "s.toml")
    assert [t.name for _, t in plan_pairs(every, (), ["c", "b"])] == ["b", "c"]
    assert [t.name for _, t in plan_pairs(every, (), "b")] == ["b"]
    with pytest.raises(ConfigError, match="no target named 'd'"):
        plan_pairs(every, (), ["a", "d"])
    assert [t.name for t in every.select(target=["a", "c"]).targets] == ["a", "c"]


def test_an_unknown_name_in_targets_is_a_config_error_at_its_line() -> None:
    text = three_targets('targets = ["a", "cc"]\n')
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "s.toml")
    message = str(caught.value)
    line = text.splitlines().index('targets = ["a", "cc"]') + 1
    assert f"s.toml:{line}:" in message
    assert "targets[1]" in message
    assert "did you mean 'c'" in message


def test_target_and_targets_together_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not both"):
        parse_suite(three_targets('target = "a"\ntargets = ["b"]\n'), "s.toml")


def test_a_single_target_run_has_no_fleet() -> None:
    result = load_sample()
    attach_scores(result, ScoringConfig())
    assert "fleet" not in result
    assert "score" not in result["targets"][0]


def fleet_run(tmp_path: Path, *extra: str) -> tuple[dict[str, Any], Path]:
    config = suite(tmp_path, FLEET)
    out = tmp_path / "out"
    done = run_cli("run", "-c", str(config), "--out", str(out), "-q", *extra, cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # the slow target misses its p99
    return results(out), out


def check_rows(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fleet = data["fleet"]
    fast, slow = fleet["rows"]
    assert (fast["target"], slow["target"]) == ("fast", "slow")
    assert {*fast} == {*slow} == ROW_KEYS
    assert fast["p99_ms"] is not None
    assert slow["p99_ms"] >= SLOW_MS
    assert slow["status"] == "not_ready"
    # the run is as ready as its least ready target
    assert fleet["status"] == data["score"]["status"] == "not_ready"
    for row in (fast, slow):
        assert (row["leak"], row["recovered"], row["findings"]) == (None, None, None)
        target = next(t for t in data["targets"] if t["name"] == row["target"])
        assert row["score"] == target["score"]["value"]
    return fast, slow


def test_a_fleet_of_two_demo_servers_reports_a_row_each_the_slower_with_the_higher_p99(
    tmp_path: Path,
) -> None:
    data, out = fleet_run(tmp_path)
    assert data["fleet"]["mode"] == "sequential"
    fast, slow = check_rows(data)
    # One target at a time, so neither slowed the other: the slow one has the higher p99.
    # (Side by side they share two cores with their load generators, and may not.)
    assert slow["p99_ms"] > fast["p99_ms"]
    # fast-only names its target: the slow server never ran it
    assert (fast["scenarios_total"], slow["scenarios_total"]) == (2, 1)
    assert sorted((s["name"], s["target"]) for s in data["scenarios"]) == [
        ("fast-only", "fast"),
        ("throughput", "fast"),
        ("throughput", "slow"),
    ]

    markdown = (out / "report.md").read_text()
    assert markdown.index("## Fleet") < markdown.index("## Executive summary")
    assert "run one after another" in markdown
    fast_at, slow_at = markdown.index("## Target: fast"), markdown.index("## Target: slow")
    assert fast_at < markdown.index("## Scenario: fast-only") < slow_at
    assert "### Fleet" in render_summary(load_results(out))  # the CI job summary has it too
    html = (out / "report.html").read_text()
    assert '<section id="fleet">' in html
    assert '<span class="badge score-not_ready">NOT READY</span>' in html

    junit = ET.fromstring((out / "junit.xml").read_bytes())
    suites = {s.get("name"): s for s in junit.findall("testsuite")}
    assert [*suites] == ["fast", "slow"]
    assert {c.get("classname") for c in suites["fast"].iter("testcase")} == {
        "fast.throughput",
        "fast.fast-only",
    }
    assert [c.get("classname") for c in suites["slow"].iter("testcase")] == ["slow.throughput"]
    failed = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert [c.get("classname") for c in failed] == ["slow.throughput"]

    # --fail-under holds the fleet to its lowest target, not to the score over all its checks.
    combined = data["score"]["value"]
    assert slow["score"] < combined
    gated = [
        run_cli("report", str(out), "--format", "md", "--out", g, "--fail-under", g, cwd=tmp_path)
        for g in (str(combined), str(slow["score"]))
    ]
    assert [p.returncode for p in gated] == [1, 0], [p.stderr for p in gated]


def test_a_scenario_chosen_with_s_runs_as_its_own_targets_alone(tmp_path: Path) -> None:
    config = suite(tmp_path, FLEET)
    out = tmp_path / "out"
    done = run_cli(
        "run", "-c", str(config), "--out", str(out), "-q", "-s", "fast-only", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    data = results(out)
    # the slow target ran nothing: it is not a fleet member with no checks (NOT READY)
    assert [t["name"] for t in data["targets"]] == ["fast"]
    assert "fleet" not in data
    assert data["score"]["status"] == "ready"


def test_parallel_targets_run_side_by_side_with_the_same_shape(tmp_path: Path) -> None:
    data, out = fleet_run(tmp_path, "--parallel-targets", "-s", "throughput")
    assert data["fleet"]["mode"] == "parallel"
    fast, slow = check_rows(data)
    assert (fast["scenarios_total"], slow["scenarios_total"]) == (1, 1)
    # each target kept its own load: both ran their whole second
    assert all(s["status"] != "error" and not s["partial"] for s in data["scenarios"])
    assert [s["target"] for s in data["scenarios"]] == ["fast", "slow"]
    assert "side by side (--parallel-targets)" in (out / "report.md").read_text()


def test_an_unknown_target_option_exits_2_before_any_load(tmp_path: Path) -> None:
    config = suite(tmp_path, FLEET)
    done = run_cli(
        "run", "-c", str(config), "--target", "fast", "--target", "slwo", "-q", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "no target named 'slwo'" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_an_older_results_file_gets_its_fleet_summary_when_read(tmp_path: Path) -> None:
    result = load_sample()
    other = json.loads(json.dumps(result["targets"][0]))
    other["name"] = "other"
    result["targets"].append(other)
    copied = json.loads(json.dumps(result["scenarios"][0]))
    copied["target"] = "other"
    result["scenarios"].append(copied)
    (tmp_path / "results.json").write_text(json.dumps(result))  # written before fleets
    loaded = load_results(tmp_path)
    fleet = loaded["fleet"]
    assert fleet["mode"] == "sequential"
    assert [r["target"] for r in fleet["rows"]] == ["demo", "other"]
    assert fleet["rows"][1]["scenarios_total"] == 1


def all_kinds_fleet() -> RunResult:
    """The all-kinds sample as a fleet: `demo` as it is, and `copy` whose memory scenario
    leaked and whose recovery scenario never recovered."""
    result = load_results(ALL_KINDS)
    twin = json.loads(json.dumps(result["targets"][0]))
    twin["name"] = "copy"
    result["targets"].append(twin)
    for name in ("memory", "recovery"):
        scenario = json.loads(json.dumps(next(s for s in result["scenarios"] if s["name"] == name)))
        scenario["target"] = "copy"
        result["scenarios"].append(scenario)
    memory = result["scenarios"][-2]["memory"]
    assert memory["rss"] is not None
    memory["rss"]["verdict"] = "leak"
    chaos = result["scenarios"][-1]["chaos"]
    assert chaos["outage"] is not None
    chaos["outage"]["recovered"] = False
    chaos["outage"]["recovery_time_s"] = None
    attach_scores(result, ScoringConfig())
    return result


def finding(severity: str, rule: str) -> dict[str, Any]:
    return {
        "id": rule,
        "rule": rule,
        "rule_name": f"rule {rule}",
        "severity": severity,
        "category": "validation",
        "tool": "echo",
        "probe_class": "schema",
        "probe": "",
        "evidence": "",
        "message": "",
        "count": 1,
    }


def test_a_fleet_row_takes_leak_recovery_and_findings_from_their_scenarios() -> None:
    result = all_kinds_fleet()
    demo, copy = result["fleet"]["rows"]
    recoveries = [
        s["chaos"]["outage"]["recovery_time_s"]  # type: ignore[index]
        for s in result["scenarios"]
        if s["kind"] == "recovery" and s["target"] == "demo"
    ]
    assert demo["recovered"] is True
    assert demo["recovery_time_s"] == max(t for t in recoveries if t is not None)
    assert demo["leak"] in ("stable", "inconclusive")
    assert (demo["findings"], demo["worst_finding"]) == (None, None)
    assert (copy["leak"], copy["recovered"], copy["recovery_time_s"]) == ("leak", False, None)
    assert (copy["throughput_rps"], copy["p99_ms"]) == (None, None)  # no throughput scenario

    probed = json.loads(json.dumps(result["scenarios"][0]))
    probed.update(target="copy", kind="security", name="probe")
    probed["security"] = {"findings": [finding("low", "RDY-1"), finding("high", "RDY-2")]}
    copy = fleet_row("copy", result["targets"][1]["score"], [*result["scenarios"], probed])
    assert copy["findings"] == 2
    assert copy["worst_finding"] == {
        "severity": "high",
        "rule": "RDY-2",
        "rule_name": "rule RDY-2",
        "tool": "echo",
    }


def test_the_reports_show_a_leak_and_a_recovery_that_never_came() -> None:
    result = as_stored(all_kinds_fleet())
    markdown = render_markdown(result)
    row = next(line for line in markdown.splitlines() if line.startswith("| copy |"))
    assert "| leak |" in row
    assert "| not recovered |" in row
    html = render_html(result)
    assert '<span class="fail">not recovered</span>' in html
    assert html.count('<section id="target-') == 2
