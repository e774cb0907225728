"""Replaying a capture: the captured requests in their order, either at the capture's own
times (divided by its speed; an open model: intended start times come from the capture) or as
fast as a closed load's virtual users allow, each user taking the next request in turn.

Captured sessions are kept apart when the caller gives one connection per session
(`sessions`); with fewer connections than sessions, session i uses connection i mod n.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from readiness.engine.loops import ClosedLoop, OpenLoop, Requester
from readiness.protocol.outcome import Outcome

_OK = Outcome.OK


class OpenReplay(OpenLoop):
    sessions: tuple[Requester, ...] = ()

    def _offsets(self) -> Iterator[float]:
        return (r.offset_s for r in self._workload.replay)

    def _prepare(self, arrival: int) -> Any:
        replayed = self._workload.replay[arrival]
        conns = self.sessions or (self._conn,)
        return (
            self._workload.operations[replayed.op],
            replayed.params,
            conns[replayed.session % len(conns)],
        )

    def _launch(self, tg: anyio.abc.TaskGroup, item: Any, intended_ns: int) -> None:
        op, params, conn = item
        self._recorder.on_sent(op.index)
        tg.start_soon(self._send, conn, op, params, intended_ns)


class ClosedReplay(ClosedLoop):
    sessions: tuple[Requester, ...] = ()
    _cursor = 0

    async def _user(self, index: int) -> None:
        record = self._recorder.record
        on_sent = self._recorder.on_sent
        operations = self._workload.operations
        replay = self._workload.replay
        conns = self.sessions or (self._conn,)
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
                conn = conns[replayed.session % len(conns)]
                on_sent(op.index)
                t0 = clock()
                reply = await conn.request(op.method, replayed.params)
                record(op.index, reply.outcome, t0, t0, clock(), reply.error_code)
                if reply.outcome is not _OK:
                    await anyio.lowlevel.checkpoint()
                if think > 0:
                    await anyio.sleep(think)
        finally:
            self._active.discard(index)
