"""The throughput scenario: the configured load against one target, measured end to end."""

from __future__ import annotations

import time
from dataclasses import replace

from readiness.engine.load import ProgressLabel, run_load
from readiness.engine.schedule import constant
from readiness.results import ScenarioResult
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
    build_workload,
    deadline_for,
    describe_load,
    judge,
    load_plan,
    method_of,
    now_iso,
    preflight,
)
from readiness.scenarios.instruments import watch
from readiness.target import open_target


async def run_throughput(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    assert scenario.load is not None
    plan = load_plan(scenario.load)
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, ctx.target.name, "load")
    timeout = ctx.target.request_timeout
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        if scenario.warmup > 0:
            warm = replace(plan, duration=scenario.warmup, requests=None)
            if plan.model == "closed":
                warm = replace(warm, level=constant(plan.level.level_at(0.0), scenario.warmup))
            await run_load(
                session.conn,
                workload,
                warm,
                deadline_s=deadline_for(warm, grace=scenario.grace, request_timeout=timeout),
                label=replace(label, phase="warm-up"),
                on_progress=ctx.on_progress,
                interrupt=ctx.interrupt,
            )
        async with watch(session.pid) as instruments:
            run = await run_load(
                session.conn,
                workload,
                plan,
                deadline_s=deadline_for(plan, grace=scenario.grace, request_timeout=timeout),
                label=label,
                on_progress=ctx.on_progress,
                interrupt=ctx.interrupt,
            )
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
    return judge(result, scenario)
