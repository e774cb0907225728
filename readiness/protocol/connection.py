"""What every transport offers the engine: an open MCP connection that answers requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from readiness.protocol.outcome import Reply

if TYPE_CHECKING:
    from readiness.protocol.responder import ClientSimulation

DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024
LATEST_HANDSHAKE_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)


@dataclass(frozen=True)
class StdioParams:
    """Start the server as a child process (no shell) and speak over its pipes."""

    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment
    cwd: str | None = None
    stderr_path: str | None = None  # where the server's stderr goes; bounded log
    redact: dict[bytes, bytes] = field(default_factory=dict)  # secrets the log must not show
    # The secret with which an interposer in the channel marks the errors it answers for a
    # server that is gone (jsonrpc.TRANSPORT_MARKER_KEY); they count as transport errors.
    transport_marker: str | None = None


@dataclass(frozen=True)
class HttpParams:
    """Speak Streamable HTTP to a URL (the process, if any, is started by readiness.target)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # "fast": our HTTP/1.1 client (plain http:// only); "aiohttp": TLS, proxies, HTTP/2;
    # "auto": fast for http://, aiohttp otherwise.
    client: Literal["auto", "fast", "aiohttp"] = "auto"


@dataclass(frozen=True)
class BatchOptions:
    """Stdio only: write up to `max_size` request frames at once, holding the first of them
    at most `max_delay` seconds (0: until the end of the event loop's turn)."""

    max_size: int = 32
    max_delay: float = 0.0


@dataclass(frozen=True)
class ConnectOptions:
    protocol: str = "auto"  # "auto" | a dated version
    request_timeout: float = 10.0  # seconds
    connect_timeout: float = 30.0  # start-up + handshake
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    client_name: str = "readiness"
    client_version: str = "0.1.0"
    target_name: str | None = None  # names the target in errors; default: the command or URL
    max_connections: int = 1024  # HTTP connection pool size; keep it >= the requests in flight
    batch: BatchOptions | None = None  # stdio: batch request writes; None writes each at once
    client: ClientSimulation | None = None  # capabilities to declare and answer; None: none
    # HTTP (2025 rules): open the standalone GET stream even without a simulated client (a
    # workload that subscribes to resources listens there for their updates)
    listen: bool = False


Generation = Literal["handshake", "modern"]


class Connection(Protocol):
    """An open MCP session (or, for 2026-07-28, a session-less channel)."""

    @property
    def protocol_version(self) -> str: ...

    @property
    def server_info(self) -> dict[str, Any]: ...

    @property
    def pid(self) -> int | None:
        """The server process id when this connection started it (stdio), else None."""
        ...

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        """Send one request; always returns exactly one classified Reply, never raises for
        server failures (timeouts, errors, dead process are Reply outcomes)."""
        ...

    async def aclose(self) -> None: ...
