"""A pool of sessions (or any resource with async open and close) with a size cap and a queue.

Idle sessions are reused last-in first-out, so the pool works from as few sessions as it can
and the rest age past the idle timeout; callers that find it full queue first-in first-out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from readiness.clock import Clock, SystemClock
from readiness.metrics.histogram import LatencyHistogram
from readiness.resilience.errors import PoolClosed, PoolTimeout

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    max_size: int
    created: int
    reused: int  # acquires served by an idle or just-released session
    closed: int  # sessions closed, for any reason
    discarded: int  # sessions recycled by `discard` (after a transport error)
    expired: int  # idle sessions closed for passing the idle timeout
    timeouts: int  # acquires that raised PoolTimeout
    in_use: int
    idle: int
    waiting: int
    acquire_wait: LatencyHistogram  # µs from acquire() to holding a session, opening included


class _Waiter(Generic[T]):
    """A queued acquire. Granted either a session handed over, or a free slot to open one."""

    __slots__ = ("event", "granted", "resource")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        self.resource: list[T] = []  # the handed-over session, if any


class SessionPool(Generic[T]):
    """Up to `max_size` sessions made by `open` and ended by `close`.

    `async with pool.acquire() as session:` lends one — idle, new, or after queueing at most
    `acquire_timeout` seconds (then `PoolTimeout`). After a transport error, `await
    pool.discard(session)` closes it and frees its slot instead of returning it. Idle sessions
    older than `idle_timeout` are closed when the next acquire comes. `close` must not raise
    for a session that is already broken; it runs shielded for at most `close_timeout` s.
    """

    def __init__(
        self,
        open: Callable[[], Awaitable[T]],
        close: Callable[[T], Awaitable[None]],
        *,
        max_size: int,
        idle_timeout: float | None = None,
        acquire_timeout: float | None = 10.0,
        close_timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        self._open = open
        self._close = close
        self._max_size = max_size
        self._idle_timeout = idle_timeout
        self._acquire_timeout = acquire_timeout
        self._close_timeout = close_timeout
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._size = 0  # sessions open, opening or closing: the cap applies to these
        self._idle: deque[tuple[T, float]] = deque()  # (session, idle since); newest on the right
        self._in_use: dict[int, T] = {}  # by id(): sessions need not be hashable
        self._waiters: deque[_Waiter[T]] = deque()
        self._closed = False
        self._created = 0
        self._reused = 0
        self._closed_count = 0
        self._discarded = 0
        self._expired = 0
        self._timeouts = 0
        self._wait_us = LatencyHistogram()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[T]:
        """Lend a session for the block; it returns to the pool unless it was discarded."""
        resource = await self._checkout()
        try:
            yield resource
        finally:
            if id(resource) in self._in_use:
                await self._checkin(resource)

    async def discard(self, resource: T) -> None:
        """Close a lent session that is no longer usable and free its slot."""
        if self._in_use.pop(id(resource), None) is None:
            raise ValueError(f"{resource!r} is not lent out by this pool")
        self._discarded += 1
        await self._close_one(resource)

    async def aclose(self) -> None:
        """Close idle sessions, fail queued acquires, and close lent ones when they return."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.event.set()  # ungranted: it raises PoolClosed
        while self._idle:
            resource, _ = self._idle.pop()
            await self._close_one(resource)

    async def __aenter__(self) -> SessionPool[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- lending and returning ---------------------------------------------------------------

    async def _checkout(self) -> T:
        if self._closed:
            raise PoolClosed("the session pool is closed")
        started = self._clock.monotonic()
        await self._expire_idle(started)
        if self._idle and not self._waiters:
            resource, _ = self._idle.pop()
            self._reused += 1
        elif self._size < self._max_size and not self._waiters:
            self._size += 1
            resource = await self._open_one()
        else:
            resource = await self._wait_turn()
        self._in_use[id(resource)] = resource
        self._wait_us.record(round((self._clock.monotonic() - started) * 1e6))
        return resource

    async def _wait_turn(self) -> T:
        waiter: _Waiter[T] = _Waiter()
        self._waiters.append(waiter)
        timeout = self._acquire_timeout
        try:
            if timeout is None:
                await waiter.event.wait()
            else:
                with self._clock.move_on_after(timeout):
                    await waiter.event.wait()
        except BaseException:
            await self._withdraw(waiter)
            raise
        if self._closed or not waiter.granted:
            await self._withdraw(waiter)
            if self._closed:
                raise PoolClosed("the session pool closed while waiting")
            self._timeouts += 1
            raise PoolTimeout(
                f"no session free within {timeout:g}s "
                f"({self._max_size} in use, {len(self._waiters)} waiting)",
                timeout=timeout or 0.0,
            )
        if waiter.resource:
            self._reused += 1
            return waiter.resource[0]
        return await self._open_one()  # granted a slot freed by a closed session

    async def _withdraw(self, waiter: _Waiter[T]) -> None:
        """Take a waiter that will not use its turn out of line, passing on any grant."""
        if not waiter.granted:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        elif not waiter.resource:
            if self._closed:
                self._size -= 1
            else:
                self._free_slot()
        elif self._closed:
            await self._close_one(waiter.resource.pop())  # shielded: safe while cancelled
        else:
            self._hand_on(waiter.resource.pop())

    async def _checkin(self, resource: T) -> None:
        del self._in_use[id(resource)]
        if self._closed:
            await self._close_one(resource)
        else:
            self._hand_on(resource)

    def _hand_on(self, resource: T) -> None:
        """A session is free: the longest waiter gets it, else it goes idle."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.granted = True
            waiter.resource.append(resource)
            waiter.event.set()
        else:
            self._idle.append((resource, self._clock.monotonic()))

    def _free_slot(self) -> None:
        """A session is gone: the longest waiter may open a new one in its place."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.granted = True
            waiter.event.set()
        else:
            self._size -= 1

    # -- opening and closing -----------------------------------------------------------------

    async def _open_one(self) -> T:
        """Open a session in a slot already counted in `_size`."""
        try:
            resource = await self._open()
        except BaseException:
            self._free_slot()
            raise
        self._created += 1
        return resource

    async def _close_one(self, resource: T) -> None:
        try:
            with anyio.move_on_after(self._close_timeout, shield=True):
                await self._close(resource)
        finally:
            self._closed_count += 1
            if self._closed:
                self._size -= 1
            else:
                self._free_slot()

    async def _expire_idle(self, now: float) -> None:
        if self._idle_timeout is None:
            return
        while self._idle and now - self._idle[0][1] >= self._idle_timeout:
            resource, _ = self._idle.popleft()
            self._expired += 1
            await self._close_one(resource)

    # -- inspection --------------------------------------------------------------------------

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            max_size=self._max_size,
            created=self._created,
            reused=self._reused,
            closed=self._closed_count,
            discarded=self._discarded,
            expired=self._expired,
            timeouts=self._timeouts,
            in_use=len(self._in_use),
            idle=len(self._idle),
            waiting=len(self._waiters),
            acquire_wait=LatencyHistogram.merged([self._wait_us]),
        )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<SessionPool{state} [Sessions: {len(self._in_use)} in use, {len(self._idle)} idle, "
            f"max {self._max_size} | Waiters: {len(self._waiters)}]>"
        )
