"""The run loop: drives one connection with a closed or open load (readiness.engine.loops)
and records every request, bounded by a deadline, with progress once a second.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import anyio.abc

from readiness.engine.journeys import ClosedJourneys, OpenJourneys
from readiness.engine.loops import ClosedLoop, LoadPlan, OpenLoop, Requester, Stop
from readiness.engine.progress import Progress, ProgressSink
from readiness.engine.replay import ClosedReplay, OpenReplay
from readiness.engine.workload import Workload
from readiness.metrics.journeys import JourneyRecord, JourneyRecorder
from readiness.metrics.recorder import Recorder, Recording

__all__ = ["LoadPlan", "LoadRun", "ProgressLabel", "Requester", "run_load"]


@dataclass(frozen=True)
class LoadRun:
    recording: Recording
    partial: bool  # ended by its deadline or an interruption, not by its plan
    elapsed_s: float
    exhausted: str | None = None  # the unique data set whose running out ended the load
    journeys: list[JourneyRecord] | None = None  # per-journey totals, when users walked journeys


@dataclass(frozen=True)
class ProgressLabel:
    scenario: str
    kind: str
    target: str
    phase: str


async def run_load(
    conn: Requester,
    workload: Workload,
    plan: LoadPlan,
    *,
    deadline_s: float,
    label: ProgressLabel,
    on_progress: ProgressSink,
    interrupt: anyio.Event | None = None,
    recorder: Recorder | None = None,
    sessions: Sequence[Requester] = (),
) -> LoadRun:
    """Run one load to completion or to its deadline; never raises for server failures.

    `recorder` may be a fresh Recorder subclass that keeps more (a per-request trace).
    `sessions`: for a replay, one connection per captured session (`conn` is the first)."""
    if recorder is None:
        recorder = Recorder(len(workload.operations))
    else:
        recorder.start_ns = recorder.last_done_ns = time.perf_counter_ns()
    stop = Stop(None if plan.requests is None else plan.segment.share(plan.requests))
    started = time.perf_counter()
    partial = False
    body: Callable[[anyio.abc.TaskGroup], Awaitable[None]]
    journeys: JourneyRecorder | None = None
    if workload.journeys:
        journeys = JourneyRecorder(
            [(j.name, [s.op.name for s in j.steps]) for j in workload.journeys]
        )
        walkers = ClosedJourneys if plan.model == "closed" else OpenJourneys
        body = walkers(conn, workload, plan, recorder, stop, journeys).run
    elif workload.replay:
        replays = ClosedReplay if plan.model == "closed" else OpenReplay
        replaying = replays(conn, workload, plan, recorder, stop)
        replaying.sessions = tuple(sessions)
        body = replaying.run
    elif plan.model == "closed":
        body = ClosedLoop(conn, workload, plan, recorder, stop).run
    else:
        body = OpenLoop(conn, workload, plan, recorder, stop).run

    with anyio.move_on_after(deadline_s) as deadline:
        async with anyio.create_task_group() as tg:
            # With journeys the budget counts journeys, not the requests progress shows.
            planned = None if workload.journeys else plan.requests
            tg.start_soon(_tick, recorder, plan, planned, label, on_progress, started)
            if interrupt is not None:
                tg.start_soon(_cancel_on, interrupt, deadline)
            if plan.duration is not None and plan.model == "closed":
                # The open model's schedule ends by itself: arrivals it fell behind on are
                # still sent (late), never silently skipped.
                tg.start_soon(_stop_after, stop, plan.duration)
            async with anyio.create_task_group() as load_tg:
                await body(load_tg)
            tg.cancel_scope.cancel()
    if deadline.cancelled_caught:
        partial = True
    return LoadRun(
        recording=recorder.finish(),
        partial=partial,
        elapsed_s=time.perf_counter() - started,
        exhausted=stop.exhausted,
        journeys=None if journeys is None else journeys.records,
    )


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _stop_after(stop: Stop, duration: float) -> None:
    await anyio.sleep(duration)
    stop.stopped = True


async def _tick(
    recorder: Recorder,
    plan: LoadPlan,
    planned_requests: int | None,
    label: ProgressLabel,
    sink: ProgressSink,
    started: float,
) -> None:
    """Once a second: fold the interval into histograms and report progress."""
    next_at = started + 1.0
    while True:
        await anyio.sleep(max(next_at - time.perf_counter(), 0.0))
        next_at += 1.0
        stats = recorder.roll()
        sink(
            Progress(
                scenario=label.scenario,
                kind=label.kind,
                target=label.target,
                phase=label.phase,
                elapsed_s=time.perf_counter() - started,
                planned_s=plan.planned_s,
                planned_requests=planned_requests,
                sent=recorder.sent,
                ok=recorder.completed - recorder.errors - recorder.rejected,
                errors=recorder.errors,
                in_flight=recorder.sent - recorder.completed,
                rps=float(stats.counts[0]),
                p50_ms=stats.p50_ms,
                p99_ms=stats.p99_ms,
            )
        )
