"""Streamable HTTP over the lean HTTP/1.1 client (http11.py): the same MCP channel as
HttpConnection, with the exchange done on keep-alive sockets instead of aiohttp.

For plain http:// only; TLS, proxies and HTTP/2-only servers stay on aiohttp (see `choose_client`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import orjson

from readiness.protocol.connection import ConnectOptions, HttpParams
from readiness.protocol.http import (
    CLOSE_TIMEOUT,
    MAX_REDIRECTS,
    SESSION_HEADER,
    SSE_DRAIN_TIMEOUT,
    HttpConnection,
    SessionLost,
    status_reply,
)
from readiness.protocol.http11 import HttpFailure, HttpTimeout, Origin, Wire, WirePool
from readiness.protocol.outcome import Outcome, OversizedReply, Reply
from readiness.protocol.sse import SseParser

HttpClient = Literal["fast", "aiohttp"]
_SESSION = SESSION_HEADER.lower().encode()
_JSON = b"application/json"
_TRIES = range(MAX_REDIRECTS + 1)
_TRANSPORT = Outcome.TRANSPORT
_OK = Outcome.OK
_TOOL_ERROR = Outcome.TOOL_ERROR
_HEAD_CACHE_LIMIT = 4096
_STREAM_CAP = 1 << 62  # the GET stream's whole body; each event is capped by the SSE parser
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def choose_client(choice: str, url: str) -> HttpClient:
    """`auto` takes the fast client for plain http:// and aiohttp for anything else."""
    if choice == "auto":
        return "fast" if url.lower().startswith("http://") else "aiohttp"
    return "fast" if choice == "fast" else "aiohttp"


class FastHttpConnection(HttpConnection):
    """An MCP channel to a plain-http Streamable HTTP endpoint over a pool of keep-alive
    connections sized to `max_connections` (HTTP/1.1: one request per connection at a time)."""

    http_client = "fast"

    def __init__(self, params: HttpParams, options: ConnectOptions, target: str) -> None:
        self._origin = Origin(params.url)
        self._pool: WirePool | None = None
        self._heads: dict[tuple[bytes, str, int], tuple[Mapping[str, str], bytes]] = {}
        self._post_head: tuple[Mapping[str, str], bytes] | None = None  # the last POST's
        super().__init__(params, options, target)

    @property
    def reconnects(self) -> int:
        """Requests re-sent because the server had closed an idle keep-alive connection."""
        return self._pool.reconnects if self._pool is not None else 0

    def open(self) -> None:
        self._pool = WirePool(
            self._origin, self._options.max_connections, self._options.connect_timeout
        )

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        if self._closed is None:
            body = self._framer.notification(method, params)
            headers = self._headers_for(method, params)
            await self._fire(b"POST", body, headers, self._options.request_timeout)

    async def aclose(self) -> None:
        """End the session (DELETE; a 405 is fine) and close every pooled connection."""
        if self._closed is not None:
            return
        self._closed = Reply(_TRANSPORT, None, None, "connection closed")
        pool = self._pool
        if pool is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                if self._session_id is not None:
                    await self._fire(b"DELETE", b"", self._headers, CLOSE_TIMEOUT)
            finally:
                self._pool = None
                await pool.aclose()

    def __repr__(self) -> str:
        return "<Fast" + super().__repr__()[1:]

    # -- the standalone GET stream ----------------------------------------------------------

    stream_errors: tuple[type[BaseException], ...] = (HttpFailure, HttpTimeout, OSError)

    @asynccontextmanager
    async def get_stream(
        self, headers: dict[str, str]
    ) -> AsyncIterator[tuple[int, str, AsyncIterator[bytes]]]:
        """The GET stream on a pooled connection of its own, held for the session's life."""
        pool = self._pool
        if pool is None:
            raise HttpFailure("connection closed")
        request = self._request_bytes(b"GET", self._origin.path, headers, b"")
        wire = await pool.exchange(request, float("inf"), _STREAM_CAP)
        try:
            content_type = wire.headers.get(b"content-type", b"").decode("latin-1")
            yield wire.status, content_type, pool.chunks(wire)
        finally:
            wire.close()
            pool.release(wire)

    # -- one exchange -----------------------------------------------------------------------

    async def _post(
        self,
        request_id: int,
        method: str,
        params: dict[str, Any] | None,
        body: bytes,
        timeout: float | None,
    ) -> Reply:
        pool = self._pool
        if pool is None:
            return Reply(_TRANSPORT, None, None, "connection closed")
        headers = self._headers_for(method, params) if self._modern else self._headers
        seconds = self._options.request_timeout if timeout is None else timeout
        deadline = pool.clock() + seconds
        path = self._origin.path
        cached = self._post_head
        if cached is None or cached[0] is not headers:
            cached = self._post_head = (headers, self._head_for(b"POST", path, headers))
        request = b"%s%d\r\n\r\n%s" % (cached[1], len(body), body)
        try:
            for _ in _TRIES:
                wire = await pool.exchange(request, deadline, self._max_reply)
                try:
                    status = wire.status
                    if (
                        wire.complete
                        and 200 <= status < 300
                        and not wire.oversized
                        and method != "initialize"
                    ):
                        # The common case, without the general path's coroutines: the whole
                        # JSON reply is in hand (what `pool.body` would return).
                        content_type = wire.headers.get(b"content-type")
                        if content_type is not None and content_type.startswith(_JSON):
                            data = b"".join(wire.take())
                            try:
                                message = _loads(data)
                            except _JSONDecodeError:
                                return self._reply_in_json(data)  # counts it
                            if type(message) is dict and message.get("jsonrpc") == "2.0":
                                result = message.get("result")
                                if type(result) is dict:  # as `classify` has it
                                    if result.get("isError") is True:
                                        return Reply(_TOOL_ERROR, result)
                                    return Reply(_OK, result)
                            return self._response(message)
                    if 300 <= status < 400:
                        location = wire.headers.get(b"location")
                        url, failure = self._redirect(
                            self._url, status, location.decode("latin-1") if location else None
                        )
                        if failure is not None:
                            return Reply(_TRANSPORT, None, None, failure)
                        request = self._request_bytes(b"POST", Origin(url).path, headers, body)
                        continue
                    return await self._answer_of_wire(pool, wire, request_id, method, headers)
                finally:
                    pool.release(wire)
            return Reply(_TRANSPORT, None, None, f"more than {MAX_REDIRECTS} redirects")
        except HttpTimeout:
            self.timeouts += 1
            await self._gave_up(request_id)
            return Reply(Outcome.TIMEOUT, None, None, "no reply within the timeout")
        except HttpFailure as exc:
            return Reply(_TRANSPORT, None, None, str(exc))

    async def _answer_of_wire(
        self, pool: WirePool, wire: Wire, request_id: int, method: str, headers: Mapping[str, str]
    ) -> Reply:
        if method == "initialize":
            session = wire.headers.get(_SESSION)
            self._capture_session(session.decode("latin-1") if session is not None else None)
        status = wire.status
        content_type = wire.headers.get(b"content-type", b"")
        if status >= 300:
            if status == 404 and SESSION_HEADER in headers and not self._modern:
                raise SessionLost
            json_body = None
            if content_type.startswith(b"application/json"):
                json_body = await pool.body(wire)
            return status_reply(status, json_body)
        if content_type.startswith(b"application/json"):
            data = await pool.body(wire)
            if data is None:
                return self._oversized()
            return self._reply_in_json(data)
        if content_type.startswith(b"text/event-stream"):
            return await self._sse_of_wire(pool, wire, request_id)
        self.bad_content_type += 1
        shown = content_type.decode("latin-1")[:80]
        return Reply(
            _TRANSPORT, None, None, f"HTTP {status} with unexpected Content-Type {shown!r}"
        )

    async def _sse_of_wire(self, pool: WirePool, wire: Wire, request_id: int) -> Reply:
        parser = SseParser(self._max_reply)
        async for chunk in pool.chunks(wire):
            events = parser.feed(chunk)
            if events is None:
                wire.close()
                return self._oversized()
            for data in events:
                reply = await self._on_event(data, request_id)
                if reply is not None:
                    await pool.drain(wire, SSE_DRAIN_TIMEOUT)
                    return reply
        if wire.oversized:
            return self._oversized()
        for data in parser.finish():
            reply = await self._on_event(data, request_id)
            if reply is not None:
                return reply
        return Reply(_TRANSPORT, None, None, "SSE stream ended without a reply")

    def _oversized(self) -> Reply:
        self.oversized += 1
        return OversizedReply(self._max_reply)

    async def _answer(self, message: dict[str, Any]) -> None:
        """Answer a server-to-client request by POST so the server never waits on us (a
        simulated client's answer, with its think time, in the task of the request whose
        stream carried the question)."""
        body = await self._answer_body(message)
        await self._fire(b"POST", body, self._headers, self._options.request_timeout)

    async def _fire(
        self, verb: bytes, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> None:
        """A request whose reply does not matter (a notification's 202, a DELETE): failures
        show up as the next request failing."""
        pool = self._pool
        if pool is None:
            return
        loop = asyncio.get_running_loop()
        request = self._request_bytes(verb, self._origin.path, headers, body)
        try:
            wire = await pool.exchange(request, loop.time() + timeout, self._max_reply)
        except (HttpTimeout, HttpFailure):
            return
        try:
            await pool.drain(wire, timeout)
        finally:
            pool.release(wire)

    def _request_bytes(
        self, verb: bytes, path: str, headers: Mapping[str, str], body: bytes
    ) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self._head_for(verb, path, headers), len(body), body)

    def _head_for(self, verb: bytes, path: str, headers: Mapping[str, str]) -> bytes:
        """The request line and headers up to `Content-Length: `."""
        key = (verb, path, id(headers))
        cached = self._heads.get(key)
        if cached is None or cached[0] is not headers:
            lines = [f"{verb.decode()} {path} HTTP/1.1", f"Host: {self._origin.authority}"]
            if self._origin.authorization is not None:
                lines.append(f"Authorization: {self._origin.authorization}")
            lines.extend(f"{name}: {value}" for name, value in headers.items())
            head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
            if len(self._heads) < _HEAD_CACHE_LIMIT:
                self._heads[key] = (headers, head)  # holding `headers` keeps its id unique
            return head
        return cached[1]

    def _rebuild_headers(self) -> None:
        super()._rebuild_headers()
        self._heads = {}
