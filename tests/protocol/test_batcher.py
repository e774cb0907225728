"""Batcher: a batch goes out when full or when its first item has waited the window."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.protocol.batcher import Batcher, BatcherClosed
from tests.resilience.timeline import run_until, settle, tick

pytestmark = pytest.mark.anyio


class Sink:
    """Where flushed batches land, with the fake time of each flush."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.batches: list[list[str]] = []
        self.times: list[float] = []
        self.gate: anyio.Event | None = None  # when set, a flush waits for it

    async def flush(self, items: list[str]) -> None:
        self.batches.append(items)
        self.times.append(self.clock.monotonic())
        if self.gate is not None:
            await self.gate.wait()


async def test_a_full_batch_is_flushed_at_once() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    batcher = Batcher(sink.flush, max_size=3, max_delay=10.0, clock=clock)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            for item in "abcd":
                await batcher.submit(item)
            await settle()
            assert sink.batches == [["a", "b", "c"]]
            batcher.close()
    assert sink.batches == [["a", "b", "c"], ["d"]]
    stats = batcher.statistics()
    assert (stats.batches, stats.by_size, stats.by_time, stats.by_close) == (2, 1, 0, 1)


async def test_a_partial_batch_is_flushed_when_its_window_closes() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    batcher = Batcher(sink.flush, max_size=10, max_delay=0.5, clock=clock)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            await batcher.submit("a")
            await tick(clock, 0.25)
            await batcher.submit("b")
            await tick(clock, 0.125)
            assert sink.batches == []
            await tick(clock, 0.125)  # 0.5 s after "a", not after "b"
            assert sink.batches == [["a", "b"]]
            assert sink.times == [0.5]
            await tick(clock, 10.0)
            assert len(sink.batches) == 1  # nothing pending: no empty flushes
            batcher.close()
    stats = batcher.statistics()
    assert (stats.by_time, stats.items, stats.pending) == (1, 2, 0)


async def test_submit_waits_while_the_next_batch_is_full_and_a_flush_is_slow() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    sink.gate = anyio.Event()
    batcher = Batcher(sink.flush, max_size=2, max_delay=1.0, clock=clock)
    submitted: list[str] = []

    async def submit_all() -> None:
        for item in "abcde":
            await batcher.submit(item)
            submitted.append(item)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            tg.start_soon(submit_all)
            await settle()
            # "a b" is being flushed, "c d" fills the next batch, "e" must wait
            assert sink.batches == [["a", "b"]]
            assert submitted == ["a", "b", "c", "d"]
            assert batcher.statistics().pending == 2
            sink.gate.set()
            await settle()
            assert submitted == list("abcde")
            batcher.close()
    assert sink.batches == [["a", "b"], ["c", "d"], ["e"]]


async def test_close_flushes_what_is_pending_and_refuses_more() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    batcher = Batcher(sink.flush, max_size=10, max_delay=60.0, clock=clock)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            await batcher.submit("a")
            batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit("b")
    assert sink.batches == [["a"]]
    assert clock.monotonic() == 0.0


async def test_an_error_from_flush_ends_run() -> None:
    async def broken(items: list[str]) -> None:
        raise BrokenPipeError("the server's stdin closed")

    batcher = Batcher(broken, max_size=1, max_delay=1.0, clock=FakeClock())
    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as raised:  # noqa: PT012
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            await batcher.submit("a")
    assert raised.group_contains(BrokenPipeError)


async def test_statistics_and_repr_describe_the_batches() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    batcher = Batcher(sink.flush, max_size=4, max_delay=1.0, clock=clock)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            for item in "abcdef":
                await batcher.submit(item)
            await tick(clock, 1.0)
            assert repr(batcher) == ("<Batcher pending=0/4 batches=2 mean_size=3.0 max_delay=1s>")
            batcher.close()
    stats = batcher.statistics()
    assert (stats.mean_batch_size, stats.max_batch_size, stats.by_size, stats.by_time) == (
        3.0,
        4,
        1,
        1,
    )


# -- invariants ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    max_size=st.integers(1, 4),
    max_delay=st.sampled_from([0.0, 0.25, 1.0]),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.125, 0.5, 2.0]), min_size=1, max_size=20),
)
def test_every_item_is_flushed_once_in_order_and_no_later_than_its_window(
    max_size: int, max_delay: float, gaps: list[float]
) -> None:
    async def main() -> tuple[Sink, dict[str, float]]:
        clock = FakeClock()
        sink = Sink(clock)
        batcher = Batcher(sink.flush, max_size=max_size, max_delay=max_delay, clock=clock)
        arrived: dict[str, float] = {}
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await tg.start(batcher.run)
                for n, gap in enumerate(gaps):
                    await tick(clock, gap)
                    arrived[str(n)] = clock.monotonic()
                    await batcher.submit(str(n))
                    await settle()  # the flusher runs before time moves on
                await run_until(clock, lambda: batcher.statistics().pending == 0)
                batcher.close()
        return sink, arrived

    sink, arrived = anyio.run(main, backend="asyncio")
    assert [item for batch in sink.batches for item in batch] == list(arrived)
    for batch, flushed_at in zip(sink.batches, sink.times, strict=True):
        assert 1 <= len(batch) <= max_size
        assert flushed_at <= arrived[batch[0]] + max_delay
