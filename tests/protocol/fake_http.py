"""A small Streamable HTTP MCP endpoint on aiohttp.web, for what the demo server never does.

It speaks the 2025 handshake generation and records what clients send. Tool names pick a
behaviour: `echo` (JSON reply), `sse_chatty` (SSE with a notification and a server-to-client
ping that must be answered by POST before the reply comes), `http500`, `not_json`,
`rpc_error_400`, `forget_session` (the server loses the session after answering).

Misbehaviours, for the robustness tests: `wrong_content_type` (a JSON-RPC reply labelled
text/html), `sse_comments` (an SSE stream that sends a comment every second and never the
reply), `sse_split` (the reply's SSE event written a few bytes at a time), `html500` (500 with
a large HTML page naming HTML_MARKER), `redirect307` / `redirect308` / `redirect302` (to the
same endpoint), `redirect_away` (307 to another origin), `reset` (the connection reset halfway
through the reply body), `reply_while_answering` (a ping on the call's stream, and the call's
reply and the stream's end written before the client's answer to the ping gets its 202).
`tools/list` lists every tool name.

The standalone GET stream: the first GET carries a ping (event id `e1`, `retry: 10`) and ends;
the second (which should send Last-Event-ID `e1`) carries a notification and ends; any later
GET gets 405, the spec's "no stream here".
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from aiohttp import web

SESSION = "Mcp-Session-Id"
HTML_MARKER = "stack-trace-of-the-upstream-proxy"
TOOLS = (
    "echo",
    "sse_chatty",
    "http500",
    "not_json",
    "rpc_error_400",
    "forget_session",
    "wrong_content_type",
    "sse_comments",
    "sse_split",
    "html500",
    "redirect307",
    "redirect308",
    "redirect302",
    "redirect_away",
    "reset",
    "reply_while_answering",
)


@dataclass
class FakeServer:
    token: str | None = None
    url: str = ""
    sessions_started: int = 0
    session: str | None = None
    deletes: list[str | None] = field(default_factory=list)
    seen: list[dict[str, str]] = field(default_factory=list)  # headers of every POST
    answers: list[dict[str, Any]] = field(default_factory=list)  # client answers to our requests
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    streams: list[str | None] = field(default_factory=list)  # Last-Event-ID of each GET
    refused_stream: asyncio.Event = field(default_factory=asyncio.Event)
    reply_sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await self._standalone(request)
        if request.method == "DELETE":
            self.deletes.append(request.headers.get(SESSION))
            return web.Response(status=405)
        self.seen.append(dict(request.headers))
        authorization = request.headers.get("Authorization")
        if self.token is not None and authorization != f"Bearer {self.token}":
            return web.Response(status=401, text="unauthorized")
        message = json.loads(await request.read())
        method = message.get("method")
        if method is None:  # the client's answer to our request
            self.answers.append(message)
            self.answered.set()
            if message.get("id") == "srv-hold":
                # The 202 waits until the call's reply and the end of its stream are out.
                await asyncio.wait_for(self.reply_sent.wait(), 10)
            return web.Response(status=202)
        if "id" not in message:
            return web.Response(status=202)
        if method == "server/discover":
            return web.Response(status=400, text="Bad Request: Server not initialized")
        if method == "initialize":
            self.sessions_started += 1
            self.session = f"s-{self.sessions_started}"
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake", "version": "1"},
            }
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": result}, self.session)
        sent = request.headers.get(SESSION)
        if sent is None:
            return web.Response(status=400, text="missing session")
        if sent != self.session:
            return web.Response(status=404, text="session not found")
        return await self._call(request, message)

    async def _reply_while_answering(
        self, request: web.Request, request_id: Any
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.answered.clear()
        await _event(response, {"jsonrpc": "2.0", "id": "srv-hold", "method": "ping"})
        await asyncio.wait_for(self.answered.wait(), 10)
        await _event(response, {"jsonrpc": "2.0", "id": request_id, "result": _text("done")})
        await response.write_eof()
        self.reply_sent.set()
        return response

    async def _standalone(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get(SESSION) != self.session or self.session is None:
            return web.Response(status=400, text="missing session")
        self.streams.append(request.headers.get("Last-Event-ID"))
        if len(self.streams) > 2:
            self.refused_stream.set()
            return web.Response(status=405)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if len(self.streams) == 1:
            ping = {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"}
            await response.write(b"retry: 10\r\nid: e1\r\n")
            await _event(response, ping)
        else:
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {}}
            await response.write(b"id: e2\r\n")
            await _event(response, note)
        await response.write_eof()
        return response

    async def _call(self, request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        request_id = message["id"]
        name = message.get("params", {}).get("name")
        if message["method"] == "tools/list":
            tools = [{"name": n, "inputSchema": {"type": "object"}} for n in TOOLS]
            return _json({"jsonrpc": "2.0", "id": request_id, "result": {"tools": tools}})
        misbehaving = await self._misbehave(request, request_id, name)
        if misbehaving is not None:
            return misbehaving
        if name == "http500":
            return web.Response(status=500, text="boom")
        if name == "not_json":
            return web.Response(status=200, text="nope", content_type="application/json")
        if name == "rpc_error_400":
            error = {"code": -32602, "message": "bad arguments"}
            body = {"jsonrpc": "2.0", "id": request_id, "error": error}
            return web.json_response(body, status=400)
        if name == "sse_chatty":
            return await self._chatty(request, request_id)
        if name == "reply_while_answering":
            return await self._reply_while_answering(request, request_id)
        if name == "forget_session":
            self.session = None
        text = json.dumps(message.get("params", {}).get("arguments", {}))
        result = {"content": [{"type": "text", "text": text}], "isError": False}
        return _json({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _misbehave(
        self, request: web.Request, request_id: Any, name: str | None
    ) -> web.StreamResponse | None:
        reply = {"jsonrpc": "2.0", "id": request_id, "result": _text(str(name))}
        if name == "wrong_content_type":
            return web.Response(body=json.dumps(reply).encode(), content_type="text/html")
        if name == "html500":
            page = f"<html><title>{HTML_MARKER}</title><body>{'<p>x</p>' * 20_000}</body></html>"
            return web.Response(status=500, text=page, content_type="text/html")
        if name in ("redirect307", "redirect308", "redirect302") and "hop" not in request.query:
            status = int(name[-3:])
            return web.Response(status=status, headers={"Location": "/mcp?hop=1"})
        if name == "redirect_away":
            port = request.url.port
            return web.Response(status=307, headers={"Location": f"http://localhost:{port}/mcp"})
        if name == "sse_comments":
            return await self._comments(request)
        if name == "sse_split":
            return await self._split(request, reply)
        if name == "reset":
            return await self._reset(request, reply)
        return None

    async def _comments(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(600):  # bounded: ten minutes at most
                await response.write(b": keep-alive\n\n")
                await asyncio.sleep(1.0)  # the server's pace, not the test's order
        except (ConnectionResetError, ConnectionError):
            pass  # the client gave up: what it should do
        return response

    async def _split(self, request: web.Request, reply: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        event = b"event: message\r\ndata: " + json.dumps(reply).encode() + b"\r\n\r\n"
        for i in range(0, len(event), 3):
            await response.write(event[i : i + 3])  # write() drains each piece
        await response.write_eof()
        return response

    async def _reset(self, request: web.Request, reply: dict[str, Any]) -> web.StreamResponse:
        body = json.dumps(reply).encode().ljust(100_000)
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        await response.prepare(request)
        await response.write(body[:1000])
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        # SO_LINGER 0: closing sends a RST, not a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return response

    async def _chatty(self, request: web.Request, request_id: Any) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        notification = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
        await _event(response, notification)
        await _event(response, {"jsonrpc": "2.0", "id": "s1", "method": "ping"})
        with anyio.fail_after(5):
            await self.answered.wait()
        result = {"content": [{"type": "text", "text": "chatty"}], "isError": False}
        await _event(response, {"jsonrpc": "2.0", "id": request_id, "result": result})
        await response.write_eof()
        return response


def _text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


def _json(body: dict[str, Any], session: str | None = None) -> web.Response:
    headers = {SESSION: session} if session else None
    return web.json_response(body, headers=headers)


async def _event(response: web.StreamResponse, message: dict[str, Any]) -> None:
    await response.write(b"event: message\r\ndata: " + json.dumps(message).encode() + b"\r\n\r\n")


@asynccontextmanager
async def serve_fake(token: str | None = None) -> AsyncIterator[FakeServer]:
    """Serve a FakeServer on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeServer(token=token)
    app = web.Application()
    app.router.add_route("*", "/mcp", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield fake
    finally:
        await runner.cleanup()
