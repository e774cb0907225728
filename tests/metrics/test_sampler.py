"""ProcessSampler against real processes: children that allocate, burn CPU, spawn and exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import psutil
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from readiness.metrics.sampler import ProcessSampler
from tests.servers import kill_tree

MB = 1 << 20

ALLOCATE_ON_GO = """
import sys
sys.stdin.readline()
block = b"x" * (64 << 20)
print("allocated", flush=True)
sys.stdin.readline()
"""

BURN_ON_GO = """
import sys, time
sys.stdin.readline()
end = time.process_time() + 0.35  # /proc counts in 10 ms ticks
while time.process_time() < end:
    pass
print("burnt", flush=True)
sys.stdin.readline()
"""

GRANDCHILD = (
    "import sys; block = b'x' * (64 << 20); print('allocated', flush=True); sys.stdin.readline()"
)
PARENT_OF_ALLOCATING_CHILD = f"""
import subprocess, sys
sys.exit(subprocess.Popen([sys.executable, "-c", {GRANDCHILD!r}]).wait())
"""

WAIT_FOR_A_LINE = "import sys; sys.stdin.readline()"


@asynccontextmanager
async def python_child(code: str) -> AsyncIterator[tuple[Process, BufferedByteReceiveStream]]:
    async with await anyio.open_process(
        [sys.executable, "-c", code], stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        try:
            yield proc, BufferedByteReceiveStream(proc.stdout)
        finally:
            kill_tree(proc.pid)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a condition the sampler does not signal, within a bound."""
    with anyio.fail_after(20):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_rss_of_a_child_grows_when_it_allocates_memory() -> None:
    async with python_child(ALLOCATE_ON_GO) as (proc, stdout):
        sampler = ProcessSampler(proc.pid, interval=0.05)
        async with anyio.create_task_group() as tg:
            await tg.start(sampler.run)  # the first sample is taken before the allocation
            first = sampler.samples[0]
            assert proc.stdin is not None
            await proc.stdin.send(b"go\n")
            with anyio.fail_after(20):
                assert await stdout.receive_until(b"\n", 100) == b"allocated"
            await wait_until(lambda: sampler.samples[-1].rss_bytes >= first.rss_bytes + 60 * MB)
            sampler.stop()

    summary = sampler.summary()
    assert summary is not None
    assert summary.rss_peak_bytes - summary.rss_initial_bytes >= 60 * MB
    assert summary.rss_final_bytes >= first.rss_bytes + 60 * MB
    assert not summary.exited


@pytest.mark.anyio
async def test_the_tree_includes_grandchildren_and_counts_them() -> None:
    async with python_child(PARENT_OF_ALLOCATING_CHILD) as (proc, stdout):
        sampler = ProcessSampler(proc.pid, interval=0.05)
        async with anyio.create_task_group() as tg:
            await tg.start(sampler.run)
            with anyio.fail_after(20):
                assert await stdout.receive_until(b"\n", 100) == b"allocated"
            await wait_until(lambda: sampler.samples[-1].children == 1)
            sampler.stop()

    last = sampler.samples[-1]
    assert last.children == 1
    assert last.rss_bytes >= 64 * MB  # the grandchild's block, plus two interpreters
    assert last.threads >= 2


@pytest.mark.anyio
async def test_cpu_seconds_and_percent_follow_a_busy_child() -> None:
    async with python_child(BURN_ON_GO) as (proc, stdout):
        sampler = ProcessSampler(proc.pid, interval=0.05)
        async with anyio.create_task_group() as tg:
            await tg.start(sampler.run)
            first = sampler.samples[0]
            assert proc.stdin is not None
            await proc.stdin.send(b"go\n")
            with anyio.fail_after(20):
                assert await stdout.receive_until(b"\n", 100) == b"burnt"
            await wait_until(lambda: sampler.samples[-1].cpu_s >= first.cpu_s + 0.3)
            sampler.stop()

    samples = sampler.samples
    assert [s.cpu_s for s in samples] == sorted(s.cpu_s for s in samples)
    summary = sampler.summary()
    assert summary is not None
    assert summary.cpu_s >= 0.3
    assert summary.cpu_percent_max > 0
    assert summary.cpu_percent_mean > 0


@pytest.mark.anyio
async def test_a_child_that_exits_mid_sampling_ends_as_exited() -> None:
    async with python_child(WAIT_FOR_A_LINE) as (proc, _):
        sampler = ProcessSampler(proc.pid, interval=0.02)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                await tg.start(sampler.run)
                assert proc.stdin is not None
                await proc.stdin.send(b"\n")
            # the task group only ends because the sampler saw the exit and returned

    samples = sampler.samples
    assert not samples[0].exited
    assert samples[-1].exited
    assert not any(s.exited for s in samples[:-1])
    assert samples[-1].rss_bytes == 0
    assert samples[-1].cpu_s >= samples[-2].cpu_s
    summary = sampler.summary()
    assert summary is not None
    assert summary.exited
    assert summary.samples == len(samples) - 1


@pytest.mark.anyio
async def test_a_child_that_exited_but_was_not_reaped_counts_as_exited() -> None:
    # Not anyio.open_process: its child watcher would reap the child; this needs a zombie.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-c", WAIT_FOR_A_LINE], stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    try:
        sampler = ProcessSampler(proc.pid, interval=0.02)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                await tg.start(sampler.run)
                proc.stdin.write(b"\n")
                proc.stdin.flush()
        assert psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE  # not reaped yet
        assert sampler.exited
    finally:
        proc.stdin.close()
        kill_tree(proc.pid)
        proc.wait(timeout=10)


@pytest.mark.anyio
async def test_a_pid_that_is_gone_is_recorded_as_exited_at_once() -> None:
    with anyio.fail_after(20):
        async with await anyio.open_process([sys.executable, "-c", "pass"]) as gone:
            await gone.wait()
        sampler = ProcessSampler(gone.pid)
        async with anyio.create_task_group() as tg:
            await tg.start(sampler.run)
    assert [s.exited for s in sampler.samples] == [True]
    assert sampler.summary() is None


@pytest.mark.anyio
async def test_sampling_our_own_process() -> None:
    sampler = ProcessSampler(os.getpid(), interval=0.01, include_children=False)
    async with anyio.create_task_group() as tg:
        await tg.start(sampler.run)
        await wait_until(lambda: len(sampler.samples) >= 3)
        sampler.stop()

    samples = sampler.samples
    assert all(not s.exited and s.children == 0 for s in samples)
    assert all(s.rss_bytes > 10 * MB and s.threads >= 1 for s in samples)
    if sys.platform == "linux":
        assert all(s.fds is not None and s.fds >= 3 for s in samples)
    assert [s.t_s for s in samples] == sorted(s.t_s for s in samples)
    assert "running" not in repr(sampler)
    summary = sampler.summary()
    assert summary is not None
    assert summary.samples == len(samples)
    assert summary.rss_initial_bytes <= summary.rss_peak_bytes


@pytest.mark.anyio
async def test_stop_before_run_takes_one_sample() -> None:
    sampler = ProcessSampler(os.getpid(), include_children=False)
    sampler.stop()
    with anyio.fail_after(20):
        await sampler.run()
    assert len(sampler.samples) == 1


@pytest.mark.anyio
async def test_cancelling_the_scope_ends_sampling_and_keeps_the_samples() -> None:
    sampler = ProcessSampler(os.getpid(), interval=0.01, include_children=False)
    async with anyio.create_task_group() as tg:
        await tg.start(sampler.run)
        await wait_until(lambda: len(sampler.samples) >= 2)
        tg.cancel_scope.cancel()
    assert len(sampler.samples) >= 2
    assert "idle" in repr(sampler)


def test_a_sampler_without_samples_has_no_summary() -> None:
    assert ProcessSampler(os.getpid()).summary() is None
    with pytest.raises(ValueError, match="interval"):
        ProcessSampler(os.getpid(), interval=0)
