"""The HTTP interposer: a loopback reverse proxy for Streamable HTTP that forwards every request
(headers, session id, SSE streams) and applies a FaultPlan to each JSON-RPC request it carries.

Request-side faults answer in the server's place (error, session_loss), never answer (drop:
held until the client gives up), close the connection (disconnect), stop everything (hang) or
kill the server (kill, when a Supervisor owns it); reply-side faults delay (latency), replace
(malformed) or trickle (slow_stream) the server's reply.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import anyio
import orjson
from aiohttp import web
from anyio.abc import TaskGroup, TaskStatus

from readiness.chaos.capture import CaptureWriter
from readiness.chaos.faults import (
    DisconnectFault,
    DropFault,
    ErrorFault,
    HangFault,
    KillFault,
    LatencyFault,
    MalformedFault,
    SessionLossFault,
    SlowStreamFault,
    check_faults,
)
from readiness.chaos.messages import RequestInfo, error_reply, inspect_message, malformed_reply
from readiness.chaos.plan import FaultPlan, Injection
from readiness.errors import ConfigError, ReadinessError
from readiness.loopback import require_loopback

SESSION_HEADER = "Mcp-Session-Id"
HOLD_LIMIT = 300.0  # a dropped request is held at most this long, then its connection closed
MAX_BODY = 64 * 1024 * 1024
SHUTDOWN_TIMEOUT = 0.5  # for handlers still running when the proxy stops (held, streaming)
CLOSE_TIMEOUT = 5.0
UPSTREAM_CONNECT_TIMEOUT = 10.0
SESSION_END_TIMEOUT = 2.0
# Hop-by-hop headers end at the proxy; Host and Content-Length are set for the upstream hop.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_RESPONSE_DROP = _HOP_BY_HOP - {"content-length"}


class Supervisor(Protocol):
    """The upstream server's process, when the proxy may kill it (readiness.process's
    ServerSupervisor)."""

    async def kill(self) -> None:
        """SIGKILL the server (and its process group) and reap it."""
        ...

    async def restart(self) -> None:
        """Start it again and return once it accepts connections."""
        ...


def check_upstream(url: str) -> tuple[str, str]:
    """(scheme://host:port, path) of an upstream URL; ConfigError when it is not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f'expected an http:// URL such as "http://127.0.0.1:8000/mcp", got {url!r}',
            key="--upstream",
        )
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


async def serve_proxy(
    upstream_url: str,
    plan: FaultPlan,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    supervisor: Supervisor | None = None,
    on_log: Callable[[str], None] | None = None,
    capture: CaptureWriter | None = None,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the proxy until cancelled; `task_status.started(url)` gives the URL to use in
    place of `upstream_url` (same path, our host and port).

    Binds loopback only unless `allow_remote`. Raises ConfigError for a fault this proxy
    cannot apply (kill without a supervisor, …) or an address it cannot listen on. Whatever
    ends it, the listening socket and every connection are closed before it returns.
    """
    require_loopback(host, allow_remote=allow_remote, key="--listen")
    check_faults(plan.faults, "http", owns_process=supervisor is not None)
    _, path = check_upstream(upstream_url)
    proxy = _Proxy(upstream_url, plan, supervisor, on_log, capture)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        handler_cancellation=True,  # a client that gives up cancels its held request
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        proxy.open()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(f"cannot listen on {host}:{port}: {reason}", key="--listen") from None
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        async with anyio.create_task_group() as task_group:
            proxy.task_group = task_group  # for hang timers and server restarts
            try:
                plan.start()
                task_status.started(f"http://{shown}:{bound}{path}")
                await anyio.sleep_forever()
            finally:
                # Stop while the group is open: a request handled meanwhile may still start
                # a hang timer or a restart in it.
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                    await runner.cleanup()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
            await runner.cleanup()
            await proxy.aclose()


class _Proxy:
    def __init__(
        self,
        upstream_url: str,
        plan: FaultPlan,
        supervisor: Supervisor | None,
        on_log: Callable[[str], None] | None,
        capture: CaptureWriter | None = None,
    ) -> None:
        self._base, self._path = check_upstream(upstream_url)
        self._capture = capture
        self._url = upstream_url
        self.plan = plan
        self._supervisor = supervisor
        self.task_group: TaskGroup | None = None
        self._log = on_log or (lambda message: None)
        self._http: aiohttp.ClientSession | None = None
        self._hang_ends = 0.0  # anyio.current_time() at which the current hang lifts
        self._hang_lifted: anyio.Event | None = None  # set while no hang is on
        self._down = False

    def open(self) -> None:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=UPSTREAM_CONNECT_TIMEOUT),
            auto_decompress=False,  # bytes pass through as the server encoded them
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            trust_env=False,
        )

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    def _upstream_url(self, request: web.Request) -> str:
        path = request.rel_url.raw_path
        query = request.rel_url.raw_query_string
        return f"{self._base}{path}{'?' + query if query else ''}"

    # -- one request ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self._wait_hang()
        body = await request.read()
        info: RequestInfo | None = None
        injection: Injection | None = None
        if request.method == "POST" and body and (self.plan.faults or self._capture is not None):
            try:
                message = orjson.loads(body)
            except orjson.JSONDecodeError:
                message = None
            info = inspect_message(message)
            if info is not None and self._capture is not None:
                # Header names only: their values may be credentials.
                self._capture.request(
                    message, session=request.headers.get(SESSION_HEADER), headers=request.headers
                )
            if info is not None and self.plan.faults:
                injection = self.plan.decide(info.method, info.tool, info.request_id)
        if injection is not None and info is not None:
            answer = await self._apply(request, injection, info)
            if answer is not None:
                return answer
        return await self._forward(request, body, injection, info)

    async def _apply(
        self, request: web.Request, injection: Injection, info: RequestInfo
    ) -> web.StreamResponse | None:
        """The answer for a request-side fault; None to forward the request after all."""
        fault = injection.fault
        if isinstance(fault, ErrorFault):
            if fault.kind == "http":
                return web.Response(status=fault.status, text=f"{fault.message}\n")
            return web.Response(
                body=error_reply(fault, info.request_id), content_type="application/json"
            )
        if isinstance(fault, DropFault):
            with anyio.move_on_after(HOLD_LIMIT):
                await anyio.sleep_forever()
            return _abort(request)
        if isinstance(fault, DisconnectFault):
            return _abort(request)
        if isinstance(fault, SessionLossFault):
            await self._end_session(request)
            body = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": info.request_id,
                    "error": {"code": -32600, "message": "Session not found"},
                }
            )
            return web.Response(status=404, body=body, content_type="application/json")
        if isinstance(fault, HangFault):
            self._start_hang(injection.index, fault)
            await self._wait_hang()
            return None
        if isinstance(fault, KillFault):
            await self._kill(injection.index, fault)
            return None  # forwarded to a dead server: 502, as a reverse proxy answers
        return None  # reply-side faults act in _forward

    async def _forward(
        self,
        request: web.Request,
        body: bytes,
        injection: Injection | None = None,
        info: RequestInfo | None = None,
    ) -> web.StreamResponse:
        http = self._http
        if http is None:
            return _abort(request)
        fault = injection.fault if injection is not None else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            async with http.request(
                request.method,
                self._upstream_url(request),
                data=body or None,
                headers=headers,
                allow_redirects=False,
            ) as upstream:
                if isinstance(fault, LatencyFault) and injection is not None:
                    await anyio.sleep(injection.delay)
                if isinstance(fault, MalformedFault) and info is not None:
                    await upstream.read()
                    return web.Response(
                        body=malformed_reply(fault.shape, info.request_id),
                        content_type="application/json",
                    )
                return await self._stream_back(request, upstream, fault)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return web.Response(status=502, text=f"readiness proxy: upstream failed: {exc}\n")

    async def _stream_back(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        fault: object,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() not in _RESPONSE_DROP:
                response.headers.add(key, value)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                if self._hang_lifted is not None:
                    await self._wait_hang()
                if isinstance(fault, SlowStreamFault):
                    for start in range(0, len(chunk), fault.chunk_size):
                        await response.write(chunk[start : start + fault.chunk_size])
                        await anyio.sleep(fault.chunk_delay)
                else:
                    await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, OSError, TimeoutError):
            _abort(request)  # the server broke off mid-reply: so do we, toward the client
        return response

    # -- faults that act on the whole proxy -------------------------------------------------

    def _start_hang(self, index: int, fault: HangFault) -> None:
        ends = anyio.current_time() + fault.hold_for(self.plan.elapsed())
        if self._hang_lifted is not None:
            self._hang_ends = max(self._hang_ends, ends)
            return
        self._hang_ends = ends
        self._hang_lifted = anyio.Event()
        assert self.task_group is not None
        self.task_group.start_soon(self._lift_hang, index)

    async def _lift_hang(self, index: int) -> None:
        ends = 0.0
        while ends < self._hang_ends:  # a hang fired during a hang moves its end later
            ends = self._hang_ends
            await anyio.sleep_until(ends)
        lifted, self._hang_lifted = self._hang_lifted, None
        if lifted is not None:
            lifted.set()
        self.plan.record_end(index)

    async def _wait_hang(self) -> None:
        lifted = self._hang_lifted
        if lifted is not None:
            await lifted.wait()

    async def _kill(self, index: int, fault: KillFault) -> None:
        supervisor = self._supervisor
        if supervisor is None or self._down:
            return
        self._down = True
        await supervisor.kill()
        # Pooled connections went with the server: start afresh rather than fail on them.
        old, self._http = self._http, None
        if old is not None:
            await old.close()
        self.open()
        if fault.restart_after is not None:
            assert self.task_group is not None
            self.task_group.start_soon(self._restart, index, fault.restart_after)

    async def _restart(self, index: int, delay: float) -> None:
        assert self._supervisor is not None
        await anyio.sleep(delay)
        try:
            await self._supervisor.restart()
        except (ReadinessError, OSError) as exc:  # the proxy keeps answering 502; log why
            self._log(f"could not restart the upstream server: {exc}")
            return
        self._down = False
        self.plan.record_end(index)

    async def _end_session(self, request: web.Request) -> None:
        """End the session upstream too, as a server that lost it would no longer know it."""
        session = request.headers.get(SESSION_HEADER)
        http = self._http
        if session is None or http is None:
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.pop("Content-Type", None)
        with anyio.move_on_after(SESSION_END_TIMEOUT):
            try:
                async with http.delete(self._upstream_url(request), headers=headers) as response:
                    await response.read()
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass  # best effort: the client is told 404 either way


def _abort(request: web.Request) -> web.StreamResponse:
    """Close the client's connection without an answer (the response is never written)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response()
