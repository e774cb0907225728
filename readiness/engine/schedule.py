"""Load shapes over time: open-model arrival times and closed-model concurrency targets.

Stages ramp linearly from the previous level to each stage's target, as in k6.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# When the offered rate is zero (a ramp starting from 0), look again this much later.
_IDLE_STEP_S = 0.001
# Summing 1/rate drifts by float error; an arrival this close to the end is past it.
_EPSILON_S = 1e-9


@dataclass(frozen=True)
class Ramp:
    """A piecewise-linear level over time: start level, then (duration, target) segments."""

    start: float
    segments: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        return sum(d for d, _ in self.segments)

    def level_at(self, t: float) -> float:
        level = self.start
        elapsed = 0.0
        for duration, target in self.segments:
            if t < elapsed + duration:
                fraction = (t - elapsed) / duration if duration > 0 else 1.0
                return level + (target - level) * fraction
            elapsed += duration
            level = target
        return level


def constant(level: float, duration: float) -> Ramp:
    return Ramp(start=level, segments=((duration, level),))


def staged(start: float, stages: Sequence[tuple[float, float]]) -> Ramp:
    return Ramp(start=start, segments=tuple(stages))


def arrival_offsets(
    rate: Ramp,
    *,
    poisson: bool,
    duration: float | None,
    requests: int | None,
    seed: int = 0,
) -> Iterator[float]:
    """Intended start times (seconds from the start) of an open-model run.

    Stops after `requests` arrivals or at `duration` (whichever comes first); with neither,
    stops at the end of the ramp.
    """
    rng = random.Random(seed)
    end = duration if duration is not None else (rate.duration if requests is None else None)
    t = 0.0
    sent = 0
    while requests is None or sent < requests:
        level = rate.level_at(t)
        if level <= 0:
            if t >= rate.duration:
                return  # the ramp ended at zero: nothing more will arrive
            t += _IDLE_STEP_S
            if end is not None and t >= end:
                return
            continue
        if end is not None and t >= end - _EPSILON_S:
            return
        yield t
        sent += 1
        t += rng.expovariate(level) if poisson else 1.0 / level
