"""The two-way figures of a scenario: what the server asked of the simulated client, and each
operation's end-to-end time split into the client's share and the server's own.

They cover the measured load only: `measure_from_now` is called as it starts, so pre-flight and
warm-up calls are not in them (the standalone stream's counters cover the session's life).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.summary import latency_summary
from readiness.protocol.listener import StandaloneStream
from readiness.protocol.twoway import TwoWayCalls, TwoWayConnection
from readiness.results import (
    ScenarioResult,
    TwoWayCancellation,
    TwoWayOperation,
    TwoWayProgress,
    TwoWayResult,
    TwoWayStream,
    TwoWayTasks,
)

TWO_WAY_METRICS = (
    "server_time_p50",
    "server_time_p99",
    "client_time_p99",
    "server_requests",
    "answer_failures",
    "lost_progress",
    "late_after_cancel",
    "stuck_tasks",
    "duplicate_requests",
)


def two_way_result(connections: Sequence[object]) -> TwoWayResult | None:
    """Summed over the scenario's connections with a simulated client; None without one."""
    ways = [c for c in connections if isinstance(c, TwoWayConnection)]
    if not ways:
        return None
    requests: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    unattributed = outside = late_progress = stray_progress = late_replies = duplicates = 0
    after_cancel: list[float] = []
    merged: dict[str, list[TwoWayCalls]] = {}
    for way in ways:
        stats = way.responder.statistics()
        requests.update(stats.requests)
        seconds.update(stats.client_seconds)
        failures.update(stats.failures)
        unattributed += stats.unattributed
        outside += stats.outside_calls
        late_progress += stats.late_progress
        stray_progress += stats.stray_progress
        duplicates += stats.duplicates
        after_cancel.extend(stats.after_cancel_s)
        late_replies += getattr(way.statistics(), "late_replies", 0)
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
        methods: Counter[str] = Counter()
        for p in parts:
            failed.update(p.failures)
            methods.update(p.methods)
        operation_result = TwoWayOperation(
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
        operation_result["methods"] = dict(methods)
        operation_result["asked_again"] = sum(p.asked_again for p in parts)
        operation_result["histograms"] = {
            name: hist.encode()
            for name, hist in zip(("end_to_end", "client", "server"), hists, strict=True)
        }
        _add_progress(operation_result, parts)
        operations.append(operation_result)
    result = TwoWayResult(
        server_requests=dict(requests),
        client_time_s={k: round(v, 6) for k, v in seconds.items()},
        answer_failures=dict(failures),
        unattributed=unattributed,
        outside_calls=outside,
        late_progress=late_progress,
        stray_progress=stray_progress,
        late_replies=late_replies,
        operations=operations,
        server_time_ms=latency_summary(all_server),
        client_time_ms=latency_summary(all_client),
    )
    stream = stream_figures(connections)
    if stream is not None:
        result["stream"] = stream
    result["duplicate_requests"] = duplicates
    if after_cancel:
        kept = LatencyHistogram()
        kept.record_many(np.asarray([int(s * 1e6) for s in after_cancel], dtype=np.int64))
        result["after_cancel_ms"] = latency_summary(kept)
    result["histograms"] = {"server": all_server.encode(), "client": all_client.encode()}
    return result


def measure_from_now(connections: Sequence[object]) -> None:
    """The measured load starts: the two-way figures forget pre-flight and warm-up."""
    for conn in connections:
        if isinstance(conn, TwoWayConnection):
            conn.measure_from_now()


def stream_figures(connections: Sequence[object]) -> TwoWayStream | None:
    """The standalone GET streams of the connections that opened one; None when none did."""
    found = (getattr(c, "stream", None) for c in connections)
    streams = [s for s in found if isinstance(s, StandaloneStream)]
    if not streams:
        return None
    refused: Counter[str] = Counter()
    for s in streams:
        if s.stats.refused is not None:
            refused[str(s.stats.refused)] += 1
    return TwoWayStream(
        sessions=len(streams),
        opened=sum(s.stats.opened for s in streams),
        resumed=sum(s.stats.resumed for s in streams),
        refused=dict(refused),
        failures=sum(s.stats.failures for s in streams),
        server_requests=sum(s.stats.server_requests for s in streams),
        notifications=sum(s.stats.notifications for s in streams),
        client_s=round(sum(s.ledger.client_seconds for s in streams), 6),
    )


def _add_progress(result: TwoWayOperation, parts: list[TwoWayCalls]) -> None:
    calls = sum(p.progress_calls for p in parts)
    if calls:
        events = sum(p.progress_events for p in parts)
        first, gaps = LatencyHistogram(), LatencyHistogram()
        for p in parts:
            first.record_many(np.asarray(p.first_progress_us, dtype=np.int64))
            gaps.record_many(np.asarray(p.max_gap_us, dtype=np.int64))
        result["progress"] = TwoWayProgress(
            calls=calls,
            events=events,
            events_per_call=round(events / calls, 3),
            without_progress=sum(p.without_progress for p in parts),
            first_progress_ms=latency_summary(first),
            max_gap_ms=latency_summary(gaps),
        )
    outcomes: Counter[str] = Counter()
    for p in parts:
        outcomes.update(p.tasks)
    if outcomes:
        accepted, completed = LatencyHistogram(), LatencyHistogram()
        for p in parts:
            accepted.record_many(np.asarray(p.task_accepted_us, dtype=np.int64))
            completed.record_many(np.asarray(p.task_completed_us, dtype=np.int64))
        result["tasks"] = TwoWayTasks(
            outcomes=dict(outcomes),
            polls_per_task=round(sum(p.task_polls for p in parts) / sum(outcomes.values()), 3),
            accepted_ms=latency_summary(accepted),
            completed_ms=latency_summary(completed),
            input_rounds=sum(p.task_input_rounds for p in parts),
        )
    cancelled = sum(p.cancelled for p in parts)
    beat = sum(p.finished_before_cancel for p in parts)
    if cancelled or beat:
        after = {p.cancel_after for p in parts if p.cancel_after is not None}
        result["cancellation"] = TwoWayCancellation(
            cancel_after_s=max(after) if after else None,
            cancelled=cancelled,
            finished_before_cancel=beat,
        )


def two_way_metric(result: ScenarioResult, metric: str) -> float | None:
    """A two-way check metric's value (seconds for times); None without a simulated client."""
    figures = result.get("two_way")
    if figures is None:
        return None
    if metric == "server_requests":
        return float(sum(figures["server_requests"].values()))
    if metric == "duplicate_requests":
        return float(figures.get("duplicate_requests", 0))
    if metric == "answer_failures":
        return float(sum(figures["answer_failures"].values()))
    if metric == "lost_progress":
        ops = figures["operations"]
        return float(sum(o["progress"]["without_progress"] for o in ops if "progress" in o))
    if metric == "stuck_tasks":
        ops = figures["operations"]
        stuck = ("stuck", "lost")
        return float(
            sum(o["tasks"]["outcomes"].get(k, 0) for o in ops if "tasks" in o for k in stuck)
        )
    if metric == "late_after_cancel":
        return float(figures["late_progress"] + figures["late_replies"])
    summary = figures["client_time_ms" if metric.startswith("client") else "server_time_ms"]
    value = summary["p50" if metric.endswith("p50") else "p99"]
    return None if value is None else value / 1000.0
