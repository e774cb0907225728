"""The gate every demo tool call passes first: it counts the call, then applies the knobs.

In order: crash (call N+1 of --crash-after N ends the process), leak, latency (at most
--max-concurrent calls at once), injected error.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass

import anyio
from mcp.server.mcpserver.exceptions import ToolError

from readiness.demo.knobs import Knobs

logger = logging.getLogger(__name__)

_LEAK_FILL = b"\xa5"


class InjectedToolError(ToolError):
    """A tool call failed on purpose (--error-rate)."""


@dataclass(frozen=True)
class GateStatistics:
    calls_served: int
    errors_injected: int
    leaked_kib: int
    latency_injected_s: float
    uptime_s: float


class CallGate:
    """Per-server state behind the knobs: call counter, RNG, the leaked buffers.

    One instance per server, created by `build_server`; nothing is shared between servers.
    """

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self._rng = random.Random(knobs.seed)
        self._started = time.monotonic()
        self._calls = 0
        self._errors = 0
        self._delay_s = 0.0
        # Never freed on purpose: this is the --leak-kb-per-call leak.
        self._leaked: list[bytes] = []
        self._slots = (
            anyio.Semaphore(knobs.max_concurrent) if knobs.max_concurrent is not None else None
        )

    async def enter(self, tool: str) -> None:
        """Count a tool call and apply the knobs; raises InjectedToolError for a failed call."""
        knobs = self.knobs
        if knobs.crash_after is not None and self._calls >= knobs.crash_after:
            logger.error(
                "crash-after %d: exiting on tool call %d (%s)",
                knobs.crash_after,
                self._calls + 1,
                tool,
            )
            # Abrupt on purpose: no cleanup, no reply, as if the process were killed.
            os._exit(1)
        self._calls += 1
        if knobs.leak_kb_per_call:
            # Repetition allocates fresh bytes and writes every page, so RSS really grows.
            self._leaked.append(_LEAK_FILL * (knobs.leak_kb_per_call * 1024))
        if self._slots is None:
            await self._wait_latency()
        else:
            async with self._slots:
                await self._wait_latency()
        if knobs.error_rate and self._rng.random() < knobs.error_rate:
            self._errors += 1
            raise InjectedToolError(f"injected failure (error rate {knobs.error_rate:g})")

    async def _wait_latency(self) -> None:
        latency = self.knobs.latency
        if latency is not None:
            delay = latency.sample(self._rng)
            if delay > 0:
                self._delay_s += delay
                await anyio.sleep(delay)

    def statistics(self) -> GateStatistics:
        return GateStatistics(
            calls_served=self._calls,
            errors_injected=self._errors,
            leaked_kib=len(self._leaked) * self.knobs.leak_kb_per_call,
            latency_injected_s=self._delay_s,
            uptime_s=time.monotonic() - self._started,
        )

    def __repr__(self) -> str:
        stats = self.statistics()
        return (
            f"<CallGate [calls: {stats.calls_served}, injected errors: {stats.errors_injected}, "
            f"leaked: {stats.leaked_kib} KiB]>"
        )
