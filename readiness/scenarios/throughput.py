"""The throughput scenario: the configured load against one target, measured end to end."""

from __future__ import annotations

import time

from readiness.engine.load import ProgressLabel
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
    warm_up,
)
from readiness.scenarios.instruments import watch
from readiness.scenarios.journey_results import journey_results
from readiness.target import open_target


async def run_throughput(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    assert scenario.load is not None
    plan = load_plan(scenario.load)
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, ctx.target.name, "load")
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        await warm_up(ctx, session.conn, workload, plan, label)
        async with watch(session.pid) as instruments:
            run = await drive(ctx, session.conn, workload, plan, label)
    result = assemble(
        ctx,
        run.recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=run.partial,
        load=describe_load(scenario.load),
        method=method_of(plan),
        generator=instruments.generator_stats(run.recording.sent),
        server=instruments.server_resources(),
    )
    if run.journeys is not None:
        result["journeys"] = journey_results(run.journeys, workload.journeys)
    if run.exhausted is not None:
        result["stopped"] = f'data set {run.exhausted!r} ran out of rows (pick = "unique")'
    return judge(result, scenario)
