"""A no-op MCP server over stdio for the benchmarks: answers every request at once, so the
client's cost, not the server's, is what a benchmark measures.

Run: `python benchmarks/noop_stdio.py [--cpu N]` (reads JSON-RPC lines on stdin, answers on stdout).
Speaks the 2025 handshake (`initialize`); `server/discover` gets -32601, so a client on
`protocol = "auto"` falls back to the handshake. Notifications are ignored.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

import orjson

SUPPORTED = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
ECHO_TOOL = {
    "name": "echo",
    "description": "Returns a fixed text.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
}
# Pre-encoded tails: a reply is b'{"jsonrpc":"2.0","id":' + id + tail, no encoding per call.
CALL_TAIL = b',"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}\n'
LIST_TAIL = b',"result":' + orjson.dumps({"tools": [ECHO_TOOL]}) + b"}\n"
EMPTY_TAIL = b',"result":{}}\n'
HEAD = b'{"jsonrpc":"2.0","id":'
READ_SIZE = 1 << 16


def error_tail(code: int, message: str) -> bytes:
    return b',"error":' + orjson.dumps({"code": code, "message": message}) + b"}\n"


def initialize_tail(params: object) -> bytes:
    asked = params.get("protocolVersion") if isinstance(params, dict) else None
    version = asked if asked in SUPPORTED else SUPPORTED[-1]
    result: dict[str, object] = {
        "protocolVersion": version,
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "noop-stdio", "version": "1.0"},
    }
    return b',"result":' + orjson.dumps(result) + b"}\n"


def answer(line: bytes) -> bytes | None:
    """The reply frame for one request line, or None for a notification or a blank line."""
    if line.startswith(b'{"jsonrpc":"2.0","id":') and b'"method":"tools/call"' in line:
        # The hot path: our clients put the id first and it is an integer; skip the parse.
        end = line.find(b",", 22)
        request_id = line[22:end]
        if request_id.isdigit():
            return HEAD + request_id + CALL_TAIL
    if not line.strip():
        return None
    message = orjson.loads(line)
    if "id" not in message:
        return None
    method = message.get("method")
    if method == "tools/call":
        tail = CALL_TAIL
    elif method == "tools/list":
        tail = LIST_TAIL
    elif method == "initialize":
        tail = initialize_tail(message.get("params"))
    elif method == "ping":
        tail = EMPTY_TAIL
    else:
        tail = error_tail(-32601, f"method not found: {method}")
    return HEAD + orjson.dumps(message["id"]) + tail


def serve(read: Callable[[int], bytes], write: Callable[[bytes], int]) -> None:
    """Answer everything in each chunk read with one write, until end of input."""
    rest = b""
    while True:
        chunk = read(READ_SIZE)
        if not chunk:
            return
        lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = lines.pop()
        out = [frame for frame in map(answer, lines) if frame is not None]
        if out:
            data = b"".join(out)
            while data:
                data = data[write(data) :]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--cpu":
        os.sched_setaffinity(0, {int(sys.argv[2])})  # keep off the client's core
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(lambda n: os.read(stdin, n), lambda data: os.write(stdout, data))


if __name__ == "__main__":
    main()
