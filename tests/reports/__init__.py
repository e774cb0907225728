"""Tests of the renderers; they share one hand-written results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def sample_score() -> dict[str, Any]:
    """A score in results.json's shape (issue 8 §1), with one deduction and a category that
    was not assessed."""
    return {
        "value": 93.8,
        "status": "conditional",
        "rule": "a check scores 1 when it passes, less the further it misses (none at twice its "
        "limit); a category is the weighted mean of its checks, the score the weighted mean "
        "of the assessed categories",
        "categories": [
            {"name": "Performance", "weight": 25, "assessed": True, "value": 100.0, "checks": []},
            {"name": "Scalability", "weight": 15, "assessed": True, "value": 100.0, "checks": []},
            {"name": "Stability", "weight": 20, "assessed": True, "value": 100.0, "checks": []},
            {
                "name": "Fault tolerance",
                "weight": 15,
                "assessed": True,
                "value": 62.5,
                "checks": [],
            },
            {"name": "Recovery", "weight": 15, "assessed": True, "value": 100.0, "checks": []},
            {"name": "Security", "weight": 10, "assessed": False, "value": None, "checks": []},
        ],
        "deductions": [
            {
                "scenario": "failure",
                "target": "demo",
                "check": "unaffected_success_rate >= 99%",
                "category": "Fault tolerance",
                "observed": "97.1%",
                "required": ">= 99%",
                "points": 6.2,
            }
        ],
    }
