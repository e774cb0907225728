"""Tests of the renderers; they share one hand-written results.json."""

from __future__ import annotations

from pathlib import Path

from readiness.results import LatencySummary, RunResult, load_results

SAMPLE = Path(__file__).with_name("sample_results.json")


def load_sample() -> RunResult:
    """A fresh copy each call, so a test may change it."""
    return load_results(SAMPLE)


def with_dead_server(result: RunResult) -> RunResult:
    """The throughput scenario as if the server died at once: every request failed."""
    scenario = result["scenarios"][0]
    totals = scenario["totals"]
    totals["ok"] = 0
    totals["errors"] = {"tool_error": 0, "rpc_error": 0, "timeout": 0, "transport": 8000}
    totals["success_rate"] = 0.0
    totals["throughput_rps"] = 0.0
    nothing = LatencySummary(
        count=0, p50=None, p90=None, p95=None, p99=None, p999=None, max=None, mean=None
    )
    scenario["latency_ms"] = nothing
    scenario["latency_uncorrected_ms"] = nothing
    for point in scenario["timeline"]:
        point["ok"] = 0
        point["rps"] = 0.0
        point["p50_ms"] = point["p95_ms"] = point["p99_ms"] = None
    scenario["status"] = "failed"
    return result


ALL_KINDS = Path(__file__).with_name("all_kinds_results.json")


def load_all_kinds() -> RunResult:
    """Real runs of every scenario kind (the default suite, chaos.toml's overload, pool and
    two breaker scenarios, soak.toml's payload) in one results.json; a fresh copy each call."""
    return load_results(ALL_KINDS)


def scored(result: RunResult) -> RunResult:
    """`result` with the score readiness.scoring gives it (default [scoring]), as a run stores."""
    from readiness.config.scoring import ScoringConfig
    from readiness.scoring import score_run

    result["score"] = score_run(result["scenarios"], ScoringConfig())
    return result


def with_a_failed_check(result: RunResult) -> RunResult:
    """The failure scenario's first check failed by a margin (97.1% against >= 99%)."""
    check = next(s for s in result["scenarios"] if s["kind"] == "failure")["checks"][0]
    check["observed"] = 0.971
    check["passed"] = False
    return result
