"""A small Streamable HTTP MCP endpoint on aiohttp.web, for what the demo server never does.

It speaks the 2025 handshake generation and records what clients send. Tool names pick a
behaviour: `echo` (JSON reply), `sse_chatty` (SSE with a notification and a server-to-client
ping that must be answered by POST before the reply comes), `http500`, `not_json`,
`rpc_error_400`, `forget_session` (the server loses the session after answering).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from aiohttp import web

SESSION = "Mcp-Session-Id"


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

    async def handle(self, request: web.Request) -> web.StreamResponse:
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

    async def _call(self, request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        request_id = message["id"]
        name = message.get("params", {}).get("name")
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
        if name == "forget_session":
            self.session = None
        text = json.dumps(message.get("params", {}).get("arguments", {}))
        result = {"content": [{"type": "text", "text": text}], "isError": False}
        return _json({"jsonrpc": "2.0", "id": request_id, "result": result})

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
