"""The preflight's tools/list paging against a real server whose pagination repeats a cursor:
it stops there, and fails clearly only when a tool the workload calls went unseen."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from readiness.engine.workload import Operation, Workload
from readiness.errors import ProtocolError
from readiness.protocol.client import McpClient, RequestFailed, open_connection
from readiness.protocol.connection import StdioParams
from readiness.scenarios.base import preflight
from tests.suites import scenario_context

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).resolve().parent.parent / "paging_server.py")
SUITE = f"""
[[targets]]
name = "paging"
transport = "stdio"
command = {sys.executable!r}
args = [{SERVER!r}]

[[scenarios]]
name = "smoke"
kind = "throughput"
load = {{ model = "closed", concurrency = 1, requests = 1 }}
"""


def calling(*tools: str) -> Workload:
    return Workload(
        [
            Operation(i, tool, "tools/call", {"name": tool, "arguments": {}}, 1.0)
            for i, tool in enumerate(tools)
        ]
    )


async def test_listing_every_tool_stops_at_a_repeated_cursor() -> None:
    with anyio.fail_after(60):
        async with open_connection(StdioParams(sys.executable, (SERVER,))) as conn:
            client = McpClient(conn)
            before = conn.statistics().sent  # the handshake's requests
            with pytest.raises(RequestFailed, match="server repeated cursor 'page-2'"):
                await client.list_tools()
            sent = conn.statistics().sent - before
    assert sent == 2  # the first page and the second, not the second again


@pytest.mark.parametrize("tools", [("echo",), ("echo", "add")])
async def test_the_preflight_passes_once_it_has_seen_every_tool_called(
    tmp_path: Path, tools: tuple[str, ...]
) -> None:
    ctx = scenario_context(tmp_path, SUITE)
    with anyio.fail_after(60):
        async with open_connection(StdioParams(sys.executable, (SERVER,))) as conn:
            await preflight(conn, calling(*tools), ctx)


async def test_the_preflight_names_the_repeated_cursor_when_a_tool_went_unseen(
    tmp_path: Path,
) -> None:
    ctx = scenario_context(tmp_path, SUITE)
    with anyio.fail_after(60):
        async with open_connection(StdioParams(sys.executable, (SERVER,))) as conn:
            with pytest.raises(ProtocolError) as caught:
                await preflight(conn, calling("echo", "search"), ctx)
    message = str(caught.value)
    assert "server repeated cursor 'page-2'" in message
    assert "'search'" in message
