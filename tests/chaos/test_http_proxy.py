"""The HTTP reverse proxy in front of the demo server over Streamable HTTP: each fault produces
the outcome class it should, and the proxy leaves no socket or process behind."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import urlsplit

import anyio
import psutil
import pytest

from readiness.chaos.faults import parse_fault_spec
from readiness.chaos.http_proxy import serve_proxy
from readiness.chaos.plan import FaultPlan
from readiness.errors import ConfigError
from readiness.process import ProcessSpec, ServerSupervisor
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams
from readiness.protocol.http import HttpConnection
from readiness.protocol.outcome import Outcome, Reply
from tests.servers import demo_http_server, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with demo_http_server() as server:
        yield server.url


@asynccontextmanager
async def proxied(
    upstream_url: str, *specs: str, supervisor: ServerSupervisor | None = None
) -> AsyncIterator[tuple[str, FaultPlan]]:
    """Serve the proxy in-process; on exit it must have closed its listening socket."""
    plan = FaultPlan([parse_fault_spec(spec) for spec in specs], seed=1)
    async with anyio.create_task_group() as task_group:
        url = await task_group.start(
            partial(serve_proxy, upstream_url, plan, supervisor=supervisor)
        )
        assert urlsplit(url).path == urlsplit(upstream_url).path
        yield url, plan
        task_group.cancel_scope.cancel()
    port = urlsplit(url).port
    listening = [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    assert not listening


@asynccontextmanager
async def through_proxy(
    upstream_url: str,
    *specs: str,
    protocol: str = "auto",
    supervisor: ServerSupervisor | None = None,
) -> AsyncIterator[tuple[HttpConnection, FaultPlan]]:
    """Our client, connected through a proxy applying `specs`."""
    async with proxied(upstream_url, *specs, supervisor=supervisor) as (url, plan):
        options = ConnectOptions(protocol=protocol, request_timeout=10.0)
        async with open_connection(HttpParams(url), options) as connection:
            yield connection, plan


async def call(
    connection: HttpConnection, tool: str, timeout: float = 10.0, **args: object
) -> Reply:
    return await connection.request(
        "tools/call", {"name": tool, "arguments": args}, timeout=timeout
    )


async def test_an_http_error_status_is_a_transport_failure_naming_the_status(
    upstream: str,
) -> None:
    async with through_proxy(upstream, "error:kind=http,status=503,tool=search") as (connection, _):
        search = await call(connection, "search", query="x")
        echo = await call(connection, "echo", text="fine")
    assert search.outcome is Outcome.TRANSPORT
    assert search.detail == "HTTP 503"
    assert echo.outcome is Outcome.OK


async def test_an_rpc_error_fault_answers_with_its_code(upstream: str) -> None:
    async with through_proxy(upstream, "error:code=-32000,tool=add") as (connection, plan):
        reply = await call(connection, "add", a=1, b=2)
    assert (reply.outcome, reply.error_code) == (Outcome.RPC_ERROR, -32000)
    assert [e.tool for e in plan.events] == ["add"]


async def test_session_loss_makes_our_client_reinitialise_and_retry(upstream: str) -> None:
    spec = "session_loss:tool=echo,first=1"
    async with through_proxy(upstream, spec, protocol="2025-11-25") as (connection, plan):
        session = connection.session_id
        reply = await call(connection, "echo", text="again")
        assert reply.outcome is Outcome.OK
        assert connection.reinitializations == 1
        assert connection.session_id not in (None, session)
    assert plan.statistics().injected == (1,)


async def test_latency_delays_the_reply_by_at_least_the_configured_time(upstream: str) -> None:
    async with through_proxy(upstream, "latency:latency=300ms,tool=echo") as (connection, _):
        started = anyio.current_time()
        reply = await call(connection, "echo", text="slow")
        elapsed = anyio.current_time() - started
    assert reply.outcome is Outcome.OK
    assert elapsed >= 0.3


async def test_a_malformed_reply_is_a_transport_failure(upstream: str) -> None:
    async with through_proxy(upstream, "malformed:tool=echo") as (connection, _):
        reply = await call(connection, "echo", text="x")
        healthy = await call(connection, "add", a=1, b=1)
    assert reply.outcome is Outcome.TRANSPORT
    assert "malformed" in reply.detail
    assert healthy.outcome is Outcome.OK


async def test_a_dropped_request_times_out_and_the_next_one_is_answered(upstream: str) -> None:
    async with through_proxy(upstream, "drop:tool=echo,first=1") as (connection, _):
        dropped = await call(connection, "echo", timeout=0.3, text="x")
        answered = await call(connection, "echo", text="y")
    assert dropped.outcome is Outcome.TIMEOUT
    assert answered.outcome is Outcome.OK


async def test_a_disconnect_breaks_that_request_only(upstream: str) -> None:
    async with through_proxy(upstream, "disconnect:tool=echo,first=1") as (connection, _):
        broken = await call(connection, "echo", text="x")
        answered = await call(connection, "echo", text="y")
    assert broken.outcome is Outcome.TRANSPORT
    assert answered.outcome is Outcome.OK


async def injected(plan: FaultPlan) -> None:
    """Wait until the plan has injected a fault (it records one; it signals none)."""
    with anyio.fail_after(30):
        while not plan.events:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_a_hang_holds_every_request_until_it_lifts(upstream: str) -> None:
    async with through_proxy(upstream, "hang:tool=echo,first=1,duration=1500ms") as (
        connection,
        plan,
    ):
        replies: dict[str, Reply] = {}

        async def hang() -> None:
            replies["hung"] = await call(connection, "echo", timeout=0.3, text="x")

        # The unrelated call goes out once the hang has begun, not after the first call's
        # timeout: only the hang's length, not this machine's speed, decides if it is held.
        async with anyio.create_task_group() as tg:
            tg.start_soon(hang)
            await injected(plan)
            replies["other"] = await call(connection, "add", timeout=0.3, a=1, b=1)
        with anyio.fail_after(30):
            after = await call(connection, "add", timeout=20, a=1, b=2)
    hung, other = replies["hung"], replies["other"]
    assert (hung.outcome, other.outcome) == (Outcome.TIMEOUT, Outcome.TIMEOUT)
    assert after.outcome is Outcome.OK
    assert [e.phase for e in plan.events] == ["inject", "end"]


async def test_a_slow_stream_still_delivers_the_whole_reply(upstream: str) -> None:
    spec = "slow_stream:tool=search,chunk_size=32,chunk_delay=10ms"
    async with through_proxy(upstream, spec) as (connection, _):
        started = anyio.current_time()
        reply = await call(connection, "search", query="latency")
        elapsed = anyio.current_time() - started
    assert reply.outcome is Outcome.OK
    assert reply.result is not None
    assert reply.result["structuredContent"]["total"] >= 1
    assert elapsed >= 0.1  # the reply is far over 10 chunks of 32 bytes


async def test_a_kill_with_restart_takes_the_server_down_and_back() -> None:
    port = free_port()
    spec = ProcessSpec(sys.executable, ("-m", "readiness.demo", "--http", "--port", str(port)))
    supervisor = ServerSupervisor(spec, f"http://127.0.0.1:{port}/mcp")
    try:
        with anyio.fail_after(60):
            await supervisor.start()
        first_pid = supervisor.pid
        assert first_pid is not None
        first = psutil.Process(first_pid)
        spec = "kill:tool=echo,first=1,restart_after=100ms"
        async with through_proxy(supervisor.url, spec, supervisor=supervisor) as (connection, plan):
            killed = await call(connection, "echo", text="x")
            assert killed.outcome is Outcome.TRANSPORT
            assert killed.detail == "HTTP 502"
            # The proxy answers 502 until the server listens again; poll for that, bounded.
            with anyio.fail_after(60):
                while (reply := await call(connection, "echo", text="y")).outcome is not (
                    Outcome.OK
                ):
                    assert reply.outcome is Outcome.TRANSPORT
                    await anyio.sleep(0.1)
        assert supervisor.pid not in (None, first_pid)
        assert not first.is_running()
        assert [(e.type, e.phase) for e in plan.events] == [("kill", "inject"), ("kill", "end")]
    finally:
        last = supervisor.pid
        await supervisor.aclose()
    assert last is not None
    assert not psutil.pid_exists(last) or psutil.Process(last).status() == psutil.STATUS_ZOMBIE


async def test_the_proxy_refuses_what_it_cannot_do(upstream: str) -> None:
    plan = FaultPlan([parse_fault_spec("kill")])
    with pytest.raises(ConfigError, match="kill fault needs a server process"):
        await serve_proxy(upstream, plan)
    with pytest.raises(ConfigError, match="not a loopback address"):
        await serve_proxy(upstream, FaultPlan([]), host="0.0.0.0")
    with pytest.raises(ConfigError, match="expected an http:// URL"):
        await serve_proxy("ftp://example/", FaultPlan([]))
