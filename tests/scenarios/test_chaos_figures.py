"""The outage and breaker figures, computed from traces built by hand: one request every 20 ms,
with an outage in the middle whose milestones are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from readiness.metrics.trace import Trace
from readiness.protocol.outcome import Outcome
from readiness.results import BreakerTransition
from readiness.scenarios import chaos_figures as figures

STEP = 0.02  # a request due every 20 ms: 50 per second
SERVE = 0.004  # answered in 4 ms when the server is up


def trace_with_outage(
    *, load_s: float = 12.0, down: tuple[float, float] = (4.0, 6.5), timeout: float = 2.0
) -> Trace:
    """Requests due while the server is down wait for it; those that would wait past
    `timeout` time out instead. Everything else is answered in 4 ms."""
    due = np.arange(0.0, load_s, STEP)
    done = due + SERVE
    outcome = np.full(len(due), int(Outcome.OK), dtype=np.int8)
    start, end = down
    waiting = (due + SERVE > start) & (due < end)
    done[waiting] = end + SERVE
    late = waiting & (done - due > timeout)
    done[late] = due[late] + timeout
    outcome[late] = int(Outcome.TIMEOUT)
    return Trace(
        op=np.zeros(len(due), dtype=np.int32),
        outcome=outcome,
        due_s=due,
        sent_s=due,
        done_s=done,
        not_kept=0,
    )


def test_the_outage_milestones_come_from_when_requests_were_felt_and_answered() -> None:
    trace = trace_with_outage()
    steady = figures.steady_state(trace, 1.0, 4.0)
    assert steady.rps == pytest.approx(50.0, rel=0.02)
    assert steady.p99_ms == pytest.approx(4.0, rel=0.01)

    outage = figures.outage(
        trace, steady, injected_s=4.0, restored_s=6.5, load_s=12.0, tolerance=0.5, window_s=2.0
    )

    # The request due at 4.0 s is the first to wait; it is overdue past 4 ms + 50 ms.
    assert outage["time_to_detect_s"] == pytest.approx(0.054, abs=0.001)
    assert outage["first_success_s"] == pytest.approx(6.504, abs=0.001)
    assert outage["time_to_first_success_s"] == pytest.approx(2.504, abs=0.001)
    # ... and from the restore at 6.5 s: what the time_to_first_success check judges.
    assert outage["time_to_first_success_since_restore_s"] == pytest.approx(0.004, abs=0.001)
    # Second 6 has the backlog's slow answers, second 7 and 8 are steady again.
    assert outage["recovered"] is True
    assert outage["recovered_s"] == 7.0
    assert outage["recovery_time_s"] == 3.0
    timed_out = int(np.count_nonzero(trace.outcome == int(Outcome.TIMEOUT)))
    assert timed_out > 0
    assert outage["failed_during_outage"] == timed_out


def test_with_nothing_restored_the_first_success_counts_from_the_injection() -> None:
    trace = trace_with_outage()
    steady = figures.steady_state(trace, 1.0, 4.0)
    outage = figures.outage(
        trace, steady, injected_s=4.0, restored_s=None, load_s=12.0, tolerance=0.5, window_s=2.0
    )
    assert outage["time_to_first_success_since_restore_s"] == outage["time_to_first_success_s"]


def test_a_target_that_never_comes_back_is_reported_as_not_recovered() -> None:
    trace = trace_with_outage(down=(4.0, 99.0))
    steady = figures.steady_state(trace, 1.0, 4.0)
    outage = figures.outage(
        trace, steady, injected_s=4.0, restored_s=None, load_s=12.0, tolerance=0.5, window_s=2.0
    )
    assert outage["recovered"] is False
    assert outage["first_success_s"] is None
    assert outage["recovery_time_s"] is None
    assert outage["time_to_detect_s"] is not None


def test_an_outage_fault_that_never_fired_has_no_milestones() -> None:
    trace = trace_with_outage()
    outage = figures.outage(
        trace,
        figures.steady_state(trace, 1.0, 4.0),
        injected_s=None,
        restored_s=None,
        load_s=12.0,
        tolerance=0.5,
        window_s=2.0,
    )
    assert outage["recovered"] is False
    assert outage["detected_s"] is None
    assert "never fired" in outage["rule"]


def test_phases_split_requests_by_when_they_were_due() -> None:
    trace = trace_with_outage()
    phases = figures.Phases.split(trace, 4.0, 7.0)
    before = figures.phase_stats(trace, phases.steady)
    during = figures.phase_stats(trace, phases.during)
    after = figures.phase_stats(trace, phases.after)
    assert before["completed"] + during["completed"] + after["completed"] == len(trace)
    assert before["success_rate"] == 1.0
    assert after["success_rate"] == 1.0
    assert during["errors"] == int(np.count_nonzero(trace.outcome == int(Outcome.TIMEOUT)))
    assert during["success_rate"] is not None
    assert during["success_rate"] < 1.0


def breaker(at: float, old: str, new: str) -> BreakerTransition:
    return BreakerTransition({"at_s": at, "from": old, "to": new, "reason": "test"})


def test_the_breaker_state_of_each_second_is_its_state_when_the_second_ends() -> None:
    # The load started 1.5 s into the scenario: transitions shift by that much.
    transitions = [
        breaker(3.7, "closed", "open"),
        breaker(4.7, "open", "half_open"),
        breaker(4.9, "half_open", "closed"),
        breaker(6.6, "closed", "open"),
    ]
    states = figures.breaker_by_second(transitions, 1.5, 7)
    assert states == ["closed", "closed", "open", "closed", "closed", "open", "open"]
    assert figures.breaker_by_second([], 0.0, 2) == ["closed", "closed"]


def test_the_recovery_is_never_reported_before_the_first_success_it_follows() -> None:
    # A blip so short that the second it falls in stays good: the recovery is the first
    # success itself. Answers land 0.4 ms past a millisecond, so each figure's rounding
    # matters; rounded once, from the same times, the two can never cross.
    trace = trace_with_outage(down=(6.5, 6.52))
    trace.done_s[:] += 0.0004
    steady = figures.steady_state(trace, 1.0, 4.0)
    crossed = []
    for k in range(50):
        injected = 6.49 + k * 0.00017
        outage = figures.outage(
            trace,
            steady,
            injected_s=injected,
            restored_s=6.52,
            load_s=12.0,
            tolerance=0.5,
            window_s=2.0,
        )
        assert outage["recovered_s"] == outage["first_success_s"]
        first, recovery = outage["time_to_first_success_s"], outage["recovery_time_s"]
        assert first is not None
        assert recovery is not None
        if recovery < first:
            crossed.append((injected, first, recovery))
    assert crossed == []
