"""Moving a FakeClock in tests: advance, then let every woken task run until all block again."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.lowlevel

from readiness.clock import FakeClock

# anyio's wait_all_tasks_blocked polls every 0.1 s (real time) while any task is runnable.
# A wake-up often starts a short chain (a release wakes a waiter, which wakes another), so a
# few bare scheduler passes first let the chain finish and keep the tests fast.
_PASSES = 20


async def settle() -> None:
    """Return once every other task is blocked."""
    for _ in range(_PASSES):
        await anyio.lowlevel.checkpoint()
    await anyio.wait_all_tasks_blocked()


async def tick(clock: FakeClock, seconds: float) -> None:
    """Advance fake time by `seconds` as real time would pass: stopping at every deadline on
    the way to let what it wakes run, and settling at the end."""
    target = clock.monotonic() + seconds
    while (deadline := clock.next_deadline) is not None and deadline < target:
        clock.advance_to(deadline)
        await settle()
    clock.advance_to(target)
    await settle()


async def run_until(clock: FakeClock, done: Callable[[], bool], *, steps: int = 10_000) -> None:
    """Jump fake time from one pending deadline to the next until `done()` holds."""
    for _ in range(steps):
        await settle()
        if done():
            return
        deadline = clock.next_deadline
        assert deadline is not None, "stuck: tasks wait for something time cannot bring"
        clock.advance_to(max(deadline, clock.monotonic()))
    raise AssertionError(f"not done after {steps} deadlines")
