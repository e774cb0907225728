"""Small MCP servers for `readiness init` tests (run as `python tests/init_servers.py KIND`).

`destructive`: a `wipe` tool marked destructiveHint = true that writes the file named by
$WIPE_MARKER if it is ever called, a plain `touch` tool (no hints) that writes $TOUCH_MARKER,
and a read-only `peek` tool. `empty`: no tools at all, one resource and one prompt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


def destructive() -> MCPServer:
    server: MCPServer = MCPServer("destructive")

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, read_only_hint=False))
    def wipe(path: str, recursive: bool = False) -> str:
        """Delete everything under a path."""
        Path(os.environ["WIPE_MARKER"]).write_text(f"{path} {recursive}")
        return "wiped"

    @server.tool()
    def touch(name: str) -> str:
        """Not marked either way."""
        Path(os.environ["TOUCH_MARKER"]).write_text(name)
        return "touched"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def peek(count: int) -> str:
        """Read-only."""
        return str(count)

    return server


def empty() -> MCPServer:
    server: MCPServer = MCPServer("no-tools")

    @server.resource("memo://hello", name="hello")
    async def hello() -> str:
        return "hello"

    @server.prompt()
    async def greet(who: str) -> str:
        """Greet someone."""
        return f"Say hello to {who}."

    return server


if __name__ == "__main__":
    {"destructive": destructive, "empty": empty}[sys.argv[1]]().run()
