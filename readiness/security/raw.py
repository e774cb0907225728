"""Raw sessions for probes no well-behaved client can send: over stdio, a server process of
its own (started by the one supervisor, readiness.process) fed bytes; over HTTP, plain POSTs
with aiohttp. Both hand back what the server said, parsed where it parses."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from readiness.process import ChildProcess, ProcessSpec
from readiness.protocol.connection import LATEST_HANDSHAKE_VERSION

MAX_BUFFER = 32 * 1024 * 1024  # unparsed stdout kept at most; a longer line is dropped
MAX_BODY = 1024 * 1024  # an HTTP reply body is read up to this many bytes


class _Lines(asyncio.SubprocessProtocol):
    def __init__(self, session: RawStdio) -> None:
        self._session = session
        self._buffer = bytearray()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._session.received(line)
        if len(self._buffer) > MAX_BUFFER:
            self._buffer.clear()

    def process_exited(self) -> None:
        self._session.changed()


class RawStdio:
    """A stdio server process of its own, written raw frames and read line by line."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.process = ChildProcess(spec, _Lines(self))
        self.messages: list[Any] = []  # every parsed line, in order
        self.unparsed = 0
        self._changed = anyio.Event()
        self._next_id = 1_000_000

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def received(self, line: bytes) -> None:
        try:
            self.messages.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            self.unparsed += 1
        self.changed()

    def changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def start(self) -> None:
        await self.process.start()

    async def aclose(self) -> None:
        await self.process.stop(exit_grace=0.5)

    def send(self, frame: bytes) -> bool:
        """Write one frame and its newline; False when the server's stdin is gone."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing() or self.exited:
            return False
        stdin.write(frame if frame.endswith(b"\n") else frame + b"\n")
        return True

    def replies_to(self, request_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages if isinstance(m, dict) and m.get("id") == request_id]

    async def wait_reply(self, request_id: int, timeout: float) -> dict[str, Any] | None:
        """The first reply to `request_id`, or None when none came within `timeout` (or the
        process exited)."""
        with anyio.move_on_after(timeout):
            while True:
                found = self.replies_to(request_id)
                if found:
                    return found[0]
                if self.exited:
                    return None
                await self._changed.wait()
        return None

    async def request(
        self, method: str, params: Mapping[str, Any] | None, timeout: float
    ) -> dict[str, Any] | None:
        request_id = self.new_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = dict(params)
        if not self.send(orjson.dumps(message)):
            return None
        return await self.wait_reply(request_id, timeout)

    async def initialize(self, timeout: float) -> bool:
        reply = await self.request(
            "initialize",
            {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "readiness-security", "version": "0"},
            },
            timeout,
        )
        if reply is None or "result" not in reply:
            return False
        self.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        return True

    async def alive(self, timeout: float) -> bool:
        reply = await self.request("ping", None, timeout)
        return reply is not None and not self.exited

    def __repr__(self) -> str:
        return f"<RawStdio {self.process!r} messages={len(self.messages)}>"


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: no HTTP answer (connection refused, reset, timed out)
    body: str
    messages: tuple[Any, ...]  # JSON-RPC messages in the body (JSON or SSE)
    error: str = ""

    @property
    def served(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def parse_body(body: bytes) -> tuple[Any, ...]:
    text = body.strip()
    if not text:
        return ()
    try:
        return (orjson.loads(text),)
    except orjson.JSONDecodeError:
        pass
    found = []
    for line in body.splitlines():
        if line.startswith(b"data:"):
            try:
                found.append(orjson.loads(line[5:].strip()))
            except orjson.JSONDecodeError:
                continue
    return tuple(found)


async def post_raw(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
    """One POST with exactly these headers (aiohttp adds only what it must)."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            # a file-like body: aiohttp writes a large one without blocking the loop
            http.post(url, data=io.BytesIO(body), headers=dict(headers)) as resp,
        ):
            raw = await resp.content.read(MAX_BODY)
            return HttpAnswer(resp.status, raw.decode("utf-8", "replace"), parse_body(raw))
    except TimeoutError:
        return HttpAnswer(None, "", (), f"no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return HttpAnswer(None, "", (), f"{type(exc).__name__}: {exc}")


def opening_request(version: str, request_id: int) -> tuple[bytes, dict[str, str]]:
    """The request that opens a conversation in this protocol generation, and the headers it
    needs beyond the usual: initialize (handshake versions), or server/discover with its
    envelope and routing headers (2026-07-28)."""
    from readiness.protocol.connection import MODERN_VERSIONS, ConnectOptions
    from readiness.protocol.session import client_meta, initialize_params

    options = ConnectOptions(client_name="readiness-security")
    if version in MODERN_VERSIONS:
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "server/discover",
            "params": {"_meta": client_meta(options, version)},
        }
        return orjson.dumps(body), {
            "MCP-Protocol-Version": version,
            "Mcp-Method": "server/discover",
        }
    params = initialize_params(options, version)
    body = {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
    return orjson.dumps(body), {}
