"""An MCP server (the SDK's low-level `Server`, over stdio) whose tools/list pagination is
broken on purpose: page one lists `echo` and points at page two, and page two lists `add` and
points at itself again — a repeated cursor.

Run as `python tests/paging_server.py`.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}}
REPEATED = "page-2"


async def list_tools(
    ctx: Any, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    if params is None or params.cursor is None:
        tools = [types.Tool(name="echo", input_schema=SCHEMA)]
    else:
        tools = [types.Tool(name="add", input_schema=SCHEMA)]
    return types.ListToolsResult(tools=tools, next_cursor=REPEATED)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    text = str((params.arguments or {}).get("text", ""))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def main() -> None:
    server: Server[Any] = Server("paging", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
