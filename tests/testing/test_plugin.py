"""The pytest plugin, run by pytester in this process: `pytest --readiness FILE` collects one
item per check, runs the selected scenarios once against the demo server, and judges each item."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import cast

import pytest

# pytester runs pytest in this process and afterwards forgets the modules that run imported;
# numpy cannot be imported twice in one process, so the run's modules are imported here first.
import readiness.reports.writer
import readiness.scenarios.throughput
import readiness.testing.collect
import readiness.testing.execute  # noqa: F401

pytest_plugins = ["pytester"]

SUITE = """
[run]
name = "plugin"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]
request_timeout = "5s"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hi" }

[[scenarios]]
name = "quick"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 60 }
thresholds = ["success_rate >= 99%", "errors == 0"]

[[scenarios]]
name = "greedy"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 60 }
thresholds = ["success_rate >= 99%", "throughput > 1000000/s"]
"""

NODE_IDS = [
    "scenarios.toml::demo::quick::success_rate >= 99%",
    "scenarios.toml::demo::quick::errors == 0",
    "scenarios.toml::demo::greedy::success_rate >= 99%",
    "scenarios.toml::demo::greedy::throughput > 1000000/s",
]


def plugin_args() -> list[str]:
    """Load the plugin by name when this environment did not install its entry point."""
    installed = any(ep.value == "readiness.testing.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "readiness.testing.plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # A short load's success rate is not proven (its interval straddles the limit): the item
    # passes, as `readiness run` does under on_inconclusive = "warn", with a warning, which this
    # project's own `filterwarnings = error` would turn into a failure inside pytester.
    not_proven = "default::readiness.testing.collect.NotProven"
    return pytester.runpytest_inprocess(
        *plugin_args(), "-p", "no:cacheprovider", "-W", not_proven, *args
    )


def scenarios_run(out: Path) -> list[str]:
    data = json.loads((out / "results.json").read_text())
    return [s["name"] for s in data["scenarios"]]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    path: Path = pytester.makefile(".toml", scenarios=SUITE)
    return path


def test_every_check_is_one_item_and_collecting_sends_no_load(
    pytester: pytest.Pytester, suite: Path
) -> None:
    out = pytester.path / "out"
    result = run(pytester, "--readiness", suite.name, "--readiness-out", str(out), "--co", "-q")
    result.assert_outcomes()
    assert [line for line in result.outlines if "::" in line] == NODE_IDS
    assert not out.exists()


def test_a_failing_threshold_fails_exactly_its_item_with_observed_and_required(
    pytester: pytest.Pytester, suite: Path
) -> None:
    out = pytester.path / "out"
    result = run(pytester, "--readiness", suite.name, "--readiness-out", str(out), "-rf")
    result.assert_outcomes(passed=3, failed=1)
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    assert [r.nodeid for r in reports if r.failed] == [NODE_IDS[3]]
    result.stdout.fnmatch_lines(
        ["*demo::greedy: throughput > 1000000/s failed: observed *, required > 1,000,000/s*"]
    )
    assert scenarios_run(out) == ["quick", "greedy"]  # one run for all four items
    assert (out / "report.md").is_file()
    result.stdout.fnmatch_lines([f"readiness: results and reports in {out}"])


@pytest.mark.parametrize("mode", ["warn", "fail"])
def test_a_check_not_proven_follows_on_inconclusive(pytester: pytest.Pytester, mode: str) -> None:
    # 60 requests cannot prove a success rate of at least 99% (Wilson interval): inconclusive.
    pytester.makefile(".toml", scenarios=f'[gate]\non_inconclusive = "{mode}"\n' + SUITE)
    result = run(pytester, "--readiness", "scenarios.toml", "-k", "quick", "-rf")
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    failed = [r.nodeid for r in reports if r.failed]
    if mode == "warn":
        assert failed == []
        result.stdout.fnmatch_lines(["*NotProven*success_rate >= 99% not proven*inconclusive*"])
    else:
        assert failed == [NODE_IDS[0]]
        result.stdout.fnmatch_lines(["*success_rate >= 99% inconclusive, which is not a pass*"])


def test_k_selects_scenarios_before_the_load_runs_once(
    pytester: pytest.Pytester, suite: Path
) -> None:
    result = run(pytester, "--readiness", suite.name, "-k", "quick")
    result.assert_outcomes(passed=2, deselected=2)
    # Without --readiness-out the run goes to pytest's temporary folder: one run, one folder.
    prefix = "readiness: results and reports in "
    named = [Path(line.removeprefix(prefix)) for line in result.outlines if line.startswith(prefix)]
    assert len(named) == 1
    assert sorted(named[0].parent.glob("readiness-run[0-9]*")) == named
    assert scenarios_run(named[0]) == ["quick"]


def test_results_name_what_ran_when_a_scenario_is_missing(tmp_path: Path) -> None:
    from readiness.testing.outcome import RunOutcome

    stored = {
        "schema_version": 3,
        "run": {"status": "passed"},
        "environment": {},
        "targets": [],
        "scenarios": [],
        "summary": {},
    }
    (tmp_path / "results.json").write_text(json.dumps(stored))
    outcome = RunOutcome.load(tmp_path)
    assert outcome.folder == tmp_path
    assert outcome.score is None
    with pytest.raises(KeyError, match="no scenario 'quick' ran"):
        outcome.scenario("quick")


def test_a_scenario_that_errored_fails_its_items_with_the_error(pytester: pytest.Pytester) -> None:
    broken = SUITE.replace('command = "${PYTHON}"', 'command = "/nonexistent/mcp-server"')
    pytester.makefile(".toml", scenarios=broken)
    result = run(pytester, "--readiness", "scenarios.toml")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*demo::quick: the scenario ended in error: *mcp-server*"])
    result.stdout.fnmatch_lines(["*demo::greedy: the scenario did not run: TargetStartFailed*"])


def test_without_the_option_the_plugin_collects_nothing(
    pytester: pytest.Pytester, suite: Path
) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "--co", "-q")
    collected = [line for line in result.outlines if "::" in line]
    assert collected == ["test_without_the_option_the_plugin_collects_nothing.py::test_one"]


def test_the_fixtures_run_a_scenario_and_return_typed_results(
    pytester: pytest.Pytester, suite: Path
) -> None:
    pytester.makeini("[pytest]\nreadiness_suite = scenarios.toml\n")
    pytester.makepyfile(
        """
        from readiness.testing.outcome import Latency, RunOutcome

        def test_suite(readiness_suite):
            assert [s.name for s in readiness_suite.scenarios] == ["quick", "greedy"]

        def test_run(readiness_run):
            result = readiness_run(scenario="quick")
            assert isinstance(result, RunOutcome)
            assert [s.name for s in result.scenarios] == ["quick"]
            quick = result.scenario("quick")
            assert isinstance(quick.latency, Latency)
            assert quick.ok == quick.sent == 60
            assert 0 < quick.latency.p50 <= quick.latency.p99 <= quick.latency.max
            assert quick.success_rate == 1.0
            assert quick.throughput > 0
            assert quick.operation("tools/call echo").ok == 60
            assert quick.check("errors == 0").observed == 0
            assert result.status == "passed"
            assert result.score is not None and result.score.checks_total == 2
            assert (result.folder / "results.json").is_file()
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    heavy = ["numpy", "anyio", "mcp", "pydantic", "aiohttp", "readiness.config", "readiness.runner"]
    code = (
        f"import sys, readiness.testing.plugin\nprint([m for m in {heavy!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_check_describes_its_figures_and_a_repeated_runs_verdict() -> None:
    from readiness.results import CheckResult
    from readiness.testing.outcome import CheckOutcome

    stored = CheckResult(
        name="quick: p99 < 300ms",
        expression="p99 < 300ms",
        metric="p99",
        unit="seconds",
        observed=0.412,
        passed=False,
        op="<",
        limit=0.3,
    )
    check = CheckOutcome.from_result(stored)
    assert check.describe() == "observed 412.0 ms, required < 300.0 ms"
    repeated = {**stored, "interval": [0.25, None], "verdict": "inconclusive"}
    check = CheckOutcome.from_result(cast("CheckResult", repeated))
    assert check.interval == (0.25, None)
    assert check.describe().endswith("(95% interval 250.0 ms – ∞); verdict: inconclusive")
    unmeasured = CheckOutcome.from_result(cast("CheckResult", {**stored, "observed": None}))
    assert unmeasured.describe() == "nothing measured, required < 300.0 ms"
