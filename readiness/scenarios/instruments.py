"""Watches a scenario from the side: the generator's CPU and event-loop lag, and the
resources of both processes, sampled off the request path."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

import anyio

from readiness.metrics.lag import LoopLagMonitor
from readiness.metrics.sampler import ProcessSampler
from readiness.metrics.selfcost import CpuMeter, CpuSpan
from readiness.results import GeneratorStats, ServerResources

if TYPE_CHECKING:
    from readiness.metrics.live import Exposed

# Above these the generator, not the server, may have set the pace.
SATURATED_CPU_PERCENT = 90.0
SATURATED_LAG_MS = 50.0

_MB = 1024 * 1024


NOT_STARTED_BY_US = "the server runs in a process readiness did not start"


def unmeasured_server(reason: str, pid: int | None = None) -> ServerResources:
    """Server resources that were not measured, and why."""
    return ServerResources(
        measured=False,
        reason=reason,
        pid=pid,
        samples=0,
        cpu_percent_mean=None,
        cpu_percent_max=None,
        rss_initial_mb=None,
        rss_peak_mb=None,
        rss_final_mb=None,
    )


class Instruments:
    def __init__(
        self,
        server_pid: int | None,
        *,
        interval: float = 0.25,
        no_pid_reason: str = NOT_STARTED_BY_US,
    ) -> None:
        self.server_pid = server_pid
        self._no_pid_reason = no_pid_reason  # why there is no server pid to sample
        self.origin = time.monotonic()  # samples' t_s count from here
        self.cpu = CpuMeter()
        self.lag = LoopLagMonitor()
        self.own = ProcessSampler(
            os.getpid(), include_children=False, interval=interval, origin=self.origin
        )
        self.server = (
            ProcessSampler(server_pid, interval=interval, origin=self.origin)
            if server_pid is not None
            else None
        )
        self._span: CpuSpan | None = None

    def generator_stats(self, requests: int) -> GeneratorStats:
        span = self._span or self.cpu.read()
        lag = self.lag.statistics()
        own = self.own.summary()
        reasons = []
        if span.cpu_percent >= SATURATED_CPU_PERCENT:
            reasons.append(
                f"the generator used {span.cpu_percent:.0f}% of a core "
                f"(≥ {SATURATED_CPU_PERCENT:.0f}%)"
            )
        if lag.p99_ms is not None and lag.p99_ms >= SATURATED_LAG_MS:
            reasons.append(
                f"its event loop ran {lag.p99_ms:.0f} ms late at p99 (≥ {SATURATED_LAG_MS:.0f} ms)"
            )
        return GeneratorStats(
            cpu_s=round(span.cpu_s, 4),
            cpu_us_per_request=span.cpu_us_per(requests),
            cpu_percent=round(span.cpu_percent, 1),
            max_loop_lag_ms=lag.max_ms,
            p99_loop_lag_ms=lag.p99_ms,
            rss_peak_mb=None if own is None else own.rss_peak_bytes / _MB,
            saturated=bool(reasons),
            saturation_reason="; ".join(reasons),
        )

    def server_resources(self) -> ServerResources:
        if self.server is None:
            return unmeasured_server(self._no_pid_reason)
        summary = self.server.summary()
        if summary is None:
            return unmeasured_server(
                "the server process exited before it could be sampled", self.server_pid
            )
        return ServerResources(
            measured=True,
            reason="server process exited during the run" if summary.exited else "",
            pid=self.server_pid,
            samples=summary.samples,
            cpu_percent_mean=round(summary.cpu_percent_mean, 1),
            cpu_percent_max=round(summary.cpu_percent_max, 1),
            rss_initial_mb=summary.rss_initial_bytes / _MB,
            rss_peak_mb=summary.rss_peak_bytes / _MB,
            rss_final_mb=summary.rss_final_bytes / _MB,
        )


@asynccontextmanager
async def watch(
    server_pid: int | None,
    *,
    interval: float = 0.25,
    no_pid_reason: str = NOT_STARTED_BY_US,
    live: Exposed | None = None,
) -> AsyncIterator[Instruments]:
    """Sample while the body runs; the figures are read from the yielded object afterwards.
    `no_pid_reason` says why, when there is no server process to sample. With `live` (the
    run's metrics endpoint) the loop lag and the server's resources are exposed meanwhile."""
    instruments = Instruments(server_pid, interval=interval, no_pid_reason=no_pid_reason)
    exposed = (
        nullcontext()
        if live is None
        else live.metrics.watch(live.target, live.scenario, instruments.lag, instruments.server)
    )
    with exposed:
        async with _sampling(instruments) as sampled:
            yield sampled


@asynccontextmanager
async def _sampling(instruments: Instruments) -> AsyncIterator[Instruments]:
    async with anyio.create_task_group() as tg:
        await tg.start(instruments.lag.run)
        await tg.start(instruments.own.run)
        if instruments.server is not None:
            await tg.start(instruments.server.run)
        instruments.cpu.start()
        try:
            yield instruments
        finally:
            instruments._span = instruments.cpu.stop()
            instruments.lag.stop()
            instruments.own.stop()
            if instruments.server is not None:
                instruments.server.stop()
