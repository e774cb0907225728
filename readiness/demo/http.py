"""Serve a demo server over Streamable HTTP with uvicorn, on a socket we bind ourselves.

Binding first means `--port 0` works: the real port is known before the URL is announced.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.routing import BaseRoute

MCP_PATH = "/mcp"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host == "localhost":
        host = "127.0.0.1"
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP; without it every keep-alive reply waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}{MCP_PATH}"


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that reports once it really accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()


async def serve_http(
    server: MCPServer[Any],
    sock: socket.socket,
    *,
    stateless: bool = False,
    json_response: bool = False,
    on_ready: Callable[[str], None] | None = None,
    routes: Sequence[BaseRoute] = (),
) -> None:
    """Serve `server` on the bound `sock` until the process is signalled to stop.

    `on_ready(url)` is called once the server accepts connections; `routes` are served beside
    the MCP endpoint (the demo's health endpoints).
    """
    host = sock.getsockname()[0]
    # The SDK turns on DNS-rebinding protection for loopback hosts; it allows
    # `Host: 127.0.0.1:<any port>`, which is what clients send by default.
    app = server.streamable_http_app(
        json_response=json_response,
        stateless_http=stateless,
        host=host,
    )
    app.router.routes.extend(routes)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,  # a line per request would cost CPU under load
        lifespan="on",
        ws="none",
        server_header=False,
    )
    url = url_of(sock)
    uvicorn_server = _AnnouncingServer(config, lambda: on_ready(url) if on_ready else None)
    await uvicorn_server.serve(sockets=[sock])
