"""The run's live figures, read at scrape time: every load, instrument, breaker and fault plan
registers here while it runs, and a scrape reads their own counters (nothing per request).

Loads that finished are folded into per-(target, scenario, operation) totals, so counters
only grow. Reads happen on the event loop (the endpoint serves there), never mid-fold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from readiness.metrics.histogram import LatencyHistogram
from readiness.protocol.outcome import Outcome

if TYPE_CHECKING:
    from readiness.chaos.faults import AnyFault
    from readiness.metrics.lag import LoopLagMonitor
    from readiness.metrics.recorder import Recorder
    from readiness.metrics.sampler import ProcessSampler

N_OUTCOMES = len(Outcome)

# (target, scenario, operation)
OpKey = tuple[str, str, str]
# (target, scenario)
ScenarioKey = tuple[str, str]


@dataclass
class OperationTotals:
    """What one operation of one scenario did so far: outcome counts and ok latency."""

    sent: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * N_OUTCOMES)
    latency: list[LatencyHistogram] = field(default_factory=list)  # parts, not merged


@dataclass(frozen=True)
class ServerReading:
    rss_bytes: int
    fds: int | None
    cpu_s: float


@dataclass(frozen=True)
class FaultState:
    index: int
    type: str
    active: bool


@dataclass(frozen=True)
class LiveSnapshot:
    """Plain figures of one scrape."""

    operations: dict[OpKey, OperationTotals]
    in_flight: dict[ScenarioKey, int]
    running: list[ScenarioKey]
    loop_lag: list[LatencyHistogram]  # parts, µs
    servers: dict[ScenarioKey, ServerReading]
    faults: dict[ScenarioKey, list[FaultState]]
    breakers: dict[ScenarioKey, str]
    generator_cpu_s: float


@dataclass(frozen=True)
class Exposed:
    """Where a scenario's instruments register: the run's metrics and the scenario's labels."""

    metrics: LiveMetrics
    target: str
    scenario: str


@dataclass
class _Load:
    key: ScenarioKey
    operations: tuple[str, ...]
    recorder: Recorder
    breaker: Callable[[], str | None] | None


@dataclass
class _Watch:
    key: ScenarioKey
    lag: LoopLagMonitor
    server: ProcessSampler | None


@dataclass
class _Faults:
    key: ScenarioKey
    faults: tuple[AnyFault, ...]
    clock: float  # perf_counter() when the fault plan's clock started


class LiveMetrics:
    """The registry a scrape reads. Register with the `load`, `watch` and `faults` context
    managers around what they cover; `snapshot()` reads everything at once."""

    def __init__(self) -> None:
        self._loads: list[_Load] = []
        self._watches: list[_Watch] = []
        self._faults: list[_Faults] = []
        self._done: dict[OpKey, OperationTotals] = {}
        self._lag_done = LatencyHistogram()
        self.scrapes = 0
        self.scrape_cpu_s = 0.0  # spent rendering scrapes (measured by the endpoint)

    def __repr__(self) -> str:
        return (
            f"<LiveMetrics [{len(self._loads)} loads, {len(self._watches)} watches,"
            f" {len(self._faults)} fault plans running | {len(self._done)} series done,"
            f" {self.scrapes} scrapes]>"
        )

    @contextmanager
    def load(
        self,
        target: str,
        scenario: str,
        operations: Sequence[str],
        recorder: Recorder,
        *,
        breaker: Callable[[], str | None] | None = None,
    ) -> Iterator[None]:
        """Expose `recorder`'s counts while the block runs; fold them in when it ends.
        `breaker` reads the circuit breaker's state (None: not configured)."""
        entry = _Load((target, scenario), tuple(operations), recorder, breaker)
        self._loads.append(entry)
        try:
            yield
        finally:
            self._loads.remove(entry)
            self._fold(entry)

    @contextmanager
    def watch(
        self, target: str, scenario: str, lag: LoopLagMonitor, server: ProcessSampler | None
    ) -> Iterator[None]:
        """Expose a scenario's instruments: the event-loop lag and the server's resources."""
        entry = _Watch((target, scenario), lag, server)
        self._watches.append(entry)
        try:
            yield
        finally:
            self._watches.remove(entry)
            self._lag_done.merge(lag.histogram)

    @contextmanager
    def faults(self, target: str, scenario: str, faults: Sequence[AnyFault]) -> Iterator[None]:
        """Expose which faults are in their window, counted from now (the plan's clock)."""
        entry = _Faults((target, scenario), tuple(faults), time.perf_counter())
        self._faults.append(entry)
        try:
            yield
        finally:
            self._faults.remove(entry)

    def _fold(self, entry: _Load) -> None:
        recorder = entry.recorder
        counts = recorder.live_counts()
        for i, name in enumerate(entry.operations):
            totals = self._done.setdefault((*entry.key, name), OperationTotals())
            totals.sent += recorder.sent_by_op[i]
            totals.counts = [a + b for a, b in zip(totals.counts, counts[i], strict=True)]
            corrected = recorder.operations[i].corrected
            if corrected.count:
                if not totals.latency:
                    totals.latency.append(LatencyHistogram())
                totals.latency[0].merge(corrected)

    def snapshot(self) -> LiveSnapshot:
        self.scrapes += 1
        operations = {
            key: OperationTotals(t.sent, list(t.counts), list(t.latency))
            for key, t in self._done.items()
        }
        in_flight: dict[ScenarioKey, int] = {}
        breakers: dict[ScenarioKey, str] = {}
        for entry in self._loads:
            recorder = entry.recorder
            counts = recorder.live_counts()
            in_flight[entry.key] = in_flight.get(entry.key, 0) + recorder.sent - recorder.completed
            for i, name in enumerate(entry.operations):
                totals = operations.setdefault((*entry.key, name), OperationTotals())
                totals.sent += recorder.sent_by_op[i]
                totals.counts = [a + b for a, b in zip(totals.counts, counts[i], strict=True)]
                totals.latency.append(recorder.operations[i].corrected)
            state = entry.breaker() if entry.breaker is not None else None
            if state is not None:
                breakers[entry.key] = state
        servers: dict[ScenarioKey, ServerReading] = {}
        for watch in self._watches:
            latest = watch.server.latest if watch.server is not None else None
            if latest is not None and not latest.exited:
                servers[watch.key] = ServerReading(latest.rss_bytes, latest.fds, latest.cpu_s)
        now = time.perf_counter()
        faults = {
            f.key: [
                FaultState(i, fault.type, fault.during is None or (now - f.clock) in fault.during)
                for i, fault in enumerate(f.faults)
            ]
            for f in self._faults
        }
        return LiveSnapshot(
            operations=operations,
            in_flight=in_flight,
            running=list(dict.fromkeys(e.key for e in self._loads)),
            loop_lag=[self._lag_done, *(w.lag.histogram for w in self._watches)],
            servers=servers,
            faults=faults,
            breakers=breakers,
            generator_cpu_s=time.process_time(),
        )
