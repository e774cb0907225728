"""Sessions shared through a SessionPool: the keeper that opens and closes them (each in a
task of its own), and the engine's Requester over the pool — each request borrows a session
for its send, and a session that met a transport error is recycled instead of lent again."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.abc

from readiness.clock import Clock, SystemClock
from readiness.errors import TargetError, unwrapped_groups
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

# Closing a stdio session may wait out the server's exit, SIGTERM and SIGKILL in turn.
CLOSE_TIMEOUT_S = 12.0


class Channel(Sender, Protocol):
    """An open session the pool can lend: it answers requests and can be closed."""

    async def aclose(self) -> None: ...


# Opens session number N; yields it with its server's pid (None: not known) until exit.
Connector = Callable[[int], AbstractAsyncContextManager[tuple[Channel, int | None]]]


class PooledConnection:
    """One session of the pool. Sessions after the first are held open by a task of their own."""

    __slots__ = ("closed", "conn", "kept", "number", "pid", "released", "uses")

    def __init__(self, conn: Channel, pid: int | None, number: int, *, kept: bool) -> None:
        self.conn = conn
        self.pid = pid
        self.number = number
        self.uses = 0
        self.kept = kept  # False: the first session, whose opener closes it too
        self.released = anyio.Event()  # set to make its task close it
        self.closed = anyio.Event()

    def __repr__(self) -> str:
        return f"<PooledConnection #{self.number} pid={self.pid} uses={self.uses}>"


class SessionKeeper:
    """Opens and closes the pool's sessions. A connection's task group must be entered and
    left by one task, while the pool opens and closes sessions from whichever request asks,
    so each session lives in a task of the keeper's task group."""

    def __init__(
        self, tg: anyio.abc.TaskGroup, first: Channel, first_pid: int | None, connect: Connector
    ) -> None:
        self._tg = tg
        self._connect = connect
        # The session already open (it carried the handshake) is the pool's first.
        anchor = PooledConnection(first, first_pid, 1, kept=False)
        anchor.uses = 1
        self._first: PooledConnection | None = anchor
        self._opened = 1
        self._live: list[PooledConnection] = []

    async def open(self) -> PooledConnection:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        self._opened += 1
        session: PooledConnection = await self._tg.start(self._keep, self._opened)
        return session

    async def close(self, session: PooledConnection) -> None:
        if not session.kept:
            await session.conn.aclose()  # idempotent: its opener closes it again, harmlessly
            return
        session.released.set()
        await session.closed.wait()

    def release_all(self) -> None:
        """Let every session's task close it now, all at once rather than one by one."""
        for session in self._live:
            session.released.set()

    async def _keep(
        self, number: int, *, task_status: anyio.abc.TaskStatus[PooledConnection]
    ) -> None:
        session: PooledConnection | None = None
        try:
            async with self._connect(number) as (conn, pid):
                session = PooledConnection(conn, pid, number, kept=True)
                self._live.append(session)
                task_status.started(session)
                await session.released.wait()
        finally:
            if session is not None:
                self._live.remove(session)
                session.closed.set()


@asynccontextmanager
async def open_session_pool(
    first: Channel,
    first_pid: int | None,
    connect: Connector,
    *,
    size: int,
    wait_timeout: float | None,
    idle_timeout: float | None = None,
) -> AsyncIterator[SessionPool[PooledConnection]]:
    """A pool of up to `size` sessions, `first` among them and the others opened by
    `connect`. Every session it opened is closed on exit, whatever happened."""
    # The keepers' tasks never raise once started, so a group wraps only what the body raised.
    with unwrapped_groups():
        async with anyio.create_task_group() as tg:
            keeper = SessionKeeper(tg, first, first_pid, connect)
            pool = SessionPool(
                keeper.open,
                keeper.close,
                max_size=size,
                acquire_timeout=wait_timeout,
                idle_timeout=idle_timeout,
                close_timeout=CLOSE_TIMEOUT_S,
            )
            try:
                yield pool
            finally:
                keeper.release_all()
                await pool.aclose()  # each close is shielded, so this finishes when cancelled
                tg.cancel_scope.cancel()  # a session still opening: its opener closes it


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
