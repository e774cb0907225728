"""Which fault, if any, applies to each request — seedable and clock-injected — and the record
of every injection, kept in memory and optionally appended to a JSON-lines file as it happens.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import orjson

from readiness.chaos.faults import AnyFault, Interval, LatencyFault
from readiness.chaos.messages import RequestId

Phase = Literal["inject", "end"]
MAX_EVENTS = 100_000  # kept in memory; the events file has them all


@dataclass(frozen=True)
class Injection:
    """A fault that fires on one request; `delay` is the sampled latency (latency faults)."""

    index: int
    fault: AnyFault
    delay: float = 0.0


@dataclass(frozen=True)
class FaultEvent:
    """One injection (`phase = "inject"`), or the end of a fault's effect (`"end"`: a hang
    lifted, a killed server restarted). `t_s` counts from the interposer's start; `at` is
    wall-clock time, for lining events up with a run's timeline."""

    t_s: float
    fault_index: int
    type: str
    method: str | None
    tool: str | None
    request_id: RequestId
    phase: Phase = "inject"
    at: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "t_s": round(self.t_s, 6),
            "fault_index": self.fault_index,
            "type": self.type,
            "method": self.method,
            "tool": self.tool,
            "request_id": self.request_id,
            "phase": self.phase,
            "at": round(self.at, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FaultEvent:
        request_id = data.get("request_id")
        phase = data.get("phase", "inject")
        return cls(
            t_s=float(data["t_s"]),  # type: ignore[arg-type]
            fault_index=int(data["fault_index"]),  # type: ignore[call-overload]
            type=str(data["type"]),
            method=_optional_str(data.get("method")),
            tool=_optional_str(data.get("tool")),
            request_id=request_id if isinstance(request_id, str | int | float) else None,
            phase="end" if phase == "end" else "inject",
            at=float(data.get("at", 0.0)),  # type: ignore[arg-type]
        )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PlanStatistics:
    """Per fault (in declaration order): requests its selectors matched, and times it fired."""

    matched: tuple[int, ...]
    injected: tuple[int, ...]
    events_not_kept: int  # injections past MAX_EVENTS (still written to the events file)


class FaultPlan:
    """Decides per request which fault applies: faults are tried in order and the first that
    fires wins. Each fault counts the requests its selectors match (method, tool, window)
    whether or not an earlier fault took them, so `first = 3` means the first three matching
    requests, whatever else is configured. An outage fault with no `first`, `every` or
    `probability` fires once (see `_Fault.fires_once`); `every = "3s"` fires again once 3 s
    have passed since it last fired. Each fault draws from its own random stream, derived from
    `seed`, so one fault's draws never shift another's.
    """

    def __init__(
        self,
        faults: Sequence[AnyFault],
        *,
        seed: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_event: Callable[[FaultEvent], None] | None = None,
        armed: bool = True,
    ) -> None:
        self.faults = tuple(faults)
        self.armed = armed  # unarmed, nothing is injected (nor counted) until arm()
        self.seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._on_event = on_event
        self._rngs = [random.Random(f"{self.seed}/{i}") for i in range(len(self.faults))]
        self._matched = [0] * len(self.faults)
        self._injected = [0] * len(self.faults)
        self._last_fired: list[float | None] = [None] * len(self.faults)
        self._events: list[FaultEvent] = []
        self._events_not_kept = 0
        self._start = monotonic()

    def start(self) -> None:
        """Make now the zero of `during` windows (the interposer calls it once it is ready)."""
        self._start = self._monotonic()

    def arm(self) -> None:
        """Start injecting, with now as the zero of `during` windows (a scenario calls it as
        its measured load begins, so warm-up and handshake are never faulted)."""
        self.start()
        self.armed = True

    def elapsed(self) -> float:
        return self._monotonic() - self._start

    @property
    def events(self) -> tuple[FaultEvent, ...]:
        return tuple(self._events)

    def decide(
        self, method: str, tool: str | None = None, request_id: RequestId = None
    ) -> Injection | None:
        """The fault to apply to this request, recorded as an event; None to pass it through."""
        if not self.faults or not self.armed:
            return None
        now = self.elapsed()
        chosen: Injection | None = None
        for i, fault in enumerate(self.faults):
            wanted = fault.selected_method
            if wanted is not None and wanted != method:
                continue
            if fault.tool is not None and fault.tool != tool:
                continue
            if fault.during is not None and now not in fault.during:
                continue
            self._matched[i] += 1
            if chosen is not None:
                continue
            if fault.fires_once and self._injected[i]:
                continue
            count = self._matched[i]
            if fault.first is not None and count > fault.first:
                continue
            every = fault.every
            if isinstance(every, Interval):
                last = self._last_fired[i]
                if last is not None and now - last < every.seconds:
                    continue
            elif every is not None and count % every:
                continue
            rng = self._rngs[i]
            probability = fault.probability
            if probability is not None and probability < 1.0 and rng.random() >= probability:
                continue
            delay = fault.sample(rng) if isinstance(fault, LatencyFault) else 0.0
            chosen = Injection(i, fault, delay)
        if chosen is not None:
            self._injected[chosen.index] += 1
            self._last_fired[chosen.index] = now
            self._record(chosen.index, now, method, tool, request_id, "inject")
        return chosen

    def record_end(self, index: int, method: str | None = None, tool: str | None = None) -> None:
        """Note that fault `index`'s effect is over (hang lifted, server restarted)."""
        self._record(index, self.elapsed(), method, tool, None, "end")

    def statistics(self) -> PlanStatistics:
        return PlanStatistics(
            matched=tuple(self._matched),
            injected=tuple(self._injected),
            events_not_kept=self._events_not_kept,
        )

    def _record(
        self,
        index: int,
        t_s: float,
        method: str | None,
        tool: str | None,
        request_id: RequestId,
        phase: Phase,
    ) -> None:
        event = FaultEvent(
            t_s=t_s,
            fault_index=index,
            type=self.faults[index].type,
            method=method,
            tool=tool,
            request_id=request_id,
            phase=phase,
            at=self._wall_clock(),
        )
        if len(self._events) < MAX_EVENTS:
            self._events.append(event)
        else:
            self._events_not_kept += 1
        if self._on_event is not None:
            self._on_event(event)

    def __repr__(self) -> str:
        fired = sum(self._injected)
        return f"<FaultPlan faults={len(self.faults)} injected={fired} seed={self.seed}>"


class EventLog:
    """Appends events to a JSON-lines file, one flushed line each, so a reader (or a killed
    interposer) never loses what was already injected."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = self.path.open("ab")

    def write(self, event: FaultEvent) -> None:
        file = self._file
        if file is not None:
            file.write(orjson.dumps(event.as_json(), option=orjson.OPT_APPEND_NEWLINE))
            file.flush()

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | Path) -> list[FaultEvent]:
    """The events in a file written by EventLog (a torn last line is skipped)."""
    events: list[FaultEvent] = []
    with Path(path).open("rb") as handle:
        for line in handle:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                events.append(FaultEvent.from_json(data))
    return events
