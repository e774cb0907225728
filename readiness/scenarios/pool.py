"""The pool scenario: many virtual users share a few MCP sessions through a SessionPool. Every
request must end within its wait and request timeouts; waits, reuse and recycling are measured."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from readiness.config.scenario import LoadConfig
from readiness.engine.load import ProgressLabel
from readiness.errors import unwrapped_groups
from readiness.metrics.summary import latency_summary
from readiness.resilience.pool import PoolStatistics, SessionPool
from readiness.resilience.pooled import PooledRequester
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
from readiness.target import TargetSession, connect_options, open_target

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig
    from readiness.protocol.connection import Connection

# Without a configured load: this many virtual users per pooled session, for this long.
USERS_PER_SESSION = 10
DEFAULT_DURATION_S = 10.0
# Closing a stdio session may wait out the server's exit, SIGTERM and SIGKILL in turn.
CLOSE_TIMEOUT_S = 12.0

Connector = Callable[[int], AbstractAsyncContextManager[tuple["Connection", int | None]]]


class PooledConnection:
    """One MCP session of the pool: over stdio its own server process, over HTTP its own
    Mcp-Session-Id. Sessions after the first are held open by a task of their own."""

    __slots__ = ("closed", "conn", "kept", "number", "pid", "released", "uses")

    def __init__(self, conn: Connection, pid: int | None, number: int, *, kept: bool) -> None:
        self.conn = conn
        self.pid = pid
        self.number = number
        self.uses = 0
        self.kept = kept  # False: the scenario's first session, whose opener closes it too
        self.released = anyio.Event()  # set to make its task close it
        self.closed = anyio.Event()

    def __repr__(self) -> str:
        return f"<PooledConnection #{self.number} pid={self.pid} uses={self.uses}>"


class SessionKeeper:
    """Opens and closes the pool's sessions. A connection's task group must be entered and
    left by one task, while the pool opens and closes sessions from whichever virtual user
    asks, so each session lives in a task of the keeper's task group."""

    def __init__(self, tg: anyio.abc.TaskGroup, first: TargetSession, connect: Connector) -> None:
        self._tg = tg
        self._connect = connect
        # The session the scenario opened to list tools is the pool's first.
        anchor = PooledConnection(first.conn, first.pid, 1, kept=False)
        anchor.uses = 1  # it carried the tool listing
        self._first: PooledConnection | None = anchor
        self._opened = 1
        self._live: list[PooledConnection] = []

    async def open(self) -> PooledConnection:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        self._opened += 1
        session: PooledConnection = await self._tg.start(self._keep, self._opened)
        return session

    async def close(self, session: PooledConnection) -> None:
        if not session.kept:
            await session.conn.aclose()  # idempotent: its opener closes it again, harmlessly
            return
        session.released.set()
        await session.closed.wait()

    def release_all(self) -> None:
        """Let every session's task close it now, all at once rather than one by one."""
        for session in self._live:
            session.released.set()

    async def _keep(
        self, number: int, *, task_status: anyio.abc.TaskStatus[PooledConnection]
    ) -> None:
        session: PooledConnection | None = None
        try:
            async with self._connect(number) as (conn, pid):
                session = PooledConnection(conn, pid, number, kept=True)
                self._live.append(session)
                task_status.started(session)
                await session.released.wait()
        finally:
            if session is not None:
                self._live.remove(session)
                session.closed.set()


def _connector(ctx: ScenarioContext, first: TargetSession) -> Connector:
    """How to open one more session like `first`: a new server process over stdio, a new MCP
    session on the same URL (and server process, if we started it) over HTTP."""
    from readiness.protocol.client import open_connection
    from readiness.protocol.connection import HttpParams

    cfg = ctx.target

    @asynccontextmanager
    async def stdio(number: int) -> AsyncIterator[tuple[Connection, int | None]]:
        label = f"{ctx.scenario.name}-session{number}"
        async with open_target(cfg, ctx.run_dir / "logs", label) as session:
            yield session.conn, session.pid

    @asynccontextmanager
    async def http(number: int) -> AsyncIterator[tuple[Connection, int | None]]:
        assert cfg.url is not None
        params = HttpParams(url=cfg.url, headers=dict(cfg.headers))
        async with open_connection(params, connect_options(cfg)) as conn:
            yield conn, first.pid

    return stdio if cfg.transport == "stdio" else http


@asynccontextmanager
async def open_session_pool(
    ctx: ScenarioContext, first: TargetSession, *, size: int, wait_timeout: float
) -> AsyncIterator[SessionPool[PooledConnection]]:
    """A pool of up to `size` sessions to the target, `first` among them. Every session it
    opened is closed on exit, whatever happened."""
    # The keepers' tasks never raise once started, so the group wraps only what the
    # body raised: hand that back as it was.
    with unwrapped_groups():
        async with anyio.create_task_group() as tg:
            keeper = SessionKeeper(tg, first, _connector(ctx, first))
            pool = SessionPool(
                keeper.open,
                keeper.close,
                max_size=size,
                acquire_timeout=wait_timeout,
                close_timeout=CLOSE_TIMEOUT_S,
            )
            try:
                yield pool
            finally:
                keeper.release_all()
                await pool.aclose()  # each close is shielded, so this finishes when cancelled
                tg.cancel_scope.cancel()  # a session still opening: its opener closes it


def pool_load(scenario: ScenarioConfig) -> LoadConfig:
    """The scenario's load, or by default pool_size × 10 virtual users for 10 s."""
    if scenario.load is not None:
        return scenario.load
    return LoadConfig(
        model="closed",
        concurrency=scenario.pool_size * USERS_PER_SESSION,
        duration=DEFAULT_DURATION_S,
    )


def virtual_users(load: LoadConfig) -> int:
    return max([load.concurrency or 0, *(round(stage.target) for stage in load.stages)])


async def run_pool(ctx: ScenarioContext) -> ScenarioResult:
    scenario, target = ctx.scenario, ctx.target
    load = pool_load(scenario)
    plan = load_plan(load)
    workload = build_workload(ctx)
    wait_timeout = scenario.pool_timeout or target.request_timeout
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, target.name, "load")

    def requester(pool: SessionPool[PooledConnection]) -> PooledRequester[PooledConnection]:
        return PooledRequester(
            pool,
            wait_timeout=wait_timeout,
            request_timeout=target.request_timeout,
            open_timeout=target.connect_timeout,
        )

    async with open_target(target, ctx.run_dir / "logs", scenario.name) as first:
        ctx.on_connected(first)
        await preflight(first.conn, workload, ctx)
        async with open_session_pool(
            ctx, first, size=scenario.pool_size, wait_timeout=wait_timeout
        ) as pool:
            await warm_up(ctx, requester(pool), workload, plan, label)
            before = pool.statistics()
            pooled = requester(pool)
            async with watch(first.pid) as instruments:
                run = await drive(ctx, pooled, workload, plan, label)
            after = pool.statistics()
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
        scenario,
        load,
        before,
        after,
        pooled,
        wait_timeout=wait_timeout,
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
    scenario: ScenarioConfig,
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
        pool_size=scenario.pool_size,
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
