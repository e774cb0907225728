"""The demo server: its knobs, its tools, and its stdio and HTTP modes, driven by the SDK client."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import mcp_types
import psutil
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from readiness.demo.__main__ import main
from readiness.demo.knobs import (
    KNOB_SOURCES,
    FixedLatency,
    Knobs,
    UniformLatency,
    parse_latency,
    resolve_knobs,
)
from readiness.demo.server import build_server
from readiness.errors import ConfigError
from tests.servers import demo_command, demo_http_server

# Generous: a cold start of the SDK server takes over a second, more on a loaded CI box.
WAIT = 60

EVERY_TOOL_CALL: tuple[tuple[str, dict[str, Any]], ...] = (
    ("echo", {"text": "hello"}),
    ("add", {"a": 2, "b": 3}),
    ("work", {"ms": 1}),
    ("search", {"query": "server", "limit": 2}),
    ("read_note", {"name": "welcome"}),
    ("create_note", {"text": "remember this"}),
    ("blob", {"kb": 1}),
)


def text_of(result: mcp_types.CallToolResult) -> str:
    return "".join(
        block.text for block in result.content if isinstance(block, mcp_types.TextContent)
    )


@asynccontextmanager
async def stdio_session(
    *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    argv = demo_command(*flags)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def read_status(session: ClientSession | Client) -> dict[str, Any]:
    result = await session.read_resource("demo://status")
    block = result.contents[0]
    assert isinstance(block, mcp_types.TextResourceContents)
    status: dict[str, Any] = json.loads(block.text)
    return status


# --- knobs ---------------------------------------------------------------------------------


def test_the_latency_knob_reads_the_config_grammar_and_is_blamed_on_its_flag() -> None:
    knobs = resolve_knobs({"latency": "uniform:1ms..1.5s"}, {})
    assert knobs.latency == UniformLatency(0.001, 1.5)
    with pytest.raises(ConfigError, match="lognormal needs median"):
        parse_latency("lognormal:median=3ms")


def test_a_flag_wins_over_its_environment_variable() -> None:
    environ = {"READINESS_DEMO_ERROR_RATE": "1", "READINESS_DEMO_LATENCY": "fixed:2ms"}
    knobs = resolve_knobs({"error_rate": "0"}, environ)
    assert knobs.error_rate == 0.0
    assert knobs.latency == FixedLatency(0.002)


def test_a_bad_environment_value_is_blamed_on_its_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_knobs({}, {"READINESS_DEMO_CRASH_AFTER": "soon"})
    assert caught.value.key == "READINESS_DEMO_CRASH_AFTER"


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        ({"error_rate": "1.5"}, "--error-rate"),
        ({"error_rate": "nan"}, "--error-rate"),
        ({"leak_kb_per_call": "-1"}, "--leak-kb-per-call"),
        ({"max_blob_kb": "1.5"}, "--max-blob-kb"),
        ({"latency": "fixed:soon"}, "--latency"),
    ],
)
def test_a_bad_flag_value_is_blamed_on_its_flag(flags: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_knobs(flags, {})
    assert caught.value.key == key


def test_help_describes_every_knob_and_its_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    # argparse wraps lines; compare word sequences, not layout.
    help_text = " ".join(capsys.readouterr().out.split())
    for source in KNOB_SOURCES:
        assert source.flag in help_text
        assert source.env in help_text
    for flag in ("--http", "--port", "--host", "--stateless", "--json-response", "--allow-remote"):
        assert flag in help_text


def test_a_bad_latency_spec_exits_2_with_a_message_and_no_traceback() -> None:
    proc = subprocess.run(
        demo_command("--latency", "lognormal:median=3ms"),
        capture_output=True,
        text=True,
        timeout=WAIT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "--latency" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_non_loopback_host_is_refused_without_allow_remote() -> None:
    proc = subprocess.run(
        demo_command("--http", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=WAIT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "--allow-remote" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- in-process: the real server class, no transport -----------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["../x", "..", "a/b", "a\\b", "/etc/passwd"])
async def test_read_note_rejects_path_like_names_with_a_tool_error(name: str) -> None:
    with anyio.fail_after(WAIT):
        async with Client(build_server()) as client:
            result = await client.call_tool("read_note", {"name": name})
    assert result.is_error


@pytest.mark.anyio
async def test_read_note_answers_a_known_note_and_fails_an_unknown_one() -> None:
    with anyio.fail_after(WAIT):
        async with Client(build_server()) as client:
            known = await client.call_tool("read_note", {"name": "todo"})
            unknown = await client.call_tool("read_note", {"name": "nope"})
    assert not known.is_error
    assert "Run readiness" in text_of(known)
    assert unknown.is_error


@pytest.mark.anyio
async def test_blob_over_the_cap_is_a_tool_error_and_at_the_cap_is_not() -> None:
    with anyio.fail_after(WAIT):
        async with Client(build_server(Knobs(max_blob_kb=64))) as client:
            at_cap = await client.call_tool("blob", {"kb": 64})
            over_cap = await client.call_tool("blob", {"kb": 65})
    assert not at_cap.is_error
    assert len(text_of(at_cap).encode()) == 64 * 1024
    assert over_cap.is_error


@pytest.mark.anyio
async def test_search_returns_at_most_limit_matching_results_in_a_fixed_order() -> None:
    with anyio.fail_after(WAIT):
        async with Client(build_server()) as client:
            first = await client.call_tool("search", {"query": "Server", "limit": 3})
            again = await client.call_tool("search", {"query": "server", "limit": 3})
            none = await client.call_tool("search", {"query": "zebra"})
    assert first.structured_content is not None
    hits = first.structured_content["hits"]
    assert len(hits) == 3
    assert first.structured_content["total"] > 3
    assert all("server" in f"{hit['title']} {hit['snippet']}".lower() for hit in hits)
    assert again.structured_content == first.structured_content | {"query": "server"}
    assert none.structured_content == {"query": "zebra", "total": 0, "hits": []}


@pytest.mark.anyio
async def test_the_same_seed_fails_the_same_calls() -> None:
    async def pattern() -> list[bool]:
        async with Client(build_server(Knobs(error_rate=0.5, seed=7))) as client:
            return [(await client.call_tool("echo", {"text": "x"})).is_error for _ in range(40)]

    with anyio.fail_after(WAIT):
        first, second = await pattern(), await pattern()
    assert first == second
    assert True in first
    assert False in first


@pytest.mark.anyio
async def test_status_counts_tool_calls_and_the_latency_it_injected() -> None:
    knobs = Knobs(latency=FixedLatency(0.001), leak_kb_per_call=1)
    with anyio.fail_after(WAIT):
        async with Client(build_server(knobs)) as client:
            for _ in range(5):
                await client.call_tool("echo", {"text": "x"})
            status = await read_status(client)
    assert status["calls_served"] == 5
    assert status["leaked_kib"] == 5
    assert status["latency_injected_s"] == pytest.approx(0.005)
    assert status["knobs"]["latency"] == "fixed:1ms"


# --- stdio: the server as users start it -------------------------------------------------------


@pytest.mark.anyio
async def test_every_tool_resource_and_prompt_answers_over_stdio() -> None:
    with anyio.fail_after(WAIT):
        async with stdio_session() as session:
            listed = await session.list_tools()
            results = {name: await session.call_tool(name, args) for name, args in EVERY_TOOL_CALL}
            big_blob = await session.call_tool("blob", {"kb": 64})
            traversal = await session.call_tool("read_note", {"name": "../x"})
            status = await read_status(session)
            prompt = await session.get_prompt("summarize", {"topic": "latency"})

    two_way = {"ask_llm", "ask_user", "list_roots", "slow"}  # tests/protocol/test_twoway.py
    two_way.add("bump_counter")  # tests/scenarios/test_subscriptions.py
    assert {tool.name for tool in listed.tools} == {name for name, _ in EVERY_TOOL_CALL} | two_way
    assert not any(result.is_error for result in results.values())
    assert text_of(results["echo"]) == "hello"
    assert results["add"].structured_content == {"result": 5}
    assert "worked" in text_of(results["work"])
    search = results["search"].structured_content
    assert search is not None
    assert len(search["hits"]) == 2
    assert text_of(results["read_note"]).startswith("Welcome")
    assert results["create_note"].structured_content == {"id": "note-1", "chars": 13}
    assert len(text_of(results["blob"])) == 1024
    assert len(text_of(big_blob).encode()) == 64 * 1024
    assert traversal.is_error
    assert status["calls_served"] == len(EVERY_TOOL_CALL) + 2
    assert status["errors_injected"] == 0
    message = prompt.messages[0].content
    assert isinstance(message, mcp_types.TextContent)
    assert "latency" in message.text


@pytest.mark.anyio
async def test_error_rate_one_fails_every_tool_call() -> None:
    with anyio.fail_after(WAIT):
        async with stdio_session("--error-rate", "1") as session:
            results = [await session.call_tool(name, args) for name, args in EVERY_TOOL_CALL]
            status = await read_status(session)
    assert all(result.is_error for result in results)
    assert status["errors_injected"] == len(EVERY_TOOL_CALL)


@pytest.mark.anyio
async def test_error_rate_flag_zero_beats_the_environment_and_fails_no_call() -> None:
    env = {"READINESS_DEMO_ERROR_RATE": "1"}
    with anyio.fail_after(WAIT):
        async with stdio_session("--error-rate", "0", env=env) as session:
            results = [await session.call_tool("echo", {"text": str(i)}) for i in range(30)]
            status = await read_status(session)
    assert not any(result.is_error for result in results)
    assert status["knobs"]["error_rate"] == 0.0


@pytest.mark.anyio
async def test_crash_after_n_serves_n_calls_and_exits_on_call_n_plus_1() -> None:
    with anyio.fail_after(WAIT):
        async with stdio_session("--crash-after", "3") as session:
            served = [await session.call_tool("echo", {"text": str(i)}) for i in range(3)]
            # Resource reads are not tool calls, so they must not trigger the crash.
            status = await read_status(session)
            with pytest.raises(MCPError) as caught:
                await session.call_tool("echo", {"text": "one too many"})
    assert not any(result.is_error for result in served)
    assert status["calls_served"] == 3
    assert caught.value.error.code == mcp_types.CONNECTION_CLOSED


# --- HTTP --------------------------------------------------------------------------------------


async def initialize_raw(url: str) -> tuple[str, str | None]:
    """POST initialize by hand; the reply's content type and session id show the server's mode."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as reply:
        assert reply.status == 200
        await reply.read()
        return reply.content_type, reply.headers.get("mcp-session-id")


async def echo_over_http(url: str) -> mcp_types.CallToolResult:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await session.call_tool("echo", {"text": "over http"})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flags", "content_type", "has_session"),
    [
        ((), "text/event-stream", True),
        (("--stateless", "--json-response"), "application/json", False),
    ],
    ids=["stateful-sse", "stateless-json"],
)
async def test_echo_works_over_http_in_each_mode(
    flags: Sequence[str], content_type: str, has_session: bool
) -> None:
    with demo_http_server(flags) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with anyio.fail_after(WAIT):
            reply_type, session_id = await initialize_raw(server.url)
            result = await echo_over_http(server.url)
    assert reply_type == content_type
    assert (session_id is not None) == has_session
    assert not result.is_error
    assert text_of(result) == "over http"


@pytest.mark.anyio
async def test_leak_knob_grows_the_server_rss() -> None:
    calls, leak_kib = 32, 1024
    with demo_http_server(("--leak-kb-per-call", str(leak_kib))) as server:
        process = psutil.Process(server.pid)
        with anyio.fail_after(WAIT):
            async with (
                streamable_http_client(server.url) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.call_tool("echo", {"text": "warm up"})
                before = process.memory_info().rss
                for _ in range(calls):
                    await session.call_tool("echo", {"text": "leak"})
                after = process.memory_info().rss
    # Most of the 32 MiB must be resident: the leaked bytes are written, not just reserved.
    assert after - before >= 0.75 * calls * leak_kib * 1024
