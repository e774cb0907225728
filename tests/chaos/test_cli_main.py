"""`readiness proxy` standalone: bad input exits 2 without a traceback; the HTTP proxy works for
the SDK's own client and leaves nothing behind; the stdio form works as a server command."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import anyio
import psutil
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from readiness.chaos.cli_main import main
from readiness.chaos.plan import read_events
from readiness.errors import ExitCode
from readiness.protocol.client import open_connection
from readiness.protocol.connection import StdioParams
from readiness.protocol.outcome import Outcome
from tests.servers import demo_command, free_port

PROXY = [sys.executable, "-m", "readiness.chaos.cli_main"]
UPSTREAM = "http://127.0.0.1:9/mcp"  # never contacted: these runs fail before listening


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--upstream", UPSTREAM, "--fault", "eror"], "did you mean 'error'?"),
        (["--upstream", UPSTREAM, "--fault", "drop:probability=2"], "probability: 2 is above 1"),
        (["--upstream", UPSTREAM, "--fault", "drop:during=9s..3s"], "ends before it starts"),
        (["--upstream", UPSTREAM, "--fault", "kill"], "kill fault needs a server process"),
        (["--upstream", UPSTREAM, "--listen", "10.1.2.3:80"], "not a loopback address"),
        (["--upstream", UPSTREAM, "--listen", "127.0.0.1:http"], "expected HOST:PORT"),
        (["--upstream", "localhost:8000"], "expected an http:// URL"),
        (["--fault", "drop"], "give --upstream URL (HTTP) or -- COMMAND (stdio)"),
        (["--listen", ":8000", "--", "server"], "--listen applies with --upstream"),
        (["--fault", "session_loss", "--", "server"], "applies to HTTP targets only"),
        (["--upstream", UPSTREAM, "--faults-file", "/nonexistent.toml"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("ConfigError: ")
    assert message in err
    assert "Traceback" not in err


def test_a_faults_file_error_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.toml"
    path.write_text('[[faults]]\ntype = "latency"\nlatency = "fast"\n')
    assert main(["--upstream", UPSTREAM, "--faults-file", str(path)]) == ExitCode.USAGE
    assert f"{path}:3: faults[0].latency: invalid duration 'fast'" in capsys.readouterr().err


def test_a_port_in_use_exits_2_naming_listen(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--upstream", UPSTREAM, "--listen", f"127.0.0.1:{port}"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"--listen: cannot listen on 127.0.0.1:{port}: Address already in use" in err


async def refuses(port: int) -> bool:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return True
    await stream.aclose()
    return False


@pytest.mark.anyio
async def test_the_standalone_proxy_adds_latency_for_the_sdk_client_and_cleans_up(
    tmp_path: Path,
) -> None:
    upstream_port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/mcp"
    server = [sys.executable, "-m", "readiness.demo", "--http", "--port", str(upstream_port)]
    events = tmp_path / "events.jsonl"
    argv = [*PROXY, "--upstream", upstream, "--fault", "latency:latency=300ms,tool=echo"]
    argv += ["--events", str(events), "--", *server]
    async with await anyio.open_process(argv, stderr=-1) as process:
        try:
            assert process.stderr is not None
            stderr = BufferedByteReceiveStream(process.stderr)
            # The upstream demo's own stderr (its "listening" line) shares the pipe and may
            # come first: read up to the proxy's line.
            with anyio.fail_after(60):
                line = ""
                while not line.startswith("readiness proxy"):
                    line = (await stderr.receive_until(b"\n", 65536)).decode()
            assert line.startswith("readiness proxy listening on http://127.0.0.1:")
            assert line.endswith(f"/mcp -> {upstream}")
            url = line.split()[4]
            children = psutil.Process(process.pid).children(recursive=True)
            assert children  # the upstream server the proxy started and owns

            with anyio.fail_after(60):
                async with (
                    streamable_http_client(url) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    started = anyio.current_time()
                    echo = await session.call_tool("echo", {"text": "through the proxy"})
                    elapsed = anyio.current_time() - started
                    added = await session.call_tool("add", {"a": 2, "b": 3})
            assert not echo.is_error
            assert not added.is_error
            assert elapsed >= 0.3

            process.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
    assert code == ExitCode.INTERRUPTED
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    assert await refuses(int(url.split(":")[2].split("/")[0]))
    assert await refuses(upstream_port)
    assert [(e.type, e.tool) for e in read_events(events)] == [("latency", "echo")]


@pytest.mark.anyio
async def test_the_stdio_form_is_a_server_command_with_faults(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    args: tuple[str, ...] = ("-m", "readiness.chaos.cli_main", "--fault", "error:tool=search")
    args += ("--events", str(events), "--", *demo_command())
    async with open_connection(StdioParams(sys.executable, args)) as connection:
        processes = [psutil.Process(connection.pid), *psutil.Process(connection.pid).children()]
        search = await connection.request(
            "tools/call", {"name": "search", "arguments": {"query": "x"}}
        )
        echo = await connection.request("tools/call", {"name": "echo", "arguments": {"text": "y"}})
    assert (search.outcome, search.error_code) == (Outcome.RPC_ERROR, -32603)
    assert echo.outcome is Outcome.OK
    assert [e.tool for e in read_events(events)] == ["search"]
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive
