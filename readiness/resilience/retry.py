"""Retries with exponential backoff and full jitter, capped by a budget so they cannot pile on.

Without a budget, a server that fails every call gets `max_attempts` times the load exactly
when it can least take it; the budget keeps retries to a fraction of requests.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from readiness.clock import Clock, SystemClock
from readiness.protocol.outcome import Reply
from readiness.resilience.outcomes import TRANSIENT_FAILURES, OutcomeSet

# 2**63 * any sane base is far past any cap; stops the power from overflowing a float.
_MAX_EXPONENT = 63


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    requests: int  # deposits: first attempts
    retries: int  # withdrawals granted
    refused: int  # withdrawals refused
    balance: float  # retries the budget would grant now


class RetryBudget:
    """A sack of retry tokens shared by every call to one target.

    Each request puts `ratio` of a token in, time puts `min_per_second` in (so a quiet client
    can still retry), and each retry takes one out. The sack holds at most `capacity`, so a
    calm period cannot bank a retry storm for the next outage: over any period t, retries stay
    within `capacity + ratio * requests + min_per_second * t`.
    """

    def __init__(
        self,
        ratio: float = 0.1,
        min_per_second: float = 1.0,
        capacity: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if ratio < 0 or min_per_second < 0:
            raise ValueError("ratio and min_per_second must be >= 0")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 (one retry), got {capacity}")
        self._ratio = ratio
        self._min_per_second = min_per_second
        self._capacity = capacity
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._balance = capacity
        self._updated = self._clock.monotonic()
        self._requests = 0
        self._retries = 0
        self._refused = 0

    def _refill(self, tokens: float) -> None:
        now = self._clock.monotonic()
        tokens += (now - self._updated) * self._min_per_second
        self._balance = min(self._capacity, self._balance + tokens)
        self._updated = now

    def deposit(self) -> None:
        """A request was made."""
        self._requests += 1
        self._refill(self._ratio)

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        self._refill(0.0)
        if self._balance >= 1:
            self._balance -= 1
            self._retries += 1
            return True
        self._refused += 1
        return False

    def statistics(self) -> BudgetStatistics:
        self._refill(0.0)
        return BudgetStatistics(self._requests, self._retries, self._refused, self._balance)

    def __repr__(self) -> str:
        self._refill(0.0)
        return (
            f"<RetryBudget ratio={self._ratio:g} min={self._min_per_second:g}/s "
            f"balance={self._balance:.2f}/{self._capacity:g} retries={self._retries}>"
        )


@dataclass(frozen=True, slots=True)
class RetryStatistics:
    calls: int
    attempts: int  # first attempts and retries
    retries: int
    recovered: int  # calls that failed, were retried, and ended without a retryable failure
    budget_exhausted: int  # calls left failed because the budget refused a retry
    gave_up: int  # calls left failed after max_attempts
    total_backoff: float  # seconds slept between attempts


class Retry:
    """Calls again after a retryable outcome, sleeping `uniform(0, min(cap, base * 2**n))`.

    `n` counts retries from 0. Only outcomes in `retry_on` are retried (by default timeouts and
    transport errors); anything else, success or not, is returned at once. Only wrap requests
    that are safe to repeat: a timed-out `tools/call` may have run.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        base: float = 0.05,
        cap: float = 2.0,
        retry_on: OutcomeSet = TRANSIENT_FAILURES,
        budget: RetryBudget | None = None,
        seed: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if base < 0 or cap < 0:
            raise ValueError("base and cap must be >= 0")
        self._max_attempts = max_attempts
        self._base = base
        self._cap = cap
        self._retry_on = retry_on
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._budget = budget if budget is not None else RetryBudget(clock=self._clock)
        self._rng = random.Random(seed)
        self._calls = 0
        self._attempts = 0
        self._retries = 0
        self._recovered = 0
        self._budget_exhausted = 0
        self._gave_up = 0
        self._total_backoff = 0.0

    @property
    def budget(self) -> RetryBudget:
        return self._budget

    def backoff(self, retry: int) -> float:
        """The sleep before retry number `retry` (0 for the first retry)."""
        ceiling = self._cap
        if retry < _MAX_EXPONENT:
            ceiling = min(ceiling, self._base * 2**retry)
        return self._rng.uniform(0, ceiling)

    async def call(self, fn: Callable[[], Awaitable[Reply]]) -> Reply:
        """`fn()`, repeated while its reply is retryable and attempts and budget allow."""
        self._calls += 1
        self._budget.deposit()
        retry = 0
        while True:
            reply = await fn()
            self._attempts += 1
            if not self._retry_on.matches(reply.outcome, reply.error_code):
                if retry:
                    self._recovered += 1
                return reply
            if retry + 1 >= self._max_attempts:
                self._gave_up += 1
                return reply
            if not self._budget.try_withdraw():
                self._budget_exhausted += 1
                return reply
            delay = self.backoff(retry)
            self._retries += 1
            self._total_backoff += delay
            await self._clock.sleep(delay)
            retry += 1

    def statistics(self) -> RetryStatistics:
        return RetryStatistics(
            calls=self._calls,
            attempts=self._attempts,
            retries=self._retries,
            recovered=self._recovered,
            budget_exhausted=self._budget_exhausted,
            gave_up=self._gave_up,
            total_backoff=self._total_backoff,
        )

    def __repr__(self) -> str:
        return (
            f"<Retry max_attempts={self._max_attempts} backoff={self._base:g}s..{self._cap:g}s "
            f"calls={self._calls} retries={self._retries} gave_up={self._gave_up} "
            f"budget_exhausted={self._budget_exhausted}>"
        )
