"""HTTP/1.1 framing edge cases against a raw-socket server, for both HTTP clients; and the
keep-alive reconnect that only the fast client does."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from pydantic import ValidationError

from readiness.config import TargetConfig
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams
from readiness.protocol.fasthttp import choose_client
from readiness.protocol.http import HttpConnection
from readiness.protocol.http11 import HttpFailure, Origin, WirePool
from readiness.protocol.outcome import Outcome
from tests.protocol.raw_http_server import Framing, serve_raw

pytestmark = pytest.mark.anyio

CALLS = 20
OPTIONS = ConnectOptions(protocol="2025-11-25", request_timeout=10, connect_timeout=10)


def echo(i: int) -> dict[str, object]:
    return {"name": "echo", "arguments": {"text": f"call {i}"}}


@pytest.mark.parametrize("framing", ["length", "chunked", "eof", "close", "split"])
async def test_every_framing_gives_every_reply_once_and_no_errors(
    framing: Framing, http_client: str
) -> None:
    async with serve_raw(framing) as server:
        params = HttpParams(server.url, client=http_client)  # type: ignore[arg-type]
        with anyio.fail_after(60):
            async with open_connection(params, OPTIONS) as connection:
                replies = [await connection.request("tools/call", echo(i)) for i in range(CALLS)]
                assert connection.failures.counts == {}
    assert [r.outcome for r in replies] == [Outcome.OK] * CALLS
    assert [r.result["content"][0]["text"] for r in replies if r.result] == [
        f"call {i}" for i in range(CALLS)
    ]
    assert server.calls == CALLS  # nothing sent twice
    if framing in ("close", "eof"):  # one connection per request, the DELETE-less close too
        assert server.connections >= CALLS + 2
    elif http_client == "fast":
        assert server.connections == 1  # kept alive throughout


async def test_keep_alive_connection_closed_unannounced_is_replaced_without_an_error() -> None:
    # The server closes each connection right after its reply without saying so, as an idle
    # timeout does: the fast client sees the close before reusing the connection.
    async with serve_raw("quiet_close") as server:
        params = HttpParams(server.url, client="fast")
        with anyio.fail_after(60):
            async with open_connection(params, OPTIONS) as connection:
                replies = [await connection.request("tools/call", echo(i)) for i in range(CALLS)]
                assert connection.failures.counts == {}
    assert [r.outcome for r in replies] == [Outcome.OK] * CALLS
    assert server.calls == CALLS
    assert server.connections >= CALLS


def post(i: int) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": echo(i)})
    head = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


@pytest.mark.parametrize("retry_idle", [0.0, 3600.0])
async def test_request_met_by_a_closing_connection_is_resent_only_after_idling(
    retry_idle: float,
) -> None:
    # The server reads the second request on each connection and closes without answering,
    # as when its idle timeout fires just as the connection is reused. Past `retry_idle` of
    # idling that is the race, and the request goes again on a new connection; before it, the
    # server dropped the request, and that is a failure to report (a chaos fault does this).
    async with serve_raw("drop_second") as server:
        pool = WirePool(Origin(server.url), limit=4, connect_timeout=10, retry_idle=retry_idle)
        loop = asyncio.get_running_loop()
        answered = failed = 0
        try:
            with anyio.fail_after(60):
                for i in range(CALLS):
                    try:
                        wire = await pool.exchange(post(i), loop.time() + 10, 1 << 20)
                    except HttpFailure:
                        failed += 1
                        continue
                    try:
                        body = await pool.body(wire)
                    finally:
                        pool.release(wire)
                    assert body is not None
                    assert json.loads(body)["id"] == i
                    answered += 1
        finally:
            await pool.aclose()
    if retry_idle == 0.0:
        assert (answered, failed) == (CALLS, 0)
        assert pool.reconnects == server.dropped == CALLS - 1
    else:
        assert answered + failed == CALLS
        assert failed == server.dropped >= CALLS // 2 - 1
        assert pool.reconnects == 0
    assert server.calls == answered  # nothing answered twice


async def test_concurrent_requests_use_one_connection_each_up_to_the_pool_size() -> None:
    async with serve_raw("length") as server:
        params = HttpParams(server.url, client="fast")
        options = ConnectOptions(protocol="2025-11-25", max_connections=4)
        outcomes: list[Outcome] = []
        with anyio.fail_after(60):
            async with open_connection(params, options) as connection:

                async def one(i: int) -> None:
                    outcomes.append((await connection.request("tools/call", echo(i))).outcome)

                async with anyio.create_task_group() as task_group:
                    for i in range(50):
                        task_group.start_soon(one, i)
    assert outcomes == [Outcome.OK] * 50
    assert server.calls == 50
    assert server.connections <= 4


@pytest.mark.parametrize(
    ("choice", "url", "chosen"),
    [
        ("auto", "http://127.0.0.1:1/mcp", "fast"),
        ("auto", "HTTP://example.test/mcp", "fast"),
        ("auto", "https://example.test/mcp", "aiohttp"),
        ("aiohttp", "http://127.0.0.1:1/mcp", "aiohttp"),
        ("fast", "http://127.0.0.1:1/mcp", "fast"),
    ],
)
def test_auto_takes_the_fast_client_for_plain_http_only(choice: str, url: str, chosen: str) -> None:
    assert choose_client(choice, url) == chosen


async def test_aiohttp_client_is_used_when_asked(stateless_server: HttpParams) -> None:
    params = HttpParams(stateless_server.url, client="aiohttp")
    async with open_connection(params) as connection:
        assert type(connection) is HttpConnection
        assert connection.http_client == "aiohttp"


def test_fast_client_for_an_https_target_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="plain http:// only"):
        TargetConfig.model_validate(
            {
                "name": "t",
                "transport": "http",
                "url": "https://example.test/mcp",
                "http_client": "fast",
            }
        )


def test_target_config_passes_its_http_client_choice_on() -> None:
    target = TargetConfig.model_validate(
        {"name": "t", "transport": "http", "url": "http://127.0.0.1:1/mcp"}
    )
    assert target.http_client == "auto"
    assert choose_client(target.http_client, target.url or "") == "fast"
