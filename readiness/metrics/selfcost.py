"""Measures the generator's own CPU over a span, so a report can say what the tool cost.

`time.process_time()` counts user + system time of every thread in this process, to the ns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True, slots=True)
class CpuSpan:
    cpu_s: float  # user + system, all threads of this process
    wall_s: float

    @property
    def cpu_percent(self) -> float:
        """Of one core; above 100 when several threads were busy at once."""
        return 100 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def cpu_us_per(self, requests: int) -> float | None:
        """CPU microseconds per request; None when there were none."""
        return self.cpu_s * 1e6 / requests if requests > 0 else None


class CpuMeter:
    """Start, stop, read: `with CpuMeter() as meter: …` then `meter.read()` also works."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None
        self._span: CpuSpan | None = None

    def start(self) -> None:
        self._span = None
        self._start = (time.process_time(), time.perf_counter())

    def read(self) -> CpuSpan:
        """The span so far, or the whole span once stopped."""
        if self._span is not None:
            return self._span
        if self._start is None:
            raise RuntimeError("CpuMeter.read() before start()")
        cpu0, wall0 = self._start
        return CpuSpan(cpu_s=time.process_time() - cpu0, wall_s=time.perf_counter() - wall0)

    def stop(self) -> CpuSpan:
        self._span = self.read()
        return self._span

    def __enter__(self) -> CpuMeter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._start is None:
            return "<CpuMeter not started>"
        span = self.read()
        state = "stopped" if self._span is not None else "running"
        return f"<CpuMeter {state} cpu={span.cpu_s:.3f}s wall={span.wall_s:.3f}s>"
