"""Groups items into batches by size or by a time window and flushes each batch in one call.

For stdio this makes one pipe write out of many frames: fewer system calls under load, at the
cost of at most `max_delay` extra latency for the first item of a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from readiness.clock import Clock, SystemClock
from readiness.errors import ReadinessError

T = TypeVar("T")


class BatcherClosed(ReadinessError):
    """The batcher was closed; it takes no more items."""


@dataclass(frozen=True, slots=True)
class BatcherStatistics:
    batches: int
    items: int
    mean_batch_size: float  # 0.0 before the first batch
    max_batch_size: int
    by_size: int  # batches flushed because they reached max_size
    by_time: int  # batches flushed because their first item had waited max_delay
    by_close: int  # the remainder flushed by close()
    pending: int  # items waiting for the next flush


class Batcher(Generic[T]):
    """Collects submitted items and hands them to `flush` in batches of up to `max_size`.

    A batch is flushed when it is full, or `max_delay` seconds after its first item arrived,
    whichever comes first. Start it with `await tg.start(batcher.run)`; `close()` flushes what
    is pending and ends `run`. While a flush is in progress the next batch fills, and
    `submit` waits once it is full, so memory stays bounded when `flush` is slow.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        max_size: int,
        max_delay: float,
        clock: Clock | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        if max_delay < 0:
            raise ValueError(f"max_delay must be >= 0, got {max_delay}")
        self._flush = flush
        self._max_size = max_size
        self._max_delay = max_delay
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._batch: list[T] = []
        self._opened_at = 0.0  # when the pending batch's first item arrived
        self._wake = anyio.Event()  # first item arrived, batch full, or closing
        self._space = anyio.Event()  # a full batch was taken
        self._closed = False
        self._batches = 0
        self._items = 0
        self._max_batch = 0
        self._by_size = 0
        self._by_time = 0
        self._by_close = 0

    async def submit(self, item: T) -> None:
        """Add an item to the next batch; waits only while that batch is full."""
        while len(self._batch) >= self._max_size and not self._closed:
            await self._space.wait()
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        self._batch.append(item)
        if len(self._batch) == 1:
            self._opened_at = self._clock.monotonic()
            self._wake.set()
        if len(self._batch) >= self._max_size:
            self._wake.set()

    def close(self) -> None:
        """Take no more items; `run` flushes what is pending, then returns."""
        self._closed = True
        self._wake.set()
        self._space.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Flush batches until `close()`; an error from `flush` ends it (and its task group)."""
        task_status.started()
        while True:
            self._wake = anyio.Event()
            if not self._batch:
                if self._closed:
                    return
                await self._wake.wait()
                continue
            if self._closed:
                await self._take_and_flush("close")
                continue
            if len(self._batch) < self._max_size:
                remaining = self._opened_at + self._max_delay - self._clock.monotonic()
                with self._clock.move_on_after(remaining) as window:
                    await self._wake.wait()
                if not window.cancelled_caught:
                    continue  # woken by a full batch or close(): look again
            await self._take_and_flush("size" if len(self._batch) >= self._max_size else "time")

    async def _take_and_flush(self, reason: str) -> None:
        items, self._batch = self._batch, []
        self._space.set()
        self._space = anyio.Event()
        self._batches += 1
        self._items += len(items)
        self._max_batch = max(self._max_batch, len(items))
        if reason == "size":
            self._by_size += 1
        elif reason == "time":
            self._by_time += 1
        else:
            self._by_close += 1
        await self._flush(items)

    def statistics(self) -> BatcherStatistics:
        return BatcherStatistics(
            batches=self._batches,
            items=self._items,
            mean_batch_size=self._items / self._batches if self._batches else 0.0,
            max_batch_size=self._max_batch,
            by_size=self._by_size,
            by_time=self._by_time,
            by_close=self._by_close,
            pending=len(self._batch),
        )

    def __repr__(self) -> str:
        mean = self._items / self._batches if self._batches else 0.0
        state = " closed" if self._closed else ""
        return (
            f"<Batcher{state} pending={len(self._batch)}/{self._max_size} "
            f"batches={self._batches} mean_size={mean:.1f} max_delay={self._max_delay:g}s>"
        )
