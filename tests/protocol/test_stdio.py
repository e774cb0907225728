"""The lean client against the demo server over stdio: operations, outcomes, correlation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from readiness.protocol.client import McpClient, RequestFailed, open_connection
from readiness.protocol.connection import ConnectOptions
from readiness.protocol.outcome import Outcome, OversizedReply
from readiness.protocol.stdio import StdioConnection
from tests.protocol.conftest import child_pids, demo_stdio

pytestmark = pytest.mark.anyio

CAP = 64 * 1024


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[StdioConnection]:
    """One demo server for the tests that leave it healthy."""
    async with open_connection(demo_stdio(), ConnectOptions(max_reply_bytes=CAP)) as connection:
        yield connection


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28", "auto"])
async def test_every_operation_works_over_stdio(protocol: str) -> None:
    options = ConnectOptions(protocol=protocol)
    async with open_connection(demo_stdio(), options) as connection:
        client = McpClient(connection)
        expected_version = "2025-11-25" if protocol == "2025-11-25" else "2026-07-28"
        assert connection.protocol_version == expected_version
        assert connection.server_info["name"] == "readiness-demo"

        tools = {tool["name"] for tool in await client.list_tools()}
        assert {"echo", "add", "work", "search", "read_note", "blob"} <= tools
        added = await client.call_tool("add", {"a": 2, "b": 3})
        assert added["structuredContent"] == {"result": 5}
        echoed = await client.call_tool("echo", {"text": "héllo"})
        assert echoed["content"][0]["text"] == "héllo"
        assert [r["uri"] for r in await client.list_resources()] == [
            "demo://counter",
            "demo://status",
        ]
        status = await client.read_resource("demo://status")
        assert status["contents"][0]["uri"] == "demo://status"
        prompts = [prompt["name"] for prompt in await client.list_prompts()]
        assert prompts == ["summarize"]
        prompt = await client.get_prompt("summarize", {"topic": "load tests"})
        assert "load tests" in prompt["messages"][0]["content"]["text"]
        if expected_version == "2026-07-28":
            with pytest.raises(RequestFailed, match="ping does not exist"):
                await client.ping()
        else:
            await client.ping()


async def test_unknown_method_is_an_rpc_error_with_its_code(demo: StdioConnection) -> None:
    reply = await demo.request("no/such/method")
    assert reply.outcome is Outcome.RPC_ERROR
    assert reply.error_code == -32601


async def test_unknown_tool_is_a_tool_error(demo: StdioConnection) -> None:
    reply = await demo.request("tools/call", {"name": "no_such_tool", "arguments": {}})
    assert reply.outcome is Outcome.TOOL_ERROR
    assert reply.result is not None
    assert reply.result["isError"] is True


async def test_slow_reply_times_out(demo: StdioConnection) -> None:
    reply = await demo.request(
        "tools/call", {"name": "work", "arguments": {"ms": 2000}}, timeout=0.2
    )
    assert reply.outcome is Outcome.TIMEOUT
    assert demo.statistics().timeouts >= 1
    after = await demo.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    assert after.outcome is Outcome.OK


async def test_reply_over_the_cap_is_a_transport_error_and_the_connection_survives(
    demo: StdioConnection,
) -> None:
    big = await demo.request("tools/call", {"name": "blob", "arguments": {"kb": 2 * CAP // 1024}})
    assert big.outcome is Outcome.TRANSPORT
    assert big.detail == f"reply exceeds {CAP} bytes"
    assert isinstance(big, OversizedReply)  # our cap, told apart by its type
    assert big.limit == CAP
    small = await demo.request("tools/call", {"name": "blob", "arguments": {"kb": 1}})
    assert small.outcome is Outcome.OK
    assert demo.statistics().oversized == 1


async def test_many_requests_in_flight_each_get_their_own_reply(demo: StdioConnection) -> None:
    wrong: list[int] = []

    async def add(i: int) -> None:
        reply = await demo.request("tools/call", {"name": "add", "arguments": {"a": i, "b": i}})
        if reply.result is None or reply.result["structuredContent"] != {"result": 2 * i}:
            wrong.append(i)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as task_group:
            for i in range(200):
                task_group.start_soon(add, i)
    assert wrong == []


async def test_failing_tool_calls_are_tool_errors() -> None:
    params = demo_stdio("--error-rate", "1.0", "--seed", "7")
    async with open_connection(params) as connection:
        reply = await connection.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    assert reply.outcome is Outcome.TOOL_ERROR


async def test_crashed_server_fails_pending_and_later_requests_as_transport_errors() -> None:
    before = child_pids()
    async with open_connection(demo_stdio("--crash-after", "3")) as connection:
        echo = {"name": "echo", "arguments": {"text": "x"}}
        for _ in range(3):
            assert (await connection.request("tools/call", echo)).outcome is Outcome.OK
        replies = []

        async def call() -> None:
            replies.append(await connection.request("tools/call", echo))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as task_group:
                for _ in range(5):
                    task_group.start_soon(call)
        after = await connection.request("tools/call", echo)
        assert connection.returncode == 1
    assert [reply.outcome for reply in replies] == [Outcome.TRANSPORT] * 5
    assert replies[0].detail == "server process exited with code 1"
    assert after.outcome is Outcome.TRANSPORT
    assert child_pids() <= before
