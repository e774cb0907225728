"""A scaling ladder's timeline is its steps laid end to end, each second marked with its step:
the replies a step gets back after its sends stopped are that step's, not an idle second."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from readiness.metrics.recorder import IntervalStats, Recording
from readiness.protocol.outcome import Outcome
from readiness.scenarios.scaling import run_scaling, stepped_timeline
from tests.suites import scenario_context


def recording(*seconds: tuple[int, int]) -> Recording:
    """A step's recording: (sent, ok) per second."""
    intervals = []
    for t, (sent, ok) in enumerate(seconds):
        counts = [0] * len(Outcome)
        counts[Outcome.OK] = ok
        intervals.append(IntervalStats(t, sent, 0, 0, counts, 1.0, 2.0, 3.0))
    total = sum(sent for sent, _ in seconds)
    return Recording([], Counter(), intervals, total, [], 0, 0, 0, float(len(seconds)))


def test_each_second_is_marked_with_its_step_and_times_run_on() -> None:
    first = recording((10, 9), (0, 1))  # the last reply came back after the sends stopped
    second = recording((20, 20), (20, 20))
    points = stepped_timeline([first, second])
    assert [(p["t_s"], p["step"], p["sent"], p["ok"]) for p in points] == [
        (0, 0, 10, 9),
        (1, 0, 0, 1),
        (2, 1, 20, 20),
        (3, 1, 20, 20),
    ]


SUITE = f"""
[[targets]]
name = "demo"
transport = "stdio"
command = {sys.executable!r}
args = ["-m", "readiness.demo"]

[[scenarios]]
name = "ladder"
kind = "scaling"
steps = [1, 2]
step_duration = "1s"
"""


@pytest.mark.anyio
async def test_a_scaling_run_records_each_second_under_its_step(tmp_path: Path) -> None:
    ctx = scenario_context(tmp_path, SUITE)
    with anyio.fail_after(60):
        result = await run_scaling(ctx)
    timeline = result["timeline"]
    steps = [point["step"] for point in timeline]
    assert steps == sorted(steps)
    assert set(steps) == {0, 1}
    assert [point["t_s"] for point in timeline] == list(range(len(timeline)))
    for step in result["steps"]:
        mine = [p for p in timeline if p["step"] == step["index"]]
        assert sum(p["sent"] for p in mine) == step["totals"]["sent"]
        assert sum(p["ok"] for p in mine) == step["totals"]["ok"]
