"""A small MCP server whose search tool appends the arguments it received, with their JSON
types, as a JSON line to the file named by $ARGS_LOG: the server-side record of what was sent."""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("args-logger")


@server.tool()
async def search(query: str, limit: int | str, label: str = "") -> str:
    line = json.dumps({"query": query, "limit": limit, "label": label})
    with open(os.environ["ARGS_LOG"], "a") as log:  # noqa: ASYNC230 — a line per call, in tests
        log.write(line + "\n")
    return query


if __name__ == "__main__":
    server.run()
