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
