"""The coordinated start of worker processes, over one loopback TCP connection each.

Before each measured load a worker says it is ready (connected to its target and warmed up)
and waits; once every worker is ready the coordinator sends them all one wall-clock
`start_at` a little ahead, and each sleeps until then on its own monotonic clock. Messages
are JSON lines: {"worker": i} once, then {"ready": label}; back, {"start_at": t}.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from readiness.errors import WorkerFailed

START_AHEAD_S = 0.25  # from the last worker's "ready" to the shared start: time for the message
MAX_LINE = 64 * 1024


@dataclass
class Barrier:
    """The coordinator's side: which workers wait at which load, and their connections."""

    count: int
    # How long the first worker at a load waits for the last before the run fails.
    patience_s: float = 60.0
    on_failure: Callable[[int, str], None] = lambda _i, _why: None
    on_start: Callable[[str], None] = lambda _label: None  # every worker was told to start
    _streams: dict[int, anyio.abc.SocketStream] = field(default_factory=dict)
    _waiting: dict[str, set[int]] = field(default_factory=dict)
    _first_at: dict[str, float] = field(default_factory=dict)

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
            tg.start_soon(self._watch_laggards)
            task_status.started()

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await stream.aclose()

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        index: int | None = None
        try:
            hello = json.loads(await reader.receive_until(b"\n", MAX_LINE))
            index = int(hello["worker"])
            self._streams[index] = stream
            while True:
                message = json.loads(await reader.receive_until(b"\n", MAX_LINE))
                await self._ready(index, str(message["ready"]))
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            pass  # a worker that finished closes its connection; its exit code says the rest
        except (ValueError, KeyError, anyio.DelimiterNotFound):
            if index is not None:
                self.on_failure(index, "sent the coordinator a message it could not read")
        finally:
            if index is not None:
                self._streams.pop(index, None)
            await stream.aclose()

    async def _ready(self, index: int, label: str) -> None:
        waiting = self._waiting.setdefault(label, set())
        self._first_at.setdefault(label, time.monotonic())
        waiting.add(index)
        if len(waiting) < self.count:
            return
        del self._waiting[label]
        del self._first_at[label]
        start_at = time.time() + START_AHEAD_S
        line = (json.dumps({"start_at": start_at}) + "\n").encode()
        for stream in list(self._streams.values()):
            # A worker gone by now: its supervisor reports its exit.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(line)
        await anyio.sleep(max(start_at - time.time(), 0.0))
        self.on_start(label)

    async def _watch_laggards(self) -> None:
        while True:
            await anyio.sleep(1.0)
            now = time.monotonic()
            for label, since in list(self._first_at.items()):
                if now - since > self.patience_s:
                    behind = sorted(set(range(self.count)) - self._waiting.get(label, set()))
                    for i in behind:
                        self.on_failure(
                            i,
                            f"fell behind: not ready for {label!r} within"
                            f" {self.patience_s:g} s of the first worker",
                        )
                    del self._first_at[label]


class StartGate:
    """The worker's side: say ready, wait for the shared start, sleep until it."""

    def __init__(self, stream: anyio.abc.SocketStream, index: int) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self.index = index

    @classmethod
    async def connect(cls, address: str, index: int) -> StartGate:
        host, _, port = address.rpartition(":")
        stream = await anyio.connect_tcp(host, int(port))
        await stream.send((json.dumps({"worker": index}) + "\n").encode())
        return cls(stream, index)

    async def __call__(self, label: str) -> None:
        try:
            await self._stream.send((json.dumps({"ready": label}) + "\n").encode())
            message = json.loads(await self._reader.receive_until(b"\n", MAX_LINE))
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            raise WorkerFailed(
                f"worker {self.index}: the coordinator went away before {label!r} started"
            ) from None
        # Wall clocks agree across processes; the wait itself runs on the monotonic clock.
        await anyio.sleep(max(float(message["start_at"]) - time.time(), 0.0))

    async def aclose(self) -> None:
        await self._stream.aclose()
