"""LoopLagMonitor: a call that blocks the event loop shows up as lag."""

from __future__ import annotations

import time

import anyio
import pytest

from readiness.metrics.lag import LoopLagMonitor


@pytest.mark.anyio
async def test_a_blocking_call_in_the_loop_shows_up_as_lag() -> None:
    monitor = LoopLagMonitor(period=0.05)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)  # its wake-up is now due within 50 ms
            time.sleep(0.2)  # noqa: ASYNC251 — blocking the loop is what is under test
            monitor.stop()  # the overdue wake-up is still recorded

    stats = monitor.statistics()
    assert stats.samples >= 1
    assert stats.max_ms is not None
    assert stats.p99_ms is not None
    assert stats.max_ms >= 150
    assert stats.p99_ms <= stats.max_ms
    assert monitor.histogram.count == stats.samples
    assert "max=" in repr(monitor)


@pytest.mark.anyio
async def test_stop_ends_the_monitor_at_once() -> None:
    monitor = LoopLagMonitor(period=3600)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            monitor.stop()
    assert monitor.statistics().samples == 0


def test_a_monitor_that_never_ran_has_no_figures() -> None:
    monitor = LoopLagMonitor()
    stats = monitor.statistics()
    assert (stats.samples, stats.max_ms, stats.p99_ms, stats.mean_ms) == (0, None, None, None)
    assert repr(monitor) == "<LoopLagMonitor period=50ms samples=0>"
    with pytest.raises(ValueError, match="period"):
        LoopLagMonitor(period=0)
