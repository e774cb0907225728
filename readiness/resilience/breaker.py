"""A circuit breaker: stop sending to a server that keeps failing, then probe until it is back.

CLOSED lets everything through and counts failures; OPEN rejects at once; HALF_OPEN lets a few
trial calls through after the recovery timeout and closes again after enough of them succeed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from readiness.clock import Clock, SystemClock
from readiness.protocol.outcome import Outcome
from readiness.resilience.errors import CircuitOpen
from readiness.resilience.outcomes import SERVER_FAILURES, OutcomeSet


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, at a clock time, with why it happened."""

    at: float
    from_state: BreakerState
    to_state: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call, handed back to `record` with its outcome.

    It names the breaker's state period that admitted the call, so an outcome that arrives
    after the state changed (a slow call admitted while CLOSED, answering once OPEN) is
    recognised as stale and never mistaken for a trial result. One permit object is shared by
    every call of a period, so admitting a call allocates nothing.
    """

    epoch: int
    trial: bool


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    state: BreakerState
    admitted: int  # permits handed out
    rejected: int  # calls refused while OPEN or with every trial slot taken
    successes: int  # recorded outcomes that are not failures
    failures: int  # recorded outcomes the failure set counts
    stale: int  # outcomes of calls admitted before the last transition (not counted for state)
    consecutive_failures: int
    window_calls: int
    window_failures: int
    opened: int  # times the circuit opened
    trials_in_flight: int
    transitions: int


class CircuitBreaker:
    """Counts failures of a target's calls and opens the circuit when they pass a threshold.

    Two thresholds, either or both: `consecutive_failures` in a row, or a `failure_rate` over
    the last `window` calls once at least `minimum_calls` are in it. Use `allow()` (or
    `acquire_nowait()`) before a call and `record()` after it with the same permit; a call
    that never completed (cancelled) gives its permit back with `release()`.

    Rejected calls are the caller's to record as `Outcome.REJECTED`: they never reached the
    server, so they are never counted as its failures.
    """

    def __init__(
        self,
        *,
        consecutive_failures: int | None = 5,
        failure_rate: float | None = None,
        window: int = 20,
        minimum_calls: int = 10,
        recovery_timeout: float = 30.0,
        trial_successes: int = 1,
        max_trials: int = 1,
        failures: OutcomeSet = SERVER_FAILURES,
        clock: Clock | None = None,
    ) -> None:
        if consecutive_failures is None and failure_rate is None:
            raise ValueError("set consecutive_failures, failure_rate, or both")
        if consecutive_failures is not None and consecutive_failures < 1:
            raise ValueError(f"consecutive_failures must be >= 1, got {consecutive_failures}")
        if failure_rate is not None and not 0 < failure_rate <= 1:
            raise ValueError(f"failure_rate must be in (0, 1], got {failure_rate}")
        if not 1 <= minimum_calls <= window:
            raise ValueError(f"need 1 <= minimum_calls <= window, got {minimum_calls}, {window}")
        if recovery_timeout < 0:
            raise ValueError(f"recovery_timeout must be >= 0, got {recovery_timeout}")
        if trial_successes < 1 or max_trials < 1:
            raise ValueError("trial_successes and max_trials must be >= 1")
        self._threshold = consecutive_failures
        self._rate = failure_rate
        self._minimum_calls = minimum_calls
        self._recovery_timeout = recovery_timeout
        self._trial_successes = trial_successes
        self._max_trials = max_trials
        self._failure_set = failures
        self._clock: Clock = clock if clock is not None else SystemClock()

        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._permit = Permit(0, trial=False)
        self._transitions: list[Transition] = []
        self._opened_at = 0.0
        self._consecutive = 0
        self._window: deque[bool] = deque(maxlen=window)  # True for a failure
        self._window_failures = 0
        self._trials = 0  # in flight
        self._trial_ok = 0

        self._admitted = 0
        self._rejected = 0
        self._successes = 0
        self._failures = 0
        self._stale = 0
        self._opened = 0

    # -- admitting calls ---------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        self._check_recovery()
        return self._state

    @property
    def transitions(self) -> tuple[Transition, ...]:
        self._check_recovery()
        return tuple(self._transitions)

    def allow(self) -> Permit | None:
        """A permit for one call, or None when the call must be rejected."""
        self._check_recovery()
        if self._state is BreakerState.CLOSED:
            self._admitted += 1
            return self._permit
        if self._state is BreakerState.HALF_OPEN and self._trials < self._max_trials:
            self._trials += 1
            self._admitted += 1
            return self._permit
        self._rejected += 1
        return None

    def acquire_nowait(self) -> Permit:
        """Like `allow()`, but raises `CircuitOpen` (with `retry_after`) instead of None."""
        permit = self.allow()
        if permit is not None:
            return permit
        if self._state is BreakerState.OPEN:
            retry_after = self._opened_at + self._recovery_timeout - self._clock.monotonic()
            raise CircuitOpen(
                f"circuit open; trial calls in {retry_after:.3f}s", retry_after=retry_after
            )
        raise CircuitOpen(
            f"circuit half-open; all {self._max_trials} trial calls in flight", retry_after=0.0
        )

    # -- recording outcomes ------------------------------------------------------------------

    def record(self, permit: Permit, outcome: Outcome, error_code: int | None = None) -> None:
        """The outcome of a call made with `permit` (its `Reply.outcome` and `error_code`)."""
        if outcome is Outcome.REJECTED:  # refused downstream of us: it never reached the server
            self.release(permit)
            return
        failed = self._failure_set.matches(outcome, error_code)
        if failed:
            self._failures += 1
        else:
            self._successes += 1
        if permit.epoch != self._epoch:
            self._stale += 1
            return
        if permit.trial:
            self._trials -= 1
            if failed:
                self._open(f"trial call failed ({_describe(outcome, error_code)})")
            else:
                self._trial_ok += 1
                if self._trial_ok >= self._trial_successes:
                    plural = "s" if self._trial_ok != 1 else ""
                    self._close(f"{self._trial_ok} trial call{plural} succeeded")
            return
        self._count_closed(failed)

    def release(self, permit: Permit) -> None:
        """Give back a permit whose call never completed; it counts neither way."""
        if permit.trial and permit.epoch == self._epoch:
            self._trials -= 1

    def _count_closed(self, failed: bool) -> None:
        window = self._window
        if len(window) == window.maxlen and window[0]:
            self._window_failures -= 1
        window.append(failed)
        if failed:
            self._window_failures += 1
            self._consecutive += 1
        else:
            self._consecutive = 0
            return
        if self._threshold is not None and self._consecutive >= self._threshold:
            self._open(f"{self._consecutive} consecutive failures")
        elif (
            self._rate is not None
            and len(window) >= self._minimum_calls
            and self._window_failures >= self._rate * len(window)
        ):
            self._open(
                f"{self._window_failures} of the last {len(window)} calls failed "
                f"(threshold {self._rate:.0%})"
            )

    # -- transitions -------------------------------------------------------------------------

    def _check_recovery(self) -> None:
        if self._state is not BreakerState.OPEN:
            return
        due = self._opened_at + self._recovery_timeout
        if self._clock.monotonic() >= due:
            # Stamped with when it became due, not when someone looked: the true time.
            self._move(
                BreakerState.HALF_OPEN,
                due,
                f"recovery timeout {self._recovery_timeout:g}s elapsed",
            )
            self._trials = 0
            self._trial_ok = 0

    def _open(self, reason: str) -> None:
        now = self._clock.monotonic()
        self._opened_at = now
        self._opened += 1
        self._move(BreakerState.OPEN, now, reason)

    def _close(self, reason: str) -> None:
        self._move(BreakerState.CLOSED, self._clock.monotonic(), reason)
        self._consecutive = 0
        self._window.clear()
        self._window_failures = 0

    def _move(self, to: BreakerState, at: float, reason: str) -> None:
        self._transitions.append(Transition(at, self._state, to, reason))
        self._state = to
        self._epoch += 1
        self._permit = Permit(self._epoch, trial=to is BreakerState.HALF_OPEN)

    # -- inspection --------------------------------------------------------------------------

    def statistics(self) -> BreakerStatistics:
        return BreakerStatistics(
            state=self.state,
            admitted=self._admitted,
            rejected=self._rejected,
            successes=self._successes,
            failures=self._failures,
            stale=self._stale,
            consecutive_failures=self._consecutive,
            window_calls=len(self._window),
            window_failures=self._window_failures,
            opened=self._opened,
            trials_in_flight=self._trials,
            transitions=len(self._transitions),
        )

    def __repr__(self) -> str:
        state = self.state
        if state is BreakerState.OPEN:
            left = self._opened_at + self._recovery_timeout - self._clock.monotonic()
            detail = f"retry_in={left:.3f}s"
        elif state is BreakerState.HALF_OPEN:
            detail = (
                f"trials={self._trials}/{self._max_trials} "
                f"successes={self._trial_ok}/{self._trial_successes}"
            )
        else:
            parts = []
            if self._threshold is not None:
                parts.append(f"failures={self._consecutive}/{self._threshold}")
            if self._rate is not None:
                parts.append(f"window={self._window_failures}/{len(self._window)}")
            detail = " ".join(parts)
        return f"<CircuitBreaker {state.name} {detail} opened={self._opened}>"


def _describe(outcome: Outcome, error_code: int | None) -> str:
    name = outcome.name.lower()
    return f"{name} {error_code}" if error_code is not None else name
