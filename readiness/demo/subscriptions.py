"""The demo's subscribable resource (2025 rules): `demo://counter`, changed by the
`bump_counter` tool, which notifies every session subscribed to it
(`notifications/resources/updated`) before it returns."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.session import ServerSession

COUNTER_URI = "demo://counter"
MAX_SUBSCRIBERS = 10_000  # sessions per URI; past it a subscribe is refused
NOTIFY_TIMEOUT_S = 5.0  # a subscriber that cannot take a notification in this time is dropped


class Subscriptions:
    """Which sessions subscribed to which URI, and the counter they watch."""

    def __init__(self) -> None:
        self.counter = 0
        self._subscribers: dict[str, dict[int, ServerSession]] = {}

    async def subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        # ctx.session is a per-request proxy; the connection is the client's for its life.
        sessions = self._subscribers.setdefault(str(params.uri), {})
        key = _client(ctx)
        if len(sessions) >= MAX_SUBSCRIBERS and key not in sessions:
            raise ValueError(f"more than {MAX_SUBSCRIBERS} subscribers to {params.uri}")
        sessions[key] = ctx.session
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self._subscribers.get(str(params.uri), {}).pop(_client(ctx), None)
        return types.EmptyResult()

    async def read_counter(self) -> str:
        return str(self.counter)

    async def bump_counter(self, ctx: Context) -> str:
        """Add one to demo://counter and notify its subscribers; returns how many were told."""
        self.counter += 1
        sessions = self._subscribers.get(COUNTER_URI, {})
        told = 0
        for key, session in list(sessions.items()):
            try:
                with anyio.fail_after(NOTIFY_TIMEOUT_S):
                    await session.send_resource_updated(COUNTER_URI)
                told += 1
            except Exception:  # a session gone or stuck: it subscribes no more
                sessions.pop(key, None)
        return f"counter {self.counter}; notified {told}"


def add_subscriptions(server: MCPServer[Any]) -> None:
    subscriptions = Subscriptions()
    lowlevel = server._lowlevel_server  # MCPServer itself serves no resources/subscribe
    lowlevel.add_request_handler(
        "resources/subscribe", types.SubscribeRequestParams, subscriptions.subscribe
    )
    lowlevel.add_request_handler(
        "resources/unsubscribe", types.UnsubscribeRequestParams, subscriptions.unsubscribe
    )
    server.resource(COUNTER_URI, name="counter", mime_type="text/plain")(subscriptions.read_counter)
    server.add_tool(subscriptions.bump_counter)


def _client(ctx: ServerRequestContext[Any]) -> int:
    """One client connection's key: ctx.session is a proxy made per request, and 2.3.0 offers
    its connection publicly only on MCPServer's Context, which these handlers do not get."""
    return id(ctx.session._connection)
