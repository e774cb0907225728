"""The request table's timing wheel: timeouts land on the requests still pending, whatever
mix of timeouts they were opened with, and the wheel does not grow with rate × timeout."""

from __future__ import annotations

import anyio
import pytest

from readiness.protocol.jsonrpc import RequestTable
from readiness.protocol.outcome import Outcome


def ok(request_id: int) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "result": {}}


@pytest.mark.anyio
async def test_only_the_requests_still_pending_time_out_across_interleaved_timeouts() -> None:
    table = RequestTable(tick=0.01)
    async with anyio.create_task_group() as tg:
        await tg.start(table.run_sweeper)
        opened = [table.open(0.05 if i % 3 else 0.2) for i in range(30)]
        for request_id, _ in opened[::2]:  # every other one is answered
            table.deliver(ok(request_id))
        with anyio.fail_after(5):
            for _, future in opened:
                await future
        tg.cancel_scope.cancel()
    outcomes = [future.result().outcome for _, future in opened]
    assert outcomes[::2] == [Outcome.OK] * 15
    assert outcomes[1::2] == [Outcome.TIMEOUT] * 15
    assert table.statistics().timeouts == 15
    assert table.statistics().in_flight == 0


@pytest.mark.anyio
async def test_the_wheel_keeps_a_run_per_slot_not_an_id_per_request() -> None:
    table = RequestTable(tick=0.05)
    opened = [table.open(60.0) for _ in range(100_000)]
    for request_id, _ in opened:
        table.deliver(ok(request_id))
    # 100,000 ids opened within a few slots' time hold a run (two numbers) per slot, where an
    # id per request would hold 100,000.
    assert 2 <= table.wheel_size() < 1_000
    assert all(future.done() for _, future in opened)
