"""Records every finished request: cheap appends in the hot path, histograms once a second.

Each second the buffers are swapped out and bulk-loaded into mergeable histograms; totals are
merges of those, so no percentile is ever averaged.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.intervals import IntervalSeries
from readiness.protocol.outcome import Outcome

_N_OUTCOMES = len(Outcome)
# Module aliases: an Enum member lookup costs ~100 ns, a global ~10 ns, on every request.
_OK = Outcome.OK
_REJECTED = Outcome.REJECTED
_FAILURES = (Outcome.TOOL_ERROR, Outcome.RPC_ERROR, Outcome.TIMEOUT, Outcome.TRANSPORT)


class _Interval:
    """What happened in one interval, before it is folded into histograms."""

    __slots__ = (
        "codes",
        "counts",
        "dropped",
        "fail",
        "late",
        "ok_corrected",
        "ok_uncorrected",
        "sent",
    )

    def __init__(self, n_ops: int) -> None:
        self.ok_corrected: list[list[int]] = [[] for _ in range(n_ops)]
        self.ok_uncorrected: list[list[int]] = [[] for _ in range(n_ops)]
        self.fail: list[list[int]] = [[] for _ in range(n_ops)]
        self.counts: list[list[int]] = [[0] * _N_OUTCOMES for _ in range(n_ops)]
        self.codes: Counter[int] = Counter()
        self.sent = 0
        self.late = 0
        self.dropped = 0


@dataclass
class IntervalStats:
    """One folded interval: the timeline's raw material."""

    t_s: int
    sent: int
    late: int
    dropped: int
    counts: list[int]  # by Outcome, all operations
    # Corrected latency of this interval's ok requests, in ms. Only the percentiles are kept:
    # a histogram per second would make a long soak grow the generator's own memory.
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class OperationRecord:
    corrected: LatencyHistogram = field(default_factory=LatencyHistogram)
    uncorrected: LatencyHistogram = field(default_factory=LatencyHistogram)
    failures: LatencyHistogram = field(default_factory=LatencyHistogram)
    counts: list[int] = field(default_factory=lambda: [0] * _N_OUTCOMES)


@dataclass
class Recording:
    """Everything one load recorded, ready to summarise or merge."""

    operations: list[OperationRecord]
    codes: Counter[int]
    intervals: list[IntervalStats]
    sent: int
    sent_by_op: list[int]
    late: int
    dropped: int
    cancelled: int
    window_s: float  # from the first send to the last completion
    series: IntervalSeries = field(default_factory=lambda: IntervalSeries(0))

    @property
    def completed(self) -> int:
        return sum(sum(op.counts) for op in self.operations)


class Recorder:
    """Collects outcomes of one load. `record` is the hot path: appends and an increment."""

    def __init__(self, n_operations: int, *, clock_ns: int | None = None) -> None:
        self._n_ops = n_operations
        self.start_ns = time.perf_counter_ns() if clock_ns is None else clock_ns
        self.last_done_ns = self.start_ns
        self._current = _Interval(n_operations)
        self._interval_index = 0
        self._ops = [OperationRecord() for _ in range(n_operations)]
        self._codes: Counter[int] = Counter()
        self._intervals: list[IntervalStats] = []
        self._series = IntervalSeries(n_operations)
        self.sent = 0
        self.sent_by_op = [0] * n_operations
        self.completed = 0
        self.errors = 0
        self.rejected = 0

    def on_sent(self, op: int) -> None:
        self._current.sent += 1
        self.sent += 1
        self.sent_by_op[op] += 1

    def on_late(self) -> None:
        self._current.late += 1

    def on_dropped(self) -> None:
        self._current.dropped += 1

    def record(
        self,
        op: int,
        outcome: Outcome,
        intended_ns: int,
        sent_ns: int,
        done_ns: int,
        error_code: int | None,
    ) -> None:
        current = self._current
        if outcome is _OK:
            current.ok_corrected[op].append((done_ns - intended_ns) // 1000)
            current.ok_uncorrected[op].append((done_ns - sent_ns) // 1000)
        elif outcome is _REJECTED:  # refused by us: not a server failure
            self.rejected += 1
        else:
            current.fail[op].append((done_ns - intended_ns) // 1000)
            if error_code is not None:
                current.codes[error_code] += 1
            self.errors += 1
        current.counts[op][outcome] += 1
        self.completed += 1
        if done_ns > self.last_done_ns:
            self.last_done_ns = done_ns

    def live_counts(self) -> list[list[int]]:
        """Outcome counts per operation so far, the open interval included (for a scrape)."""
        current = self._current.counts
        return [
            [folded + now for folded, now in zip(op.counts, current[i], strict=True)]
            for i, op in enumerate(self._ops)
        ]

    @property
    def operations(self) -> list[OperationRecord]:
        """The folded records per operation: histograms lag the open interval by up to 1 s."""
        return self._ops

    def roll(self) -> IntervalStats:
        """Close the current interval and fold it into the histograms (off the request path)."""
        done, self._current = self._current, _Interval(self._n_ops)
        interval_hist = LatencyHistogram()
        counts = [0] * _N_OUTCOMES
        parts: list[LatencyHistogram | None] = [None] * self._n_ops
        for i, op in enumerate(self._ops):
            if done.ok_corrected[i]:
                part = parts[i] = LatencyHistogram()
                part.record_many(done.ok_corrected[i])
                op.corrected.merge(part)
                interval_hist.merge(part)
                op.uncorrected.record_many(done.ok_uncorrected[i])
            if done.fail[i]:
                op.failures.record_many(done.fail[i])
            for k in range(_N_OUTCOMES):
                counts[k] += done.counts[i][k]
                op.counts[k] += done.counts[i][k]
        self._codes.update(done.codes)
        self._series.add(
            parts,
            [c[_OK] for c in done.counts],
            [sum(c[k] for k in _FAILURES) for c in done.counts],
        )
        p = interval_hist.percentiles_ms((50, 95, 99)) if interval_hist.count else {}
        stats = IntervalStats(
            t_s=self._interval_index,
            sent=done.sent,
            late=done.late,
            dropped=done.dropped,
            counts=counts,
            p50_ms=p.get("p50"),
            p95_ms=p.get("p95"),
            p99_ms=p.get("p99"),
        )
        self._intervals.append(stats)
        self._interval_index += 1
        return stats

    def finish(self) -> Recording:
        """Fold what is left and hand over the recording; in-flight requests count as cancelled."""
        last = self.roll()
        if last.sent == 0 and sum(last.counts) == 0 and len(self._intervals) > 1:
            self._intervals.pop()  # an empty trailing sliver is not a second of the run
            self._series.drop_last()
        window_ns = max(self.last_done_ns - self.start_ns, 1)
        self._series.finish(load_s=window_ns / 1e9)
        return Recording(
            operations=self._ops,
            codes=self._codes,
            intervals=self._intervals,
            sent=self.sent,
            sent_by_op=list(self.sent_by_op),
            late=sum(i.late for i in self._intervals),
            dropped=sum(i.dropped for i in self._intervals),
            cancelled=self.sent - self.completed,
            window_s=window_ns / 1e9,
            series=self._series,
        )
