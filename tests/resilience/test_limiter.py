"""TokenBucket: a burst at once, then the rate; waiters wait exactly as long as the rate says."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.resilience.errors import RateLimited
from readiness.resilience.limiter import TokenBucket
from tests.resilience.timeline import run_until, tick

# Rates that are powers of two keep fake times exact in binary floating point.
RATES = [0.5, 1.0, 2.0, 4.0, 8.0]


def admitted_now(bucket: TokenBucket, attempts: int) -> int:
    admitted = 0
    for _ in range(attempts):
        try:
            bucket.acquire_nowait()
        except RateLimited:
            continue
        admitted += 1
    return admitted


def test_bucket_admits_a_burst_then_refuses_until_a_token_is_due() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert admitted_now(bucket, 3) == 3
    with pytest.raises(RateLimited) as raised:
        bucket.acquire_nowait()
    assert raised.value.retry_after == 0.5
    clock.advance(0.25)
    assert admitted_now(bucket, 1) == 0
    clock.advance(0.25)
    assert admitted_now(bucket, 2) == 1
    stats = bucket.statistics()
    assert (stats.acquired, stats.rejected, stats.waited) == (4, 3, 0)


def test_tokens_refill_at_the_rate_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=5, clock=clock)
    admitted_now(bucket, 5)
    clock.advance(0.5)
    assert bucket.statistics().tokens == 2.0
    clock.advance(3600.0)
    assert bucket.statistics().tokens == 5.0
    assert admitted_now(bucket, 100) == 5


@pytest.mark.anyio
async def test_acquire_waits_exactly_until_the_next_token_is_due() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    done_at: list[float] = []

    async def acquire() -> None:
        await bucket.acquire()
        done_at.append(clock.monotonic())

    with anyio.fail_after(5):
        await bucket.acquire()  # the burst: no wait
        async with anyio.create_task_group() as tg:
            tg.start_soon(acquire)
            await anyio.wait_all_tasks_blocked()
            assert bucket.statistics().waiting == 1
            await tick(clock, 0.125)
            assert done_at == []
            await tick(clock, 0.125)
            assert done_at == [0.25]
    stats = bucket.statistics()
    assert (stats.acquired, stats.waited, stats.total_wait, stats.max_wait) == (2, 1, 0.25, 0.25)


@pytest.mark.anyio
async def test_waiters_are_admitted_in_arrival_order_one_interval_apart() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    admitted: list[tuple[str, float]] = []

    async def acquire(name: str) -> None:
        await bucket.acquire()
        admitted.append((name, clock.monotonic()))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for name in "abcd":
                tg.start_soon(acquire, name)
                await anyio.wait_all_tasks_blocked()
            await run_until(clock, lambda: len(admitted) == 4)
    assert admitted == [("a", 0.0), ("b", 0.5), ("c", 1.0), ("d", 1.5)]
    assert bucket.statistics().total_wait == 3.0


@pytest.mark.anyio
async def test_acquire_nowait_does_not_jump_ahead_of_a_waiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    with anyio.fail_after(5):
        bucket.acquire_nowait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(bucket.acquire)
            await anyio.wait_all_tasks_blocked()
            clock.advance(0.5)
            with pytest.raises(RateLimited):
                bucket.acquire_nowait()  # half a token is there, but it is the waiter's
            await tick(clock, 0.5)
    assert bucket.statistics().acquired == 2


@pytest.mark.anyio
async def test_a_cancelled_acquire_gives_its_reservation_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    with anyio.fail_after(5):
        await bucket.acquire()
        async with anyio.create_task_group() as tg:
            tg.start_soon(bucket.acquire)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        clock.advance(1.0)
        bucket.acquire_nowait()  # the token the cancelled waiter had reserved
    stats = bucket.statistics()
    assert (stats.acquired, stats.waited, stats.waiting) == (2, 0, 0)


def test_repr_shows_rate_and_tokens() -> None:
    bucket = TokenBucket(rate=10.0, burst=4, clock=FakeClock())
    admitted_now(bucket, 5)
    assert repr(bucket) == "<TokenBucket rate=10/s tokens=0.00/4 waiting=0 acquired=4 rejected=1>"


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_impossible_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate=rate, burst=burst)


# -- invariants ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    burst=st.integers(1, 10),
    steps=st.lists(
        st.tuples(st.sampled_from([0.0, 0.0625, 0.25, 1.0, 3.0]), st.integers(0, 12)),
        max_size=60,
    ),
)
def test_tokens_never_exceed_burst_and_admissions_never_exceed_rate_times_time_plus_burst(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    admitted = 0
    for advance, attempts in steps:
        clock.advance(advance)
        admitted += admitted_now(bucket, attempts)
        assert bucket.statistics().tokens <= burst
        assert admitted <= rate * clock.monotonic() + burst


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    burst=st.integers(1, 4),
    arrivals=st.lists(st.sampled_from([0.0, 0.125, 0.5, 2.0]), min_size=1, max_size=12),
)
def test_waiting_acquirers_are_admitted_no_faster_than_the_rate(
    rate: float, burst: int, arrivals: list[float]
) -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
        admitted: list[float] = []

        async def acquire() -> None:
            await bucket.acquire()
            admitted.append(clock.monotonic())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for gap in arrivals:  # an acquirer arrives after each gap
                    await tick(clock, gap)
                    tg.start_soon(acquire)
                await run_until(clock, lambda: len(admitted) == len(arrivals))
        return admitted

    admitted = anyio.run(main, backend="asyncio")
    assert admitted == sorted(admitted)
    for count, at in enumerate(admitted, start=1):
        assert count <= rate * at + burst
