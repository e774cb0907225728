"""Live progress snapshots the engine emits once a second, for whoever displays them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    scenario: str
    kind: str
    target: str
    phase: str  # e.g. "load", "step 3/5 (concurrency 10)", "draining"
    elapsed_s: float
    planned_s: float | None  # planned duration of the load, when known
    planned_requests: int | None  # planned request count, when known
    sent: int
    ok: int
    errors: int
    in_flight: int
    rps: float  # ok completions in the last interval
    p50_ms: float | None  # of the last interval
    p99_ms: float | None


ProgressSink = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The sink used when nobody is watching."""
