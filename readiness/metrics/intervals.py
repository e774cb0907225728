"""Per-interval latency histograms of one load: the raw material of comparisons that resample time.

Each operation gets one encoded histogram per second of load, with that second's ok and failed
counts. Past MAX_INTERVALS seconds neighbours merge pairwise (the interval doubles), so a soak
keeps bounded memory and results.json at most MAX_INTERVALS intervals per scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from readiness.metrics.histogram import LatencyHistogram
from readiness.results import IntervalData, OperationIntervals

MAX_INTERVALS: Final = 600


@dataclass
class _Column:
    """One operation's intervals: encoded histograms ("" when nothing succeeded) and counts."""

    histograms: list[str] = field(default_factory=list)
    ok: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _merged_text(a: str, b: str) -> str:
    if not a or not b:
        return a or b
    return LatencyHistogram.merged(
        [LatencyHistogram.decode(a), LatencyHistogram.decode(b)]
    ).encode()


def _halve_seconds(seconds: list[float]) -> list[float]:
    return [sum(seconds[i : i + 2]) for i in range(0, len(seconds), 2)]


def _halve(column: _Column) -> _Column:
    """Neighbours merged pairwise; an odd last interval stays as it is."""
    out = _Column()
    for i in range(0, len(column.ok), 2):
        j = min(i + 1, len(column.ok) - 1)
        pair = i != j
        out.histograms.append(
            _merged_text(column.histograms[i], column.histograms[j])
            if pair
            else column.histograms[i]
        )
        out.ok.append(column.ok[i] + (column.ok[j] if pair else 0))
        out.failed.append(column.failed[i] + (column.failed[j] if pair else 0))
    return out


class IntervalSeries:
    """Collects one load's intervals; `add` is called once a second, off the request path."""

    def __init__(self, n_operations: int) -> None:
        self.width_s = 1
        self._columns = [_Column() for _ in range(n_operations)]
        self._pending = [LatencyHistogram() for _ in range(n_operations)]
        self._pending_ok = [0] * n_operations
        self._pending_failed = [0] * n_operations
        self._pending_seconds = 0
        self._seconds: list[float] = []  # each interval's length (the last may be shorter)

    def __len__(self) -> int:
        return len(self._columns[0].ok) if self._columns else 0

    def add(
        self,
        histograms: Sequence[LatencyHistogram | None],
        ok: Sequence[int],
        failed: Sequence[int],
    ) -> None:
        """One second: per operation, its ok requests' histogram (None: none), ok and failed."""
        for i, hist in enumerate(histograms):
            if hist is not None:
                self._pending[i].merge(hist)
            self._pending_ok[i] += ok[i]
            self._pending_failed[i] += failed[i]
        self._pending_seconds += 1
        if self._pending_seconds == self.width_s:
            self._flush()
            if len(self) >= 2 * MAX_INTERVALS:
                self._columns = [_halve(c) for c in self._columns]
                self._seconds = _halve_seconds(self._seconds)
                self.width_s *= 2

    def _flush(self) -> None:
        if self._pending_seconds == 0:
            return
        self._seconds.append(float(self._pending_seconds))
        for i, column in enumerate(self._columns):
            hist = self._pending[i]
            column.histograms.append(hist.encode() if hist.count else "")
            column.ok.append(self._pending_ok[i])
            column.failed.append(self._pending_failed[i])
        n = len(self._columns)
        self._pending = [LatencyHistogram() for _ in range(n)]
        self._pending_ok = [0] * n
        self._pending_failed = [0] * n
        self._pending_seconds = 0

    def drop_last(self) -> None:
        """Forget the newest second (an empty trailing sliver is not a second of the load)."""
        if self._pending_seconds:
            n = len(self._columns)
            self._pending_seconds -= 1
            if self._pending_seconds == 0:
                self._pending = [LatencyHistogram() for _ in range(n)]
                self._pending_ok = [0] * n
                self._pending_failed = [0] * n
            return
        if self._seconds:
            self._seconds.pop()
        for column in self._columns:
            if column.ok:
                column.histograms.pop()
                column.ok.pop()
                column.failed.pop()

    def finish(self, load_s: float | None = None) -> None:
        """Close the last interval; `load_s`, the load's length, trims the last one to it."""
        self._flush()
        if load_s is not None and self._seconds:
            before = sum(self._seconds[:-1])
            self._seconds[-1] = min(self._seconds[-1], max(load_s - before, 0.001))

    @classmethod
    def concatenated(cls, parts: Sequence[IntervalSeries]) -> IntervalSeries:
        """Loads run one after another (a ladder's steps), laid end to end at a common width."""
        out = cls(len(parts[0]._columns) if parts else 0)
        out.width_s = max((p.width_s for p in parts), default=1)
        for part in parts:
            part.finish()
            columns, seconds = part._columns, part._seconds
            width = part.width_s
            while width < out.width_s:
                columns = [_halve(c) for c in columns]
                seconds = _halve_seconds(seconds)
                width *= 2
            out._seconds.extend(seconds)
            for mine, theirs in zip(out._columns, columns, strict=True):
                mine.histograms.extend(theirs.histograms)
                mine.ok.extend(theirs.ok)
                mine.failed.extend(theirs.failed)
        return out

    def to_result(self, names: Sequence[str]) -> IntervalData:
        """The results.json form: at most MAX_INTERVALS intervals per operation."""
        self.finish()
        columns, seconds, width = self._columns, self._seconds, self.width_s
        while len(seconds) > MAX_INTERVALS:
            columns = [_halve(c) for c in columns]
            seconds = _halve_seconds(seconds)
            width *= 2
        return IntervalData(
            width_s=width,
            seconds=[round(s, 3) for s in seconds],
            operations={
                names[i]: OperationIntervals(histograms=c.histograms, ok=c.ok, failed=c.failed)
                for i, c in enumerate(columns)
            },
        )
