"""The resilience layer as the engine sees it: a Requester that puts a target's configured
cache, circuit breaker, rate limiter and retries in front of its connection.

One lives for one scenario, so its statistics describe what each primitive did in that run,
including the batching done inside the stdio connections it sent through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from anyio.lowlevel import checkpoint

from readiness.clock import Clock, SystemClock
from readiness.protocol.batcher import BatcherStatistics
from readiness.protocol.outcome import Outcome, Reply
from readiness.resilience.breaker import (
    BreakerState,
    BreakerStatistics,
    CircuitBreaker,
    Permit,
    Transition,
)
from readiness.resilience.cache import MISSING, Cache, CacheStatistics, cache_key
from readiness.resilience.config import (
    DEFAULT_MINIMUM_CALLS,
    DEFAULT_WINDOW,
    ResilienceConfig,
)
from readiness.resilience.limiter import LimiterStatistics, TokenBucket
from readiness.resilience.retry import Retry, RetryBudget, RetryStatistics


@dataclass(frozen=True, slots=True)
class ResilienceStatistics:
    """A `ResilientRequester`'s primitives' own statistics; None for those not configured."""

    config: ResilienceConfig
    origin: float  # the clock time the scenario started: transitions count from here
    breaker: BreakerStatistics | None
    transitions: tuple[Transition, ...]  # the breaker's, oldest first
    limiter: LimiterStatistics | None
    retry: RetryStatistics | None
    cache: CacheStatistics | None
    batch: BatcherStatistics | None  # summed over the connections; None before one batched


class Sender(Protocol):
    """What the layer sends through: a connection, or anything else that answers requests
    the same way (the engine's `Requester`)."""

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply: ...


@runtime_checkable
class BatchSource(Protocol):
    """A connection that batches its writes itself (stdio with `[targets.resilience.batch]`)."""

    def batch_statistics(self) -> BatcherStatistics | None: ...


class ResilientRequester:
    """A Requester that applies, in order: cache → breaker → (rate limit → send) with retries.

    A cache hit returns the stored OK reply at once. An open circuit returns
    `Outcome.REJECTED` without sending: our refusal, never the server's failure. Each send,
    retries included, waits for a rate-limit token; in an open model that wait is part of
    the request's latency, which runs from its intended start. The breaker sees the outcome
    after retries, and only OK replies are cached.

    `conn` may be pointed at a new connection between loads (a scenario that restarts its
    target); the primitives and their counts carry over, as a client's would.
    """

    def __init__(
        self,
        conn: Sender,
        config: ResilienceConfig,
        clock: Clock | None = None,
        *,
        origin: float | None = None,
    ) -> None:
        self._conn = conn
        self._batch_sources: list[BatchSource] = []
        self._watch_batching(conn)
        self._config = config
        self._clock: Clock = clock if clock is not None else SystemClock()
        # Transition times are reported relative to this moment (the scenario's start).
        self._origin = self._clock.monotonic() if origin is None else origin
        self._breaker: CircuitBreaker | None = None
        self._limiter: TokenBucket | None = None
        self._retry: Retry | None = None
        self._cache: Cache[str, Reply] | None = None
        self._retried: frozenset[str] = frozenset()
        self._cached: frozenset[str] = frozenset()
        if (b := config.breaker) is not None:
            self._breaker = CircuitBreaker(
                consecutive_failures=b.consecutive_failures,
                failure_rate=b.failure_rate,
                window=b.window or DEFAULT_WINDOW,  # only read with a failure_rate
                minimum_calls=b.minimum_calls or DEFAULT_MINIMUM_CALLS,
                recovery_timeout=b.recovery_timeout,
                trial_successes=b.trial_successes,
                max_trials=b.max_trials,
                failures=b.failure_set(),
                clock=self._clock,
            )
        if (r := config.rate_limit) is not None:
            self._limiter = TokenBucket(r.rate, r.burst, clock=self._clock)
        if (t := config.retry) is not None:
            budget = RetryBudget(ratio=t.budget, min_per_second=t.min_retries, clock=self._clock)
            self._retry = Retry(
                max_attempts=t.max_attempts,
                base=t.base,
                cap=t.cap,
                budget=budget,
                clock=self._clock,
            )
            self._retried = t.methods()
        if (c := config.cache) is not None:
            self._cache = Cache(c.max_entries, c.ttl, clock=self._clock)
            self._cached = frozenset(c.methods)

    @property
    def conn(self) -> Sender:
        return self._conn

    @conn.setter
    def conn(self, conn: Sender) -> None:
        self._conn = conn
        self._watch_batching(conn)

    def _watch_batching(self, conn: Sender) -> None:
        # Batching happens inside the connection; its counts join ours, summed over every
        # connection of the scenario (a restarted target gets a new one).
        if isinstance(conn, BatchSource) and all(conn is not s for s in self._batch_sources):
            self._batch_sources.append(conn)

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        cache = self._cache
        key: str | None = None
        if cache is not None and method in self._cached:
            key = cache_key(method, params)
            hit = cache.get(key)
            if hit is not MISSING:
                # Yield anyway: a loop of instant answers must not starve the event loop.
                await checkpoint()
                return hit
        breaker = self._breaker
        permit: Permit | None = None
        if breaker is not None:
            permit = breaker.allow()
            if permit is None:
                open_ = breaker.state is BreakerState.OPEN
                detail = "circuit open" if open_ else "circuit half-open, trial calls in flight"
                await checkpoint()
                return Reply(Outcome.REJECTED, detail=detail)
        try:
            retry = self._retry
            if retry is not None and method in self._retried:
                reply = await retry.call(lambda: self._send(method, params, timeout))
            else:
                reply = await self._send(method, params, timeout)
        except BaseException:
            if breaker is not None and permit is not None:
                breaker.release(permit)  # never completed: it counts neither way
            raise
        if breaker is not None and permit is not None:
            breaker.record(permit, reply.outcome, reply.error_code)
        if cache is not None and key is not None and reply.outcome is Outcome.OK:
            cache.put(key, reply)
        return reply

    async def _send(
        self, method: str, params: dict[str, Any] | None, timeout: float | None
    ) -> Reply:
        if self._limiter is not None:
            await self._limiter.acquire()
        return await self._conn.request(method, params, timeout=timeout)

    def breaker_state(self) -> str | None:
        """The circuit breaker's state now ("closed", "open", "half_open"); None without one."""
        return None if self._breaker is None else self._breaker.state.value

    def statistics(self) -> ResilienceStatistics:
        """What each configured primitive did so far (None for those not configured)."""
        breaker = self._breaker
        return ResilienceStatistics(
            config=self._config,
            origin=self._origin,
            breaker=breaker.statistics() if breaker is not None else None,
            transitions=tuple(breaker.transitions) if breaker is not None else (),
            limiter=self._limiter.statistics() if self._limiter is not None else None,
            retry=self._retry.statistics() if self._retry is not None else None,
            cache=self._cache.statistics() if self._cache is not None else None,
            batch=self._batch_statistics() if self._config.batch is not None else None,
        )

    def _batch_statistics(self) -> BatcherStatistics | None:
        """The batchers' counts summed over this scenario's connections; None without one."""
        seen = [s for c in self._batch_sources if (s := c.batch_statistics()) is not None]
        if not seen:
            return None
        batches = sum(s.batches for s in seen)
        items = sum(s.items for s in seen)
        return BatcherStatistics(
            batches=batches,
            items=items,
            mean_batch_size=items / batches if batches else 0.0,
            max_batch_size=max(s.max_batch_size for s in seen),
            by_size=sum(s.by_size for s in seen),
            by_time=sum(s.by_time for s in seen),
            by_close=sum(s.by_close for s in seen),
            pending=sum(s.pending for s in seen),
        )

    def __repr__(self) -> str:
        parts = [
            repr(p)
            for p in (self._cache, self._breaker, self._limiter, self._retry)
            if p is not None
        ]
        return f"<ResilientRequester {' '.join(parts) or 'nothing configured'}>"
