"""Stdio edge cases against a misbehaving raw server, start-up failures, and child clean-up."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from readiness.errors import ConfigError, TargetStartFailed, TargetUnreachable
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, StdioParams
from readiness.protocol.outcome import Outcome, OversizedReply
from tests.protocol.conftest import child_pids, python_stdio, rogue_stdio

pytestmark = pytest.mark.anyio


def call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


async def test_server_requests_are_answered_and_notifications_ignored() -> None:
    async with open_connection(rogue_stdio()) as connection:
        reply = await connection.request("tools/call", call("chatty"), timeout=10)
        stats = connection.statistics()
    assert reply.outcome is Outcome.OK
    assert reply.result is not None
    answers = reply.result["answers"]
    assert answers["s1"] == {}  # ping
    assert answers["s2"]["code"] == -32601  # roots/list is not something we offer
    assert stats.server_requests == 2
    assert stats.notifications == 1


async def test_late_reply_after_a_timeout_is_counted_and_dropped() -> None:
    async with open_connection(rogue_stdio()) as connection:
        slow = await connection.request("tools/call", call("slow", ms=300), timeout=0.05)
        # The server answers in order: the late reply comes before this one.
        echo = await connection.request("tools/call", call("echo", text="next"))
        stats = connection.statistics()
    assert slow.outcome is Outcome.TIMEOUT
    assert echo.outcome is Outcome.OK
    assert echo.result is not None
    assert echo.result["content"][0]["text"] == "next"
    assert stats.timeouts == 1
    assert stats.late_replies == 1


async def test_senders_wait_while_the_server_stdin_is_full() -> None:
    text = "x" * 20_000
    outcomes: list[Outcome] = []
    async with open_connection(rogue_stdio()) as connection:

        async def echo() -> None:
            reply = await connection.request("tools/call", call("echo", text=text), timeout=30)
            outcomes.append(reply.outcome)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as task_group:
                # 2 MB of requests in one go: far more than a pipe and the write buffer hold.
                for _ in range(100):
                    task_group.start_soon(echo)
        assert connection.write_pauses >= 1
    assert outcomes == [Outcome.OK] * 100


async def test_lines_that_are_not_json_are_counted_and_skipped() -> None:
    async with open_connection(rogue_stdio()) as connection:
        reply = await connection.request("tools/call", call("garbage"))
        assert connection.statistics().malformed == 1
    assert reply.outcome is Outcome.OK


async def test_reply_with_neither_result_nor_error_is_a_transport_error() -> None:
    async with open_connection(rogue_stdio()) as connection:
        reply = await connection.request("tools/call", call("no_result"))
    assert reply.outcome is Outcome.TRANSPORT
    assert "no result and no error" in reply.detail


async def test_oversized_reply_is_matched_by_a_trailing_id() -> None:
    options = ConnectOptions(max_reply_bytes=4096)
    async with open_connection(rogue_stdio(), options) as connection:
        big = await connection.request("tools/call", call("big_id_last", size=300_000))
        after = await connection.request("tools/call", call("echo", text="still here"))
    assert big.outcome is Outcome.TRANSPORT
    assert big.detail == "reply exceeds 4096 bytes"
    assert isinstance(big, OversizedReply)  # our cap, told apart by its type
    assert big.limit == 4096
    assert after.outcome is Outcome.OK


async def test_auto_falls_back_to_initialize_when_discover_is_unknown() -> None:
    async with open_connection(rogue_stdio("--legacy")) as connection:
        assert connection.protocol_version == "2025-11-25"
        reply = await connection.request("tools/call", call("echo", text="hi"))
    assert reply.outcome is Outcome.OK


async def test_auto_speaks_2026_when_discover_answers() -> None:
    async with open_connection(rogue_stdio()) as connection:
        assert connection.protocol_version == "2026-07-28"
        assert connection.server_info == {"name": "rogue", "version": "1"}


async def test_server_choosing_an_unknown_version_is_unreachable() -> None:
    options = ConnectOptions(protocol="2025-11-25")
    with pytest.raises(TargetUnreachable, match="1999-01-01"):
        async with open_connection(rogue_stdio("--choose", "1999-01-01"), options):
            pass


async def test_unknown_protocol_setting_is_a_config_error() -> None:
    before = child_pids()
    with pytest.raises(ConfigError, match="2099-01-01"):
        async with open_connection(rogue_stdio(), ConnectOptions(protocol="2099-01-01")):
            pass
    assert child_pids() <= before


async def test_missing_command_fails_to_start() -> None:
    params = StdioParams("/nonexistent/readiness-no-such-server")
    with pytest.raises(TargetStartFailed, match="command not found: /nonexistent/"):
        async with open_connection(params):
            pass


async def test_command_exiting_at_start_fails_with_its_exit_code_and_stderr() -> None:
    code = "import sys; sys.stderr.write('config file missing\\n'); sys.exit(3)"
    with pytest.raises(TargetStartFailed) as caught:
        async with open_connection(python_stdio(code)):
            pass
    assert caught.value.cause == "server process exited with code 3 during start-up"
    assert "config file missing" in caught.value.stderr_tail


async def test_silent_server_is_unreachable_after_the_connect_timeout_and_is_ended() -> None:
    before = child_pids()
    options = ConnectOptions(connect_timeout=0.5)
    # It ignores stdin closing and SIGTERM, so only the kill ends it.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    with pytest.raises(TargetUnreachable, match=r"no answer to the MCP handshake within 0\.5 s"):
        async with open_connection(python_stdio(code), options):
            pass
    assert child_pids() <= before


async def test_stderr_log_is_bounded_and_keeps_the_first_and_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.stderr"
    code = (
        "import sys\n"
        "for i in range(60000): sys.stderr.write(f'line {i:05d} ' + 'x' * 40 + '\\n')\n"
        "sys.exit(2)\n"
    )
    params = StdioParams(sys.executable, ("-c", code), stderr_path=str(log))
    with pytest.raises(TargetStartFailed) as caught:
        async with open_connection(params):
            pass
    data = log.read_bytes()
    assert len(data) <= 1024 * 1024 + 100  # of 3.1 MB written
    assert data.startswith(b"line 00000 ")
    assert data.rstrip().endswith(b"line 59999 " + b"x" * 40)
    assert b"bytes of stderr skipped" in data
    assert caught.value.stderr_tail.splitlines()[-1].startswith("line 59999")


async def test_no_child_outlives_a_closed_connection() -> None:
    before = child_pids()
    async with open_connection(rogue_stdio()) as connection:
        pid = connection.pid
        assert pid in child_pids()
    assert pid not in child_pids()
    assert child_pids() <= before


async def test_no_child_outlives_a_connection_cancelled_mid_request() -> None:
    before = child_pids()
    in_flight = anyio.Event()
    pids: list[int | None] = []

    async def hang() -> None:
        async with open_connection(rogue_stdio()) as connection:
            pids.append(connection.pid)
            in_flight.set()
            await connection.request("tools/call", call("hang"), timeout=60)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(hang)
            await in_flight.wait()
            await wait_all_tasks_blocked()
            task_group.cancel_scope.cancel()
    assert pids[0] is not None
    assert child_pids() <= before


async def test_no_child_outlives_a_start_up_that_is_cancelled() -> None:
    before = child_pids()
    code = "import time; time.sleep(60)"

    async def start() -> None:
        async with open_connection(python_stdio(code)):
            pytest.fail("the silent server cannot finish the handshake")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(start)
            await wait_all_tasks_blocked()
            task_group.cancel_scope.cancel()
    assert child_pids() <= before
