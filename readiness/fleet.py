"""A fleet: several [[targets]] in one run, summarised as one row per target (score, checks,
throughput, p99, leak verdict, recovery time, worst security finding) from its scenarios.

A pure function of the run's results, like scoring: a stored run summarises the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from readiness.results import (
    FleetFinding,
    FleetMode,
    FleetRow,
    FleetSummary,
    RunResult,
    ScenarioResult,
    ScenarioStatus,
    Score,
    ScoreStatus,
)

_SCORE_ORDER: tuple[ScoreStatus, ...] = ("ready", "conditional", "not_ready")
_SCENARIO_ORDER: tuple[ScenarioStatus, ...] = ("passed", "inconclusive", "failed", "error")
_LEAK_ORDER = ("stable", "inconclusive", "leak")
_SEVERITY_ORDER = ("low", "medium", "high", "critical")

LeakVerdict = Literal["leak", "stable", "inconclusive"]


def worst_status(statuses: Sequence[ScoreStatus]) -> ScoreStatus:
    """The worst of the statuses (ready < conditional < not_ready); ready when none."""
    return max(statuses, key=_SCORE_ORDER.index, default="ready")


def fleet_summary(result: RunResult, mode: FleetMode) -> FleetSummary | None:
    """One row per target, in the suite's order; None when the run has a single target."""
    if len(result["targets"]) < 2:
        return None
    rows = [
        fleet_row(target["name"], _target_score(result, target["name"]), result["scenarios"])
        for target in result["targets"]
    ]
    return FleetSummary(mode=mode, status=worst_status([r["status"] for r in rows]), rows=rows)


def fleet_row(name: str, score: Score, scenarios: Sequence[ScenarioResult]) -> FleetRow:
    mine = [s for s in scenarios if s["target"] == name]
    checks = [c for s in mine for c in s["checks"]]
    throughput = [s for s in mine if s["kind"] == "throughput" and s["status"] != "error"]
    rates = [s["totals"]["throughput_rps"] for s in throughput]
    p99s = [p for s in throughput if (p := s["latency_ms"]["p99"]) is not None]
    recovered, recovery_s = _recovery(mine)
    findings, worst = _security(mine)
    return FleetRow(
        target=name,
        status=score["status"],
        label=score["label"],
        score=score["value"],
        scenarios_status=max((s["status"] for s in mine), key=_SCENARIO_ORDER.index, default=None),
        scenarios_total=len(mine),
        checks_passed=sum(1 for c in checks if c["passed"]),
        checks_total=len(checks),
        throughput_rps=max(rates) if rates else None,
        p99_ms=max(p99s) if p99s else None,
        leak=_leak(mine),
        recovery_time_s=recovery_s,
        recovered=recovered,
        findings=findings,
        worst_finding=worst,
    )


def _target_score(result: RunResult, name: str) -> Score:
    for target in result["targets"]:
        stored = target.get("score")
        if target["name"] == name and stored is not None:
            return stored
    from readiness.config.scoring import ScoringConfig
    from readiness.scoring import config_of, score_run

    run_score = result.get("score")
    config = config_of(run_score["config"]) if run_score is not None else ScoringConfig()
    return score_run([s for s in result["scenarios"] if s["target"] == name], config)


def _leak(scenarios: Sequence[ScenarioResult]) -> LeakVerdict | None:
    verdicts: list[LeakVerdict] = []
    for s in scenarios:
        memory = s.get("memory")
        if s["kind"] != "memory":
            continue
        if memory is None or not memory["measured"]:
            verdicts.append("inconclusive")
            continue
        found = [v["verdict"] for v in (memory["rss"], memory["fds"], memory["threads"]) if v]
        verdicts.append(max(found, key=_LEAK_ORDER.index, default="inconclusive"))
    return max(verdicts, key=_LEAK_ORDER.index, default=None)


def _recovery(scenarios: Sequence[ScenarioResult]) -> tuple[bool | None, float | None]:
    """Whether every recovery scenario recovered, and the slowest recovery time."""
    outcomes: list[bool] = []
    times: list[float] = []
    for s in scenarios:
        if s["kind"] != "recovery":
            continue
        chaos = s.get("chaos")
        outage = chaos["outage"] if chaos is not None else None
        if outage is None or not outage["recovered"] or outage["recovery_time_s"] is None:
            outcomes.append(False)
            continue
        outcomes.append(True)
        times.append(outage["recovery_time_s"])
    if not outcomes:
        return None, None
    recovered = all(outcomes)
    return recovered, max(times) if recovered and times else None


def _security(scenarios: Sequence[ScenarioResult]) -> tuple[int | None, FleetFinding | None]:
    probed = [s["security"] for s in scenarios if s["kind"] == "security" and "security" in s]
    if not probed:
        return None, None
    findings = [f for security in probed for f in security["findings"]]
    worst = max(
        findings,
        key=lambda f: (
            _SEVERITY_ORDER.index(f["severity"]) if f["severity"] in _SEVERITY_ORDER else -1
        ),
        default=None,
    )
    if worst is None:
        return 0, None
    shown = FleetFinding(
        severity=worst["severity"],
        rule=worst["rule"],
        rule_name=worst["rule_name"],
        tool=worst["tool"],
    )
    return len(findings), shown
