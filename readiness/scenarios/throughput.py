"""The throughput scenario: the configured load against one target, measured end to end."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

from readiness.engine.load import LoadPlan, ProgressLabel
from readiness.engine.workload import Workload
from readiness.results import ScenarioResult
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
    build_workload,
    describe_load,
    drive,
    judge,
    load_plan,
    method_of,
    now_iso,
    preflight,
    replay_plan,
    warm_up,
)
from readiness.scenarios.instruments import watch
from readiness.scenarios.journey_results import journey_results
from readiness.scenarios.replay_results import replay_result
from readiness.target import open_target

MAX_REPLAY_CONNECTIONS = 16


async def run_throughput(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    workload = build_workload(ctx)
    if workload.replay:
        plan = replay_plan(workload, scenario.load)
    else:
        assert scenario.load is not None
        plan = load_plan(scenario.load)
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, ctx.target.name, "load")
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        if not workload.replay:  # a warm-up would replay the capture once more
            await warm_up(ctx, session.conn, workload, plan, label)
        async with AsyncExitStack() as stack:
            conns = [session.conn]
            for i in range(1, _replay_connections(ctx, workload)):
                extra = await stack.enter_async_context(
                    open_target(ctx.target, ctx.run_dir / "logs", f"{scenario.name}-s{i + 1}")
                )
                conns.append(extra.conn)
            async with watch(session.pid, live=ctx.exposed) as instruments:
                run = await drive(
                    ctx,
                    session.conn,
                    workload,
                    plan,
                    label,
                    sessions=conns if len(conns) > 1 else (),
                )
    result = assemble(
        ctx,
        run.recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=run.partial,
        load=_described(ctx, plan),
        method=method_of(plan),
        generator=instruments.generator_stats(run.recording.sent),
        server=instruments.server_resources(),
    )
    config = ctx.suite.workload_for(scenario)
    if config.capture is not None and config.replay is not None:
        result["replay"] = replay_result(
            config.replay,
            config.speed,
            config.capture,
            workload,
            plan,
            run.recording,
            connections=_replay_connections(ctx, workload),
        )
    if run.journeys is not None:
        result["journeys"] = journey_results(run.journeys, workload.journeys)
    if run.exhausted is not None:
        result["stopped"] = f'data set {run.exhausted!r} ran out of rows (pick = "unique")'
    return judge(result, scenario)


def _replay_connections(ctx: ScenarioContext, workload: Workload) -> int:
    """How many connections a replay keeps its captured sessions apart on: one per session,
    at most MAX_REPLAY_CONNECTIONS; one when the target has a resilience layer or a pool
    (those act on the scenario's one connection)."""
    if not workload.replay:
        return 1
    resilience = ctx.target.resilience
    if resilience is not None and (resilience.configured or resilience.pool is not None):
        return 1
    sessions = max(r.session for r in workload.replay) + 1
    return min(sessions, MAX_REPLAY_CONNECTIONS)


def _described(ctx: ScenarioContext, plan: LoadPlan) -> dict[str, Any]:
    """The load as configured; for a replay without one, the capture is the load."""
    if ctx.scenario.load is not None:
        return describe_load(ctx.scenario.load)
    config = ctx.suite.workload_for(ctx.scenario)
    return {"model": plan.model, "replay": config.replay, "speed": config.speed,
            "requests": plan.requests}  # fmt: skip
