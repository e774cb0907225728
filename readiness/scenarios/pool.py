"""The pool scenario: many virtual users share the few MCP sessions of their target's pool
([targets.resilience.pool], opened by readiness.target). Every request must end within its
wait and request timeouts; waits, reuse and recycling are measured."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from readiness.config.scenario import LoadConfig
from readiness.engine.load import ProgressLabel
from readiness.metrics.summary import latency_summary
from readiness.resilience.config import PoolConfig
from readiness.resilience.pool import PoolStatistics
from readiness.resilience.pooled import PooledConnection, PooledRequester
from readiness.results import PoolResult, ScenarioResult
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
from readiness.target import open_target

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, TargetConfig

# Without a configured load: this many virtual users per pooled session, for this long.
USERS_PER_SESSION = 10
DEFAULT_DURATION_S = 10.0


def pool_config(target: TargetConfig) -> PoolConfig:
    """The target's pool, or by default a pool of PoolConfig's default size."""
    configured = target.resilience.pool if target.resilience is not None else None
    return configured or PoolConfig()


def pool_load(scenario: ScenarioConfig, size: int) -> LoadConfig:
    """The scenario's load, or by default 10 virtual users per pooled session for 10 s."""
    if scenario.load is not None:
        return scenario.load
    return LoadConfig(
        model="closed",
        concurrency=size * USERS_PER_SESSION,
        duration=DEFAULT_DURATION_S,
    )


def virtual_users(load: LoadConfig) -> int:
    return max([load.concurrency or 0, *(round(stage.target) for stage in load.stages)])


async def run_pool(ctx: ScenarioContext) -> ScenarioResult:
    scenario, target = ctx.scenario, ctx.target
    config = pool_config(target)
    load = pool_load(scenario, config.size)
    plan = load_plan(load)
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, target.name, "load")
    async with open_target(target, ctx.run_dir / "logs", scenario.name, pool=config) as session:
        ctx.on_connected(session)
        pool = session.pool
        assert pool is not None
        await preflight(session.conn, workload, ctx)
        await warm_up(ctx, pool.requester(), workload, plan, label)
        before = pool.sessions.statistics()
        pooled = pool.requester()  # its statistics are the measured load's alone
        async with watch(session.pid, live=ctx.exposed) as instruments:
            run = await drive(ctx, pooled, workload, plan, label)
        after = pool.sessions.statistics()
    result = assemble(
        ctx,
        run.recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=run.partial,
        load=describe_load(load),
        method=method_of(plan),
        generator=instruments.generator_stats(run.recording.sent),
        server=instruments.server_resources(),
    )
    figures = pool_result(
        config.size,
        load,
        before,
        after,
        pooled,
        wait_timeout=pool.wait_timeout,
        request_timeout=target.request_timeout,
    )
    result["pool"] = figures
    p99 = figures["wait_ms"]["p99"]
    extra = {
        "pool_wait_p99": None if p99 is None else p99 / 1000.0,
        "pool_timeouts": float(figures["wait_timeouts"]),
    }
    return judge(result, scenario, extra)


def pool_result(
    size: int,
    load: LoadConfig,
    before: PoolStatistics,
    after: PoolStatistics,
    pooled: PooledRequester[PooledConnection],
    *,
    wait_timeout: float,
    request_timeout: float,
) -> PoolResult:
    """The pool's figures over the measured load: the pool's counts from just before it to
    just after, and what the load's requester saw."""
    stats = pooled.statistics()
    return PoolResult(
        pool_size=size,
        virtual_users=virtual_users(load),
        open_at_start=before.idle + before.in_use,
        created=after.created - before.created,
        reused=after.reused - before.reused,
        recycled=after.discarded - before.discarded,
        open_failures=stats.open_failures,
        max_in_use=stats.max_in_use,
        wait_ms=latency_summary(stats.wait),
        wait_timeouts=stats.wait_timeouts,
        over_timeout=stats.over_timeout,
        pool_timeout_s=wait_timeout,
        request_timeout_s=request_timeout,
        budget_s=round(pooled.budget(), 3),
    )
