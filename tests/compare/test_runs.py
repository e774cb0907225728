"""compare_runs on a real run of the demo server, and on copies of it changed in one respect:
what is compared, what is not comparable and why, and what is compared with a warning."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from readiness.compare.model import ALL_OPERATIONS, Comparison
from readiness.compare.runs import compare_runs
from readiness.metrics.histogram import LatencyHistogram, bucket_values
from readiness.results import RunResult


def _rows(comparison: Comparison, **match: str) -> list[Any]:
    return [r for r in comparison["rows"] if all(r[k] == v for k, v in match.items())]  # type: ignore[literal-required]


def test_a_run_compared_with_itself_is_unchanged_everywhere_with_intervals_around_zero(
    run: RunResult,
) -> None:
    comparison = compare_runs(run, run)
    assert not comparison["regressed"]
    assert comparison["counts"]["unchanged"] == len(comparison["rows"]) > 0
    assert comparison["warnings"] == []
    steady = _rows(comparison, scenario="steady", operation=ALL_OPERATIONS, metric="p99")[0]
    assert steady["interval"][0] <= 0.0 <= steady["interval"][1]  # both sides resampled
    assert steady["delta"] == 0.0
    assert "block bootstrap" in steady["method"]
    # every operation and the whole scenario, each with the seven load figures
    assert len(_rows(comparison, scenario="steady")) == 3 * 7


def test_another_server_version_is_not_comparable_and_says_why(run: RunResult) -> None:
    new = copy.deepcopy(run)
    new["targets"][0]["server_info"]["version"] = "9.9.9"
    comparison = compare_runs(run, new)
    # one per scenario, and the run's score
    assert comparison["counts"]["not_comparable"] == 2 + ("score" in run)
    assert all("server version" in r["reason"] for r in comparison["rows"])
    assert not comparison["regressed"]


def test_another_transport_is_not_comparable(run: RunResult) -> None:
    new = copy.deepcopy(run)
    new["targets"][0]["transport"] = "http"
    rows = compare_runs(run, new)["rows"]
    assert {r["verdict"] for r in rows} == {"not_comparable"}
    assert "transport stdio vs http" in rows[0]["reason"]


def test_another_load_makes_only_that_scenario_not_comparable(run: RunResult) -> None:
    new = copy.deepcopy(run)
    new["scenarios"][0]["load"]["rate"] = 80.0
    comparison = compare_runs(run, new)
    steady = _rows(comparison, scenario="steady")
    assert len(steady) == 1
    assert steady[0]["verdict"] == "not_comparable"
    assert steady[0]["reason"].startswith("different load")
    assert {r["verdict"] for r in _rows(comparison, scenario="burst")} == {"unchanged"}


def test_a_scenario_missing_on_one_side_is_named(run: RunResult) -> None:
    new = copy.deepcopy(run)
    del new["scenarios"][1]
    missing = _rows(compare_runs(run, new), scenario="burst")
    assert [r["reason"] for r in missing] == ["scenario missing in the new run"]
    missing = _rows(compare_runs(new, run), scenario="burst")
    assert [r["reason"] for r in missing] == ["scenario missing in the base run"]


def test_an_operation_missing_on_one_side_leaves_the_others_compared(run: RunResult) -> None:
    new = copy.deepcopy(run)
    scenario = new["scenarios"][0]
    gone = scenario["operations"].pop()["name"]
    del scenario["intervals"]["operations"][gone]
    comparison = compare_runs(run, new)
    assert [r["reason"] for r in _rows(comparison, scenario="steady", operation=gone)] == [
        "operation missing in the new run"
    ]
    whole = _rows(comparison, scenario="steady", operation=ALL_OPERATIONS)
    assert [r["verdict"] for r in whole] == ["not_comparable"]
    kept = scenario["operations"][0]["name"]
    assert {r["verdict"] for r in _rows(comparison, scenario="steady", operation=kept)} == {
        "unchanged"
    }


def test_another_machine_or_tool_version_is_compared_with_a_warning(run: RunResult) -> None:
    new = copy.deepcopy(run)
    new["environment"]["hostname"] = "elsewhere"
    new["run"]["tool_version"] = "0.0.0-other"
    comparison = compare_runs(run, new)
    assert any(w.startswith("different machine") for w in comparison["warnings"])
    assert any(w.startswith("different readiness version") for w in comparison["warnings"])
    assert comparison["counts"]["not_comparable"] == 0


def test_an_older_results_file_gets_a_point_comparison_only(run: RunResult) -> None:
    old = copy.deepcopy(run)
    old["schema_version"] = 1
    for scenario in old["scenarios"]:
        del scenario["intervals"]
    comparison = compare_runs(old, run)
    assert any("no interval data: point comparison only" in w for w in comparison["warnings"])
    for row in comparison["rows"]:
        assert row["interval"] is None
        expected = "one figure per run" if row["metric"] == "score" else "no interval data"
        assert row["method"].startswith(expected), row


def test_the_score_is_compared_when_both_runs_have_one(run: RunResult) -> None:
    base, new = copy.deepcopy(run), copy.deepcopy(run)
    base["score"] = {"value": 90.0}  # type: ignore[typeddict-unknown-key]
    new["score"] = {"value": 70.0}  # type: ignore[typeddict-unknown-key]
    rows = _rows(compare_runs(base, new), metric="score")
    assert len(rows) == 1
    assert rows[0]["verdict"] == "regressed"
    assert rows[0]["delta"] == -20.0
    del new["score"]  # type: ignore[typeddict-item]
    assert _rows(compare_runs(base, new), metric="score") == []


def _slowdown_beyond_its_own_spread(run: RunResult) -> float:
    """3× the ratio of the slowest to the fastest second's median in the run's first scenario.

    A resample of few seconds can be all of the slowest one (a machine stall) on one side and
    all of the fastest on the other: slowed by more than that ratio, the change is real in
    every resample, however busy the machine was when the run was made."""
    operations = run["scenarios"][0]["intervals"]["operations"].values()
    seconds = zip(*(op["histograms"] for op in operations), strict=True)
    medians = []
    for texts in seconds:
        parts = [LatencyHistogram.decode(text) for text in texts if text]
        if parts:
            medians.append(LatencyHistogram.merged(parts).percentile_us(50))
    return 3 * max(1.0, max(medians) / min(medians))


def test_a_slower_copy_regresses_its_latency_and_sorts_first(run: RunResult) -> None:
    factor = _slowdown_beyond_its_own_spread(run)
    slow = copy.deepcopy(run)
    scenario = slow["scenarios"][0]
    for op in scenario["intervals"]["operations"].values():
        texts = []
        for text in op["histograms"]:
            if not text:
                texts.append(text)
                continue
            hist = LatencyHistogram.decode(text)
            indices, counts = hist.buckets()
            slower = LatencyHistogram()
            slowed = np.rint(bucket_values(indices) * factor).astype(np.int64)
            slower.record_many(slowed.repeat(counts))
            texts.append(slower.encode())
        op["histograms"] = texts
    for key in ("p50", "p90", "p95", "p99", "p999"):
        value = scenario["latency_ms"][key]  # type: ignore[literal-required]
        scenario["latency_ms"][key] = value * factor  # type: ignore[literal-required]
    comparison = compare_runs(run, slow)
    assert comparison["regressed"]
    first = comparison["rows"][0]
    assert first["verdict"] == "regressed"
    p50 = _rows(comparison, scenario="steady", operation=ALL_OPERATIONS, metric="p50")[0]
    assert p50["verdict"] == "regressed"
    assert p50["interval"][0] > 0.10


def test_a_recovery_that_never_came_is_a_regression(run: RunResult) -> None:
    base, new = copy.deepcopy(run), copy.deepcopy(run)
    outage = {"recovery_time_s": 2.0, "time_to_first_success_s": 1.0}
    base["scenarios"][0]["chaos"] = {"outage": outage}  # type: ignore[typeddict-item]
    new["scenarios"][0]["chaos"] = {  # type: ignore[typeddict-item]
        "outage": {"recovery_time_s": None, "time_to_first_success_s": 1.05}
    }
    comparison = compare_runs(base, new)
    recovery = _rows(comparison, metric="recovery_time")[0]
    assert recovery["verdict"] == "regressed"
    assert recovery["reason"] == "no recovery in the new run"
    first = _rows(comparison, metric="time_to_first_success")[0]
    assert first["verdict"] == "unchanged"  # +5%: within the 25% tolerance
    assert first["interval"] is None
    assert "point comparison only" in first["reason"]


def test_a_load_of_one_second_shows_its_change_but_never_judges_it(run: RunResult) -> None:
    short, slow = copy.deepcopy(run), copy.deepcopy(run)
    for result in (short, slow):
        data = result["scenarios"][0]["intervals"]
        data["seconds"] = data["seconds"][:1]
        for op in data["operations"].values():
            for key in ("histograms", "ok", "failed"):
                op[key] = op[key][:1]  # type: ignore[literal-required]
    slow["scenarios"][0]["latency_ms"]["p50"] = 3 * (run["scenarios"][0]["latency_ms"]["p50"] or 1)
    row = _rows(
        compare_runs(short, slow), scenario="steady", operation=ALL_OPERATIONS, metric="p50"
    )[0]
    assert row["verdict"] == "unchanged"
    assert row["delta_relative"] > 1.0
    assert row["interval"] is None
    assert "too few intervals to judge (1 and 1)" in row["reason"]
