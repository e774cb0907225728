"""The standalone GET stream (Streamable HTTP, 2025 rules): opened for a simulated client, its
server requests answered by POST, and reopened with Last-Event-ID after the server ends it."""

from __future__ import annotations

import anyio
import pytest

from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams
from readiness.protocol.responder import ClientSimulation
from tests.protocol.fake_http import serve_fake

pytestmark = pytest.mark.anyio

SIMULATION = ClientSimulation(roots=("file:///srv/project",))


@pytest.mark.parametrize("client", ["aiohttp", "fast"])
async def test_the_stream_is_answered_and_resumed_with_the_last_event_id(client: str) -> None:
    async with serve_fake() as fake:
        params = HttpParams(fake.url, client=client)  # type: ignore[arg-type]
        async with open_connection(params, ConnectOptions(client=SIMULATION)) as conn:
            with anyio.fail_after(10):
                await fake.answered.wait()
                await fake.refused_stream.wait()
            stream = conn.stream
            assert stream is not None
            stats = stream.stats
    # The ping that came on the stream was answered by POST, outside any call of ours.
    assert fake.answers == [{"jsonrpc": "2.0", "id": "srv-1", "result": {}}]
    assert stream.ledger.server_requests == 1
    # Ended by the server twice: reopened after its `retry:` with the last id it gave, and
    # given up once it answered 405.
    assert fake.streams == [None, "e1", "e2"]
    assert (stats.opened, stats.resumed, stats.refused) == (2, 2, 405)
    assert (stats.server_requests, stats.notifications) == (1, 1)


async def test_no_stream_is_opened_without_a_simulated_client() -> None:
    async with serve_fake() as fake, open_connection(HttpParams(fake.url)) as conn:
        assert conn.stream is None
        await conn.request("tools/call", {"name": "echo", "arguments": {}})
    assert fake.streams == []


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
async def test_the_demo_keeps_a_stream_open_under_2025_rules_only(
    stateful_http: HttpParams, protocol: str
) -> None:
    options = ConnectOptions(client=SIMULATION, protocol=protocol)
    with anyio.fail_after(30):
        async with open_connection(stateful_http, options) as conn:
            reply = await conn.request("tools/call", {"name": "list_roots", "arguments": {}})
            assert reply.result is not None
    if protocol == "2026-07-28":
        assert conn.stream is None  # 2026-07-28 has no GET stream
    else:
        assert conn.stream is not None
        stats = conn.stream.stats
        assert (stats.opened, stats.refused, stats.failures) == (1, None, 0), stats
