"""A token-bucket rate limiter: at most `burst` calls at once, `rate` per second in the long run.

Picture a sack that holds `burst` tokens and refills at `rate` tokens per second. A call takes
a token. `acquire_nowait()` refuses when the sack is empty; `acquire()` reserves the next token
and sleeps until it is due, so waiters are served in arrival order and each waits exactly as
long as the rate requires.
"""

from __future__ import annotations

from dataclasses import dataclass

from readiness.clock import Clock, SystemClock
from readiness.resilience.errors import RateLimited


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    acquired: int  # tokens handed out (immediately or after a wait)
    waited: int  # acquires that had to wait
    total_wait: float  # seconds, summed over those waits
    max_wait: float  # seconds
    rejected: int  # acquire_nowait calls refused
    waiting: int  # acquires waiting now
    tokens: float  # available now (negative: owed to waiters)


class TokenBucket:
    """Admits calls at `rate` per second, with bursts of up to `burst` calls.

    Admissions over any period t never exceed `rate * t + burst`. `acquire()` yields to the
    event loop only when it has to wait, so the common case costs no context switch.
    """

    def __init__(self, rate: float, burst: int = 1, clock: Clock | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._rate = float(rate)
        self._burst = burst
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._tokens = float(burst)  # starts full; negative while tokens are reserved
        self._updated = self._clock.monotonic()
        self._acquired = 0
        self._waited = 0
        self._total_wait = 0.0
        self._max_wait = 0.0
        self._rejected = 0
        self._waiting = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def acquire_nowait(self) -> None:
        """Take a token now, or raise `RateLimited` (with `retry_after`) if there is none."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            self._acquired += 1
            return
        self._rejected += 1
        retry_after = (1 - self._tokens) / self._rate
        raise RateLimited(
            f"rate limit {self._rate:g}/s reached; next token in {retry_after:.3f}s",
            retry_after=retry_after,
        )

    async def acquire(self) -> None:
        """Take a token, waiting until one is due if the bucket is empty."""
        self._refill()
        self._tokens -= 1
        if self._tokens >= 0:
            self._acquired += 1
            return
        wait = -self._tokens / self._rate
        self._waiting += 1
        try:
            await self._clock.sleep(wait)
        except BaseException:
            # Never used: hand the reservation back (later waiters keep their, now
            # conservative, reservations).
            self._refill()
            self._tokens = min(self._burst, self._tokens + 1)
            raise
        finally:
            self._waiting -= 1
        self._acquired += 1
        self._waited += 1
        self._total_wait += wait
        self._max_wait = max(self._max_wait, wait)

    def statistics(self) -> LimiterStatistics:
        self._refill()
        return LimiterStatistics(
            acquired=self._acquired,
            waited=self._waited,
            total_wait=self._total_wait,
            max_wait=self._max_wait,
            rejected=self._rejected,
            waiting=self._waiting,
            tokens=self._tokens,
        )

    def __repr__(self) -> str:
        self._refill()
        return (
            f"<TokenBucket rate={self._rate:g}/s tokens={max(self._tokens, 0.0):.2f}/"
            f"{self._burst} waiting={self._waiting} acquired={self._acquired} "
            f"rejected={self._rejected}>"
        )
