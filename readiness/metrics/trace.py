"""A recorder that also keeps every request's operation, outcome and times, for figures finer
than the per-second timeline: when a fault was first felt, when the first success came back."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.recorder import Recorder
from readiness.protocol.outcome import Outcome

MAX_TRACED = 2_000_000  # ≈ 58 MB; a chaos scenario is seconds to minutes of load


@dataclass(frozen=True)
class Trace:
    """One row per finished request, in completion order; times in seconds since the load's
    start (the recorder's zero). `due_s` is when the request was due to be sent (its intended
    start in the open model, its actual send in the closed model)."""

    op: npt.NDArray[np.int32]
    outcome: npt.NDArray[np.int8]
    due_s: npt.NDArray[np.float64]
    sent_s: npt.NDArray[np.float64]  # when it was actually sent (or refused by our breaker)
    done_s: npt.NDArray[np.float64]
    not_kept: int  # requests past MAX_TRACED (still in the recorder's totals)

    def __len__(self) -> int:
        return len(self.op)

    @property
    def latency_ms(self) -> npt.NDArray[np.float64]:
        return (self.done_s - self.due_s) * 1000.0

    @classmethod
    def empty(cls) -> Trace:
        times = np.zeros(0, dtype=np.float64)
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int8), times, times, times, 0)


def percentiles_ms(latency_ms: npt.NDArray[np.float64], qs: Sequence[float]) -> list[float | None]:
    """Percentiles of some of a trace's latencies, through the same histogram as every other
    figure (never numpy's interpolation); None each when there are none."""
    if not len(latency_ms):
        return [None for _ in qs]
    hist = LatencyHistogram()
    hist.record_many(np.maximum(latency_ms * 1000.0, 0).astype(np.int64))
    return [hist.percentile_us(q) / 1000.0 for q in qs]


class TracingRecorder(Recorder):
    """A Recorder that keeps a row per request, up to `limit` rows."""

    def __init__(self, n_operations: int, *, limit: int = MAX_TRACED) -> None:
        super().__init__(n_operations)
        self._limit = limit
        self._op = array("i")
        self._outcome = array("b")
        self._due = array("q")
        self._sent = array("q")
        self._done = array("q")
        self._not_kept = 0

    def record(
        self,
        op: int,
        outcome: Outcome,
        intended_ns: int,
        sent_ns: int,
        done_ns: int,
        error_code: int | None,
    ) -> None:
        super().record(op, outcome, intended_ns, sent_ns, done_ns, error_code)
        if len(self._op) >= self._limit:
            self._not_kept += 1
            return
        self._op.append(op)
        self._outcome.append(outcome)
        self._due.append(intended_ns)
        self._sent.append(sent_ns)
        self._done.append(done_ns)

    def trace(self) -> Trace:
        """The rows so far, with times relative to the load's start."""
        start = self.start_ns
        return Trace(
            op=np.frombuffer(self._op, dtype=np.int32).copy(),
            outcome=np.frombuffer(self._outcome, dtype=np.int8).copy(),
            due_s=(np.frombuffer(self._due, dtype=np.int64) - start) / 1e9,
            sent_s=(np.frombuffer(self._sent, dtype=np.int64) - start) / 1e9,
            done_s=(np.frombuffer(self._done, dtype=np.int64) - start) / 1e9,
            not_kept=self._not_kept,
        )
