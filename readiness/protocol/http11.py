"""A lean HTTP/1.1 client for one plain-http origin: keep-alive connections on an asyncio
Protocol, replies parsed by httptools (uvicorn's C parser), one request per connection at a time.

aiohttp costs ≈250 µs of client CPU per request here; this path does the same exchange in far
less, because it does only what a POST to one origin needs. Deadlines are enforced by one
ticker per pool over the busy connections (no timer or cancel scope per request, DESIGN §4).
"""

from __future__ import annotations

import asyncio
import base64
import select
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools

IDLE_EXPIRY = 4.0  # below the common server idle timeouts (uvicorn: 5 s), like the aiohttp path
TICK = 0.05  # how often deadlines are checked: a timeout fires up to this much late
# A request that met a closed kept-alive connection is re-sent only when that connection had
# sat idle this long: then a server's idle timeout may have raced it. Sooner, the server (or a
# fault) dropped the request itself, and that is a transport error to count, not to hide.
RETRY_IDLE = 1.0
_POLLIN = getattr(select, "POLLIN", 1)


def clock_of(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """`loop.time` itself, or the clock it reads when that is plain asyncio's
    `time.monotonic` (the same value without a Python frame per call, on the hot path)."""
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class HttpTimeout(Exception):
    """The deadline passed before the reply was complete."""


class HttpFailure(Exception):
    """The exchange broke; the message is the transport failure's detail."""


class Origin:
    """Where requests go: host, port and the request-line path of an http:// URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the fast HTTP client speaks plain http:// only, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.authority = parts.netloc.rpartition("@")[2]
        self.authorization: str | None = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")


class Wire(asyncio.Protocol):
    """One TCP connection and the reply being read on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop = loop
        self._sock = sock
        # A poll of our one socket tells an idle connection's queued FIN without raising (the
        # peek's BlockingIOError costs more than the system call).
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            self._poll.register(sock, _POLLIN)
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._new_future: Callable[[], asyncio.Future[None]] = loop.create_future
        if type(loop).create_future is asyncio.BaseEventLoop.create_future:
            self._new_future = partial(asyncio.Future, loop=loop)  # the same, minus a frame
        self.deadline = 0.0
        self.busy = False
        self._chunks: list[bytes] = []
        self._cap = 0
        self.alive = True
        self.idle_since = 0.0
        self.idle_for = 0.0  # before the current request
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.size = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.oversized = False
        self.received = False
        self.timed_out = False
        self.failure: str | None = None

    # -- asyncio.Protocol and httptools callbacks ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._break(f"malformed HTTP reply: {exc}")
        waiter = self._waiter  # _wake, inline: this runs once per reply
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.busy and not self.complete and self.failure is None:
            if self.head_done and not (b"content-length" in self.headers or self._chunked()):
                self.complete = True  # a body delimited by the end of the connection
            else:
                self.failure = self._lost_failure(exc)
        self._wake()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self._cap:
            self.oversized = True
            self.close()
        else:
            self._chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()

    # -- the exchange ------------------------------------------------------------------------

    def send(self, data: bytes, deadline: float, cap: int) -> None:
        self.status = 0
        self.headers = {}
        self._chunks = []
        self.size = 0
        self._cap = cap
        self.head_done = self.complete = self.keep_alive = False
        self.oversized = self.received = self.timed_out = False
        self.failure = None
        self.deadline = deadline
        self.busy = True
        assert self._transport is not None
        self._transport.write(data)

    def shorten(self, deadline: float) -> None:
        """Bring the deadline forward (to read the rest of a reply briefly, or give up)."""
        self.deadline = min(self.deadline, deadline)

    def next_data(self) -> asyncio.Future[None]:
        """Resolves when more of the reply arrived, it completed, or it failed."""
        waiter = self._waiter = self._new_future()
        if self.complete or self.failure is not None or self.oversized:
            self._wake()
        return waiter

    def take(self) -> list[bytes]:
        chunks = self._chunks
        self._chunks = []
        return chunks

    def still_open(self) -> bool:
        """False when the server already closed this idle connection (its FIN is queued),
        which the event loop may not have noticed yet; one system call."""
        if self._poll is not None:
            return not self._poll.poll(0)  # readable: the end of the stream, or stray bytes
        try:
            self._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False  # the end of the stream, or bytes nobody asked for

    def close(self) -> None:
        self.alive = False
        if self._transport is not None:
            self._transport.close()

    def time_out(self) -> None:
        self.timed_out = True
        self._break("no reply within the timeout")
        self._wake()

    def _break(self, failure: str) -> None:
        if self.failure is None:
            self.failure = failure
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _chunked(self) -> bool:
        return b"chunked" in self.headers.get(b"transfer-encoding", b"").lower()

    def _lost_failure(self, exc: Exception | None) -> str:
        if not self.head_done:
            if isinstance(exc, OSError) and exc.strerror:
                return f"connection lost: {exc.strerror}"
            return "server closed the connection"
        if isinstance(exc, ConnectionResetError):
            return "broken reply body: connection reset by peer mid-reply"
        if b"content-length" in self.headers:
            return "broken reply body: the body ended before its Content-Length"
        return "broken reply body: the reply ended early"


class WirePool:
    """Keep-alive connections to one origin, at most `limit` open, handed out one at a time."""

    def __init__(
        self, origin: Origin, limit: int, connect_timeout: float, retry_idle: float = RETRY_IDLE
    ) -> None:
        self.origin = origin
        self._retry_idle = retry_idle
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._idle: list[Wire] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[Wire | None]] = deque()
        self._busy: set[Wire] = set()
        self._ticker: asyncio.TimerHandle | None = None
        self.connections_opened = 0
        self.reconnects = 0  # requests re-sent because an idle connection closed under them
        try:
            self.clock = clock_of(asyncio.get_running_loop())  # the event loop's time
        except RuntimeError:
            self.clock = time.monotonic

    async def exchange(self, request: bytes, deadline: float, cap: int) -> Wire:
        """Send `request` and return the wire once the reply's head arrived; the caller reads
        the body, then hands the wire back with `release`. Raises HttpTimeout or HttpFailure.

        A kept-alive connection the server closed just as we wrote on it answers nothing; the
        request is then sent once more on a fresh connection (the server never saw it)."""
        for attempt in (0, 1):
            wire = self._idle_wire()
            reused = wire is not None
            if wire is None:
                wire, reused = await self._acquire(asyncio.get_running_loop(), deadline)
            wire.send(request, deadline, cap)
            self._busy.add(wire)
            if self._ticker is None:
                loop = asyncio.get_running_loop()
                self._ticker = loop.call_at(loop.time() + TICK, self._tick, loop)
            try:
                while not wire.head_done and wire.failure is None:
                    await wire.next_data()
            except BaseException:
                self.release(wire)
                raise
            if wire.head_done:
                return wire
            self.release(wire)
            if wire.timed_out:
                raise HttpTimeout
            if not (reused and not wire.received and attempt == 0 and self._may_resend(wire)):
                raise HttpFailure(wire.failure)
            self.reconnects += 1
        raise AssertionError("unreachable")

    async def body(self, wire: Wire) -> bytes | None:
        """The whole body, or None when it exceeds the cap (the connection is then dropped)."""
        while True:
            if wire.oversized:  # first: the parser completes a body that arrived in one read
                return None
            if wire.complete:
                break
            if wire.failure is not None:
                raise HttpTimeout if wire.timed_out else HttpFailure(wire.failure)
            await wire.next_data()
        return b"".join(wire.take())

    async def chunks(self, wire: Wire) -> AsyncIterator[bytes]:
        """The body as it arrives; stops early (leaving `wire.oversized`) past the cap.

        Completion is checked only once nothing is left to take: while the caller worked on a
        chunk (a simulated client answering a server request), the rest of the body may have
        arrived and completed the reply; it must still be handed over."""
        while True:
            chunks = wire.take()
            if chunks:
                for chunk in chunks:
                    yield chunk
                continue
            if wire.complete or wire.oversized:
                return
            if wire.failure is not None:
                raise HttpTimeout if wire.timed_out else HttpFailure(wire.failure)
            await wire.next_data()

    async def drain(self, wire: Wire, within: float) -> None:
        """Read the rest of a reply for at most `within` seconds, so its connection can be
        reused; past that the connection is dropped instead."""
        wire.shorten(asyncio.get_running_loop().time() + within)
        while not wire.complete and wire.failure is None and not wire.oversized:
            wire.take()
            await wire.next_data()

    def release(self, wire: Wire) -> None:
        self._busy.discard(wire)
        wire.busy = False  # the exchange ended; can the connection carry another request?
        if wire.alive and wire.complete and wire.keep_alive and wire.failure is None:
            wire.idle_since = self.clock()
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(wire)
                    return
            self._idle.append(wire)
            return
        wire.close()
        self.release_slot()

    def release_slot(self) -> None:
        """A connection is gone: its room goes to the first caller waiting for one."""
        self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _may_resend(self, wire: Wire) -> bool:
        return wire.idle_for >= self._retry_idle

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out the exchanges past their deadline; tick again while any is under way."""
        now = loop.time()
        for wire in [w for w in self._busy if w.deadline <= now]:
            self._busy.discard(wire)
            wire.time_out()
        self._ticker = loop.call_at(now + TICK, self._tick, loop) if self._busy else None

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        idle, self._idle = self._idle, []
        for wire in idle:
            wire.close()
        self._open -= len(idle)

    def __repr__(self) -> str:
        o = self.origin
        return (
            f"<WirePool {o.host}:{o.port} [{self._open} open, {len(self._idle)} idle,"
            f" {len(self._waiters)} waiting]>"
        )

    def _idle_wire(self) -> Wire | None:
        idle = self._idle
        while idle:
            wire = idle.pop()
            wire.idle_for = self.clock() - wire.idle_since
            if wire.alive and wire.idle_for < IDLE_EXPIRY and wire.still_open():
                return wire
            wire.close()
            self._open -= 1
        return None

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> tuple[Wire, bool]:
        if self._open >= self._limit:
            found = await self._wait_for_slot(loop, deadline)
            if found is not None:
                return found, True
        self._open += 1
        try:
            return await self._connect(loop, deadline), False
        except BaseException:
            self._open -= 1
            raise

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Wire | None:
        waiter: asyncio.Future[Wire | None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise HttpTimeout from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is not None:
                    self.release(handed)
                else:  # pass the free slot on
                    self._open += 1
                    self.release_slot()
            raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Wire:
        origin = self.origin
        timeout = max(0.0, min(deadline - loop.time(), self._connect_timeout))
        try:
            wire = await asyncio.wait_for(self._open_wire(loop), timeout)
        except TimeoutError:
            raise HttpTimeout from None
        except ConnectionRefusedError:
            raise HttpFailure(f"connection refused at {origin.host}:{origin.port}") from None
        except OSError as exc:
            where = f"{origin.host}:{origin.port}"
            raise HttpFailure(f"cannot connect to {where}: {exc.strerror or exc}") from None
        self.connections_opened += 1
        return wire

    async def _open_wire(self, loop: asyncio.AbstractEventLoop) -> Wire:
        """Connect a socket of our own (kept for `still_open`'s peek) and wrap it."""
        origin = self.origin
        infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        failure: OSError = OSError(f"no address for {origin.host}")
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
                _, wire = await loop.create_connection(partial(Wire, loop, sock), sock=sock)
                return wire
            except OSError as exc:
                sock.close()
                failure = exc
            except BaseException:
                sock.close()
                raise
        raise failure
