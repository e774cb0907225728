"""The clients the benchmarks compare, each driving a closed loop of N concurrent callers
against a no-op server: two raw references (asyncio + orjson over stdio, aiohttp + orjson
over HTTP) and readiness's own client, bare and under the engine.

Every client opens with `open_*()` (an async context manager that starts or reaches the
server, handshakes, and ends whatever it started by pid) and runs `run(concurrency, n)`,
which returns how many of the n requests did not succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.abc
import httptools
import orjson

from readiness.engine.load import LoadPlan, ProgressLabel, run_load
from readiness.engine.progress import ProgressSink, ignore_progress
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload
from readiness.metrics.recorder import Recording
from readiness.protocol.client import open_connection
from readiness.protocol.connection import Connection, ConnectOptions, HttpParams, StdioParams
from readiness.protocol.outcome import Outcome
from readiness.scenarios.instruments import watch

HERE = Path(__file__).resolve().parent
NOOP_STDIO = HERE / "noop_stdio.py"
NOOP_HTTP = HERE / "noop_http.py"
PROTOCOL = "2025-11-25"  # pinned: `auto` would spend a server/discover probe at start-up
CALL = "tools/call"
CALL_PARAMS: dict[str, Any] = {"name": "echo", "arguments": {"text": "hello"}}
LOAD_DEADLINE_S = 600.0  # bounds every engine run; the runs themselves take seconds
START_TIMEOUT_S = 15.0

_NEWLINE = orjson.OPT_APPEND_NEWLINE
_OK = Outcome.OK
HttpClientChoice = Literal["auto", "fast", "aiohttp"]


class BenchClient(Protocol):
    @property
    def server_pid(self) -> int | None: ...

    async def run(self, concurrency: int, requests: int) -> int:
        """Send `requests` calls from `concurrency` closed-loop callers; return the failures."""
        ...


@dataclass(frozen=True)
class Target:
    """Where clients send: a no-op stdio server each client starts (url None), or a running
    HTTP one. `server_cpu` pins the server to that CPU, off the client's."""

    url: str | None = None
    server_pid: int | None = None
    server_cpu: int | None = None
    request_timeout: float = 10.0  # readiness's per-request timeout (its default)


def noop_stdio_command(target: Target) -> tuple[str, tuple[str, ...]]:
    pin = () if target.server_cpu is None else ("--cpu", str(target.server_cpu))
    return sys.executable, (str(NOOP_STDIO), *pin)


class _Budget:
    """The requests left to send, shared by a run's callers."""

    __slots__ = ("failures", "remaining")

    def __init__(self, requests: int) -> None:
        self.remaining = requests
        self.failures = 0


async def _closed_loop(worker: Any, concurrency: int, requests: int) -> int:
    budget = _Budget(requests)
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker, budget)
    return budget.failures


def initialize_message(request_id: int) -> dict[str, Any]:
    params = {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "raw-reference", "version": "1.0"},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


# -- reference: raw asyncio + orjson over stdio ---------------------------------------------


class RawStdioClient:
    """Pipelined JSON-RPC over a child's pipes: a dict of futures keyed by id, one reader."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self._process = process
        self._write = process.stdin.write
        self._readline = process.stdout.readline
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1

    @property
    def server_pid(self) -> int | None:
        return self._process.pid

    async def request(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        request_id = self._next_id
        self._next_id = request_id + 1
        future = self._loop.create_future()
        self._pending[request_id] = future
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        self._write(orjson.dumps(message, option=_NEWLINE))
        reply: dict[str, Any] = await future
        return reply

    async def read_replies(self) -> None:
        readline = self._readline
        pending = self._pending
        loads = orjson.loads
        while line := await readline():
            message = loads(line)
            future = pending.pop(message.get("id"), None)
            if future is not None:
                future.set_result(message)
        for future in pending.values():
            future.set_result({"error": {"code": -1, "message": "server exited"}})
        pending.clear()

    async def run(self, concurrency: int, requests: int) -> int:
        return await _closed_loop(self._worker, concurrency, requests)

    async def _worker(self, budget: _Budget) -> None:
        request = self.request
        while budget.remaining > 0:
            budget.remaining -= 1
            reply = await request(CALL, CALL_PARAMS)
            if "result" not in reply:
                budget.failures += 1


@asynccontextmanager
async def open_raw_stdio(target: Target) -> AsyncIterator[RawStdioClient]:
    command, args = noop_stdio_command(target)
    process = await asyncio.create_subprocess_exec(
        command, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        client = RawStdioClient(process)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.read_replies)
            assert process.stdin is not None
            with anyio.fail_after(START_TIMEOUT_S):
                reply = await client.request("initialize", initialize_message(0)["params"])
                if "result" not in reply:
                    raise RuntimeError(f"initialize failed: {reply}")
                process.stdin.write(orjson.dumps(INITIALIZED, option=_NEWLINE))
            try:
                yield client
            finally:
                process.stdin.close()  # the server exits at EOF, which ends the reader
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()


# -- reference: aiohttp + orjson over HTTP --------------------------------------------------


class RawHttpClient:
    """One aiohttp ClientSession; each request is a POST whose JSON body is the reply."""

    def __init__(self, session: aiohttp.ClientSession, url: str, server_pid: int) -> None:
        self._session = session
        self._url = url
        self._server_pid = server_pid
        self._next_id = 1
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }

    @property
    def server_pid(self) -> int | None:
        return self._server_pid

    async def post(self, message: dict[str, Any]) -> tuple[aiohttp.ClientResponse, bytes]:
        async with self._session.post(
            self._url, data=orjson.dumps(message), headers=self.headers
        ) as response:
            return response, await response.read()

    async def request(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        request_id = self._next_id
        self._next_id = request_id + 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        async with self._session.post(
            self._url, data=orjson.dumps(message), headers=self.headers
        ) as response:
            body = await response.read()
        reply: dict[str, Any] = orjson.loads(body)
        return reply

    async def run(self, concurrency: int, requests: int) -> int:
        return await _closed_loop(self._worker, concurrency, requests)

    async def _worker(self, budget: _Budget) -> None:
        request = self.request
        while budget.remaining > 0:
            budget.remaining -= 1
            reply = await request(CALL, CALL_PARAMS)
            if "result" not in reply:
                budget.failures += 1


@asynccontextmanager
async def open_raw_http(target: Target) -> AsyncIterator[RawHttpClient]:
    assert target.url is not None
    assert target.server_pid is not None
    # The same lean choices a careful raw client makes (and readiness makes): no cookie jar,
    # no proxy lookup, no cap on pooled connections below the concurrency.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
    async with session:
        client = RawHttpClient(session, target.url, target.server_pid)
        with anyio.fail_after(START_TIMEOUT_S):
            response, body = await client.post(initialize_message(0))
            if response.status != 200 or "result" not in orjson.loads(body):
                raise RuntimeError(f"initialize failed: HTTP {response.status} {body!r}")
            client.headers["Mcp-Session-Id"] = response.headers["Mcp-Session-Id"]
            client.headers["MCP-Protocol-Version"] = PROTOCOL
            await client.post(INITIALIZED)
        yield client


# -- reference: a raw-socket HTTP/1.1 client (asyncio Protocol + httptools + orjson) --------


class _RawSocket(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; the reply body is handed
    over whole when httptools says the message is complete."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[bytes] | None = None
        self.session = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"mcp-session-id":
            self.session = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


class RawSocketHttpClient:
    """The floor for an HTTP client in Python: one socket per caller, a request written from
    a fixed header block, the reply parsed by httptools and orjson; nothing else."""

    def __init__(self, url: str, server_pid: int) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"MCP-Protocol-Version: {PROTOCOL}\r\nMcp-Session-Id: %s\r\nContent-Length: "
        ).encode()
        self._server_pid = server_pid
        self._next_id = 1
        self._sockets: list[_RawSocket] = []

    @property
    def server_pid(self) -> int | None:
        return self._server_pid

    async def connect(self) -> _RawSocket:
        loop = asyncio.get_running_loop()
        _, sock = await loop.create_connection(_RawSocket, self._host, self._port)
        self._sockets.append(sock)
        return sock

    async def post(self, sock: _RawSocket, message: dict[str, Any], session: bytes) -> bytes:
        body = orjson.dumps(message)
        sock.waiter = asyncio.get_running_loop().create_future()
        assert sock.transport is not None
        sock.transport.write(b"%s%d\r\n\r\n%s" % (self._head % session, len(body), body))
        return await sock.waiter

    async def run(self, concurrency: int, requests: int) -> int:
        while len(self._sockets) < concurrency:
            await self.connect()
        budget = _Budget(requests)
        async with anyio.create_task_group() as task_group:
            for sock in self._sockets[:concurrency]:
                task_group.start_soon(self._worker, sock, budget)
        return budget.failures

    async def _worker(self, sock: _RawSocket, budget: _Budget) -> None:
        post = self.post
        while budget.remaining > 0:
            budget.remaining -= 1
            request_id = self._next_id
            self._next_id = request_id + 1
            message = {"jsonrpc": "2.0", "id": request_id, "method": CALL, "params": CALL_PARAMS}
            reply = orjson.loads(await post(sock, message, self.session))
            if "result" not in reply:
                budget.failures += 1

    session = b""

    def close(self) -> None:
        for sock in self._sockets:
            if sock.transport is not None:
                sock.transport.close()


@asynccontextmanager
async def open_raw_socket_http(target: Target) -> AsyncIterator[RawSocketHttpClient]:
    assert target.url is not None
    assert target.server_pid is not None
    client = RawSocketHttpClient(target.url, target.server_pid)
    try:
        with anyio.fail_after(START_TIMEOUT_S):
            sock = await client.connect()
            reply = orjson.loads(await client.post(sock, initialize_message(0), b"none"))
            if "result" not in reply:
                raise RuntimeError(f"initialize failed: {reply!r}")
            client.session = sock.session
            await client.post(sock, INITIALIZED, client.session)
        yield client
    finally:
        client.close()


# -- readiness ------------------------------------------------------------------------------


def _options(target: Target) -> ConnectOptions:
    return ConnectOptions(
        protocol=PROTOCOL,
        connect_timeout=START_TIMEOUT_S,
        request_timeout=target.request_timeout,
    )


@asynccontextmanager
async def _open_readiness(
    target: Target, http_client: HttpClientChoice = "auto"
) -> AsyncIterator[Connection]:
    if target.url is None:
        command, args = noop_stdio_command(target)
        async with open_connection(StdioParams(command, args), _options(target)) as stdio:
            yield stdio
    else:
        params = HttpParams(target.url, client=http_client)
        async with open_connection(params, _options(target)) as http:
            yield http


class ReadinessConnectionClient:
    """readiness's Connection.request() in a bare closed loop: the client's own cost."""

    def __init__(self, conn: Connection, server_pid: int | None) -> None:
        self._conn = conn
        self._server_pid = server_pid

    @property
    def server_pid(self) -> int | None:
        return self._server_pid

    async def run(self, concurrency: int, requests: int) -> int:
        return await _closed_loop(self._worker, concurrency, requests)

    async def _worker(self, budget: _Budget) -> None:
        request = self._conn.request
        while budget.remaining > 0:
            budget.remaining -= 1
            reply = await request(CALL, CALL_PARAMS)
            if reply.outcome is not _OK:
                budget.failures += 1


class ReadinessEngineClient:
    """readiness.engine.load.run_load with a closed plan: scheduling and recording included.

    With `instruments`, the run is also watched as a scenario watches it (CPU meter,
    event-loop lag monitor, resource samplers of both processes).
    """

    def __init__(
        self,
        conn: Connection,
        server_pid: int | None,
        *,
        instruments: bool = False,
        on_progress: ProgressSink = ignore_progress,
    ) -> None:
        self._conn = conn
        self._server_pid = server_pid
        self._instruments = instruments
        self._on_progress = on_progress
        self._workload = Workload([Operation(0, "echo", CALL, CALL_PARAMS, 1.0)])
        self.last_recording: Recording | None = None

    @property
    def server_pid(self) -> int | None:
        return self._server_pid

    async def run(self, concurrency: int, requests: int) -> int:
        if not self._instruments:
            return await self._run(concurrency, requests)
        async with watch(self._conn.pid):
            return await self._run(concurrency, requests)

    async def _run(self, concurrency: int, requests: int) -> int:
        plan = LoadPlan(
            model="closed", level=constant(concurrency, 0.0), duration=None, requests=requests
        )
        label = ProgressLabel("bench", "throughput", "noop", "load")
        run = await run_load(
            self._conn,
            self._workload,
            plan,
            deadline_s=LOAD_DEADLINE_S,
            label=label,
            on_progress=self._on_progress,
        )
        self.last_recording = run.recording
        ok = run.recording.operations[0].counts[_OK]
        return requests - ok


@asynccontextmanager
async def open_readiness_connection(
    target: Target, http_client: HttpClientChoice = "auto"
) -> AsyncIterator[ReadinessConnectionClient]:
    async with _open_readiness(target, http_client) as conn:
        yield ReadinessConnectionClient(conn, conn.pid or target.server_pid)


@asynccontextmanager
async def open_readiness_engine(
    target: Target,
    *,
    instruments: bool = False,
    on_progress: ProgressSink = ignore_progress,
) -> AsyncIterator[ReadinessEngineClient]:
    async with _open_readiness(target) as conn:
        yield ReadinessEngineClient(
            conn, conn.pid or target.server_pid, instruments=instruments, on_progress=on_progress
        )


# -- the HTTP server, a separate process ----------------------------------------------------


@asynccontextmanager
async def running_noop_http(server_cpu: int | None = None) -> AsyncIterator[Target]:
    """Start benchmarks/noop_http.py on a free port; yield its Target; end it by pid."""
    pin = [] if server_cpu is None else ["--cpu", str(server_cpu)]
    process = await anyio.open_process(
        [sys.executable, str(NOOP_HTTP), "--port", "0", *pin], stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(START_TIMEOUT_S):
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        url = line.decode().strip().rpartition(" ")[2]
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"unexpected start-up line from noop_http: {line!r}")
        yield Target(url, process.pid, server_cpu)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(5.0) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()
        await process.aclose()
