"""FakeClock: time moves only when told, and sleepers and scopes fire exactly at their deadline."""

from __future__ import annotations

import anyio
import pytest

from readiness.clock import Clock, FakeClock, SystemClock
from tests.resilience.timeline import tick

pytestmark = pytest.mark.anyio


async def test_sleep_parks_until_time_reaches_its_deadline() -> None:
    clock = FakeClock(start=100.0)
    woke_at: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(2.0)
        woke_at.append(clock.monotonic())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper)
            await anyio.wait_all_tasks_blocked()
            assert clock.sleepers == 1
            await tick(clock, 1.5)
            assert woke_at == []
            await tick(clock, 0.5)
            assert woke_at == [102.0]
    assert clock.sleepers == 0


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = FakeClock()
    order: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append(name)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper, "late", 3.0)
            tg.start_soon(sleeper, "early", 1.0)
            await anyio.wait_all_tasks_blocked()
            assert clock.next_deadline == 1.0
            await tick(clock, 1.0)
            assert order == ["early"]
            await tick(clock, 10.0)
    assert order == ["early", "late"]


async def test_move_on_after_cancels_its_scope_when_time_passes_the_deadline() -> None:
    clock = FakeClock()
    scopes: list[anyio.CancelScope] = []

    async def waiter() -> None:
        with clock.move_on_after(5.0) as scope:
            scopes.append(scope)
            await anyio.Event().wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await tick(clock, 4.0)
            assert not scopes[0].cancel_called
            await tick(clock, 1.0)
    assert scopes[0].cancelled_caught


async def test_a_sleep_that_is_cancelled_is_forgotten() -> None:
    clock = FakeClock()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(clock.sleep, 10.0)
            await anyio.wait_all_tasks_blocked()
            assert clock.sleepers == 1
            tg.cancel_scope.cancel()
    assert clock.sleepers == 0
    assert clock.next_deadline is None


async def test_zero_sleep_and_zero_timeout_do_not_wait_for_time() -> None:
    clock = FakeClock()
    with anyio.fail_after(5):
        await clock.sleep(0)
        with clock.move_on_after(0) as scope:
            await anyio.Event().wait()
    assert scope.cancelled_caught
    assert clock.monotonic() == 0.0


def test_fake_time_never_moves_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1.0)


async def test_system_clock_timeout_in_the_past_cancels_at_once() -> None:
    clock: Clock = SystemClock()
    with anyio.fail_after(5), clock.move_on_after(-1.0) as scope:
        await clock.sleep(3600)
    assert scope.cancelled_caught


def test_clocks_describe_themselves() -> None:
    clock = FakeClock(start=3.5)
    assert repr(clock) == "<FakeClock now=3.5 sleepers=0>"
    assert repr(SystemClock()) == "<SystemClock>"


async def test_advance_to_lands_exactly_on_a_deadline() -> None:
    clock = FakeClock(start=0.1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(clock.sleep, 0.2)
            await anyio.wait_all_tasks_blocked()
            deadline = clock.next_deadline
            assert deadline is not None
            clock.advance_to(deadline)
            assert clock.monotonic() == deadline
            assert clock.sleepers == 0
    with pytest.raises(ValueError, match="forward"):
        clock.advance_to(0.0)
