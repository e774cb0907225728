"""A stand-in Prometheus Pushgateway on 127.0.0.1: it keeps every push it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Push:
    method: str
    path: str
    body: str


@dataclass
class Gateway:
    url: str
    pushes: list[Push] = field(default_factory=list)


@contextmanager
def pushgateway() -> Iterator[Gateway]:
    """Serve until the block ends; `gateway.pushes` lists what was pushed, in order."""
    gateway = Gateway(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _keep(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            with lock:
                gateway.pushes.append(Push(self.command, self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = _keep
        do_POST = _keep

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
