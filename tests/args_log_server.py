"""A small MCP server whose search tool appends the arguments it received, with their JSON
types, as a JSON line to the file named by $ARGS_LOG: the server-side record of what was sent
(with $ARGS_LOG_PID set, also the pid of the server process that received it)."""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("args-logger")


@server.tool()
async def search(query: str, limit: int | str, label: str = "") -> str:
    entry: dict[str, object] = {"query": query, "limit": limit, "label": label}
    if os.environ.get("ARGS_LOG_PID"):  # which server process (session) received it
        entry["pid"] = os.getpid()
    line = json.dumps(entry)
    with open(os.environ["ARGS_LOG"], "a") as log:  # noqa: ASYNC230 — a line per call, in tests
        log.write(line + "\n")
    return query


if __name__ == "__main__":
    server.run()
