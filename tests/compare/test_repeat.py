"""`run --repeat N`: interleaved repetitions, the pooled entry and its spread, on a short real
run of the demo server; and the comparison's between-run interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from readiness.compare.model import ComparisonRow
from readiness.compare.repeats import log_ratio_interval
from readiness.compare.runs import _thin_tail, compare_runs
from readiness.results import load_results
from tests.clirun import run_cli

SUITE = """
[run]
name = "repeat"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]
request_timeout = "5s"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hello" }

[[scenarios]]
name = "a"
kind = "throughput"
load = { model = "open", rate = "40/s", duration = "2s" }
thresholds = ["success_rate >= 50%"]

[[scenarios]]
name = "b"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 30 }
thresholds = ["success_rate >= 50%"]
"""


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("repeat")
    (where / "suite.toml").write_text(SUITE)
    proc = run_cli("run", "-c", "suite.toml", "--out", "out", "-q", "--repeat", "2", cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where / "out" / "results.json"


def test_repetitions_run_interleaved_and_each_is_kept(repeated: Path) -> None:
    scenarios = json.loads(repeated.read_text())["scenarios"]
    assert [s["name"] for s in scenarios] == ["a", "b"]
    started = {(s["name"], r["repeat"]): r["started_at"] for s in scenarios for r in s["repeats"]}
    assert sorted(started) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    # Interleaved: a1, b1, a2, b2 started in that order (to the second: started_at has no
    # finer resolution, so two that started within one second may tie, never cross).
    # Scenario a loads for 2 s, so a run of both a's before b1 would put a2 strictly first.
    order = [started[key] for key in [("a", 1), ("b", 1), ("a", 2), ("b", 2)]]
    assert order == sorted(order)
    assert order[0] < order[1]


def test_the_pooled_entry_sums_its_repetitions_and_shows_their_spread(repeated: Path) -> None:
    for s in json.loads(repeated.read_text())["scenarios"]:
        reps: list[dict[str, Any]] = s["repeats"]
        assert s["totals"]["sent"] == sum(r["totals"]["sent"] for r in reps)
        assert s["latency_ms"]["count"] == sum(r["latency_ms"]["count"] for r in reps)
        if "intervals" in s:
            seconds = [x for r in reps for x in r["intervals"]["seconds"]]
            assert s["intervals"]["seconds"] == seconds
        throughput = s["spread"]["throughput"]
        values = [r["totals"]["throughput_rps"] for r in reps]
        assert throughput["values"] == values
        assert throughput["min"] == min(values)
        assert throughput["max"] == max(values)
        assert min(values) <= throughput["median"] <= max(values)
        p50 = s["spread"]["p50"]
        assert p50["min"] <= s["latency_ms"]["p50"] / 1000 * 1.05
        assert s["checks"][0]["verdict"] in ("pass", "inconclusive")


def test_a_repeated_run_compared_with_itself_uses_the_between_run_spread(repeated: Path) -> None:
    result = load_results(repeated)
    comparison = compare_runs(result, result)
    assert not comparison["regressed"]
    whole = [r for r in comparison["rows"] if r["operation"] == "(all)" and r["metric"] == "p50"]
    assert whole
    for row in whole:
        assert "between-run spread of 2+2 repetitions" in row["method"]
        assert row["verdict"] == "unchanged"


def test_the_between_run_interval_finds_a_shift_and_includes_zero_without_one() -> None:
    base = [10.0, 10.4, 9.8, 10.1, 9.9]
    shifted = log_ratio_interval(base, [x * 1.3 for x in base[::-1]], 0.95)
    assert shifted is not None
    assert 0 < shifted[0] < 0.3 < shifted[1]
    same = log_ratio_interval(base, [10.2, 9.7, 10.0, 10.3, 9.9], 0.95)
    assert same is not None
    assert same[0] < 0 < same[1]
    assert log_ratio_interval(base[:1], base, 0.95) is None


def test_three_repetitions_a_side_prove_a_slowdown_seen_on_a_busy_machine() -> None:
    # p50 (ms) of three repetitions each of a real demo server, the second one 50% slower,
    # on the shared 2-core machine: Welch's degrees of freedom fell to 2 here and hid it.
    base, new = [24.03, 31.10, 25.84], [33.76, 38.62, 36.51]
    found = log_ratio_interval(base, new, 0.95)
    assert found is not None
    assert 0 < found[0] < 0.376 < found[1]


def test_fewer_repetitions_give_a_wider_between_run_interval() -> None:
    base = [10.0, 10.4, 9.8, 10.1, 9.9, 10.2]
    new = [11.0, 11.3, 10.9, 11.2, 11.1, 10.8]
    wide = log_ratio_interval(base[:2], new[:2], 0.95)
    narrow = log_ratio_interval(base, new, 0.95)
    assert wide is not None
    assert narrow is not None
    assert wide[1] - wide[0] > narrow[1] - narrow[0]


def test_the_reports_show_the_run_to_run_spread(repeated: Path) -> None:
    folder = repeated.parent
    for name in ("report.md", "report.html"):
        text = (folder / name).read_text()
        assert "Repetitions" in text
        assert "Run 2 times, interleaved" in text


def test_a_percentile_resting_on_a_few_requests_is_shown_not_judged() -> None:
    row = ComparisonRow(
        target="demo",
        scenario="s",
        operation="(all)",
        metric="p999",
        unit="ms",
        better="lower",
        base=100.0,
        new=150.0,
        delta=50.0,
        delta_relative=0.5,
        interval=[0.1, 0.9],
        tolerance=0.2,
        verdict="regressed",
        reason="+50.0% (95% CI +10.0% … +90.0%), past the 20% tolerance",
        method="block bootstrap",
    )
    judged = _thin_tail(dict(row), 9_999)  # type: ignore[arg-type]
    assert judged["verdict"] == "unchanged"
    assert "shown, not judged" in judged["reason"]
    assert "10,000 requests" in judged["reason"]
    assert _thin_tail(dict(row), 10_000)["verdict"] == "regressed"  # type: ignore[arg-type]
