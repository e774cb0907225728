"""Per-journey totals of one load: journeys started, completed, failed at which step (a failed
request, or a value to save that was not in the reply / a saved value a step needed), and the
durations of completed journeys in a mergeable histogram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from readiness.metrics.histogram import LatencyHistogram


@dataclass
class JourneyRecord:
    name: str
    steps: tuple[str, ...]
    started: int = 0
    completed: int = 0
    failed_at: list[int] = field(default_factory=list)  # by step: the request failed
    missing_at: list[int] = field(default_factory=list)  # by step: a value was missing
    durations: LatencyHistogram = field(default_factory=LatencyHistogram)  # completed, µs

    def __post_init__(self) -> None:
        self.failed_at = self.failed_at or [0] * len(self.steps)
        self.missing_at = self.missing_at or [0] * len(self.steps)

    @property
    def unfinished(self) -> int:
        """Started but cut off by the end of the load (its deadline or an interruption)."""
        return self.started - self.completed - sum(self.failed_at) - sum(self.missing_at)


class JourneyRecorder:
    """Collects journey outcomes; a handful of increments per journey, not per request."""

    def __init__(self, journeys: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.records = [JourneyRecord(name, tuple(steps)) for name, steps in journeys]

    def on_start(self, journey: int) -> None:
        self.records[journey].started += 1

    def on_failed(self, journey: int, step: int) -> None:
        self.records[journey].failed_at[step] += 1

    def on_missing(self, journey: int, step: int) -> None:
        self.records[journey].missing_at[step] += 1

    def on_completed(self, journey: int, duration_ns: int) -> None:
        record = self.records[journey]
        record.completed += 1
        record.durations.record(max(duration_ns // 1000, 1))

    def __repr__(self) -> str:
        done = sum(r.completed for r in self.records)
        started = sum(r.started for r in self.records)
        return f"<JourneyRecorder journeys={len(self.records)} completed={done}/{started}>"
