"""A stdlib Streamable HTTP MCP endpoint that sends replies far over any sane cap, for
measuring the client's memory in a process of its own.

Run as `python tests/protocol/rogue_http_server.py`; it prints its URL on stdout, then serves
until stdin closes. It speaks the 2025 handshake (no sessions). Tool names pick a reply:
`echo` (small JSON), `huge_json` (`size` bytes of JSON, chunked: no Content-Length),
`huge_sized` (the same with a Content-Length), `huge_sse` (one SSE event of `size` bytes).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECE = b"x" * (1024 * 1024)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_DELETE(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request_id = message.get("id")
        method = message.get("method")
        if request_id is None:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if method == "initialize":
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "rogue-http", "version": "1"},
            }
            self.small(request_id, result)
        elif method == "tools/call":
            params = message["params"]
            self.call(request_id, params["name"], int(params.get("arguments", {}).get("size", 0)))
        else:
            error = {"code": -32601, "message": "Method not found"}
            self.reply(json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode())

    def small(self, request_id: object, result: dict[str, object]) -> None:
        self.reply(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode())

    def reply(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def call(self, request_id: object, name: str, size: int) -> None:
        head = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"result":{{"pad":"'.encode()
        tail = b'"}}'
        pieces = size // len(PIECE)
        try:
            if name == "huge_sized":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                length = len(head) + pieces * len(PIECE) + len(tail)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(head)
                for _ in range(pieces):
                    self.wfile.write(PIECE)
                self.wfile.write(tail)
            elif name in ("huge_json", "huge_sse"):
                sse = name == "huge_sse"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if sse else "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.chunk(b"event: message\ndata: " + head if sse else head)
                for _ in range(pieces):
                    self.chunk(PIECE)
                self.chunk(tail + b"\n\n" if sse else tail)
                self.wfile.write(b"0\r\n\r\n")
            else:
                text = {"content": [{"type": "text", "text": "echo"}], "isError": False}
                self.small(request_id, text)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client refused the rest: what it should do

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/mcp", flush=True)
    sys.stdin.read()  # until the test closes it
    server.shutdown()


if __name__ == "__main__":
    main()
