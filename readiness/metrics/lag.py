"""Measures event-loop lag: how late a task that sleeps a short period wakes up.

A loop kept busy by the generator itself delays every reply it reads; this says when it did.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from anyio.abc import TaskStatus

from readiness.metrics.histogram import LatencyHistogram


@dataclass(frozen=True, slots=True)
class LagStatistics:
    samples: int
    max_ms: float | None  # None until the first wake-up
    p99_ms: float | None
    mean_ms: float | None


class LoopLagMonitor:
    """Sleeps `period` seconds at a time and records how late each wake-up is.

    Start with `await tg.start(monitor.run)`; end it with `stop()` or by cancelling its scope.
    """

    def __init__(self, *, period: float = 0.05) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0 s, got {period}")
        self.period = period
        self._lags = LatencyHistogram()  # in µs
        self._stop_requested = False
        self._stop_event: anyio.Event | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._stop_event = stop_event = anyio.Event()
        task_status.started()
        try:
            while not self._stop_requested:
                due = anyio.current_time() + self.period
                with anyio.move_on_after(self.period) as timer:
                    await stop_event.wait()
                lag_s = anyio.current_time() - due
                # A wake-up that was due counts even if stop() came meanwhile; timers may fire
                # a hair early, hence the clamp.
                if timer.cancelled_caught or lag_s >= 0:
                    self._lags.record(max(round(lag_s * 1e6), 0))
                if stop_event.is_set():
                    break
        finally:
            self._stop_event = None

    def stop(self) -> None:
        """End `run` at once (safe to call before it starts or twice)."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    @property
    def histogram(self) -> LatencyHistogram:
        """A copy of the lags recorded so far, in µs (to merge across monitors)."""
        return LatencyHistogram.merged([self._lags])

    def statistics(self) -> LagStatistics:
        lags = self._lags
        if lags.count == 0:
            return LagStatistics(samples=0, max_ms=None, p99_ms=None, mean_ms=None)
        return LagStatistics(
            samples=lags.count,
            max_ms=lags.max_us / 1000,
            p99_ms=lags.percentile_us(99) / 1000,
            mean_ms=lags.mean_us / 1000,
        )

    def __repr__(self) -> str:
        stats = self.statistics()
        if stats.samples == 0:
            return f"<LoopLagMonitor period={self.period * 1000:g}ms samples=0>"
        return (
            f"<LoopLagMonitor period={self.period * 1000:g}ms samples={stats.samples} "
            f"p99={stats.p99_ms:.1f}ms max={stats.max_ms:.1f}ms>"
        )
