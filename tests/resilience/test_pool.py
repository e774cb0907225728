"""SessionPool: size cap, LIFO reuse, idle expiry, discard, and a fair queue with a timeout."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.resilience.errors import PoolClosed, PoolTimeout
from readiness.resilience.pool import SessionPool
from tests.resilience.timeline import run_until, tick

pytestmark = pytest.mark.anyio


class Session:
    def __init__(self, number: int) -> None:
        self.number = number
        self.open = True

    def __repr__(self) -> str:
        return f"<Session {self.number}>"


class Sessions:
    """A session factory that knows how many sessions are live (opened and not yet closed)."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[int] = []
        self.live = 0
        self.most_live = 0
        self.refuse = False

    async def open(self) -> Session:
        await anyio.lowlevel.checkpoint()
        if self.refuse:
            raise ConnectionRefusedError("no server")
        self.opened += 1
        self.live += 1
        self.most_live = max(self.most_live, self.live)
        return Session(self.opened)

    async def close(self, session: Session) -> None:
        await anyio.lowlevel.checkpoint()
        assert session.open, f"{session!r} closed twice"
        session.open = False
        self.live -= 1
        self.closed.append(session.number)


def make_pool(
    sessions: Sessions, clock: FakeClock, max_size: int = 2, **options: float | None
) -> SessionPool[Session]:
    return SessionPool(
        sessions.open,
        sessions.close,
        max_size=max_size,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


async def hold(pool: SessionPool[Session], got: list[int], release: anyio.Event) -> None:
    async with pool.acquire() as session:
        got.append(session.number)
        await release.wait()


async def test_a_returned_session_is_reused() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock)
    with anyio.fail_after(5):
        async with pool.acquire() as first:
            pass
        async with pool.acquire() as second:
            assert second is first
    stats = pool.statistics()
    assert (stats.created, stats.reused, stats.in_use, stats.idle) == (1, 1, 0, 1)


async def test_the_most_recently_returned_session_is_reused_first() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock)
    with anyio.fail_after(5):
        async with pool.acquire() as one, pool.acquire() as two:
            assert (one.number, two.number) == (1, 2)
        # `two` went back last (inner block), so it comes out first
        async with pool.acquire() as again:
            assert again.number == 1


async def test_the_pool_never_opens_more_than_max_size_and_later_callers_wait() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=2)
    got: list[int] = []
    release = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(hold, pool, got, release)
            await anyio.wait_all_tasks_blocked()
            assert sorted(got) == [1, 2]
            assert pool.statistics().waiting == 3
            assert repr(pool) == ("<SessionPool [Sessions: 2 in use, 0 idle, max 2 | Waiters: 3]>")
            release.set()
    assert sessions.most_live == 2
    stats = pool.statistics()
    assert (stats.created, stats.reused, stats.waiting, stats.idle) == (2, 3, 0, 2)


async def test_waiters_are_served_in_arrival_order() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    order: list[str] = []

    async def waiter(name: str) -> None:
        async with pool.acquire():
            order.append(name)
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg, pool.acquire():
            for name in ["first", "second", "third", "fourth"]:
                tg.start_soon(waiter, name)
                await anyio.wait_all_tasks_blocked()
    assert order == ["first", "second", "third", "fourth"]


async def test_a_waiter_gives_up_with_pool_timeout_after_the_acquire_timeout() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1, acquire_timeout=5.0)
    failures: list[PoolTimeout] = []

    async def waiter() -> None:
        try:
            async with pool.acquire():
                pass
        except PoolTimeout as exc:
            failures.append(exc)

    with anyio.fail_after(5):
        async with pool.acquire(), anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await tick(clock, 4.5)
            assert failures == []
            await tick(clock, 0.5)
            assert len(failures) == 1
    assert failures[0].timeout == 5.0
    stats = pool.statistics()
    assert (stats.timeouts, stats.waiting, stats.created) == (1, 0, 1)


async def test_the_acquire_wait_is_recorded_in_microseconds() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    got: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with pool.acquire():
                tg.start_soon(hold, pool, got, anyio.Event())
                await anyio.wait_all_tasks_blocked()
                await tick(clock, 2.5)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    waits = pool.statistics().acquire_wait
    assert waits.count == 2
    assert (waits.min_us, waits.max_us) == (0, 2_500_000)


async def test_an_idle_session_past_the_idle_timeout_is_closed_on_the_next_acquire() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, idle_timeout=30.0)
    with anyio.fail_after(5):
        async with pool.acquire():
            pass
        clock.advance(29.5)
        async with pool.acquire() as session:
            assert session.number == 1  # still fresh
        clock.advance(30.0)
        assert sessions.closed == []  # only checked on acquire
        async with pool.acquire() as session:
            assert session.number == 2
    assert sessions.closed == [1]
    stats = pool.statistics()
    assert (stats.expired, stats.closed, stats.created) == (1, 1, 2)


async def test_discard_closes_the_session_and_its_slot_goes_to_the_next_waiter() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    got: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            release = anyio.Event()
            async with pool.acquire() as broken:
                tg.start_soon(hold, pool, got, release)
                await anyio.wait_all_tasks_blocked()
                await pool.discard(broken)  # a transport error on it
            await anyio.wait_all_tasks_blocked()
            assert got == [2]
            release.set()
    assert sessions.closed == [1]
    assert sessions.most_live == 1
    stats = pool.statistics()
    assert (stats.discarded, stats.created, stats.in_use, stats.idle) == (1, 2, 0, 1)


async def test_a_session_that_failed_to_open_frees_its_slot() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    sessions.refuse = True
    with anyio.fail_after(5):
        with pytest.raises(ConnectionRefusedError):
            async with pool.acquire():
                pass
        sessions.refuse = False
        async with pool.acquire() as session:
            assert session.number == 1


async def test_a_cancelled_waiter_leaves_the_queue_and_passes_on_its_turn() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    got: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with pool.acquire():
                async with anyio.create_task_group() as doomed:
                    doomed.start_soon(hold, pool, got, anyio.Event())
                    await anyio.wait_all_tasks_blocked()
                    doomed.cancel_scope.cancel()
                assert pool.statistics().waiting == 0
                release = anyio.Event()
                tg.start_soon(hold, pool, got, release)
                await anyio.wait_all_tasks_blocked()
            await anyio.wait_all_tasks_blocked()
            assert got == [1]
            release.set()


async def test_closing_the_pool_closes_idle_sessions_now_and_lent_ones_on_return() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=2)
    with anyio.fail_after(5):
        async with pool.acquire():
            async with pool.acquire():
                pass  # goes idle
            await pool.aclose()
            assert sessions.closed == [2]
            assert repr(pool) == (
                "<SessionPool closed [Sessions: 1 in use, 0 idle, max 2 | Waiters: 0]>"
            )
        assert sessions.closed == [2, 1]
        with pytest.raises(PoolClosed):
            async with pool.acquire():
                pass
    assert pool.statistics().closed == 2


async def test_closing_the_pool_fails_queued_acquires() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock, max_size=1)
    failures: list[Exception] = []

    async def waiter() -> None:
        try:
            async with pool.acquire():
                pass
        except PoolClosed as exc:
            failures.append(exc)

    with anyio.fail_after(5):
        async with pool.acquire(), anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await pool.aclose()
    assert len(failures) == 1
    assert sessions.live == 0


async def test_discarding_a_session_the_pool_did_not_lend_is_an_error() -> None:
    sessions, clock = Sessions(), FakeClock()
    pool = make_pool(sessions, clock)
    with pytest.raises(ValueError, match="not lent out"):
        await pool.discard(Session(99))


# -- invariants ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    max_size=st.integers(1, 3),
    idle_timeout=st.sampled_from([None, 1.0, 4.0]),
    acquire_timeout=st.sampled_from([None, 0.5, 3.0]),
    workers=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.25, 1.0]),  # arrives after
            st.sampled_from([0.0, 0.5, 2.0, 5.0]),  # holds for
            st.booleans(),  # discards it afterwards
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_the_pool_never_exceeds_its_size_and_every_acquire_ends(
    max_size: int,
    idle_timeout: float | None,
    acquire_timeout: float | None,
    workers: list[tuple[float, float, bool]],
) -> None:
    async def main() -> tuple[Sessions, SessionPool[Session], int, int]:
        sessions, clock = Sessions(), FakeClock()
        pool = make_pool(
            sessions,
            clock,
            max_size=max_size,
            idle_timeout=idle_timeout,
            acquire_timeout=acquire_timeout,
        )
        served, timed_out = 0, 0

        async def worker(arrive: float, hold_for: float, discard: bool) -> None:
            nonlocal served, timed_out
            await clock.sleep(arrive)
            try:
                async with pool.acquire() as session:
                    assert session.open
                    assert sessions.live <= max_size
                    await clock.sleep(hold_for)
                    if discard:
                        await pool.discard(session)
            except PoolTimeout:
                timed_out += 1
                return
            served += 1

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for worker_plan in workers:
                    tg.start_soon(worker, *worker_plan)
                await run_until(clock, lambda: served + timed_out == len(workers))
            await pool.aclose()
        return sessions, pool, served, timed_out

    sessions, pool, served, timed_out = anyio.run(main, backend="asyncio")
    stats = pool.statistics()
    assert sessions.most_live <= max_size
    assert sessions.live == 0
    assert stats.created == sessions.opened == len(sessions.closed)
    assert stats.created + stats.reused == served
    assert stats.timeouts == timed_out
    if acquire_timeout is None:
        assert timed_out == 0
