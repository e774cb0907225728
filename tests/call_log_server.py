"""A small MCP server whose echo tool appends a line to the file named by $CALL_LOG on every
call, so a test can see calls arrive (and how many) without sleeping on a guess."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("call-logger")


@server.tool()
async def echo(text: str) -> str:
    with open(os.environ["CALL_LOG"], "a") as log:  # noqa: ASYNC230 — a line per call, in tests
        log.write("call\n")
    return text


if __name__ == "__main__":
    server.run()
