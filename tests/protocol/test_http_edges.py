"""HTTP behaviour the demo server never shows, against a small aiohttp endpoint (fake_http)."""

from __future__ import annotations

import pytest

from readiness.errors import TargetUnreachable
from readiness.protocol.client import open_connection
from readiness.protocol.connection import HttpParams
from readiness.protocol.outcome import Outcome
from tests.protocol.fake_http import serve_fake

pytestmark = pytest.mark.anyio


def via(url: str, client: str) -> HttpParams:
    return HttpParams(url, client=client)  # type: ignore[arg-type]  # a fixture's string


def call(name: str) -> dict[str, object]:
    return {"name": name, "arguments": {"n": 1}}


async def test_custom_headers_and_the_session_travel_with_every_request(http_client: str) -> None:
    async with serve_fake(token="s3cret") as fake:
        params = HttpParams(
            fake.url, headers={"Authorization": "Bearer s3cret"}, client=http_client
        )
        async with open_connection(params) as connection:
            reply = await connection.request("tools/call", call("echo"))
        assert reply.outcome is Outcome.OK
        assert all(h["Authorization"] == "Bearer s3cret" for h in fake.seen)
        initialize, initialized, tool_call = fake.seen[-3:]
        assert "Mcp-Session-Id" not in initialize
        assert "MCP-Protocol-Version" not in initialize
        for later in (initialized, tool_call):
            assert later["Mcp-Session-Id"] == "s-1"
            assert later["MCP-Protocol-Version"] == "2025-11-25"
        assert fake.deletes == ["s-1"]  # the 405 it answered is not an error


async def test_auto_falls_back_to_initialize_when_discover_gets_http_400(http_client: str) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        assert connection.protocol_version == "2025-11-25"
        assert connection.server_info == {"name": "fake", "version": "1"}


async def test_missing_credentials_make_the_target_unreachable_with_the_status(
    http_client: str,
) -> None:
    async with serve_fake(token="s3cret") as fake:
        with pytest.raises(TargetUnreachable, match="initialize failed: HTTP 401"):
            async with open_connection(via(fake.url, http_client)):
                pass


async def test_sse_reply_skips_notifications_and_answers_server_requests(http_client: str) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        reply = await connection.request("tools/call", call("sse_chatty"), timeout=10)
        stats = connection.statistics()
        assert reply.outcome is Outcome.OK
        assert fake.answers == [{"jsonrpc": "2.0", "id": "s1", "result": {}}]
        assert stats.notifications == 1
        assert stats.server_requests == 1


async def test_a_reply_that_arrives_while_the_client_answers_is_not_lost(
    http_client: str,
) -> None:
    # The call's reply and the end of its stream come before the answer's POST returns: a
    # reader that looked for more only after answering must still find the reply.
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        reply = await connection.request("tools/call", call("reply_while_answering"), timeout=10)
    assert reply.outcome is Outcome.OK, reply.detail
    assert fake.answers[-1]["id"] == "srv-hold"


async def test_http_error_status_without_a_json_rpc_body_is_a_transport_error(
    http_client: str,
) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        reply = await connection.request("tools/call", call("http500"))
    assert reply.outcome is Outcome.TRANSPORT
    assert reply.detail == "HTTP 500"


async def test_http_error_status_with_a_json_rpc_body_is_an_rpc_error(http_client: str) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        reply = await connection.request("tools/call", call("rpc_error_400"))
    assert reply.outcome is Outcome.RPC_ERROR
    assert reply.error_code == -32602


async def test_reply_that_is_not_json_is_a_transport_error(http_client: str) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        reply = await connection.request("tools/call", call("not_json"))
        assert connection.statistics().malformed == 1
    assert reply.outcome is Outcome.TRANSPORT


async def test_404_for_the_session_reinitialises_and_retries_the_request(http_client: str) -> None:
    async with (
        serve_fake() as fake,
        open_connection(via(fake.url, http_client)) as connection,
    ):
        assert (
            await connection.request("tools/call", call("forget_session"))
        ).outcome is Outcome.OK
        retried = await connection.request("tools/call", call("echo"))
        assert retried.outcome is Outcome.OK
        assert connection.reinitializations == 1
        assert fake.sessions_started == 2
        assert connection.session_id == "s-2"
