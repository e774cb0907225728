"""The two load models' loops over one connection: closed (virtual users send, wait, think,
repeat) and open (a dispatcher sends on a schedule and never waits on replies; each request
keeps its intended start time so latency is corrected for coordinated omission).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from readiness.engine.arguments import DataExhausted, Draw
from readiness.engine.schedule import Ramp, arrival_offsets
from readiness.engine.segment import WHOLE, Segment
from readiness.engine.workload import Operation, Workload
from readiness.metrics.recorder import Recorder
from readiness.protocol.outcome import Outcome, Reply

# How often a closed-model ramp re-reads its target concurrency.
_RAMP_TICK_S = 0.05
# The event loop's timers wake up to ~1 ms late (epoll rounds its timeout up to whole
# milliseconds), which would be charged to the server as latency. So the dispatcher sleeps
# until shortly before a send and yields to the loop for the rest.
_SLEEP_EARLY_NS = 1_500_000
_SEND_SLACK_NS = 20_000
_OK = Outcome.OK  # a global is cheaper than an Enum lookup per request


class Requester(Protocol):
    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply: ...


@dataclass(frozen=True)
class LoadPlan:
    model: Literal["closed", "open"]
    level: Ramp  # concurrency (closed) or arrivals per second (open) over time
    duration: float | None  # stop sending after this long
    requests: int | None  # stop after this many sends
    think_time: float = 0.0
    poisson: bool = False
    max_in_flight: int = 1024
    drop_when_full: bool = False
    seed: int = 0
    segment: Segment = WHOLE  # this process's share when several run the load

    @property
    def planned_s(self) -> float | None:
        if self.duration is not None:
            return self.duration
        if self.requests is None:
            return self.level.duration
        return None


class Stop:
    """Shared stop conditions: a request budget and a send deadline."""

    def __init__(self, requests: int | None) -> None:
        self.remaining = math.inf if requests is None else requests
        self.stopped = False
        self.exhausted: str | None = None

    def exhaust(self, data: str) -> None:
        self.stopped = True
        self.exhausted = data

    def take(self) -> bool:
        if self.stopped or self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class Loop:
    """What both models share: the connection, the mix, the plan, the recorder, the stop."""

    def __init__(
        self,
        conn: Requester,
        workload: Workload,
        plan: LoadPlan,
        recorder: Recorder,
        stop: Stop,
    ) -> None:
        self._conn = conn
        self._workload = workload
        self._plan = plan
        self._recorder = recorder
        self._stop = stop


class ClosedLoop(Loop):
    _target: int  # virtual users wanted now
    _active: set[int]  # indices of the users running

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        self._target = 0
        self._active = set()
        level = self._plan.level
        ramped = len(level.segments) > 1 or level.start != level.segments[0][1]
        started = time.perf_counter()
        while True:
            t = time.perf_counter() - started
            self._target = self._plan.segment.share(max(round(level.level_at(t)), 0))
            for i in range(self._target):
                if i not in self._active:
                    self._active.add(i)
                    tg.start_soon(self._user, i)
            if not ramped or self._stop.stopped or self._stop.remaining <= 0:
                return
            if self._plan.duration is None and self._plan.requests is None and t >= level.duration:
                self._stop.stopped = True
                return
            await anyio.sleep(_RAMP_TICK_S)

    async def _user(self, index: int) -> None:
        request = self._conn.request
        record = self._recorder.record
        on_sent = self._recorder.on_sent
        pick = self._workload.next
        take = self._stop.take
        clock = time.perf_counter_ns
        think = self._plan.think_time
        # Templated values are drawn here, before the clock starts: never in the timed part.
        # Users are numbered across workers (shard i has users i+1, i+1+N, …): `{{ vu }}` and
        # each user's seeded values are the same whether one process runs the load or several.
        segment = self._plan.segment
        vu = index * segment.count + segment.index + 1
        draw = self._workload.draw(vu) if self._workload.templated else None
        iteration = 0
        try:
            while index < self._target and take():
                op: Operation = pick()
                params = op.params
                if op.render is not None:
                    assert draw is not None
                    draw.iteration = iteration
                    try:
                        params = op.render(draw)
                    except DataExhausted as exc:
                        self._stop.exhaust(exc.name)
                        return
                iteration += 1
                on_sent(op.index)
                t0 = clock()
                reply = await request(op.method, params)
                record(op.index, reply.outcome, t0, t0, clock(), reply.error_code)
                if reply.outcome is not _OK:
                    # A dead connection answers without yielding; let deadlines and the
                    # other users run rather than spin on instant failures.
                    await anyio.lowlevel.checkpoint()
                if think > 0:
                    await anyio.sleep(think)
        finally:
            self._active.discard(index)


class OpenLoop(Loop):
    _in_flight: int
    _draw: Draw | None
    _slot_freed: anyio.Event | None  # set when a send finishes while the dispatcher waits

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        self._in_flight = 0
        self._slot_freed = None
        recorder = self._recorder
        start_ns = time.perf_counter_ns()
        recorder.start_ns = start_ns
        offsets = self._offsets()
        try:
            await self._dispatch(tg, offsets, start_ns)
        finally:
            # Arrivals the deadline or an interruption cut off were never sent: count those
            # already due. Not the rest of the schedule: walking it (an hour of a high rate)
            # would hold the event loop, and every signal with it, for as long.
            due_s = (time.perf_counter_ns() - start_ns) / 1e9
            for offset in offsets:
                if offset > due_s or not self._stop.take():
                    break
                recorder.on_dropped()

    def _offsets(self) -> Iterator[float]:
        plan = self._plan
        offsets = arrival_offsets(
            plan.level,
            poisson=plan.poisson,
            duration=plan.duration,
            requests=plan.requests,
            seed=plan.seed,
        )
        return plan.segment.arrivals(offsets)

    async def _dispatch(
        self, tg: anyio.abc.TaskGroup, offsets: Iterator[float], start_ns: int
    ) -> None:
        plan = self._plan
        recorder = self._recorder
        clock = time.perf_counter_ns
        self._draw = (
            self._workload.draw(0, plan.segment.index) if self._workload.templated else None
        )
        max_in_flight = max(plan.segment.share(plan.max_in_flight), 1)
        arrival = 0
        for offset in offsets:
            intended = start_ns + int(offset * 1e9)
            # What to send is drawn before waiting for the intended time, never after it.
            try:
                item = self._prepare(arrival)
            except DataExhausted as exc:
                self._stop.exhaust(exc.name)
                return
            arrival += 1
            wait_ns = intended - clock()
            if wait_ns > _SLEEP_EARLY_NS:
                await anyio.sleep((wait_ns - _SLEEP_EARLY_NS) / 1e9)
            while intended - clock() > _SEND_SLACK_NS:
                await anyio.lowlevel.checkpoint()
            if not self._stop.take():
                return
            if self._in_flight >= max_in_flight:
                if plan.drop_when_full:
                    recorder.on_dropped()
                    continue
                recorder.on_late()
                try:
                    while self._in_flight >= max_in_flight:
                        self._slot_freed = anyio.Event()
                        await self._slot_freed.wait()
                except BaseException:
                    recorder.on_dropped()  # cut off while waiting: never sent
                    raise
            self._in_flight += 1
            self._launch(tg, item, intended)

    def _prepare(self, arrival: int) -> Any:
        """What arrival number `arrival` sends. The open model has no virtual users: one draw
        (vu 0) whose iteration is the arrival's number."""
        op = self._workload.next()
        if op.render is None:
            return op, op.params
        draw = self._draw
        assert draw is not None
        segment = self._plan.segment  # the arrival's number in the one schedule all shards deal
        draw.iteration = arrival * segment.count + segment.index
        return op, op.render(draw)

    def _launch(self, tg: anyio.abc.TaskGroup, item: Any, intended_ns: int) -> None:
        op, params = item
        self._recorder.on_sent(op.index)
        tg.start_soon(self._send, self._conn, op, params, intended_ns)

    def _release(self) -> None:
        self._in_flight -= 1
        if self._slot_freed is not None:
            self._slot_freed.set()
            self._slot_freed = None

    async def _send(
        self, conn: Requester, op: Operation, params: dict[str, Any] | None, intended_ns: int
    ) -> None:
        """One arrival's request on `conn`, recorded against its intended start; frees its
        in-flight slot however it ends."""
        try:
            t0 = time.perf_counter_ns()
            reply = await conn.request(op.method, params)
            self._recorder.record(
                op.index, reply.outcome, intended_ns, t0, time.perf_counter_ns(), reply.error_code
            )
        finally:
            self._release()
