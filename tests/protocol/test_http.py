"""The lean client against the demo server over Streamable HTTP, stateful and stateless."""

from __future__ import annotations

import socket

import aiohttp
import anyio
import pytest

from readiness.errors import TargetUnreachable
from readiness.protocol.client import McpClient, RequestFailed, open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams
from readiness.protocol.outcome import Outcome, OversizedReply
from tests.servers import demo_http_server

pytestmark = pytest.mark.anyio

CAP = 64 * 1024
MODES = ["stateful_http", "stateless_http"]


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28", "auto"])
@pytest.mark.parametrize("mode", MODES)
async def test_every_operation_works_over_http(
    mode: str, protocol: str, http_client: str, request: pytest.FixtureRequest
) -> None:
    params: HttpParams = request.getfixturevalue(mode)
    async with open_connection(params, ConnectOptions(protocol=protocol)) as connection:
        client = McpClient(connection)
        expected_version = "2025-11-25" if protocol == "2025-11-25" else "2026-07-28"
        assert connection.protocol_version == expected_version
        assert connection.server_info["name"] == "readiness-demo"
        has_session = mode == "stateful_http" and expected_version == "2025-11-25"
        assert (connection.session_id is not None) is has_session

        tools = {tool["name"] for tool in await client.list_tools()}
        assert {"echo", "add", "work", "search", "read_note", "blob"} <= tools
        added = await client.call_tool("add", {"a": 2, "b": 3})
        assert added["structuredContent"] == {"result": 5}
        assert [r["uri"] for r in await client.list_resources()] == [
            "demo://counter",
            "demo://status",
        ]
        status = await client.read_resource("demo://status")
        assert status["contents"][0]["uri"] == "demo://status"
        assert [p["name"] for p in await client.list_prompts()] == ["summarize"]
        prompt = await client.get_prompt("summarize", {"topic": "load tests"})
        assert "load tests" in prompt["messages"][0]["content"]["text"]
        if expected_version == "2026-07-28":
            with pytest.raises(RequestFailed, match="ping does not exist"):
                await client.ping()
        else:
            await client.ping()


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
async def test_unknown_method_over_http_is_an_rpc_error_with_its_code(
    protocol: str, stateless_http: HttpParams
) -> None:
    async with open_connection(stateless_http, ConnectOptions(protocol=protocol)) as connection:
        reply = await connection.request("no/such/method")
    assert reply.outcome is Outcome.RPC_ERROR
    assert reply.error_code == -32601


async def test_non_ascii_names_travel_in_the_mcp_name_header(stateless_http: HttpParams) -> None:
    # A mangled Mcp-Name would be refused as a header mismatch (-32020) before the lookup.
    async with open_connection(stateless_http, ConnectOptions(protocol="2026-07-28")) as connection:
        reply = await connection.request("resources/read", {"uri": "demo://ünïcode"})
    assert reply.outcome is Outcome.RPC_ERROR
    assert reply.error_code == -32602
    assert "Unknown resource" in reply.detail


@pytest.mark.parametrize("mode", MODES)
async def test_failed_tool_over_http_is_a_tool_error(
    mode: str, http_client: str, request: pytest.FixtureRequest
) -> None:
    params: HttpParams = request.getfixturevalue(mode)
    async with open_connection(params) as connection:
        reply = await connection.request(
            "tools/call", {"name": "read_note", "arguments": {"name": "../etc/passwd"}}
        )
    assert reply.outcome is Outcome.TOOL_ERROR


@pytest.mark.parametrize("mode", MODES)
async def test_slow_reply_over_http_times_out(
    mode: str, http_client: str, request: pytest.FixtureRequest
) -> None:
    params: HttpParams = request.getfixturevalue(mode)
    async with open_connection(params) as connection:
        reply = await connection.request(
            "tools/call", {"name": "work", "arguments": {"ms": 2000}}, timeout=0.2
        )
    assert reply.outcome is Outcome.TIMEOUT


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("mode", MODES)
async def test_reply_over_the_cap_over_http_is_a_transport_error(
    mode: str, protocol: str, http_client: str, request: pytest.FixtureRequest
) -> None:
    params: HttpParams = request.getfixturevalue(mode)
    options = ConnectOptions(protocol=protocol, max_reply_bytes=CAP)
    async with open_connection(params, options) as connection:
        big = await connection.request("tools/call", {"name": "blob", "arguments": {"kb": 128}})
        small = await connection.request("tools/call", {"name": "blob", "arguments": {"kb": 1}})
    assert big.outcome is Outcome.TRANSPORT
    assert big.detail == f"reply exceeds {CAP} bytes"
    assert isinstance(big, OversizedReply)  # our cap, told apart by its type
    assert big.limit == CAP
    assert small.outcome is Outcome.OK


async def test_json_reply_over_the_cap_that_arrives_in_one_read_is_oversized_not_malformed(
    stateless_http: HttpParams,
) -> None:
    # 3 KiB over a 2 KiB cap fits one socket read: the parser has finished the body by the
    # time the client looks, and the cap must still win over "not JSON".
    options = ConnectOptions(protocol="2025-11-25", max_reply_bytes=2048)
    async with open_connection(stateless_http, options) as connection:
        big = await connection.request("tools/call", {"name": "blob", "arguments": {"kb": 3}})
        assert connection.statistics().malformed == 0
    assert isinstance(big, OversizedReply)
    assert big.detail == "reply exceeds 2048 bytes"


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("mode", MODES)
async def test_many_requests_in_flight_over_http_each_get_their_own_reply(
    mode: str, protocol: str, http_client: str, request: pytest.FixtureRequest
) -> None:
    params: HttpParams = request.getfixturevalue(mode)
    wrong: list[int] = []
    async with open_connection(params, ConnectOptions(protocol=protocol)) as connection:

        async def add(i: int) -> None:
            call = {"name": "add", "arguments": {"a": i, "b": i}}
            reply = await connection.request("tools/call", call)
            if reply.result is None or reply.result["structuredContent"] != {"result": 2 * i}:
                wrong.append(i)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as task_group:
                for i in range(200):
                    task_group.start_soon(add, i)
    assert wrong == []


async def _delete_session(url: str, session_id: str) -> int:
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    async with aiohttp.ClientSession() as http, http.delete(url, headers=headers) as response:
        return response.status


async def test_lost_session_is_reinitialised_once_for_all_waiting_requests(
    stateful_http: HttpParams,
) -> None:
    options = ConnectOptions(protocol="2025-11-25")
    async with open_connection(stateful_http, options) as connection:
        old_session = connection.session_id
        assert old_session is not None
        assert await _delete_session(stateful_http.url, old_session) == 200
        outcomes: list[Outcome] = []

        async def echo() -> None:
            call = {"name": "echo", "arguments": {"text": "again"}}
            outcomes.append((await connection.request("tools/call", call)).outcome)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as task_group:
                for _ in range(20):
                    task_group.start_soon(echo)
        assert outcomes == [Outcome.OK] * 20
        assert connection.reinitializations == 1
        assert connection.session_id not in (None, old_session)


async def test_closing_the_connection_ends_its_session(stateful_http: HttpParams) -> None:
    async with open_connection(stateful_http, ConnectOptions(protocol="2025-11-25")) as connection:
        session_id = connection.session_id
    assert session_id is not None
    # Already deleted by the client, so the server no longer knows it.
    assert await _delete_session(stateful_http.url, session_id) == 404


async def test_server_that_dies_gives_transport_errors(http_client: str) -> None:
    with demo_http_server(["--stateless", "--json-response", "--crash-after", "2"]) as server:
        async with open_connection(HttpParams(server.url, client=http_client)) as connection:
            echo = {"name": "echo", "arguments": {"text": "x"}}
            first = [await connection.request("tools/call", echo) for _ in range(2)]
            crashing = await connection.request("tools/call", echo)
            after = await connection.request("tools/call", echo)
    assert [reply.outcome for reply in first] == [Outcome.OK, Outcome.OK]
    assert crashing.outcome is Outcome.TRANSPORT
    assert after.outcome is Outcome.TRANSPORT  # reset, or refused: depends on the pool's timing
    assert after.detail


async def test_url_with_nothing_listening_is_unreachable(http_client: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    params = HttpParams(url, client=http_client)  # type: ignore[arg-type]
    with pytest.raises(TargetUnreachable, match=f"connection refused at 127.0.0.1:{port}"):
        async with open_connection(params, ConnectOptions(connect_timeout=5)):
            pass
