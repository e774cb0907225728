"""A test MCP server over HTTP whose liveness lies: /healthz always answers 200 "ok" while
every tool call fails. `python tests/liar_server.py PORT`; ended by a signal."""

from __future__ import annotations

import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from readiness.demo.http import bind_socket, serve_http


async def echo(text: str) -> str:
    raise ToolError(f"broken, but alive (or so says /healthz): {text}")


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


def main() -> None:
    server: MCPServer[object] = MCPServer(name="liar", log_level="WARNING")
    server.add_tool(echo)
    with bind_socket("127.0.0.1", int(sys.argv[1])) as sock:
        anyio.run(lambda: serve_http(server, sock, routes=[Route("/healthz", healthz)]))


if __name__ == "__main__":
    main()
