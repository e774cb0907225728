"""The coordinated start of worker processes, over one loopback TCP connection each.

Before each measured load a worker says it is ready (connected to its target and warmed up)
and waits; once every worker is ready the coordinator sends them all one wall-clock
`start_at` a little ahead, and each sleeps until then on its own monotonic clock. After each
scenario they meet again, so all begin the next one together. Messages are JSON lines:
{"worker": i} once, then {"ready": scenario, "phase": p} or {"finished": scenario}; back,
{"start_at": t}. A run on Dask carries the same messages through the scheduler instead
(readiness.distributed.cluster): a `Channel` per shard, and `receive` for each message.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from readiness.errors import WorkerFailed

START_AHEAD_S = 0.25  # from the last worker's "ready" to the shared start: time for the message
MAX_LINE = 64 * 1024


_Point = tuple[str, ...]  # ("ready", scenario, phase) or ("finished", scenario)


class Channel(Protocol):
    """The coordinator's way back to one worker: a loopback socket, or a Dask queue."""

    async def send(self, item: bytes, /) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Barrier:
    """The coordinator's side: which workers wait where, and their connections.

    Two kinds of meeting point: before each measured load ("ready": all start together, at one
    `start_at`) and after each scenario ("finished": none goes on to the next scenario until
    all are done, so a worker never waits out another's long single-worker scenario at a
    start). A worker that finished a scenario without reaching its start (its target failed,
    say) counts as arrived there: the others go on, and its shard's error fails the merge.
    """

    count: int
    # How long the first worker at a start waits for the last before the run fails.
    patience_s: float = 60.0
    on_failure: Callable[[int, str], None] = lambda _i, _why: None
    on_start: Callable[[str], None] = lambda _label: None  # every worker was told to start
    _streams: dict[int, Channel] = field(default_factory=dict)
    _waiting: dict[_Point, set[int]] = field(default_factory=dict)
    _first_at: dict[_Point, float] = field(default_factory=dict)
    _finished: dict[str, set[int]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Barrier workers={len(self._streams)}/{self.count} waiting={self._waiting}>"

    async def serve(
        self,
        listener: anyio.abc.Listener[anyio.abc.SocketStream],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._handle, tg)
            tg.start_soon(self.watch_laggards)
            task_status.started()

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await stream.aclose()

    def join(self, index: int, channel: Channel) -> None:
        """Worker `index` is there; replies to it go through `channel`."""
        self._streams[index] = channel

    async def receive(self, index: int, message: dict[str, Any]) -> None:
        """One message from worker `index`: ready for a load, or finished with a scenario."""
        if "finished" in message:
            key = str(message["finished"])
            self._finished.setdefault(key, set()).add(index)
            await self._arrive(index, ("finished", key))
        else:
            await self._arrive(index, ("ready", str(message["ready"]), str(message["phase"])))

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        index: int | None = None
        try:
            hello = json.loads(await reader.receive_until(b"\n", MAX_LINE))
            index = int(hello["worker"])
            self.join(index, stream)
            while True:
                await self.receive(index, json.loads(await reader.receive_until(b"\n", MAX_LINE)))
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            pass  # a worker that finished closes its connection; its exit code says the rest
        except (ValueError, KeyError, TypeError, anyio.DelimiterNotFound):
            if index is not None:
                self.on_failure(index, "sent the coordinator a message it could not read")
        finally:
            if index is not None:
                self._streams.pop(index, None)
                if any(index not in waiting for waiting in self._waiting.values()):
                    self.on_failure(index, f"worker {index} stopped while the others waited")
            await stream.aclose()

    async def _arrive(self, index: int, point: _Point) -> None:
        self._waiting.setdefault(point, set()).add(index)
        self._first_at.setdefault(point, time.monotonic())
        for waiting in [p for p in self._waiting if p[1] == point[1]]:
            await self._release_if_complete(waiting)

    async def _release_if_complete(self, point: _Point) -> None:
        waiting = self._waiting[point]
        excused = self._finished.get(point[1], set()) if point[0] == "ready" else set()
        if len(waiting | excused) < self.count:
            return
        del self._waiting[point]
        del self._first_at[point]
        start_at = time.time() + (START_AHEAD_S if point[0] == "ready" else 0.0)
        line = (json.dumps({"start_at": start_at}) + "\n").encode()
        for i in sorted(waiting):
            stream = self._streams.get(i)
            if stream is None:
                continue  # gone by now: its supervisor reports its exit
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(line)
        if point[0] == "ready":
            await anyio.sleep(max(start_at - time.time(), 0.0))
            self.on_start(f"{point[1]} {point[2]}")

    async def watch_laggards(self) -> None:
        while True:
            await anyio.sleep(1.0)
            now = time.monotonic()
            for point, since in list(self._first_at.items()):
                if point[0] == "ready" and now - since > self.patience_s:
                    behind = set(range(self.count)) - self._waiting.get(point, set())
                    for i in sorted(behind):
                        self.on_failure(
                            i,
                            f"worker {i} fell behind: not ready for {point[1]!r} within"
                            f" {self.patience_s:g} s of the first worker",
                        )
                    del self._first_at[point]


class StartGate:
    """The worker's side: say ready, wait for the shared start, sleep until it."""

    def __init__(self, stream: anyio.abc.SocketStream, index: int) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self.index = index

    @classmethod
    async def connect(cls, address: str, index: int) -> StartGate:
        host, _, port = address.rpartition(":")
        try:
            stream = await anyio.connect_tcp(host, int(port))
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise WorkerFailed(
                f"worker {index}: cannot reach the coordinator at {address}: {why}"
            ) from None
        await stream.send((json.dumps({"worker": index}) + "\n").encode())
        return cls(stream, index)

    async def ready(self, key: str, phase: str) -> None:
        """Say this worker is ready for the load, wait for the shared start, sleep until it."""
        start_at = await self._meet({"ready": key, "phase": phase}, key)
        # Wall clocks agree across processes; the wait itself runs on the monotonic clock.
        await anyio.sleep(max(start_at - time.time(), 0.0))

    async def finished(self, key: str) -> None:
        """Say this worker is done with the scenario; wait until every worker is."""
        await self._meet({"finished": key}, key)

    async def _meet(self, message: dict[str, str], key: str) -> float:
        try:
            await self._stream.send((json.dumps(message) + "\n").encode())
            reply = json.loads(await self._reader.receive_until(b"\n", MAX_LINE))
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            raise WorkerFailed(
                f"worker {self.index}: the coordinator went away during {key!r}"
            ) from None
        return float(reply["start_at"])

    async def aclose(self) -> None:
        await self._stream.aclose()
