"""A no-op MCP server over Streamable HTTP for the benchmarks: a raw asyncio HTTP/1.1 protocol
on 127.0.0.1 that answers every POST at once with a JSON body, so the client's cost shows.

Run: `python benchmarks/noop_http.py [--port N] [--cpu N]`; it prints
`noop-http listening on http://127.0.0.1:PORT/mcp` once it accepts connections. Keep-alive,
pipelining-safe; `initialize` returns an `Mcp-Session-Id`; notifications get 202.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys

import orjson

SUPPORTED = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SESSION_ID = b"noop-session-1"
ECHO_TOOL = {
    "name": "echo",
    "description": "Returns a fixed text.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
}
HEAD = b'{"jsonrpc":"2.0","id":'
CALL_TAIL = b',"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}'
LIST_TAIL = b',"result":' + orjson.dumps({"tools": [ECHO_TOOL]}) + b"}"
EMPTY_TAIL = b',"result":{}}'
MAX_BODY = 4 * 1024 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


def response(status: bytes, body: bytes = b"", extra: bytes = b"") -> bytes:
    content_type = b"Content-Type: application/json\r\n" if body else b""
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\n"
        + content_type
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def json_ok(body: bytes, extra: bytes = b"") -> bytes:
    return response(b"200 OK", body, extra)


def initialize_body(request_id: object, params: object) -> bytes:
    asked = params.get("protocolVersion") if isinstance(params, dict) else None
    result: dict[str, object] = {
        "protocolVersion": asked if asked in SUPPORTED else SUPPORTED[-1],
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "noop-http", "version": "1.0"},
    }
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def answer_post(body: bytes) -> bytes:
    """The whole HTTP response to one POSTed JSON-RPC message."""
    if body.startswith(b'{"jsonrpc":"2.0","id":') and b'"method":"tools/call"' in body:
        end = body.find(b",", 22)
        request_id = body[22:end]
        if request_id.isdigit():
            return json_ok(HEAD + request_id + CALL_TAIL)
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return response(b"400 Bad Request")
    if not isinstance(message, dict):
        return response(b"400 Bad Request")
    if "id" not in message:
        return response(b"202 Accepted")
    if "method" not in message:
        return response(b"202 Accepted")  # a reply to a server request: nothing to say
    request_id, method = message["id"], message["method"]
    if method == "initialize":
        extra = b"Mcp-Session-Id: " + SESSION_ID + b"\r\n"
        return json_ok(initialize_body(request_id, message.get("params")), extra)
    encoded_id = orjson.dumps(request_id)
    if method == "tools/call":
        return json_ok(HEAD + encoded_id + CALL_TAIL)
    if method == "tools/list":
        return json_ok(HEAD + encoded_id + LIST_TAIL)
    if method == "ping":
        return json_ok(HEAD + encoded_id + EMPTY_TAIL)
    error = orjson.dumps({"code": -32601, "message": f"method not found: {method}"})
    return json_ok(HEAD + encoded_id + b',"error":' + error + b"}")


class NoopHttp(asyncio.Protocol):
    """One keep-alive connection; answers every complete request in a chunk with one write."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        close = False
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buffer[:head_end]
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if length > MAX_BODY:
                out.append(response(b"413 Content Too Large"))
                close = True
                break
            body_start = head_end + 4
            if len(buffer) < body_start + length:
                break
            body = buffer[body_start : body_start + length]
            buffer = buffer[body_start + length :]
            out.append(self._answer(head, body))
            if _CONNECTION_CLOSE.search(head):
                close = True
                break
        self._buffer = buffer
        transport = self._transport
        if transport is None:
            return
        if out:
            transport.write(b"".join(out))
        if close:
            transport.close()

    @staticmethod
    def _answer(head: bytes, body: bytes) -> bytes:
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0]
        if path != b"/mcp":
            return response(b"404 Not Found")
        if method == b"POST":
            return answer_post(body)
        if method == b"DELETE":
            return response(b"200 OK")
        return response(b"405 Method Not Allowed", extra=b"Allow: POST, DELETE\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NoopHttp, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"noop-http listening on http://127.0.0.1:{bound}/mcp\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, help="run only on this CPU (off the client's core)")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
