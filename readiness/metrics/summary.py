"""Turns a Recording into the figures results.json stores: totals, percentiles, timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.intervals import IntervalSeries
from readiness.metrics.recorder import IntervalStats, OperationRecord, Recording
from readiness.protocol.outcome import Outcome
from readiness.results import (
    ErrorCounts,
    Histograms,
    LatencySummary,
    OperationResult,
    TimelinePoint,
    Totals,
)


def latency_summary(hist: LatencyHistogram) -> LatencySummary:
    if hist.count == 0:
        return LatencySummary(
            count=0, p50=None, p90=None, p95=None, p99=None, p999=None, max=None, mean=None
        )
    p = hist.percentiles_ms()
    return LatencySummary(
        count=hist.count,
        p50=p["p50"],
        p90=p["p90"],
        p95=p["p95"],
        p99=p["p99"],
        p999=p["p999"],
        max=p["max"],
        mean=p["mean"],
    )


def error_counts(counts: Sequence[int]) -> ErrorCounts:
    return ErrorCounts(
        tool_error=counts[Outcome.TOOL_ERROR],
        rpc_error=counts[Outcome.RPC_ERROR],
        timeout=counts[Outcome.TIMEOUT],
        transport=counts[Outcome.TRANSPORT],
    )


def make_totals(
    counts: Sequence[int],
    *,
    sent: int,
    late: int,
    dropped: int,
    cancelled: int,
    codes: Counter[int],
    window_s: float,
) -> Totals:
    ok = counts[Outcome.OK]
    rejected = counts[Outcome.REJECTED]
    attempted = sent - rejected
    success = ok / attempted if attempted > 0 else None
    return Totals(
        sent=sent,
        ok=ok,
        errors=error_counts(counts),
        rpc_error_codes={str(code): n for code, n in sorted(codes.items())},
        rejected=rejected,
        late=late,
        dropped=dropped,
        cancelled=cancelled,
        success_rate=success,
        error_rate=None if success is None else 1.0 - success,
        throughput_rps=ok / window_s if window_s > 0 else 0.0,
    )


def _sum_counts(records: Sequence[OperationRecord]) -> list[int]:
    return [sum(r.counts[k] for r in records) for k in range(len(Outcome))]


def recording_totals(rec: Recording) -> Totals:
    return make_totals(
        _sum_counts(rec.operations),
        sent=rec.sent,
        late=rec.late,
        dropped=rec.dropped,
        cancelled=rec.cancelled,
        codes=rec.codes,
        window_s=rec.window_s,
    )


def overall(rec: Recording) -> tuple[LatencyHistogram, LatencyHistogram, LatencyHistogram]:
    """Corrected, uncorrected and time-to-fail histograms merged over all operations."""
    return (
        LatencyHistogram.merged(op.corrected for op in rec.operations),
        LatencyHistogram.merged(op.uncorrected for op in rec.operations),
        LatencyHistogram.merged(op.failures for op in rec.operations),
    )


def operation_results(
    rec: Recording, names: Sequence[str], methods: Sequence[str]
) -> list[OperationResult]:
    sent_by_op = rec.sent_by_op
    results: list[OperationResult] = []
    for i, op in enumerate(rec.operations):
        completed = sum(op.counts)
        results.append(
            OperationResult(
                name=names[i],
                method=methods[i],
                totals=make_totals(
                    op.counts,
                    sent=sent_by_op[i],
                    late=0,
                    dropped=0,
                    cancelled=max(sent_by_op[i] - completed, 0),
                    codes=Counter(),
                    window_s=rec.window_s,
                ),
                latency_ms=latency_summary(op.corrected),
                latency_uncorrected_ms=latency_summary(op.uncorrected),
            )
        )
    return results


def timeline(intervals: Sequence[IntervalStats], offset_s: int = 0) -> list[TimelinePoint]:
    points: list[TimelinePoint] = []
    for interval in intervals:
        points.append(
            TimelinePoint(
                t_s=interval.t_s + offset_s,
                sent=interval.sent,
                ok=interval.counts[Outcome.OK],
                errors=error_counts(interval.counts),
                late=interval.late,
                dropped=interval.dropped,
                rps=float(interval.counts[Outcome.OK]),
                p50_ms=interval.p50_ms,
                p95_ms=interval.p95_ms,
                p99_ms=interval.p99_ms,
            )
        )
    return points


def histograms(rec: Recording, names: Sequence[str]) -> Histograms:
    corrected, uncorrected, failures = overall(rec)
    return Histograms(
        corrected=corrected.encode(),
        uncorrected=uncorrected.encode(),
        failures=failures.encode(),
        operations={
            names[i]: {"corrected": op.corrected.encode(), "uncorrected": op.uncorrected.encode()}
            for i, op in enumerate(rec.operations)
        },
    )


def merge_recordings(parts: Sequence[Recording]) -> Recording:
    """Exact merge of recordings made one after another (the steps of a scaling ladder)."""
    n_ops = len(parts[0].operations)
    ops = [OperationRecord() for _ in range(n_ops)]
    codes: Counter[int] = Counter()
    intervals: list[IntervalStats] = []
    offset = 0
    for part in parts:
        for i, op in enumerate(part.operations):
            ops[i].corrected.merge(op.corrected)
            ops[i].uncorrected.merge(op.uncorrected)
            ops[i].failures.merge(op.failures)
            ops[i].counts = [a + b for a, b in zip(ops[i].counts, op.counts, strict=True)]
        codes.update(part.codes)
        for interval in part.intervals:
            intervals.append(
                IntervalStats(
                    t_s=interval.t_s + offset,
                    sent=interval.sent,
                    late=interval.late,
                    dropped=interval.dropped,
                    counts=interval.counts,
                    p50_ms=interval.p50_ms,
                    p95_ms=interval.p95_ms,
                    p99_ms=interval.p99_ms,
                )
            )
        offset += len(part.intervals)
    return Recording(
        operations=ops,
        codes=codes,
        intervals=intervals,
        sent=sum(p.sent for p in parts),
        sent_by_op=[sum(p.sent_by_op[i] for p in parts) for i in range(n_ops)],
        late=sum(p.late for p in parts),
        dropped=sum(p.dropped for p in parts),
        cancelled=sum(p.cancelled for p in parts),
        window_s=sum(p.window_s for p in parts),
        series=IntervalSeries.concatenated([p.series for p in parts]),
    )
