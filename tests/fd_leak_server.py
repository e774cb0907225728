"""A small MCP server that leaks a file descriptor per tool call (for the FD-leak test)."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("fd-leaker")
_kept: list[int] = []


@server.tool()
async def echo(text: str) -> str:
    _kept.append(os.open(os.devnull, os.O_RDONLY))  # never closed: the bug under test
    return text


if __name__ == "__main__":
    server.run()
