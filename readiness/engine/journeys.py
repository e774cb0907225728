"""Journeys under load: each virtual user (closed model) or each arrival (open model) walks a
weighted journey step by step, thinking before a step when told to, saving values from a reply
for later steps. A failed step ends that journey; a missing value ends it too, classified.

Every step is recorded as an operation of its own (per-step figures); the journey's own totals
go to a JourneyRecorder.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from readiness.engine.arguments import DataExhausted, Draw, MissingSaved
from readiness.engine.loops import ClosedLoop, LoadPlan, Loop, OpenLoop, Requester, Stop
from readiness.engine.workload import Journey, Workload
from readiness.metrics.journeys import JourneyRecorder
from readiness.metrics.recorder import Recorder
from readiness.protocol.outcome import Outcome

_OK = Outcome.OK
_MISSING = object()


def extract(result: dict[str, Any] | None, path: tuple[str | int, ...]) -> Any:
    """The value at `path` in a tool result, or _MISSING. A JSON text met on the way (or at the
    end of a path through `content[i].text`) is parsed and walked into."""
    node: Any = result
    for part in path:
        if isinstance(node, str):
            node = _parsed(node)
        if isinstance(part, int):
            if not isinstance(node, list) or not -len(node) <= part < len(node):
                return _MISSING
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    if path[-1] == "text" and isinstance(node, str):
        node = _parsed(node)
    return node


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Walker:
    """Walks one journey over the connection, recording each step and the journey."""

    def __init__(self, conn: Requester, recorder: Recorder, journeys: JourneyRecorder) -> None:
        self._request = conn.request
        self._recorder = recorder
        self._journeys = journeys

    async def walk(self, journey: Journey, draw: Draw, intended_ns: int | None) -> None:
        """`intended_ns`: the arrival's intended start (open model), else now. Raises
        DataExhausted when a unique data set runs out before a step."""
        record = self._recorder.record
        clock = time.perf_counter_ns
        j = journey.index
        self._journeys.on_start(j)
        started = clock() if intended_ns is None else intended_ns
        draw.saved.clear()
        for i, step in enumerate(journey.steps):
            if step.think_s > 0:
                await anyio.sleep(step.think_s)
            op = step.op
            try:
                params = op.params_for(draw)
            except MissingSaved:
                self._journeys.on_missing(j, i)
                return
            self._recorder.on_sent(op.index)
            t0 = clock()
            intended = intended_ns if i == 0 and intended_ns is not None else t0
            reply = await self._request(op.method, params)
            record(op.index, reply.outcome, intended, t0, clock(), reply.error_code)
            if reply.outcome is not _OK:
                self._journeys.on_failed(j, i)
                await anyio.lowlevel.checkpoint()  # an instant failure must not spin
                return
            for name, path in step.save:
                value = extract(reply.result, path)
                if value is _MISSING:
                    self._journeys.on_missing(j, i)
                    return
                draw.saved[name] = value
        self._journeys.on_completed(j, clock() - started)


class _JourneyLoop(Loop):
    """What both journey loops add to their model: a walker that records journeys too."""

    def __init__(
        self,
        conn: Requester,
        workload: Workload,
        plan: LoadPlan,
        recorder: Recorder,
        stop: Stop,
        journeys: JourneyRecorder,
    ) -> None:
        super().__init__(conn, workload, plan, recorder, stop)
        self._walker = _Walker(conn, recorder, journeys)


class ClosedJourneys(_JourneyLoop, ClosedLoop):
    """Virtual users, each walking journeys one after another (the plan's think time between
    journeys); the plan's request budget counts journeys."""

    async def _user(self, index: int) -> None:
        draw = self._workload.draw(index + 1)
        think = self._plan.think_time
        iteration = 0
        try:
            while index < self._target and self._stop.take():
                draw.iteration = iteration
                iteration += 1
                try:
                    await self._walker.walk(self._workload.next_journey(), draw, None)
                except DataExhausted as exc:
                    self._stop.exhaust(exc.name)
                    return
                if think > 0:
                    await anyio.sleep(think)
        finally:
            self._active.discard(index)


class OpenJourneys(_JourneyLoop, OpenLoop):
    """Journeys arrive at the plan's rate; each arrival walks one journey with a draw of its
    own (vu 0, iteration = arrival number). The request budget and in-flight limit count
    journeys; the first step's latency runs from the arrival's intended start."""

    def _prepare(self, arrival: int) -> Any:
        draw = Draw(f"{self._workload.data_seed}/arrival", arrival)
        draw.vu = 0
        draw.iteration = arrival
        return self._workload.next_journey(), draw

    def _launch(self, tg: anyio.abc.TaskGroup, item: Any, intended_ns: int) -> None:
        journey, draw = item
        tg.start_soon(self._walk, journey, draw, intended_ns)

    async def _walk(self, journey: Journey, draw: Draw, intended_ns: int) -> None:
        try:
            await self._walker.walk(journey, draw, intended_ns)
        except DataExhausted as exc:
            self._stop.exhaust(exc.name)
        finally:
            self._release()
