"""Shards of one load through the run loop, against the real demo server over stdio: together
they send exactly the configured load, each its own share."""

from __future__ import annotations

import sys
from dataclasses import replace

import anyio
import pytest

from readiness.engine.load import LoadPlan, ProgressLabel, run_load
from readiness.engine.progress import ignore_progress
from readiness.engine.schedule import constant, staged
from readiness.engine.segment import Segment
from readiness.engine.workload import Operation, Workload
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, StdioParams

LABEL = ProgressLabel("test", "throughput", "demo", "load")
ECHO = Operation(0, "echo", "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, 1.0)
COUNT = 3


async def _sent_by_shard(plan: LoadPlan) -> list[int]:
    params = StdioParams(sys.executable, ("-m", "readiness.demo"))
    options = ConnectOptions(protocol="2025-11-25", request_timeout=10.0)
    sent = []
    with anyio.fail_after(90):
        async with open_connection(params, options) as conn:
            for i in range(COUNT):
                run = await run_load(
                    conn,
                    Workload([ECHO]),
                    replace(plan, segment=Segment(i, COUNT)),
                    deadline_s=30,
                    label=LABEL,
                    on_progress=ignore_progress,
                )
                assert not run.partial
                sent.append(run.recording.sent)
    return sent


@pytest.mark.anyio
async def test_closed_shards_split_a_request_budget_exactly() -> None:
    plan = LoadPlan(model="closed", level=constant(7, 0), duration=None, requests=100)
    assert await _sent_by_shard(plan) == [34, 33, 33]


@pytest.mark.anyio
async def test_closed_shards_of_a_ramp_split_its_budget_exactly() -> None:
    plan = LoadPlan(model="closed", level=staged(1, [(0.3, 8.0)]), duration=None, requests=50)
    assert await _sent_by_shard(plan) == [17, 17, 16]


@pytest.mark.anyio
async def test_open_shards_send_the_configured_arrivals_between_them() -> None:
    plan = LoadPlan(model="open", level=constant(200, 0.5), duration=0.5, requests=None)
    sent = await _sent_by_shard(plan)
    assert sum(sent) == 100
    assert sent == [Segment(i, COUNT).share(100) for i in range(COUNT)]
