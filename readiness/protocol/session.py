"""The MCP lifecycle over any channel: the initialize handshake (2025 versions), the
2026-07-28 per-request envelope with server/discover, and `protocol = "auto"` negotiation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from readiness.errors import ConfigError, TargetUnreachable
from readiness.protocol.connection import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_VERSION,
    MODERN_VERSIONS,
    ConnectOptions,
    Generation,
)
from readiness.protocol.jsonrpc import UNSUPPORTED_PROTOCOL_VERSION
from readiness.protocol.outcome import Outcome, Reply

PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo"

# A server that predates server/discover may drop it instead of answering; do not spend the
# whole start-up budget finding out.
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Negotiated:
    """What the lifecycle settled: the version spoken and what the server said about itself."""

    protocol_version: str
    generation: Generation
    server_info: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None


class Channel(Protocol):
    """The transport surface the lifecycle drives (both transports implement it)."""

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply: ...

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None: ...

    def use_handshake(self, version: str | None) -> None:
        """Send plain requests; over HTTP add `MCP-Protocol-Version: version` when given."""
        ...

    def use_modern(self, version: str, meta: dict[str, Any]) -> None:
        """Stamp every request with `meta` (and, over HTTP, the 2026 routing headers)."""
        ...


def client_meta(options: ConnectOptions, version: str) -> dict[str, Any]:
    """The 2026-07-28 request envelope: version, client info, and the declared capabilities."""
    return {
        PROTOCOL_VERSION_META_KEY: version,
        CLIENT_INFO_META_KEY: {"name": options.client_name, "version": options.client_version},
        CLIENT_CAPABILITIES_META_KEY: _capabilities(options),
    }


def initialize_params(options: ConnectOptions, version: str) -> dict[str, Any]:
    return {
        "protocolVersion": version,
        "capabilities": _capabilities(options),
        "clientInfo": {"name": options.client_name, "version": options.client_version},
    }


def _capabilities(options: ConnectOptions) -> dict[str, Any]:
    return options.client.capabilities() if options.client is not None else {}


def check_protocol(protocol: str) -> None:
    """Reject a `protocol` setting that is neither "auto" nor a version we speak."""
    if protocol != "auto" and protocol not in HANDSHAKE_VERSIONS + MODERN_VERSIONS:
        known = ", ".join(("auto", *HANDSHAKE_VERSIONS, *MODERN_VERSIONS))
        raise ConfigError(f"unknown protocol {protocol!r}; expected one of: {known}")


async def negotiate(channel: Channel, options: ConnectOptions, target: str) -> Negotiated:
    """Settle the protocol version as `options.protocol` asks; raise TargetUnreachable if the
    server will not speak any version we can."""
    protocol = options.protocol
    if protocol in MODERN_VERSIONS:
        reply, negotiated = await discover(channel, options, protocol, options.connect_timeout)
        if negotiated is None:
            raise TargetUnreachable(target, f"server/discover at {protocol} failed: {_why(reply)}")
        return negotiated
    if protocol in HANDSHAKE_VERSIONS:
        return await handshake(channel, options, target, protocol)
    check_protocol(protocol)
    probe_timeout = min(options.connect_timeout, PROBE_TIMEOUT)
    _, negotiated = await discover(channel, options, MODERN_VERSION, probe_timeout)
    if negotiated is not None:
        return negotiated
    try:
        return await handshake(channel, options, target, LATEST_HANDSHAKE_VERSION)
    except _ModernOnly as modern_only:
        # Our probe timed out but reached the server, which then locked the connection to the
        # modern era and refused initialize naming its versions: probe once more at one of them.
        reply, negotiated = await discover(
            channel, options, modern_only.version, options.connect_timeout
        )
        if negotiated is None:
            raise TargetUnreachable(target, f"server/discover failed: {_why(reply)}") from None
        return negotiated


async def discover(
    channel: Channel, options: ConnectOptions, version: str, within: float
) -> tuple[Reply, Negotiated | None]:
    """Try the 2026-07-28 generation; the Negotiated is None when the server does not speak it."""
    channel.use_modern(version, client_meta(options, version))
    reply = await channel.request("server/discover", None, timeout=within)
    result = reply.result
    if reply.outcome is not Outcome.OK or result is None:
        channel.use_handshake(None)
        return reply, None
    supported = result.get("supportedVersions")
    if not isinstance(supported, list) or version not in supported:
        channel.use_handshake(None)
        detail = f"server supports {supported!r}, not {version}"
        return Reply(Outcome.RPC_ERROR, None, UNSUPPORTED_PROTOCOL_VERSION, detail), None
    meta = result.get("_meta")
    server_info = meta.get(SERVER_INFO_META_KEY) if isinstance(meta, dict) else None
    instructions = result.get("instructions")
    return reply, Negotiated(
        protocol_version=version,
        generation="modern",
        server_info=server_info if isinstance(server_info, dict) else {},
        capabilities=_as_dict(result.get("capabilities")),
        instructions=instructions if isinstance(instructions, str) else None,
    )


async def handshake(
    channel: Channel, options: ConnectOptions, target: str, version: str
) -> Negotiated:
    """initialize → check the server's chosen version → notifications/initialized."""
    channel.use_handshake(None)
    reply = await channel.request(
        "initialize", initialize_params(options, version), timeout=options.connect_timeout
    )
    result = reply.result
    if reply.outcome is not Outcome.OK or result is None:
        modern = _modern_version_named(reply)
        if modern is not None:
            raise _ModernOnly(modern)
        raise TargetUnreachable(target, f"initialize failed: {_why(reply)}")
    chosen = result.get("protocolVersion")
    if chosen not in HANDSHAKE_VERSIONS:
        raise TargetUnreachable(
            target, f"server chose protocol version {chosen!r}, which readiness does not speak"
        )
    assert isinstance(chosen, str)
    channel.use_handshake(chosen)
    await channel.notify("notifications/initialized")
    instructions = result.get("instructions")
    return Negotiated(
        protocol_version=chosen,
        generation="handshake",
        server_info=_as_dict(result.get("serverInfo")),
        capabilities=_as_dict(result.get("capabilities")),
        instructions=instructions if isinstance(instructions, str) else None,
    )


class _ModernOnly(Exception):
    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


def _modern_version_named(reply: Reply) -> str | None:
    """The newest version we know among those a -32022 error says the server supports."""
    if reply.error_code != UNSUPPORTED_PROTOCOL_VERSION or reply.error is None:
        return None
    data = reply.error.get("data")
    supported = data.get("supported") if isinstance(data, dict) else None
    if not isinstance(supported, list):
        return None
    mutual = [v for v in MODERN_VERSIONS if v in supported]
    return mutual[-1] if mutual else None


def _why(reply: Reply) -> str:
    if reply.outcome is Outcome.RPC_ERROR:
        return f"JSON-RPC error {reply.error_code}: {reply.detail}"
    if reply.outcome is Outcome.TIMEOUT:
        return "no answer before the timeout"
    return reply.detail or reply.outcome.name.lower()


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
