"""Serves the run's live metrics over HTTP (GET /metrics) and pushes them to a Pushgateway.

The endpoint runs on the run's own event loop, so a scrape reads the counters between two
steps of the load, never in the middle of a fold; a push runs in a worker thread.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from readiness.errors import ConfigError
from readiness.metrics.exposition import new_registry, render
from readiness.metrics.live import LiveMetrics

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0
PUSH_TIMEOUT_S = 10.0
JOB = "readiness"
_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


@dataclass
class MetricsExport:
    """What the run exposes and where: the live registry, the endpoint's URL, the pushes."""

    live: LiveMetrics
    registry: CollectorRegistry
    url: str | None = None
    pushgateway: str | None = None
    run_id: str = "run"
    pushes: int = 0
    push_errors: list[str] = field(default_factory=list)
    _pending: MemoryObjectSendStream[str] | None = None

    def __repr__(self) -> str:
        return (
            f"<MetricsExport [url {self.url!r}, pushgateway {self.pushgateway!r} |"
            f" {self.pushes} pushes, {len(self.push_errors)} failed]>"
        )

    def request_push(self, reason: str) -> None:
        """Ask for a push of the series as they stand (after a scenario); never blocks."""
        if self._pending is not None:
            # WouldBlock: a push is already queued, and it will carry these series too.
            with suppress(anyio.WouldBlock):
                self._pending.send_nowait(reason)

    async def push_now(self) -> None:
        """Push the series now (in a worker thread); a failure is noted, never raised."""
        if self.pushgateway is None:
            return
        from prometheus_client import CollectorRegistry, push_to_gateway

        gateway, grouping = self.pushgateway, {"run": self.run_id}
        # The live figures are read here, on the loop's thread; the thread pushes a copy.
        frozen = CollectorRegistry(auto_describe=False)
        frozen.register(_Frozen(list(self.registry.collect())))

        def push() -> None:
            push_to_gateway(
                gateway, job=JOB, registry=frozen, grouping_key=grouping, timeout=PUSH_TIMEOUT_S
            )

        try:
            with anyio.fail_after(PUSH_TIMEOUT_S + 1):
                await anyio.to_thread.run_sync(push, abandon_on_cancel=True)
            self.pushes += 1
        except (OSError, ValueError, TimeoutError, HTTPException) as exc:
            self.push_errors.append(f"push to {gateway} failed: {exc}")


@asynccontextmanager
async def open_metrics(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    pushgateway: str | None = None,
    run_id: str = "run",
) -> AsyncIterator[MetricsExport]:
    """Serve /metrics on host:port (0: a free port) while the block runs, and with a
    Pushgateway push after each requested scenario and once at the end. Raises ConfigError
    when the port cannot be bound."""
    live = LiveMetrics()
    export = MetricsExport(live, new_registry(live), pushgateway=pushgateway, run_id=run_id)
    listener = None if port is None else await _listen(host, port)
    try:
        async with _serving(export, listener, host) as served:
            yield served
    finally:
        if listener is not None:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
    if pushgateway is not None:
        with anyio.CancelScope(shield=True):
            await export.push_now()  # the final series, after the last scenario


@asynccontextmanager
async def _serving(
    export: MetricsExport,
    listener: anyio.abc.Listener[anyio.abc.SocketStream] | None,
    host: str,
) -> AsyncIterator[MetricsExport]:
    if listener is not None:
        bound = listener.extra(anyio.abc.SocketAttribute.local_address)
        shown = f"[{host}]" if ":" in host else host
        export.url = f"http://{shown}:{bound[1]}/metrics"
    async with anyio.create_task_group() as pushing:
        if export.pushgateway is not None:
            send, receive = anyio.create_memory_object_stream[str](1)
            export._pending = send
            pushing.start_soon(_pusher, export, receive)
        try:
            async with anyio.create_task_group() as serving:
                if listener is not None:
                    serving.start_soon(listener.serve, _handler(export))
                try:
                    yield export
                finally:
                    serving.cancel_scope.cancel()
        finally:
            # The pusher makes the pushes already asked for, then ends.
            if export._pending is not None:
                export._pending.close()
                export._pending = None


async def _listen(host: str, port: int) -> anyio.abc.Listener[anyio.abc.SocketStream]:
    try:
        listener = await anyio.create_tcp_listener(
            local_host=host, local_port=port, family=socket.AF_UNSPEC, reuse_port=False
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc}", key="--metrics-port"
        ) from None
    return listener


async def _pusher(export: MetricsExport, receive: MemoryObjectReceiveStream[str]) -> None:
    async with receive:
        async for _ in receive:
            await export.push_now()


class _Frozen:
    """Metric families collected once, for a push from another thread."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _handler(export: MetricsExport) -> Callable[[anyio.abc.SocketStream], Awaitable[None]]:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(READ_TIMEOUT_S):
                    method, path = await _read_request(stream)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
                return
            if method != b"GET" or path.split(b"?")[0] not in (b"/metrics", b"/"):
                await _reply(stream, b"404 Not Found", b"text/plain", b"not found\n")
                return
            if path.startswith(b"/metrics"):
                cpu0 = time.thread_time()  # this thread runs the load too: only our share
                body = render(export.registry)
                export.live.scrape_cpu_s += time.thread_time() - cpu0
                await _reply(stream, b"200 OK", _CONTENT_TYPE, body)
            else:
                body = b'readiness live metrics: <a href="/metrics">/metrics</a>\n'
                await _reply(stream, b"200 OK", b"text/html", body)

    return handle


async def _read_request(stream: anyio.abc.SocketStream) -> tuple[bytes, bytes]:
    """The method and path of one HTTP/1.x request (its body, if any, is ignored)."""
    import httptools

    url = bytearray()
    done = False

    class _Head:
        def on_url(self, part: bytes) -> None:
            url.extend(part)

        def on_headers_complete(self) -> None:
            nonlocal done
            done = True

    parser = httptools.HttpRequestParser(_Head())
    received = 0
    while not done:
        chunk = await stream.receive()
        received += len(chunk)
        if received > MAX_REQUEST_BYTES:
            raise ValueError("request head too large")
        try:
            parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            break
        except httptools.HttpParserError as exc:
            raise ValueError(str(exc)) from None
    return parser.get_method(), bytes(url)


async def _reply(
    stream: anyio.abc.SocketStream, status: bytes, content_type: bytes, body: bytes
) -> None:
    head = (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await stream.send(head + body)
