"""The stdio relay between our client and the demo server: each fault produces the outcome class
it should, and the relay leaves no process behind."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import psutil
import pytest

from readiness.chaos.faults import parse_fault_spec
from readiness.chaos.plan import read_events
from readiness.chaos.stdio_relay import relay_command
from readiness.errors import TargetStartFailed
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, StdioParams
from readiness.protocol.jsonrpc import TRANSPORT_MARKER_KEY, RequestTable
from readiness.protocol.outcome import Outcome, Reply
from readiness.protocol.stdio import StdioConnection
from tests.servers import demo_command

pytestmark = pytest.mark.anyio

# Tools the shared relay's faults are aimed at; echo and add stay healthy.
SHARED_FAULTS = (
    "error:tool=search",  # JSON-RPC -32603
    "error:kind=tool,tool=read_note,message=injected",  # isError result
    "latency:latency=300ms,tool=work",
    "drop:method=tools/list,first=1",
    "latency:latency=1ms,tool=blob",  # big replies take the parse-and-delay path
    "malformed:method=prompts/get",
)


MARKER = "the-secret-of-this-test"


def relayed(*specs: str, events: Path | None = None, seed: int = 1) -> StdioParams:
    server, *server_args = demo_command()
    command, args = relay_command(
        [parse_fault_spec(spec) for spec in specs],
        str(events) if events is not None else None,
        server,
        server_args,
        seed=seed,
        transport_marker=MARKER,
    )
    return StdioParams(command, args, transport_marker=MARKER)


async def call(
    connection: StdioConnection, tool: str, timeout: float = 10.0, **args: object
) -> Reply:
    return await connection.request(
        "tools/call", {"name": tool, "arguments": args}, timeout=timeout
    )


def tree(pid: int | None) -> list[psutil.Process]:
    assert pid is not None
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def assert_ended(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"still running: {alive}"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope: one relayed server serves the tests that share it


@pytest.fixture(scope="module")
def events_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("relay") / "events.jsonl"


@pytest.fixture(scope="module")
async def shared(events_path: Path) -> AsyncIterator[StdioConnection]:
    options = ConnectOptions(request_timeout=10.0)
    async with open_connection(relayed(*SHARED_FAULTS, events=events_path), options) as connection:
        processes = tree(connection.pid)
        assert len(processes) == 2  # the relay and the demo server it started
        yield connection
    assert_ended(processes)


@pytest.fixture
def no_stray_children() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    after = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert_ended(after)


async def test_an_rpc_error_on_one_tool_leaves_the_other_tools_healthy(
    shared: StdioConnection,
) -> None:
    for _ in range(3):
        search = await call(shared, "search", query="latency")
        echo = await call(shared, "echo", text="still here")
        assert (search.outcome, search.error_code) == (Outcome.RPC_ERROR, -32603)
        assert echo.outcome is Outcome.OK
        assert echo.result is not None
        assert echo.result["content"][0]["text"] == "still here"


async def test_a_tool_error_fault_answers_with_an_is_error_result(shared: StdioConnection) -> None:
    reply = await call(shared, "read_note", name="readme")
    assert reply.outcome is Outcome.TOOL_ERROR
    assert reply.result is not None
    assert reply.result["content"][0]["text"] == "injected"


async def test_latency_delays_the_reply_by_at_least_the_configured_time(
    shared: StdioConnection,
) -> None:
    started = anyio.current_time()
    reply = await call(shared, "work", ms=1)
    assert reply.outcome is Outcome.OK
    assert anyio.current_time() - started >= 0.3


async def test_a_dropped_request_times_out_and_the_next_one_is_answered(
    shared: StdioConnection,
) -> None:
    dropped = await shared.request("tools/list", timeout=0.3)
    assert dropped.outcome is Outcome.TIMEOUT
    assert (await shared.request("tools/list")).outcome is Outcome.OK


async def test_a_large_reply_crosses_the_relay_intact(shared: StdioConnection) -> None:
    reply = await call(shared, "blob", kb=2048)
    assert reply.outcome is Outcome.OK
    assert reply.result is not None
    assert len(reply.result["content"][0]["text"]) >= 2048 * 1024


async def test_a_malformed_reply_is_a_transport_failure_of_that_request_only(
    shared: StdioConnection,
) -> None:
    reply = await shared.request("prompts/get", {"name": "summarize", "arguments": {"topic": "x"}})
    assert reply.outcome is Outcome.TRANSPORT
    assert "malformed" in reply.detail
    assert (await call(shared, "add", a=1, b=2)).outcome is Outcome.OK


async def test_the_events_file_lists_every_injection(
    shared: StdioConnection, events_path: Path
) -> None:
    await call(shared, "search", query="x")
    await call(shared, "echo", text="x")
    events = read_events(events_path)
    assert events, "no events written"
    assert {e.phase for e in events} == {"inject"}
    searches = [e for e in events if e.tool == "search"]
    assert searches
    assert all((e.type, e.method, e.fault_index) == ("error", "tools/call", 0) for e in searches)
    assert all(isinstance(e.request_id, int) for e in events)
    assert not [e for e in events if e.tool in ("echo", "add")]
    assert [e.t_s for e in events] == sorted(e.t_s for e in events)


async def until_restored(connection: StdioConnection) -> Reply:
    """Call echo until the relay stops answering for a server that is down: the condition is
    the restart, which no event of ours marks, so poll it (bounded by the caller)."""
    while True:
        reply = await call(connection, "echo", timeout=30, text="back")
        if reply.outcome is not Outcome.TRANSPORT or "is down" not in reply.detail:
            return reply
        await anyio.sleep(0.05)


@pytest.mark.parametrize("protocol", ["auto", "2025-11-25"])
async def test_a_killed_server_is_restarted_and_the_same_connection_recovers(
    protocol: str, tmp_path: Path, no_stray_children: None
) -> None:
    # 2025-11-25 has a session: the relay replays initialize to the new server, which would
    # otherwise refuse every call with -32602.
    events = tmp_path / "events.jsonl"
    params = relayed("kill:tool=echo,first=1,restart_after=100ms", events=events)
    options = ConnectOptions(protocol=protocol, request_timeout=10.0)
    async with open_connection(params, options) as connection:
        relay, server = tree(connection.pid)
        with anyio.fail_after(30):
            killed = await call(connection, "echo", timeout=60, text="dies")
        assert killed.outcome is Outcome.TRANSPORT, killed
        with anyio.fail_after(60):
            recovered = await until_restored(connection)
        assert recovered.outcome is Outcome.OK, recovered
        assert (await call(connection, "add", a=2, b=3)).outcome is Outcome.OK
        assert connection.returncode is None  # the relay, which is our child, never went
        restarted = tree(connection.pid)[1:]
        assert [p.pid for p in restarted] != [server.pid]
        assert not server.is_running()
    assert [(e.type, e.phase) for e in read_events(events)] == [("kill", "inject"), ("kill", "end")]
    assert_ended([relay, *restarted])


async def test_requests_in_flight_when_the_server_is_killed_fail_at_once_as_transport_errors(
    no_stray_children: None,
) -> None:
    # The restart is far off: the server stays down for the whole test.
    params = relayed("kill:tool=echo,restart_after=10m")
    replies: list[Reply] = []

    async def slow() -> None:
        replies.append(await call(connection, "work", timeout=600, ms=60_000))

    async with open_connection(params, ConnectOptions(request_timeout=600)) as connection:
        with anyio.fail_after(30):  # far below every request's timeout and the work asked
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(slow)
                await anyio.wait_all_tasks_blocked()  # the three are written to the relay
                killed = await call(connection, "echo", timeout=600, text="dies")
            down = await call(connection, "add", timeout=600, a=1, b=1)
        assert connection.returncode is None  # the relay lives on, waiting to restart
    assert killed.outcome is Outcome.TRANSPORT
    assert [r.outcome for r in replies] == [Outcome.TRANSPORT] * 3
    assert all("the server exited (killed by a fault)" in r.detail for r in replies)
    assert down.outcome is Outcome.TRANSPORT
    assert "the server is down" in down.detail


async def test_only_an_error_carrying_our_secret_counts_as_a_transport_error() -> None:
    error = {"code": -32000, "message": "gone", "data": {TRANSPORT_MARKER_KEY: MARKER}}
    forged = {**error, "data": {TRANSPORT_MARKER_KEY: "a guess"}}
    for marker, sent, expected in [
        (MARKER, error, Outcome.TRANSPORT),
        (MARKER, forged, Outcome.RPC_ERROR),
        (None, error, Outcome.RPC_ERROR),  # a client that started no relay trusts no marker
    ]:
        table = RequestTable(transport_marker=marker)
        request_id, future = table.open(timeout=10.0)
        table.deliver({"jsonrpc": "2.0", "id": request_id, "error": sent})
        assert future.result().outcome is expected


async def test_a_kill_without_restart_ends_the_connection_like_a_crash(
    no_stray_children: None,
) -> None:
    async with open_connection(relayed("kill:tool=echo")) as connection:
        processes = tree(connection.pid)
        reply = await call(connection, "echo", text="x")
        assert reply.outcome is Outcome.TRANSPORT
        assert "exited with code 137" in reply.detail
        assert (await call(connection, "add", a=1, b=1)).outcome is Outcome.TRANSPORT
    assert_ended(processes)


async def test_a_disconnect_closes_the_pipes_and_the_connection_stays_dead(
    no_stray_children: None,
) -> None:
    async with open_connection(relayed("disconnect:tool=echo")) as connection:
        processes = tree(connection.pid)
        assert (await call(connection, "add", a=1, b=1)).outcome is Outcome.OK
        reply = await call(connection, "echo", text="x")
        assert reply.outcome is Outcome.TRANSPORT
        assert (await call(connection, "add", a=1, b=1)).outcome is Outcome.TRANSPORT
    assert_ended(processes)


async def test_a_hang_holds_every_request_until_it_lifts(no_stray_children: None) -> None:
    async with open_connection(relayed("hang:tool=echo,first=1,duration=2s")) as connection:
        hung = await call(connection, "echo", timeout=0.3, text="x")
        other = await call(connection, "add", timeout=0.3, a=1, b=1)  # unrelated, held too
        with anyio.fail_after(30):
            after = await call(connection, "add", timeout=20, a=1, b=2)
        stats = connection.statistics()
    assert (hung.outcome, other.outcome) == (Outcome.TIMEOUT, Outcome.TIMEOUT)
    assert after.outcome is Outcome.OK
    assert stats.late_replies == 2  # the held requests were answered once the hang lifted


async def test_a_server_the_relay_cannot_start_fails_the_start_up(no_stray_children: None) -> None:
    command, args = relay_command([], None, "/nonexistent/server")
    with pytest.raises(TargetStartFailed) as caught:
        async with open_connection(StdioParams(command, args)):
            pass
    assert "could not start /nonexistent/server" in caught.value.stderr_tail


async def test_the_relay_refuses_http_only_faults(no_stray_children: None) -> None:
    command, args = relay_command([parse_fault_spec("session_loss")], None, sys.executable)
    with pytest.raises(TargetStartFailed) as caught:
        async with open_connection(StdioParams(command, args)):
            pass
    assert "session_loss fault applies to HTTP targets only" in caught.value.stderr_tail


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux-only")
async def test_a_relay_killed_outright_takes_its_server_with_it(no_stray_children: None) -> None:
    async with open_connection(relayed()) as connection:
        relay, server = tree(connection.pid)
        relay.kill()  # no chance to clean up: the server must still not outlive it
        assert_ended([server])
        reply = await call(connection, "echo", text="x")
    assert reply.outcome is Outcome.TRANSPORT
    assert "exited with code -9" in reply.detail
