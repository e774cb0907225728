"""Conformance: our client and the official SDK client get the same answers from the demo server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client

from readiness.protocol.client import McpClient, open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams
from tests.protocol.conftest import demo_stdio

pytestmark = pytest.mark.anyio

# Envelope fields that say how a result travelled, not what it is.
_ENVELOPE = {"_meta", "resultType", "ttlMs", "cacheScope", "nextCursor"}
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("echo", {"text": "héllo wörld"}),
    ("add", {"a": 2, "b": 40}),
    ("search", {"query": "server", "limit": 3}),
    ("read_note", {"name": "../secret"}),  # a tool error
    ("blob", {"kb": 2}),
    ("no_such_tool", {}),
]


def wire(value: Any) -> Any:
    """A result as it looks on the wire, minus the envelope."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if k not in _ENVELOPE}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def status_shape(result: Any) -> Any:
    """demo://status changes every call (uptime, counters): compare its shape only."""
    (content,) = wire(result)["contents"]
    return content["uri"], content["mimeType"], sorted(json.loads(content["text"]))


async def answers(
    list_tools: Any,
    call_tool: Any,
    list_resources: Any,
    read_resource: Any,
    list_prompts: Any,
    get_prompt: Any,
) -> dict[str, Any]:
    return {
        "tools": wire(await list_tools()),
        "calls": [wire(await call_tool(name, arguments)) for name, arguments in CALLS],
        "resources": wire(await list_resources()),
        "status": status_shape(await read_resource("demo://status")),
        "prompts": wire(await list_prompts()),
        "prompt": wire(await get_prompt("summarize", {"topic": "load tests"})),
    }


async def ours(client: McpClient) -> dict[str, Any]:
    async def list_tools() -> Any:
        return {"tools": await client.list_tools()}

    async def list_resources() -> Any:
        return {"resources": await client.list_resources()}

    async def list_prompts() -> Any:
        return {"prompts": await client.list_prompts()}

    return await answers(
        list_tools,
        client.call_tool,
        list_resources,
        client.read_resource,
        list_prompts,
        client.get_prompt,
    )


@asynccontextmanager
async def sdk_stdio_session() -> AsyncIterator[ClientSession]:
    params = demo_stdio()
    server = StdioServerParameters(command=params.command, args=list(params.args))
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_stdio_answers_match_the_sdk_client_session() -> None:
    async with sdk_stdio_session() as session:
        expected = await answers(
            session.list_tools,
            session.call_tool,
            session.list_resources,
            session.read_resource,
            session.list_prompts,
            session.get_prompt,
        )
    async with open_connection(demo_stdio(), ConnectOptions(protocol="2025-11-25")) as connection:
        got = await ours(McpClient(connection))
    assert got == expected


async def test_2026_http_answers_match_the_sdk_client(stateless_http: HttpParams) -> None:
    async with Client(stateless_http.url, mode="2026-07-28", cache=None) as sdk:
        session = sdk.session
        expected = await answers(
            session.list_tools,
            session.call_tool,
            session.list_resources,
            session.read_resource,
            session.list_prompts,
            session.get_prompt,
        )
    options = ConnectOptions(protocol="2026-07-28")
    async with open_connection(stateless_http, options) as connection:
        got = await ours(McpClient(connection))
    assert got == expected
