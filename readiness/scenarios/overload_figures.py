"""The arithmetic of an overload scenario: the shape of its load over time, what keeping up
means, and the figures read from the per-request trace (which seconds kept up, the highest rate
sustained, when the target recovered). Pure functions of plans and measured data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from readiness.config.scenario import OVERLOAD_MIN_STEADY_S, OVERLOAD_PROBE_RESOLUTION
from readiness.engine.load import LoadPlan
from readiness.engine.schedule import Ramp, arrival_offsets
from readiness.metrics.trace import Trace, percentiles_ms
from readiness.protocol.outcome import Outcome
from readiness.scenarios.chaos_figures import SLOW_FLOOR_MS, first_good_run, tolerance_bound

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig

LOW_FRACTION = 0.5  # of capacity: the rate before the ramp and after the drop
KEEP_UP = 0.99  # share of the requests due in a second (or probe step) that must succeed
MIN_STEADY_S = OVERLOAD_MIN_STEADY_S  # the steady period is recovery_window long, at least this
# Outstanding requests are capped at this many seconds of arrivals at the top rate: clients
# of an overloaded server give up rather than queue without bound, and the run stays bounded.
BACKLOG_S = 1.0
MIN_IN_FLIGHT = 64
OK = int(Outcome.OK)


# --- the load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Steady at `low`, a linear ramp to `peak`, a hold, then an instant drop back to `low`."""

    low: float
    peak: float
    steady_s: float
    ramp_s: float
    hold_s: float
    cooldown_s: float

    @classmethod
    def of(cls, scenario: ScenarioConfig, capacity: float) -> Shape:
        return cls(
            low=capacity * LOW_FRACTION,
            peak=min(capacity * scenario.overload_factor, scenario.max_rate),
            steady_s=max(scenario.recovery_window, MIN_STEADY_S),
            ramp_s=scenario.ramp,
            hold_s=scenario.hold,
            cooldown_s=scenario.cooldown,
        )

    @property
    def hold_at_s(self) -> float:
        return self.steady_s + self.ramp_s

    @property
    def drop_at_s(self) -> float:
        return self.hold_at_s + self.hold_s

    @property
    def end_s(self) -> float:
        return self.drop_at_s + self.cooldown_s

    def level(self) -> Ramp:
        return Ramp(
            start=self.low,
            segments=(
                (self.steady_s, self.low),
                (self.ramp_s, self.peak),
                (self.hold_s, self.peak),
                (0.0, self.low),  # a segment of no length: the drop is instant
                (self.cooldown_s, self.low),
            ),
        )

    def plan(self) -> LoadPlan:
        return LoadPlan(
            model="open",
            level=self.level(),
            duration=self.end_s,
            requests=None,
            max_in_flight=in_flight_for(self.peak),
            drop_when_full=True,
        )

    def mean_rate(self, start_s: float, end_s: float) -> float:
        """The offered rate averaged over [start, end): arrivals expected, per second."""
        return (_area(self.level(), end_s) - _area(self.level(), start_s)) / (end_s - start_s)


def _area(level: Ramp, t: float) -> float:
    """Arrivals expected by time t: the integral of the piecewise-linear rate."""
    area, elapsed, current = 0.0, 0.0, level.start
    for duration, target in level.segments:
        if t <= elapsed:
            break
        span = min(duration, t - elapsed)
        reached = current + (target - current) * span / duration if duration > 0 else target
        area += (current + reached) / 2.0 * span
        elapsed += duration
        current = target
    return area


def in_flight_for(rate: float) -> int:
    return max(MIN_IN_FLIGHT, math.ceil(rate * BACKLOG_S))


def scheduled(plan: LoadPlan) -> npt.NDArray[np.float64]:
    """The intended start times the engine uses for a constant-arrival open plan."""
    offsets = arrival_offsets(plan.level, poisson=False, duration=plan.duration, requests=None)
    return np.fromiter(offsets, dtype=np.float64)


# --- keeping up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Yardstick:
    """A second (or probe step) keeps up when nearly all the requests due in it succeeded and
    their p95 stayed near the steady p95."""

    p95_ms: float | None  # the steady p95; None when nothing succeeded in the steady period
    tolerance: float

    @property
    def bound_ms(self) -> float:
        return tolerance_bound(self.p95_ms, self.tolerance)

    def kept_up(self, offered: int, ok: int, p95_ms: float | None) -> bool:
        if offered == 0:
            return True  # nothing was due, so nothing was missed
        return ok >= KEEP_UP * offered and p95_ms is not None and p95_ms <= self.bound_ms

    def why_not(self, offered: int, ok: int, p95_ms: float | None) -> str:
        if ok < KEEP_UP * offered:
            return f"{ok:,} of {offered:,} requests due ({ok / offered:.1%}) succeeded"
        shown = "—" if p95_ms is None else f"{p95_ms:.1f} ms"
        return f"p95 was {shown}, over the {self.bound_ms:.1f} ms bound"


def rule_text(tolerance: float, window_s: float) -> str:
    return (
        f"a second kept up when at least {KEEP_UP:.0%} of the requests due in it succeeded"
        f" and their p95 stayed within {tolerance:.0%} of the steady p95 (or within"
        f" {SLOW_FLOOR_MS:g} ms of it, whichever is more); the maximum sustainable rate is"
        " the highest offered rate of a second before the drop that kept up; recovered once"
        f" {math.ceil(window_s):g} s in a row after the drop kept up, and the recovery time"
        " runs from the drop to the start of that run; requests count in the second they"
        " were due, and those dropped at max_in_flight count as not served; the probe judges"
        " each step the same way against the p95 of its first step the generator drove without"
        " saturating, doubles the rate while steps"
        " keep up, then bisects between the highest rate that kept up and the lowest that did"
        f" not until they are within {OVERLOAD_PROBE_RESOLUTION:.0%}, never above max_rate;"
        " a step in which the generator itself was saturated is not held against the server"
        " and runs again at the same rate; saturated again, it caps the rates tried; the"
        " server was overloaded only if a second of the ramp or hold (or a probe step) did"
        " not keep up"
    )


# --- the seconds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seconds:
    """Requests by the whole second they were due in, since the load started."""

    offered: list[int]
    ok: list[int]
    p95_ms: list[float | None]
    rate: list[float]  # the offered rate averaged over the second
    kept_up: list[bool]


def by_due_second(
    trace: Trace, offsets: npt.NDArray[np.float64], shape: Shape, yardstick: Yardstick
) -> Seconds:
    n = math.ceil(shape.end_s)
    offered = np.bincount(np.floor(offsets).astype(np.int64), minlength=n)[:n]
    due = np.floor(trace.due_s).astype(np.int64)
    ok_mask = trace.outcome == OK
    latency = trace.latency_ms
    seconds = Seconds([], [], [], [], [])
    for second in range(n):
        mine = ok_mask & (due == second)
        ok = int(np.count_nonzero(mine))
        p95 = p95_of(latency[mine])
        seconds.offered.append(int(offered[second]))
        seconds.ok.append(ok)
        seconds.p95_ms.append(None if p95 is None else round(p95, 3))
        seconds.rate.append(shape.mean_rate(second, min(second + 1.0, shape.end_s)))
        seconds.kept_up.append(yardstick.kept_up(int(offered[second]), ok, p95))
    return seconds


def p95_of(latency_ms: npt.NDArray[np.float64]) -> float | None:
    (p95,) = percentiles_ms(latency_ms, (95,))
    return p95


def max_sustainable(seconds: Seconds, drop_at_s: float) -> float | None:
    """The highest offered rate of a whole second before the drop that kept up."""
    before = range(min(math.floor(drop_at_s), len(seconds.rate)))
    rates = [seconds.rate[s] for s in before if seconds.kept_up[s]]
    return round(max(rates), 2) if rates else None


def overloaded_seconds(seconds: Seconds, shape: Shape) -> list[int]:
    """The seconds of the ramp and the hold (after the steady period, before the drop) that did
    not keep up: none means the server was never overloaded."""
    first, end = (
        math.ceil(shape.steady_s - 1e-9),
        min(math.floor(shape.drop_at_s), len(seconds.kept_up)),
    )
    return [s for s in range(first, end) if not seconds.kept_up[s]]


def recovered_at(seconds: Seconds, drop_at_s: float, window_s: float) -> int | None:
    """The first whole second after the drop that starts `window_s` seconds in a row that
    kept up; None when the load ended first."""
    return first_good_run(seconds.kept_up, math.ceil(drop_at_s - 1e-9), window_s)
