"""Replaying a capture: the captured requests in their order, either at the capture's own
times (divided by its speed; an open model: intended start times come from the capture) or as
fast as a closed load's virtual users allow, each user taking the next request in turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel

from readiness.engine.loops import ClosedLoop, OpenLoop
from readiness.protocol.outcome import Outcome

_OK = Outcome.OK


class OpenReplay(OpenLoop):
    def _offsets(self) -> Iterator[float]:
        return (r.offset_s for r in self._workload.replay)

    def _prepare(self, arrival: int) -> Any:
        replayed = self._workload.replay[arrival]
        return self._workload.operations[replayed.op], replayed.params


class ClosedReplay(ClosedLoop):
    _cursor = 0

    async def _user(self, index: int) -> None:
        request = self._conn.request
        record = self._recorder.record
        on_sent = self._recorder.on_sent
        operations = self._workload.operations
        replay = self._workload.replay
        clock = time.perf_counter_ns
        think = self._plan.think_time
        try:
            while index < self._target and self._stop.take():
                if self._cursor >= len(replay):
                    self._stop.stopped = True
                    return
                replayed = replay[self._cursor]
                self._cursor += 1
                op = operations[replayed.op]
                on_sent(op.index)
                t0 = clock()
                reply = await request(op.method, replayed.params)
                record(op.index, reply.outcome, t0, t0, clock(), reply.error_code)
                if reply.outcome is not _OK:
                    await anyio.lowlevel.checkpoint()
                if think > 0:
                    await anyio.sleep(think)
        finally:
            self._active.discard(index)
