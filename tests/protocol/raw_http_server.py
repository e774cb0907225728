"""A raw-socket Streamable HTTP endpoint (2025-11-25 handshake, no sessions) whose HTTP framing
the test chooses: Connection: close, keep-alive connections closed unannounced after a reply
or dropped under the next request, replies split into tiny TCP writes, chunked or
end-of-connection bodies.

Requests are parsed with httptools' request parser; replies are written by hand, which is the
point: the framing is exactly what the test asked for.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httptools
from anyio.abc import SocketStream

Framing = Literal["length", "chunked", "eof", "close", "quiet_close", "split", "drop_second"]
SPLIT_PIECE = 5  # bytes per TCP write in "split"


@dataclass
class RawServer:
    url: str
    framing: Framing
    calls: int = 0  # tools/call requests answered
    connections: int = 0
    dropped: int = 0  # requests read and left unanswered by "drop_second"
    methods: list[str] = field(default_factory=list)


class _Request:
    """Collects one request from httptools' callbacks."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def _answer(server: RawServer, message: dict[str, Any]) -> bytes | None:
    method = message.get("method", "")
    server.methods.append(method)
    if "id" not in message:
        return None  # a notification: 202, no body
    result: dict[str, Any]
    if method == "initialize":
        result = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
    elif method == "tools/call":
        server.calls += 1
        text = message["params"]["arguments"]["text"]
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    else:
        reply = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "?"}}
        return json.dumps(reply).encode()
    return json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()


def _frame(framing: Framing, body: bytes | None) -> bytes:
    if body is None:
        close = b"Connection: close\r\n" if framing in ("eof", "close") else b""
        return b"HTTP/1.1 202 Accepted\r\n%sContent-Length: 0\r\n\r\n" % close
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    if framing == "chunked" or framing == "split":
        pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    if framing == "eof":
        return head + b"Connection: close\r\n\r\n" + body
    if framing == "close":
        return head + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def _serve_connection(server: RawServer, stream: SocketStream) -> None:
    server.connections += 1
    stream.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
    )
    served = 0
    async with stream:
        while True:
            request = _Request()
            parser = httptools.HttpRequestParser(request)
            while not request.complete:
                try:
                    data = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                parser.feed_data(data)
            if server.framing == "drop_second" and served == 1:
                server.dropped += 1
                return  # closed under the client's request, as an idle-timeout close races it
            served += 1
            if parser.get_method() == b"DELETE":
                await stream.send(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                continue
            reply = _frame(server.framing, _answer(server, json.loads(request.body)))
            if server.framing == "split":
                for i in range(0, len(reply), SPLIT_PIECE):
                    await stream.send(reply[i : i + SPLIT_PIECE])
            else:
                await stream.send(reply)
            if server.framing in ("close", "eof", "quiet_close"):
                return  # quiet_close: no Connection: close said, as an idle timeout does


@asynccontextmanager
async def serve_raw(framing: Framing) -> AsyncIterator[RawServer]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = RawServer(f"http://127.0.0.1:{port}/mcp", framing)

    async def handle(stream: SocketStream) -> None:
        await _serve_connection(server, stream)

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, handle)
        try:
            yield server
        finally:
            task_group.cancel_scope.cancel()
