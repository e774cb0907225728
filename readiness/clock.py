"""The clock time-based code reads and waits on (resilience primitives, the stdio batcher),
injected so time logic is testable.

`SystemClock` is the real one; `FakeClock` is the test fake at this boundary: time stands still
until a test moves it, and sleepers and timeouts fire exactly when it passes their deadline.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import anyio
import anyio.lowlevel


class Clock(Protocol):
    """Monotonic seconds, and the two ways of waiting on them the primitives need."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def move_on_after(self, seconds: float) -> AbstractContextManager[anyio.CancelScope]:
        """A cancel scope cancelled once `seconds` have passed (anyio's `move_on_after`)."""
        ...


class SystemClock:
    """Real time: `time.monotonic`, `anyio.sleep` and `anyio.move_on_after`."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def move_on_after(self, seconds: float) -> AbstractContextManager[anyio.CancelScope]:
        return anyio.move_on_after(seconds)

    def __repr__(self) -> str:
        return "<SystemClock>"


class _Timer:
    __slots__ = ("active", "deadline", "fire", "seq")

    def __init__(self, deadline: float, seq: int, fire: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.fire = fire
        self.active = True

    def __lt__(self, other: _Timer) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class FakeClock:
    """A clock that moves only when `advance()` is called — the stand-in for time in tests.

    Sleepers park on an event until time reaches their deadline; a `move_on_after` scope is
    cancelled then. `advance()` only wakes them: they run when the caller next yields, so a
    test follows it with `await anyio.wait_all_tasks_blocked()` before looking.
    """

    __slots__ = ("_active", "_now", "_seq", "_timers")

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_Timer] = []
        self._seq = 0
        self._active = 0

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        woken = anyio.Event()
        timer = self._schedule(seconds, woken.set)
        try:
            await woken.wait()
        finally:
            self._cancel(timer)

    @contextmanager
    def _move_on_after(self, seconds: float) -> Iterator[anyio.CancelScope]:
        scope = anyio.CancelScope()
        if seconds <= 0:
            scope.cancel()
            timer = None
        else:
            timer = self._schedule(seconds, scope.cancel)
        try:
            with scope:
                yield scope
        finally:
            if timer is not None:
                self._cancel(timer)

    def move_on_after(self, seconds: float) -> AbstractContextManager[anyio.CancelScope]:
        return self._move_on_after(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper and scope whose deadline it reaches."""
        if seconds < 0:
            raise ValueError(f"time only moves forward, got {seconds}")
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to exactly `when` (say, a `next_deadline`); never backwards."""
        if when < self._now:
            raise ValueError(f"time only moves forward: {when} is before {self._now}")
        self._now = when
        while self._timers and self._timers[0].deadline <= when:
            timer = heapq.heappop(self._timers)
            if timer.active:
                timer.active = False
                self._active -= 1
                timer.fire()

    @property
    def next_deadline(self) -> float | None:
        """When the earliest pending sleeper or scope fires; None when nothing waits."""
        while self._timers and not self._timers[0].active:
            heapq.heappop(self._timers)
        return self._timers[0].deadline if self._timers else None

    @property
    def sleepers(self) -> int:
        """How many sleeps and scopes are waiting for time to pass."""
        return self._active

    def _schedule(self, seconds: float, fire: Callable[[], None]) -> _Timer:
        self._seq += 1
        timer = _Timer(self._now + seconds, self._seq, fire)
        heapq.heappush(self._timers, timer)
        self._active += 1
        return timer

    def _cancel(self, timer: _Timer) -> None:
        if timer.active:
            timer.active = False
            self._active -= 1

    def __repr__(self) -> str:
        return f"<FakeClock now={self._now:g} sleepers={self._active}>"
