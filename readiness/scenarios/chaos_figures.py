"""The figures of a failure or recovery scenario, computed from the per-request trace: phase
statistics per operation, the outage milestones (inject → detect → restore → first success →
recovered) and the breaker's state per second. Pure functions of measured data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from readiness.metrics.trace import Trace, percentiles_ms
from readiness.protocol.outcome import Outcome
from readiness.results import BreakerTransition, OperationImpact, Outage, PhaseStats

OK = int(Outcome.OK)
REJECTED = int(Outcome.REJECTED)
# A request counts as slow (the outage felt) past max(p99 × (1 + tolerance), p99 + this).
SLOW_FLOOR_MS = 50.0


def phase_stats(trace: Trace, mask: npt.NDArray[np.bool_]) -> PhaseStats:
    outcome = trace.outcome[mask]
    ok = outcome == OK
    rejected = int(np.count_nonzero(outcome == REJECTED))
    completed = len(outcome)
    n_ok = int(np.count_nonzero(ok))
    p50, p99 = percentiles_ms(trace.latency_ms[mask][ok], (50, 99))
    judged = completed - rejected
    return PhaseStats(
        completed=completed,
        ok=n_ok,
        errors=judged - n_ok,
        rejected=rejected,
        success_rate=n_ok / judged if judged else None,
        p50_ms=p50,
        p99_ms=p99,
    )


@dataclass(frozen=True)
class Phases:
    """Masks over a trace by when each request was due: before, during and after the faults."""

    steady: npt.NDArray[np.bool_]
    during: npt.NDArray[np.bool_]
    after: npt.NDArray[np.bool_]

    @classmethod
    def split(cls, trace: Trace, start_s: float, end_s: float) -> Phases:
        due = trace.due_s
        return cls(due < start_s, (due >= start_s) & (due < end_s), due >= end_s)


def operation_impacts(
    trace: Trace, phases: Phases, names: Sequence[str], affected: Sequence[bool]
) -> list[OperationImpact]:
    impacts: list[OperationImpact] = []
    for i, name in enumerate(names):
        mine = trace.op == i
        impacts.append(
            OperationImpact(
                name=name,
                affected=affected[i],
                steady=phase_stats(trace, phases.steady & mine),
                during=phase_stats(trace, phases.during & mine),
                after=phase_stats(trace, phases.after & mine),
            )
        )
    return impacts


def of_operations(trace: Trace, ops: Sequence[int]) -> npt.NDArray[np.bool_]:
    return np.isin(trace.op, np.asarray(ops, dtype=np.int32))


def p99_growth(steady: PhaseStats, during: PhaseStats) -> float | None:
    """during p99 / steady p99 − 1: 0.25 means the p99 grew by a quarter under the faults."""
    before, now = steady["p99_ms"], during["p99_ms"]
    if before is None or now is None or before <= 0:
        return None
    return now / before - 1.0


# --- the breaker, per second ----------------------------------------------------------------


def breaker_by_second(
    transitions: Sequence[BreakerTransition], offset_s: float, seconds: int
) -> list[str]:
    """The breaker's state at the end of each second of the load; `offset_s` converts a
    transition's time (since the scenario started) into seconds since the load started."""
    states: list[str] = []
    ordered = sorted(transitions, key=lambda t: t["at_s"])
    state = ordered[0]["from"] if ordered else "closed"
    i = 0
    for second in range(seconds):
        while i < len(ordered) and ordered[i]["at_s"] - offset_s < second + 1:
            state = ordered[i]["to"]
            i += 1
        states.append(state)
    return states


# --- the outage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondStats:
    """One second of completions: successes and the p95 of their corrected latency."""

    ok: int
    p95_ms: float | None


def by_second(trace: Trace, seconds: int) -> list[SecondStats]:
    ok = trace.outcome == OK
    bins = np.floor(trace.done_s).astype(np.int64)
    result: list[SecondStats] = []
    latency = trace.latency_ms
    for second in range(seconds):
        mask = ok & (bins == second)
        (p95,) = percentiles_ms(latency[mask], (95,))
        result.append(SecondStats(int(np.count_nonzero(mask)), p95))
    return result


@dataclass(frozen=True)
class Steady:
    """The steady state before the faults, the yardstick of detection and recovery."""

    rps: float  # successes per second
    p95_ms: float | None
    p99_ms: float | None


def steady_state(trace: Trace, start_s: float, end_s: float) -> Steady:
    """Successes per second and percentiles of the requests due and done in [start, end)."""
    mask = (trace.due_s >= start_s) & (trace.done_s < end_s) & (trace.outcome == OK)
    span = max(end_s - start_s, 1e-9)
    p95, p99 = percentiles_ms(trace.latency_ms[mask], (95, 99))
    return Steady(rps=int(np.count_nonzero(mask)) / span, p95_ms=p95, p99_ms=p99)


def recovery_rule(tolerance: float, window_s: float) -> str:
    return (
        f"recovered once {window_s:g} s in a row each had successes per second within"
        f" {tolerance:.0%} of the steady state and a p95 no higher than the steady p95 plus"
        f" {tolerance:.0%} (or plus {SLOW_FLOOR_MS:g} ms, whichever is more); detection is the"
        " first request after the injection that failed or was overdue — unanswered past that"
        " same bound on the steady p99; times count from the measured load's start; the"
        " time_to_first_success check judges the time from the restore to the first success"
        " (from the injection when nothing was restored)"
    )


def tolerance_bound(value_ms: float | None, tolerance: float) -> float:
    """The most a latency may be and still count as near `value_ms`: `tolerance` above it, or
    SLOW_FLOOR_MS above it, whichever is more (so tiny latencies are not judged to the µs)."""
    if value_ms is None:
        return math.inf
    return max(value_ms * (1.0 + tolerance), value_ms + SLOW_FLOOR_MS)


def outage(
    trace: Trace,
    steady: Steady,
    *,
    injected_s: float | None,
    restored_s: float | None,
    load_s: float,
    tolerance: float,
    window_s: float,
) -> Outage:
    """The recovery milestones; each None when it never happened within the load."""
    rule = recovery_rule(tolerance, window_s)
    if injected_s is None:
        return Outage(
            injected_s=None,
            detected_s=None,
            restored_s=None,
            first_success_s=None,
            recovered_s=None,
            time_to_detect_s=None,
            time_to_first_success_s=None,
            recovery_time_s=None,
            time_to_first_success_since_restore_s=None,
            recovered=False,
            failed_during_outage=0,
            rule=rule + "; the outage fault never fired",
        )
    failed = (trace.outcome != OK) & (trace.outcome != REJECTED)
    after = trace.done_s >= injected_s
    # A request is felt when it fails or, if sooner, once it is overdue: a monitoring client
    # knows at that moment, whether the reply later comes or the request times out.
    bound_ms = tolerance_bound(steady.p99_ms, tolerance)
    overdue = trace.latency_ms > bound_ms
    felt_at = np.where(overdue, trace.due_s + bound_ms / 1000.0, trace.done_s)
    felt = (failed | overdue) & (felt_at >= injected_s) & (trace.outcome != REJECTED)
    detected_s = float(felt_at[felt].min()) if felt.any() else None

    back_from = restored_s if restored_s is not None else injected_s
    ok_after = (trace.outcome == OK) & (trace.done_s >= back_from) & (trace.due_s >= injected_s)
    first_success_s = float(trace.done_s[ok_after].min()) if ok_after.any() else None

    until = first_success_s if first_success_s is not None else math.inf
    failed_during = int(np.count_nonzero(failed & after & (trace.due_s < until)))

    recovered_s = _recovered_at(
        by_second(trace, int(load_s)),
        steady,
        from_s=first_success_s,
        tolerance=tolerance,
        window_s=window_s,
    )

    # Each figure is rounded once, from the unrounded times: rounding a time and then the
    # difference from it could put the recovery a millisecond before the first success.
    def since(t: float | None, start: float = injected_s) -> float | None:
        return None if t is None else round(max(t - start, 0.0), 3)

    return Outage(
        injected_s=round(injected_s, 3),
        detected_s=None if detected_s is None else round(detected_s, 3),
        restored_s=None if restored_s is None else round(restored_s, 3),
        first_success_s=None if first_success_s is None else round(first_success_s, 3),
        recovered_s=None if recovered_s is None else round(recovered_s, 3),
        time_to_detect_s=since(detected_s),
        time_to_first_success_s=since(first_success_s),
        recovery_time_s=since(recovered_s),
        time_to_first_success_since_restore_s=since(first_success_s, back_from),
        recovered=recovered_s is not None,
        failed_during_outage=failed_during,
        rule=rule,
    )


def _recovered_at(
    seconds: Sequence[SecondStats],
    steady: Steady,
    *,
    from_s: float | None,
    tolerance: float,
    window_s: float,
) -> float | None:
    """The start of the first run of `window_s` good whole seconds after `from_s`."""
    if from_s is None:
        return None
    p95_bound = tolerance_bound(steady.p95_ms, tolerance)
    good = [
        s.ok >= steady.rps * (1.0 - tolerance) and s.p95_ms is not None and s.p95_ms <= p95_bound
        for s in seconds
    ]
    start = first_good_run(good, math.floor(from_s), window_s)
    return None if start is None else max(float(start), from_s)


def first_good_run(good: Sequence[bool], start: int, window_s: float) -> int | None:
    """The first second, from `start` on, that begins `window_s` good seconds in a row."""
    need = max(math.ceil(window_s - 1e-9), 1)
    run = 0
    for second in range(max(start, 0), len(good)):
        run = run + 1 if good[second] else 0
        if run == need:
            return second - need + 1
    return None
