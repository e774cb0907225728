"""The coordinated start over loopback: all workers start together, a worker that finished a
scenario without starting its load releases the others, and a laggard fails the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from readiness.distributed.coordinator import Barrier, StartGate


@asynccontextmanager
async def coordinating(barrier: Barrier) -> AsyncIterator[str]:
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0) as listener,
        anyio.create_task_group() as tg,
    ):
        await tg.start(barrier.serve, listener)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        yield f"127.0.0.1:{port}"
        await barrier.close()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_every_worker_starts_once_all_are_ready() -> None:
    started: list[str] = []
    barrier = Barrier(2, on_start=started.append)
    passed: list[int] = []
    with anyio.fail_after(20):
        async with coordinating(barrier) as address:
            gates = [await StartGate.connect(address, i) for i in range(2)]

            async def worker(gate: StartGate) -> None:
                await gate.ready("steady → demo", "load")
                passed.append(gate.index)
                await gate.finished("steady → demo")

            async with anyio.create_task_group() as tg:
                tg.start_soon(worker, gates[0])
                await anyio.wait_all_tasks_blocked()
                assert passed == []  # worker 0 waits for worker 1
                tg.start_soon(worker, gates[1])
            for gate in gates:
                await gate.aclose()
    assert sorted(passed) == [0, 1]
    assert started == ["steady → demo load"]


@pytest.mark.anyio
async def test_a_worker_done_without_starting_releases_the_others() -> None:
    barrier = Barrier(2)
    with anyio.fail_after(20):
        async with coordinating(barrier) as address:
            gates = [await StartGate.connect(address, i) for i in range(2)]
            async with anyio.create_task_group() as tg:
                tg.start_soon(gates[0].ready, "steady → demo", "load")
                await anyio.wait_all_tasks_blocked()
                # Worker 1's target failed: it ends the scenario without reaching the start.
                tg.start_soon(gates[1].finished, "steady → demo")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(gates[0].finished, "steady → demo")
            for gate in gates:
                await gate.aclose()


@pytest.mark.anyio
async def test_a_worker_that_never_gets_ready_fails_the_run() -> None:
    failed = anyio.Event()
    reasons: dict[int, str] = {}

    def on_failure(index: int, reason: str) -> None:
        reasons.setdefault(index, reason)  # the first reason, as the worker pool keeps it
        failed.set()

    barrier = Barrier(2, patience_s=0.5, on_failure=on_failure)
    with anyio.fail_after(20):
        async with coordinating(barrier) as address:
            gates = [await StartGate.connect(address, i) for i in range(2)]
            async with anyio.create_task_group() as tg:
                tg.start_soon(gates[0].ready, "steady → demo", "load")
                await failed.wait()
                tg.cancel_scope.cancel()
            for gate in gates:
                await gate.aclose()
    assert list(reasons) == [1]
    assert "fell behind" in reasons[1]
