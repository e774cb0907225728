"""The engine's Requester over a SessionPool: each request borrows a session for its send,
and a session that met a transport error is recycled instead of being lent again."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from readiness.clock import Clock, SystemClock
from readiness.errors import TargetError
from readiness.metrics.histogram import LatencyHistogram
from readiness.protocol.outcome import Outcome, Reply
from readiness.resilience.errors import PoolTimeout
from readiness.resilience.pool import SessionPool
from readiness.resilience.requester import Sender

# Timeouts fire from a sweeper that ticks every 50 ms, and a busy event loop runs late;
# a request is "over its timeout" only beyond this much.
TIMEOUT_SLACK_S = 0.5

_TRANSPORT = Outcome.TRANSPORT


class PooledSession(Protocol):
    """What the pool lends: a connection, and how many requests it has carried."""

    @property
    def conn(self) -> Sender: ...

    uses: int  # 0 until its first request: the request that finds 0 waited for it to open


S = TypeVar("S", bound=PooledSession)


@dataclass(frozen=True, slots=True)
class PooledStatistics:
    requests: int
    wait_timeouts: int  # gave up waiting for a session: failed as TIMEOUT
    open_failures: int  # the pool could not open a session: failed as TRANSPORT
    over_timeout: int  # took longer than their wait, open and request timeouts allow
    max_in_use: int  # most sessions this requester held at once
    wait: LatencyHistogram  # µs to hold a session, opening included; give-ups included


class PooledRequester(Generic[S]):
    """Sends each request on a session borrowed from `pool` for just that request.

    A request waits at most the pool's acquire timeout (`wait_timeout`) for a session; one
    that gives up fails with `Outcome.TIMEOUT` and a detail naming the pool wait. A session
    whose request ended in a transport error is discarded, so the pool opens a fresh one.
    Every request is also checked against its whole budget: the wait, the session's opening
    when it opened one (`open_timeout`), and the request timeout, plus `TIMEOUT_SLACK_S`.
    """

    def __init__(
        self,
        pool: SessionPool[S],
        *,
        wait_timeout: float | None,
        request_timeout: float,
        open_timeout: float,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._wait_timeout = math.inf if wait_timeout is None else wait_timeout
        self._request_timeout = request_timeout
        self._open_timeout = open_timeout
        self._requests = 0
        self._wait_timeouts = 0
        self._open_failures = 0
        self._over = 0
        self._in_use = 0
        self._max_in_use = 0
        self._waits_us: list[int] = []  # bulk-loaded into a histogram by statistics()

    def budget(self, timeout: float | None = None, *, opened: bool = False) -> float:
        """Seconds a request may take, all waits included, before it counts as over."""
        request = self._request_timeout if timeout is None else timeout
        opening = self._open_timeout if opened else 0.0
        return self._wait_timeout + opening + request + TIMEOUT_SLACK_S

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        self._requests += 1
        clock = self._clock.monotonic
        started = clock()
        opened = False
        try:
            async with self._pool.acquire() as session:
                self._note_wait(started)
                opened = session.uses == 0
                session.uses += 1
                self._in_use += 1
                self._max_in_use = max(self._max_in_use, self._in_use)
                try:
                    reply = await session.conn.request(method, params, timeout=timeout)
                    if reply.outcome is _TRANSPORT:
                        await self._pool.discard(session)
                finally:
                    self._in_use -= 1
        except PoolTimeout as exc:
            self._note_wait(started)
            self._wait_timeouts += 1
            reply = Reply(Outcome.TIMEOUT, detail=f"pool wait: {exc}")
        except TargetError as exc:
            self._note_wait(started)
            self._open_failures += 1
            opened = True
            reply = Reply(_TRANSPORT, detail=f"could not open a pooled session: {exc.cause}")
        if clock() - started > self.budget(timeout, opened=opened):
            self._over += 1
        return reply

    def _note_wait(self, started: float) -> None:
        self._waits_us.append(round((self._clock.monotonic() - started) * 1e6))

    def statistics(self) -> PooledStatistics:
        wait = LatencyHistogram()
        if self._waits_us:
            wait.record_many(self._waits_us)
        return PooledStatistics(
            requests=self._requests,
            wait_timeouts=self._wait_timeouts,
            open_failures=self._open_failures,
            over_timeout=self._over,
            max_in_use=self._max_in_use,
            wait=wait,
        )

    def __repr__(self) -> str:
        return (
            f"<PooledRequester [Requests: {self._requests}, {self._in_use} holding a session | "
            f"Wait timeouts: {self._wait_timeouts}] {self._pool!r}>"
        )
