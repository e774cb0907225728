"""The exact merge: shards' results merged equal one recording of all their samples —
histograms bucket by bucket, counts, per-operation and per-interval figures."""

from __future__ import annotations

import random

import pytest

from readiness.distributed.merge import merge_available, merge_scenario, merged_text, shard_order
from readiness.errors import ConfigError
from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.recorder import Recorder, Recording
from readiness.metrics.summary import (
    histograms,
    latency_summary,
    operation_results,
    overall,
    recording_totals,
    timeline,
)
from readiness.protocol.outcome import Outcome
from readiness.results import GeneratorStats, RunResult, ScenarioResult, ServerResources

NAMES = ["echo", "status"]
OUTCOMES = [Outcome.OK] * 8 + [Outcome.TOOL_ERROR, Outcome.TIMEOUT]


def _result(rec: Recording) -> ScenarioResult:
    corrected, uncorrected, failures = overall(rec)
    result = ScenarioResult(
        name="steady",
        kind="throughput",
        target="demo",
        status="passed",
        error=None,
        partial=False,
        started_at="2026-01-01T00:00:00Z",
        duration_s=3.0,
        load={"model": "open", "rate": 100.0},
        method={"model": "open", "corrected": True, "note": ""},
        totals=recording_totals(rec),
        latency_ms=latency_summary(corrected),
        latency_uncorrected_ms=latency_summary(uncorrected),
        failure_latency_ms=latency_summary(failures),
        operations=operation_results(rec, NAMES, ["tools/call", "resources/read"]),
        timeline=timeline(rec.intervals),
        generator=GeneratorStats(
            cpu_s=1.0,
            cpu_us_per_request=None,
            cpu_percent=30.0,
            max_loop_lag_ms=1.0,
            p99_loop_lag_ms=0.5,
            rss_peak_mb=50.0,
            saturated=False,
            saturation_reason="",
        ),
        server=ServerResources(
            measured=False,
            reason="a URL",
            pid=None,
            samples=0,
            cpu_percent_mean=None,
            cpu_percent_max=None,
            rss_initial_mb=None,
            rss_peak_mb=None,
            rss_final_mb=None,
        ),
        checks=[],
        histograms=histograms(rec, NAMES),
    )
    result["intervals"] = rec.series.to_result(NAMES)
    return result


@pytest.mark.parametrize("count", [2, 3])
def test_merged_shards_equal_one_recording_of_all_their_samples(count: int) -> None:
    rng = random.Random(count)
    everything = Recorder(len(NAMES), clock_ns=0)
    shards = [Recorder(len(NAMES), clock_ns=0) for _ in range(count)]
    for _second in range(4):
        for _ in range(300):
            shard = rng.randrange(count)
            op = rng.randrange(len(NAMES))
            outcome = rng.choice(OUTCOMES)
            sent = rng.randrange(10**9)
            done = sent + int(rng.lognormvariate(14, 1.5))
            intended = sent - rng.randrange(10**6)
            code = -32000 if outcome is Outcome.RPC_ERROR else None
            for rec in (everything, shards[shard]):
                rec.on_sent(op)
                rec.record(op, outcome, intended, sent, done, code)
        for rec in (everything, *shards):
            rec.roll()
    whole = _result(everything.finish())
    merged = merge_scenario([(i, _result(r.finish())) for i, r in enumerate(shards)], count)

    assert merged["histograms"] == whole["histograms"]
    assert LatencyHistogram.decode(merged["histograms"]["corrected"]) == LatencyHistogram.decode(
        whole["histograms"]["corrected"]
    )
    for key in ("latency_ms", "latency_uncorrected_ms", "failure_latency_ms", "intervals"):
        assert merged[key] == whole[key], key  # type: ignore[literal-required]
    totals, expected = dict(merged["totals"]), dict(whole["totals"])
    for t in (totals, expected):
        t.pop("throughput_rps")  # per shard windows: summed rates, not one window's
    assert totals == expected
    for mine, theirs in zip(merged["operations"], whole["operations"], strict=True):
        assert mine["latency_ms"] == theirs["latency_ms"]
        assert mine["totals"]["sent"] == theirs["totals"]["sent"]
    for mine_t, theirs_t in zip(merged["timeline"], whole["timeline"], strict=True):
        assert (mine_t["sent"], mine_t["ok"], mine_t["p99_ms"]) == (
            theirs_t["sent"], theirs_t["ok"], theirs_t["p99_ms"],
        )  # fmt: skip
    workers = merged["workers"]
    assert workers["count"] == count
    assert sum(s["sent"] for s in workers["shards"]) == whole["totals"]["sent"]
    assert merged["generator"]["cpu_s"] == pytest.approx(count * 1.0)


def test_a_shard_missing_its_scenario_fails_the_merged_scenario_loudly() -> None:
    rec = Recorder(len(NAMES), clock_ns=0)
    rec.on_sent(0)
    rec.record(0, Outcome.OK, 0, 0, 1_000_000, None)
    merged = merge_scenario([(0, _result(rec.finish()))], 2, absent=[1], notes={1: "killed"})
    assert merged["status"] == "error"
    assert "worker 1" in (merged["error"] or "")
    assert merged["partial"]


def test_merged_text_of_empty_histograms_is_empty() -> None:
    assert merged_text(["", ""]) == ""


def _shard(segment: str | None) -> RunResult:
    run = {"config": "suite.toml", "status": "passed"}
    if segment is not None:
        run["segment"] = segment
    return {"run": run, "scenarios": []}  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("segments", "problem"),
    [
        (["0/2"], "missing"),
        (["0/2", "0/2"], "again"),
        (["0/2", "1/3"], "different splits"),
        ([None, "1/2"], "not a shard result"),
    ],
)
def test_shards_that_are_not_one_whole_split_are_refused(
    segments: list[str | None], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        shard_order([_shard(s) for s in segments], [f"s{i}.json" for i in range(len(segments))])


def _ran(index: int, count: int, scenarios: list[ScenarioResult]) -> RunResult:
    run = {
        "config": "suite.toml",
        "status": "passed",
        "started_at": f"2026-01-01T00:00:0{index}Z",
        "finished_at": "2026-01-01T00:00:09Z",
        "segment": f"{index}/{count}",
    }
    return {"run": run, "scenarios": scenarios}  # type: ignore[typeddict-item]


def _one_success() -> ScenarioResult:
    rec = Recorder(len(NAMES), clock_ns=0)
    rec.on_sent(0)
    rec.record(0, Outcome.OK, 0, 0, 1_000_000, None)
    return _result(rec.finish())


def test_a_shard_that_returned_nothing_stands_in_as_one_that_ran_nothing() -> None:
    failures: dict[int, str] = {}
    merged = merge_available(
        [_ran(0, 3, [_one_success()]), None, _ran(2, 3, [_one_success()])], failures
    )
    assert merged is not None
    assert failures == {1: "worker 1 left no results"}
    assert merged["run"]["workers"] == 3
    assert merged["run"]["status"] == "error"
    (scenario,) = merged["scenarios"]
    assert scenario["status"] == "error"
    assert "worker 1" in (scenario["error"] or "")
    assert scenario["totals"]["sent"] == 2  # what the two that returned measured, kept


def test_shards_that_all_returned_nothing_merge_into_nothing() -> None:
    failures = {0: "killed"}
    assert merge_available([None, None], failures) is None
    assert failures[0] == "killed"  # the first reason stays
