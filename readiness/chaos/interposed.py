"""A target opened behind the fault interposer for one scenario: the stdio relay wrapped around
its command, or the HTTP proxy in front of its URL (with the proxy supervising the server when
readiness starts it, so a kill fault can restart it). Closing it removes every fault.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from readiness.chaos.faults import AnyFault, KillFault
from readiness.chaos.http_proxy import serve_proxy
from readiness.chaos.messages import CLOCK_METHOD, STATS_METHOD
from readiness.chaos.plan import FaultEvent, FaultPlan, read_events
from readiness.chaos.stdio_relay import relay_command
from readiness.chaos.upstream import UpstreamProcess
from readiness.errors import TargetError
from readiness.protocol.connection import HttpParams, StdioParams
from readiness.target import TargetSession, configured_pid, connect_options

if TYPE_CHECKING:
    from readiness.config import TargetConfig
    from readiness.protocol.connection import Connection

CONTROL_TIMEOUT = 5.0


@dataclass(frozen=True)
class InterposerCounts:
    """Per fault (declaration order): requests its selectors matched, and times it fired."""

    matched: tuple[int, ...] | None  # None: the interposer could not be asked
    injected: tuple[int, ...]
    restarts: int


class Interposer(Protocol):
    """What a scenario asks of the interposer in front of its target."""

    async def start_clock(self) -> float:
        """Start injecting, with now as the zero of the faults' `during` windows; returns that
        moment as `time.perf_counter()` seconds."""
        ...

    async def finish(self) -> None:
        """Collect the counts and events; call before the connection closes."""
        ...

    @property
    def events(self) -> list[FaultEvent]: ...

    @property
    def counts(self) -> InterposerCounts: ...


@dataclass
class _RelayControl:
    """The stdio relay runs in its own process: asked over the pipe, events read from a file."""

    conn: Connection
    events_path: Path
    faults: int
    _events: list[FaultEvent] = field(default_factory=list)
    _counts: InterposerCounts | None = None

    async def start_clock(self) -> float:
        sent = time.perf_counter()
        reply = await self.conn.request(CLOCK_METHOD, timeout=CONTROL_TIMEOUT)
        answered = time.perf_counter()
        if reply.result is None:
            raise TargetError(
                "the fault relay", f"did not answer its clock request ({reply.outcome.name})"
            )
        return (sent + answered) / 2  # the relay started its clock in between

    async def finish(self) -> None:
        reply = await self.conn.request(STATS_METHOD, timeout=CONTROL_TIMEOUT)
        result = reply.result or {}
        exists = await anyio.Path(self.events_path).exists()
        self._events = read_events(self.events_path) if exists else []
        injected = [0] * self.faults
        for event in self._events:
            if event.phase == "inject" and 0 <= event.fault_index < self.faults:
                injected[event.fault_index] += 1
        matched = result.get("matched")
        self._counts = InterposerCounts(
            matched=tuple(int(n) for n in matched) if isinstance(matched, list) else None,
            injected=tuple(injected),
            restarts=int(result.get("restarts", 0) or 0),
        )

    @property
    def events(self) -> list[FaultEvent]:
        return self._events

    @property
    def counts(self) -> InterposerCounts:
        return self._counts or InterposerCounts(None, (0,) * self.faults, 0)


@dataclass
class _ProxyControl:
    """The HTTP proxy runs in our process: its plan is at hand."""

    plan: FaultPlan
    supervisor: UpstreamProcess | None

    async def start_clock(self) -> float:
        self.plan.arm()
        return time.perf_counter()

    async def finish(self) -> None:
        pass

    @property
    def events(self) -> list[FaultEvent]:
        return list(self.plan.events)

    @property
    def counts(self) -> InterposerCounts:
        stats = self.plan.statistics()
        return InterposerCounts(
            matched=stats.matched,
            injected=stats.injected,
            restarts=max((self.supervisor.starts - 1) if self.supervisor else 0, 0),
        )


@asynccontextmanager
async def open_interposed(
    cfg: TargetConfig,
    faults: Sequence[AnyFault],
    log_dir: Path,
    label: str,
    *,
    seed: int | None = None,
) -> AsyncIterator[tuple[TargetSession, Interposer]]:
    """Start (when configured) and connect to `cfg` through an interposer applying `faults`.

    The session's pid is the server's when it can be sampled as one process (a URL with a
    configured pid); None when the interposer may replace it. On exit the connection, the
    interposer and any process started here are ended, whatever happened.
    """
    from readiness.protocol.client import open_connection

    await anyio.Path(log_dir).mkdir(parents=True, exist_ok=True)
    stem = log_dir / f"{cfg.name}-{label}"
    options = connect_options(cfg)
    if cfg.transport == "stdio":
        assert cfg.command is not None
        events_path = Path(f"{stem}.faults.jsonl")
        await anyio.Path(events_path).unlink(missing_ok=True)
        marker = secrets.token_hex(16)  # the relay's errors for a dead server carry it
        command, args = relay_command(
            faults,
            str(events_path),
            cfg.command,
            cfg.args,
            seed=seed,
            wait_for_clock=True,
            transport_marker=marker,
        )
        params = StdioParams(
            command=command,
            args=args,
            env=dict(cfg.env),
            cwd=cfg.cwd,
            stderr_path=f"{stem}.stderr.log",
            transport_marker=marker,
        )
        async with open_connection(params, options) as conn:
            control = _RelayControl(conn, events_path, len(faults))
            yield TargetSession(name=cfg.name, conn=conn, pid=None), control
        return

    assert cfg.url is not None
    plan = FaultPlan(faults, seed=seed, armed=False)
    supervisor: UpstreamProcess | None = None
    pid: int | None = None
    if cfg.command is not None:
        supervisor = UpstreamProcess(
            [cfg.command, *cfg.args],
            cfg.url,
            env=dict(cfg.env),
            start_timeout=cfg.connect_timeout,
            log_path=f"{stem}.stderr.log",
        )
    elif not any(isinstance(f, KillFault) for f in faults):
        pid = configured_pid(cfg)
    try:
        if supervisor is not None:
            await supervisor.start()
        async with anyio.create_task_group() as tg:
            url = await tg.start(partial(serve_proxy, cfg.url, plan, supervisor=supervisor))
            try:
                http = HttpParams(url=url, headers=dict(cfg.headers))
                async with open_connection(http, options) as conn:
                    proxy = _ProxyControl(plan, supervisor)
                    yield TargetSession(name=cfg.name, conn=conn, pid=pid), proxy
            finally:
                tg.cancel_scope.cancel()
    finally:
        if supervisor is not None:
            with anyio.CancelScope(shield=True):
                await supervisor.aclose()
