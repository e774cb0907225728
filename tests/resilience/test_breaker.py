"""CircuitBreaker: when it opens, how it probes, what counts as a failure, and what it records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.protocol.outcome import Outcome
from readiness.resilience.breaker import BreakerState, CircuitBreaker, Permit, Transition
from readiness.resilience.errors import CircuitOpen
from readiness.resilience.outcomes import INTERNAL_ERROR, OutcomeSet

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
INVALID_PARAMS = -32602


def call(breaker: CircuitBreaker, outcome: Outcome, error_code: int | None = None) -> None:
    """One admitted call that ends with `outcome`."""
    permit = breaker.allow()
    assert permit is not None, f"{breaker!r} rejected a call"
    breaker.record(permit, outcome, error_code)


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        call(breaker, Outcome.TIMEOUT)


def opened_breaker(clock: FakeClock, **options: object) -> CircuitBreaker:
    breaker = CircuitBreaker(
        consecutive_failures=3,
        recovery_timeout=10.0,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    fail(breaker, 3)
    assert breaker.state is OPEN
    return breaker


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(consecutive_failures=3, clock=FakeClock())
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.allow() is None
    stats = breaker.statistics()
    assert (stats.failures, stats.rejected, stats.opened) == (3, 1, 1)


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(consecutive_failures=3, clock=FakeClock())
    for _ in range(5):
        fail(breaker, 2)
        call(breaker, Outcome.OK)
    assert breaker.state is CLOSED
    assert breaker.statistics().failures == 10


def test_rate_based_opening_waits_for_the_minimum_number_of_calls() -> None:
    breaker = CircuitBreaker(
        consecutive_failures=None, failure_rate=0.5, window=10, minimum_calls=4, clock=FakeClock()
    )
    fail(breaker, 3)  # 100% failing, but only 3 calls
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN
    assert "4 of the last 4 calls failed" in breaker.transitions[-1].reason


def test_rate_based_opening_opens_at_the_rate_not_before() -> None:
    breaker = CircuitBreaker(
        consecutive_failures=None, failure_rate=0.5, window=10, minimum_calls=4, clock=FakeClock()
    )
    for outcome in [Outcome.OK, Outcome.TIMEOUT, Outcome.OK, Outcome.OK, Outcome.TIMEOUT]:
        call(breaker, outcome)  # 2 of 5 failed: 40%
    assert breaker.state is CLOSED
    fail(breaker)  # 3 of 6: 50%
    assert breaker.state is OPEN


def test_failure_rate_counts_only_the_last_window_calls() -> None:
    breaker = CircuitBreaker(
        consecutive_failures=None, failure_rate=0.75, window=4, minimum_calls=4, clock=FakeClock()
    )
    for outcome in [Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.OK, Outcome.OK, Outcome.OK]:
        call(breaker, outcome)
    fail(breaker, 2)  # window now OK OK F F: 50%, the two early failures have slid out
    assert breaker.state is CLOSED
    assert breaker.statistics().window_failures == 2
    fail(breaker)  # OK F F F: 75%
    assert breaker.state is OPEN


def test_breaker_half_opens_when_the_recovery_timeout_has_passed() -> None:
    clock = FakeClock(start=50.0)
    breaker = opened_breaker(clock)
    clock.advance(9.5)
    assert breaker.state is OPEN
    assert breaker.allow() is None
    clock.advance(0.5)
    assert breaker.state is HALF_OPEN
    assert breaker.allow() is not None


def test_half_open_lets_at_most_max_trials_calls_through_at_once() -> None:
    clock = FakeClock()
    breaker = opened_breaker(clock, max_trials=2, trial_successes=3)
    clock.advance(10.0)
    first, second = breaker.allow(), breaker.allow()
    assert first is not None
    assert second is not None
    assert breaker.allow() is None
    breaker.record(first, Outcome.OK)
    third = breaker.allow()  # a trial slot came free
    assert third is not None
    assert breaker.allow() is None
    assert breaker.statistics().trials_in_flight == 2


def test_breaker_closes_after_n_trial_successes() -> None:
    clock = FakeClock()
    breaker = opened_breaker(clock, trial_successes=3)
    clock.advance(10.0)
    call(breaker, Outcome.OK)
    call(breaker, Outcome.OK)
    assert breaker.state is HALF_OPEN
    call(breaker, Outcome.OK)
    assert breaker.state is CLOSED
    assert breaker.transitions[-1].reason == "3 trial calls succeeded"
    fail(breaker, 2)  # counting starts afresh after closing
    assert breaker.state is CLOSED


def test_breaker_reopens_on_a_trial_failure_and_waits_the_full_timeout_again() -> None:
    clock = FakeClock()
    breaker = opened_breaker(clock, trial_successes=2)
    clock.advance(10.0)
    call(breaker, Outcome.OK)
    clock.advance(1.0)
    call(breaker, Outcome.TRANSPORT)
    assert breaker.state is OPEN
    assert breaker.transitions[-1] == Transition(
        11.0, HALF_OPEN, OPEN, "trial call failed (transport)"
    )
    clock.advance(9.5)
    assert breaker.allow() is None
    clock.advance(0.5)
    assert breaker.state is HALF_OPEN


def test_tool_errors_and_other_rpc_errors_are_not_failures_by_default() -> None:
    breaker = CircuitBreaker(consecutive_failures=3, clock=FakeClock())
    for _ in range(10):
        call(breaker, Outcome.TOOL_ERROR)
        call(breaker, Outcome.RPC_ERROR, INVALID_PARAMS)
    assert breaker.state is CLOSED
    assert breaker.statistics().failures == 0
    for _ in range(3):
        call(breaker, Outcome.RPC_ERROR, INTERNAL_ERROR)
    assert breaker.state is OPEN


def test_which_outcomes_count_as_failures_is_configurable() -> None:
    breaker = CircuitBreaker(
        consecutive_failures=2,
        failures=OutcomeSet(frozenset({Outcome.TOOL_ERROR})),
        clock=FakeClock(),
    )
    fail(breaker, 5)  # timeouts no longer count
    assert breaker.state is CLOSED
    call(breaker, Outcome.TOOL_ERROR)
    call(breaker, Outcome.TOOL_ERROR)
    assert breaker.state is OPEN


def test_transitions_are_recorded_with_their_times_and_reasons() -> None:
    clock = FakeClock(start=100.0)
    breaker = CircuitBreaker(consecutive_failures=2, recovery_timeout=5.0, clock=clock)
    clock.advance(1.0)
    fail(breaker, 2)
    clock.advance(7.0)  # half-open became due at 106, though first observed at 108
    call(breaker, Outcome.OK)
    assert breaker.transitions == (
        Transition(101.0, CLOSED, OPEN, "2 consecutive failures"),
        Transition(106.0, OPEN, HALF_OPEN, "recovery timeout 5s elapsed"),
        Transition(108.0, HALF_OPEN, CLOSED, "1 trial call succeeded"),
    )


def test_an_outcome_from_before_a_transition_does_not_count_for_the_new_state() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive_failures=2, recovery_timeout=5.0, clock=clock)
    slow = breaker.allow()
    assert slow is not None
    fail(breaker, 2)
    clock.advance(5.0)
    assert breaker.state is HALF_OPEN
    breaker.record(slow, Outcome.OK)  # admitted while CLOSED: not a trial success
    assert breaker.state is HALF_OPEN
    assert breaker.statistics().stale == 1
    trial = breaker.allow()
    assert trial is not None  # and it did not take the trial slot either


def test_a_released_trial_permit_frees_its_slot_without_counting() -> None:
    clock = FakeClock()
    breaker = opened_breaker(clock)
    clock.advance(10.0)
    trial = breaker.allow()
    assert trial is not None
    breaker.release(trial)  # the caller was cancelled before the call ended
    again = breaker.allow()
    assert again is not None
    breaker.record(again, Outcome.REJECTED)  # refused downstream (a rate limiter): same
    stats = breaker.statistics()
    assert (stats.state, stats.successes, stats.failures) == (HALF_OPEN, 0, 3)
    assert breaker.allow() is not None


def test_acquire_nowait_raises_circuit_open_with_the_time_until_trials() -> None:
    clock = FakeClock()
    breaker = opened_breaker(clock)
    clock.advance(4.0)
    with pytest.raises(CircuitOpen) as raised:
        breaker.acquire_nowait()
    assert raised.value.retry_after == pytest.approx(6.0)
    clock.advance(6.0)
    assert isinstance(breaker.acquire_nowait(), Permit)
    with pytest.raises(CircuitOpen, match="half-open"):
        breaker.acquire_nowait()


def test_repr_shows_state_and_counts() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive_failures=5, clock=clock, recovery_timeout=10.0)
    fail(breaker, 2)
    assert repr(breaker) == "<CircuitBreaker CLOSED failures=2/5 opened=0>"
    fail(breaker, 3)
    clock.advance(2.5)
    assert repr(breaker) == "<CircuitBreaker OPEN retry_in=7.500s opened=1>"
    clock.advance(7.5)
    assert repr(breaker) == "<CircuitBreaker HALF_OPEN trials=0/1 successes=0/1 opened=1>"


@pytest.mark.parametrize(
    "options",
    [
        {"consecutive_failures": None},
        {"consecutive_failures": 0},
        {"failure_rate": 1.5},
        {"window": 5, "minimum_calls": 6},
        {"max_trials": 0},
    ],
)
def test_impossible_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 — each case has its own message
        CircuitBreaker(**options)  # type: ignore[arg-type]


# -- invariants ---------------------------------------------------------------------------------

# Rounds of: calls admitted, then calls finished (oldest or newest first), then time passing.
# Failures come first in the outcome list so that simple examples open the breaker.
rounds = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        Outcome.TIMEOUT,
                        Outcome.OK,
                        Outcome.TRANSPORT,
                        Outcome.TOOL_ERROR,
                        Outcome.REJECTED,
                        Outcome.RPC_ERROR,
                    ]
                ),
                st.booleans(),
            ),
            max_size=4,
        ),
        st.sampled_from([0.0, 1.0, 2.5, 3.0, 4.0]),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(rounds=rounds, max_trials=st.integers(1, 3), rate_based=st.booleans())
def test_breaker_never_admits_while_open_nor_more_trials_than_allowed(
    rounds: list[tuple[int, list[tuple[Outcome, bool]], float]], max_trials: int, rate_based: bool
) -> None:
    timeout = 3.0
    clock = FakeClock()
    breaker = CircuitBreaker(
        consecutive_failures=None if rate_based else 2,
        failure_rate=0.5 if rate_based else None,
        window=4,
        minimum_calls=2,
        recovery_timeout=timeout,
        max_trials=max_trials,
        trial_successes=2,
        clock=clock,
    )
    held: list[tuple[Permit, int]] = []  # permit, the observed state period it came from
    period, seen = 0, breaker.state
    open_until = -1.0

    def observe() -> None:
        nonlocal period, seen, open_until
        state = breaker.state
        if state is not seen:
            period, seen = period + 1, state
            if state is OPEN:
                open_until = clock.monotonic() + timeout
        if state is HALF_OPEN:
            trials = sum(1 for _, p in held if p == period)
            assert trials <= max_trials
            assert breaker.statistics().trials_in_flight == trials

    for admit, finishes, pause in rounds:
        for _ in range(admit):
            observe()
            permit = breaker.allow()
            if clock.monotonic() < open_until:
                assert permit is None, f"admitted at {clock.monotonic()} while open"
            if permit is not None:
                assert seen is not OPEN
                held.append((permit, period))
            observe()
        for outcome, newest in finishes:
            if held:
                permit, _ = held.pop(-1 if newest else 0)
                breaker.record(permit, outcome)
                observe()
        clock.advance(pause)
