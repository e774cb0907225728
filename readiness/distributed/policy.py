"""Which scenarios split their load across workers, and why the others run in one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, Suite, TargetConfig

_ONE_WORKER = {
    "scaling": "its ladder keeps no per-step histograms that could be merged exactly",
    "memory": "leak detection samples one server under one steady load",
    "payload": "its size ladder looks for one limit, request by request",
    "failure": "faults are injected into one client's connection and timed against its load",
    "recovery": "faults are injected into one client's connection and timed against its load",
    "overload": "the overload probe steps one load past capacity and watches one server",
    "pool": "the session pool is one client's",
    "security": "probes are sent once each; they are not a load",
    "subscriptions": "every update is timed against one client's subscribed sessions",
}


def single_worker_reason(
    suite: Suite, scenario: ScenarioConfig, target: TargetConfig
) -> str | None:
    """Why this scenario runs in one worker; None when its load splits soundly."""
    if scenario.kind in _ONE_WORKER:
        return _ONE_WORKER[scenario.kind]
    workload = suite.workload_for(scenario)
    if workload.journeys:
        return "users walking journeys keep their own state from step to step"
    if workload.capture is not None:
        return "a replay sends the capture's own sessions in their order"
    resilience = target.resilience
    if resilience is not None and (resilience.configured or resilience.pool is not None):
        return "breaker, limiter, cache and pool state belong to one client"
    if target.client is not None:
        return "the simulated client's two-way figures are one process's and are not merged"
    if scenario.load is None:
        return "it has no load to split"
    return None


def ran_in_one(reason: str) -> str:
    return f"ran in 1 worker: {reason}"
