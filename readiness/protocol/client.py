"""Open an MCP connection (stdio or Streamable HTTP, negotiated), and the MCP operations on it.

The engine's hot path calls `connection.request()` directly; `McpClient` is for everything
else (discovering tools before a run, conformance checks).
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, overload

import anyio

from readiness.errors import (
    ProtocolError,
    TargetStartFailed,
    TargetUnreachable,
    unwrapped_groups,
)
from readiness.protocol.connection import (
    MODERN_VERSIONS,
    Connection,
    ConnectOptions,
    HttpParams,
    StdioParams,
)
from readiness.protocol.outcome import Outcome, Reply
from readiness.protocol.session import check_protocol, negotiate
from readiness.protocol.stdio import StdioConnection

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from readiness.protocol.http import HttpConnection

MAX_PAGES = 10_000  # a server that never stops paginating must not hang us


def target_label(params: StdioParams | HttpParams, options: ConnectOptions) -> str:
    if options.target_name:
        return options.target_name
    if isinstance(params, HttpParams):
        return params.url
    return shlex.join([params.command, *params.args])


@overload
def open_connection(
    params: StdioParams, options: ConnectOptions | None = None
) -> AbstractAsyncContextManager[StdioConnection]: ...


@overload
def open_connection(
    params: HttpParams, options: ConnectOptions | None = None
) -> AbstractAsyncContextManager[HttpConnection]: ...


@overload
def open_connection(
    params: StdioParams | HttpParams, options: ConnectOptions | None = None
) -> AbstractAsyncContextManager[StdioConnection | HttpConnection]: ...


def open_connection(
    params: StdioParams | HttpParams, options: ConnectOptions | None = None
) -> AbstractAsyncContextManager[Any]:
    """Start or reach the server, negotiate the protocol, and yield the open connection.

    Raises TargetStartFailed (the command is missing or exited during start-up) or
    TargetUnreachable (nothing answers, or the handshake failed or timed out). On exit the
    connection is closed and, for stdio, the server process is ended and reaped.
    """
    return _open_connection(params, options or ConnectOptions())


@asynccontextmanager
async def _open_connection(
    params: StdioParams | HttpParams, options: ConnectOptions
) -> AsyncIterator[StdioConnection | HttpConnection]:
    check_protocol(options.protocol)
    target = target_label(params, options)
    if isinstance(params, HttpParams):
        async with _open_http(params, options, target) as http_connection:
            yield http_connection
        return
    # The sweeper and the batcher never raise, so the group only wraps what the caller's
    # body or the start-up raised: hand that back as it was.
    with unwrapped_groups():
        async with anyio.create_task_group() as task_group:
            connection = StdioConnection(params, options)
            try:
                await connection.start(target)
                connection.start_sweeper(task_group)
                await connection.start_batcher(task_group)
                await _negotiate_stdio(connection, options, target)
                yield connection
            finally:
                await connection.aclose()
                task_group.cancel_scope.cancel()


async def _negotiate_stdio(
    connection: StdioConnection, options: ConnectOptions, target: str
) -> None:
    try:
        with anyio.fail_after(options.connect_timeout):
            connection.negotiated = await negotiate(connection, options, target)
        return
    except TimeoutError:
        cause = f"no answer to the MCP handshake within {options.connect_timeout:g} s"
    except TargetUnreachable as exc:
        cause = exc.cause
    if connection.returncode is not None:
        await connection.wait_stderr_closed(1.0)
        raise TargetStartFailed(
            target,
            f"server process exited with code {connection.returncode} during start-up",
            stderr_tail=connection.stderr_tail(),
        )
    raise TargetUnreachable(target, cause, stderr_tail=connection.stderr_tail())


@asynccontextmanager
async def _open_http(
    params: HttpParams, options: ConnectOptions, target: str
) -> AsyncIterator[HttpConnection]:
    # aiohttp stays out of stdio-only runs
    from readiness.protocol.fasthttp import FastHttpConnection, choose_client
    from readiness.protocol.http import HttpConnection

    connection = (
        FastHttpConnection(params, options, target)
        if choose_client(params.client, params.url) == "fast"
        else HttpConnection(params, options, target)
    )
    connection.open()
    try:
        try:
            with anyio.fail_after(options.connect_timeout):
                connection.negotiated = await negotiate(connection, options, target)
        except TimeoutError:
            cause = f"no answer to the MCP handshake within {options.connect_timeout:g} s"
            raise TargetUnreachable(target, cause) from None
        if not connection.wants_stream():
            yield connection
            return
        from readiness.protocol.listener import READY_WAIT_S, StandaloneStream

        stream = connection.stream = StandaloneStream(connection, options.max_reply_bytes)
        # The stream's task never raises; the group only wraps what the caller's body raised.
        with unwrapped_groups():
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(stream.run)
                with anyio.move_on_after(min(options.connect_timeout, READY_WAIT_S)):
                    await stream.ready.wait()
                try:
                    yield connection
                finally:
                    await connection.aclose()
                    task_group.cancel_scope.cancel()
    finally:
        await connection.aclose()


class RequestFailed(ProtocolError):
    """An MCP operation did not succeed; `reply` says how (None when refused locally)."""

    def __init__(self, method: str, reply: Reply | None, message: str = "") -> None:
        self.method = method
        self.reply = reply
        if not message and reply is not None:
            code = f" {reply.error_code}" if reply.error_code is not None else ""
            message = f"{reply.outcome.name.lower()}{code}: {reply.detail}".rstrip(": ")
        super().__init__(f"{method} failed: {message}")


class McpClient:
    """The MCP operations over an open Connection, returning result objects.

    Every operation raises RequestFailed unless the server answered it, except `call_tool`,
    where a tool error (`isError: true`) is a normal result.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def list_tools(self) -> list[dict[str, Any]]:
        return await self._list("tools/list", "tools")

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        reply = await self.connection.request("tools/call", params)
        if reply.outcome is Outcome.TOOL_ERROR and reply.result is not None:
            return reply.result
        return self._ok("tools/call", reply)

    async def list_resources(self) -> list[dict[str, Any]]:
        return await self._list("resources/list", "resources")

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return await self._list("resources/templates/list", "resourceTemplates")

    async def read_resource(self, uri: str) -> dict[str, Any]:
        return self._ok(
            "resources/read", await self.connection.request("resources/read", {"uri": uri})
        )

    async def list_prompts(self) -> list[dict[str, Any]]:
        return await self._list("prompts/list", "prompts")

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name}
        if arguments:
            params["arguments"] = arguments
        return self._ok("prompts/get", await self.connection.request("prompts/get", params))

    async def ping(self) -> None:
        """Ping the server (handshake versions only: 2026-07-28 removed ping)."""
        version = self.connection.protocol_version
        if version in MODERN_VERSIONS:
            raise RequestFailed("ping", None, f"ping does not exist in protocol {version}")
        self._ok("ping", await self.connection.request("ping"))

    async def pages(self, method: str, key: str) -> AsyncGenerator[list[dict[str, Any]]]:
        """Each page of a paginated list (`tools/list`, "tools"), in order.

        Raises RequestFailed when the server fails a page (with its `reply`), or, with no
        reply, when a page has no list, the server repeats a cursor, or pages on past
        MAX_PAGES: a client that followed it would never stop.
        """
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params = {"cursor": cursor} if cursor is not None else None
            result = self._ok(method, await self.connection.request(method, params))
            page = result.get(key)
            if not isinstance(page, list):
                raise RequestFailed(method, None, f"result has no {key!r} list")
            yield [item for item in page if isinstance(item, dict)]
            cursor = result.get("nextCursor")
            if not cursor:
                return
            if cursor in seen:
                raise RequestFailed(method, None, f"server repeated cursor {cursor!r}")
            seen.add(cursor)
        raise RequestFailed(method, None, f"more than {MAX_PAGES} pages")

    async def _list(self, method: str, key: str) -> list[dict[str, Any]]:
        return [item async for page in self.pages(method, key) for item in page]

    @staticmethod
    def _ok(method: str, reply: Reply) -> dict[str, Any]:
        if reply.outcome is Outcome.OK and reply.result is not None:
            return reply.result
        raise RequestFailed(method, reply)
