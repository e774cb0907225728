"""The fault interposer in front of a target, for readiness.target's opener: the stdio relay
wrapped around its command, or the HTTP proxy in front of its URL (given the server's
supervisor when readiness starts it, so a kill fault can restart it). Leaving it removes
every fault.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from readiness.chaos.faults import AnyFault
from readiness.chaos.http_proxy import serve_proxy
from readiness.chaos.messages import CLOCK_METHOD, STATS_METHOD
from readiness.chaos.plan import FaultEvent, FaultPlan, read_events
from readiness.chaos.stdio_relay import relay_command
from readiness.errors import TargetError
from readiness.protocol.connection import HttpParams, StdioParams

if TYPE_CHECKING:
    from readiness.process import ServerSupervisor
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

    def connected(self, conn: Connection) -> None:
        """The connection through the interposer, once the opener has made it."""
        ...

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

    events_path: Path
    faults: int
    conn: Connection | None = None
    _events: list[FaultEvent] = field(default_factory=list)
    _counts: InterposerCounts | None = None

    def connected(self, conn: Connection) -> None:
        self.conn = conn

    def _channel(self) -> Connection:
        if self.conn is None:
            raise TargetError("the fault relay", "was asked before it was connected")
        return self.conn

    async def start_clock(self) -> float:
        sent = time.perf_counter()
        reply = await self._channel().request(CLOCK_METHOD, timeout=CONTROL_TIMEOUT)
        answered = time.perf_counter()
        if reply.result is None:
            raise TargetError(
                "the fault relay", f"did not answer its clock request ({reply.outcome.name})"
            )
        return (sent + answered) / 2  # the relay started its clock in between

    async def finish(self) -> None:
        reply = await self._channel().request(STATS_METHOD, timeout=CONTROL_TIMEOUT)
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
    supervisor: ServerSupervisor | None

    def connected(self, conn: Connection) -> None:
        pass

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
async def interpose(
    params: StdioParams | HttpParams,
    faults: Sequence[AnyFault],
    *,
    stem: Path,
    seed: int | None = None,
    supervisor: ServerSupervisor | None = None,
) -> AsyncIterator[tuple[StdioParams | HttpParams, Interposer]]:
    """Put the interposer applying `faults` in front of `params`: yields what to connect to
    instead, and the interposer's control (tell it the connection with `connected`). Over
    stdio the relay is the command the connection starts; over HTTP the proxy runs here until
    exit. `stem` names its files (the relay's events) in the run's logs."""
    if isinstance(params, StdioParams):
        events_path = Path(f"{stem}.faults.jsonl")
        await anyio.Path(events_path).unlink(missing_ok=True)
        marker = secrets.token_hex(16)  # the relay's errors for a dead server carry it
        command, args = relay_command(
            faults,
            str(events_path),
            params.command,
            params.args,
            seed=seed,
            wait_for_clock=True,
            transport_marker=marker,
        )
        relayed = replace(params, command=command, args=args, transport_marker=marker)
        yield relayed, _RelayControl(events_path, len(faults))
        return
    plan = FaultPlan(faults, seed=seed, armed=False)
    async with anyio.create_task_group() as tg:
        url = await tg.start(partial(serve_proxy, params.url, plan, supervisor=supervisor))
        try:
            yield replace(params, url=url), _ProxyControl(plan, supervisor)
        finally:
            tg.cancel_scope.cancel()
