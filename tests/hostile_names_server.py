"""A stdio MCP server whose self-chosen names are hostile HTML: its name and version, and the
name of one tool, try to close the page's markup and run a script. A report must show them as
text. Run as `python tests/hostile_names_server.py`."""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import MCPServer

SERVER_NAME = "<script>alert(1)</script>"
SERVER_VERSION = "</td><img src=x onerror=alert(4)>"
TOOL_NAME = '<img src=x onerror="alert(2)">'


def answer(text: str = "x") -> str:
    """</svg><b>a description is hostile too</b>"""
    return "<script>alert(3)</script>" + text


def build() -> MCPServer:
    server: MCPServer = MCPServer(name=SERVER_NAME, version=SERVER_VERSION)
    server.add_tool(answer, name=TOOL_NAME)
    return server


if __name__ == "__main__":
    anyio.run(build().run_stdio_async)
