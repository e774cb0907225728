"""The two-way figures of a scenario: what the server asked of the simulated client, and each
operation's end-to-end time split into the client's share and the server's own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.summary import latency_summary
from readiness.protocol.twoway import TwoWayCalls, TwoWayConnection
from readiness.results import ScenarioResult, TwoWayOperation, TwoWayResult

TWO_WAY_METRICS = (
    "server_time_p50",
    "server_time_p99",
    "client_time_p99",
    "server_requests",
    "answer_failures",
)


def two_way_result(connections: Sequence[object]) -> TwoWayResult | None:
    """Summed over the scenario's connections with a simulated client; None without one."""
    ways = [c for c in connections if isinstance(c, TwoWayConnection)]
    if not ways:
        return None
    requests: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    unattributed = 0
    merged: dict[str, list[TwoWayCalls]] = {}
    for way in ways:
        stats = way.responder.statistics()
        requests.update(stats.requests)
        seconds.update(stats.client_seconds)
        failures.update(stats.failures)
        unattributed += stats.unattributed
        for operation, calls in way.calls.items():
            merged.setdefault(operation, []).append(calls)
    all_server = LatencyHistogram()
    all_client = LatencyHistogram()
    operations: list[TwoWayOperation] = []
    for operation, parts in sorted(merged.items()):
        e2e = np.concatenate([np.asarray(p.end_to_end_us, dtype=np.int64) for p in parts])
        client = np.concatenate([np.asarray(p.client_us, dtype=np.int64) for p in parts])
        asked = int(sum(sum(p.server_requests) for p in parts))
        server = np.maximum(e2e - client, 0)
        hists = [LatencyHistogram() for _ in range(3)]
        for hist, values in zip(hists, (e2e, client, server), strict=True):
            hist.record_many(values)
        all_server.record_many(server)
        all_client.record_many(client)
        failed: Counter[str] = Counter()
        for p in parts:
            failed.update(p.failures)
        operations.append(
            TwoWayOperation(
                operation=operation,
                calls=len(e2e),
                failed=dict(failed),
                server_requests=asked,
                server_requests_per_call=round(asked / len(e2e), 3) if len(e2e) else 0.0,
                input_rounds=sum(p.input_rounds for p in parts),
                end_to_end_ms=latency_summary(hists[0]),
                client_ms=latency_summary(hists[1]),
                server_ms=latency_summary(hists[2]),
            )
        )
    return TwoWayResult(
        server_requests=dict(requests),
        client_time_s={k: round(v, 6) for k, v in seconds.items()},
        answer_failures=dict(failures),
        unattributed=unattributed,
        operations=operations,
        server_time_ms=latency_summary(all_server),
        client_time_ms=latency_summary(all_client),
    )


def two_way_metric(result: ScenarioResult, metric: str) -> float | None:
    """A two-way check metric's value (seconds for times); None without a simulated client."""
    figures = result.get("two_way")
    if figures is None:
        return None
    if metric == "server_requests":
        return float(sum(figures["server_requests"].values()))
    if metric == "answer_failures":
        return float(sum(figures["answer_failures"].values()))
    summary = figures["client_time_ms" if metric.startswith("client") else "server_time_ms"]
    value = summary["p50" if metric.endswith("p50") else "p99"]
    return None if value is None else value / 1000.0
