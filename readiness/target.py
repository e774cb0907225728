"""THE one way to open a target: start its server when readiness runs it (through the one
process supervisor, readiness.process), put the fault interposer in front of it when a
scenario injects faults, connect, and share a pool of sessions when the target asks for one
(`[targets.resilience.pool]`). Everything started is ended on exit, whatever happened.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from readiness.errors import ConfigError, TargetError
from readiness.process import ProcessSpec, ServerSupervisor
from readiness.protocol.connection import BatchOptions, ConnectOptions, HttpParams, StdioParams

if TYPE_CHECKING:
    from readiness.chaos.faults import AnyFault
    from readiness.chaos.interposed import Interposer
    from readiness.config import TargetConfig
    from readiness.config.client import ClientConfig
    from readiness.protocol.connection import Connection
    from readiness.protocol.http import HttpConnection
    from readiness.protocol.outcome import Reply
    from readiness.protocol.responder import ClientSimulation
    from readiness.protocol.stdio import StdioConnection
    from readiness.resilience.config import PoolConfig
    from readiness.resilience.pool import SessionPool
    from readiness.resilience.pooled import Channel, PooledConnection, PooledRequester


# A target or scenario name is free text; in a log file's name, keep only what every file
# system takes, so a name such as "<b>api</b>" or "a/b" still gets its log.
_NOT_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def log_path(log_dir: Path, target: str, label: str, suffix: str = ".stderr.log") -> Path:
    """Where a server's stderr for one target and scenario goes, whatever their names."""
    stem = _NOT_IN_FILE_NAME.sub("_", f"{target}-{label}").lstrip(".") or "server"
    return log_dir / f"{stem}{suffix}"


@dataclass(frozen=True)
class TargetSession:
    name: str
    conn: Connection  # pooled: each request borrows a session of the pool
    pid: int | None  # the server process when we started it; None for a URL we did not start
    interposer: Interposer | None = None  # with faults: what the scenario asks of it
    pool: TargetPool | None = None  # with a pool: the pool, for its statistics


def connect_options(cfg: TargetConfig, *, listen: bool = False) -> ConnectOptions:
    from readiness import __version__

    batch = cfg.resilience.batch if cfg.resilience is not None else None
    return ConnectOptions(
        protocol=cfg.protocol,
        request_timeout=cfg.request_timeout,
        connect_timeout=cfg.connect_timeout,
        max_reply_bytes=cfg.max_reply_bytes,
        client_version=__version__,
        target_name=cfg.name,
        batch=BatchOptions(batch.max_size, batch.max_delay) if batch is not None else None,
        client=client_simulation(cfg.client) if cfg.client is not None else None,
        listen=listen,
    )


def client_simulation(cfg: ClientConfig) -> ClientSimulation:
    """The protocol layer's form of `[targets.client]`."""
    from readiness.config.latency import parse_latency
    from readiness.protocol.responder import ClientSimulation, ElicitationAnswer, SamplingAnswer

    sampling = elicitation = None
    if (s := cfg.sampling) is not None:
        latency = parse_latency(s.latency) if s.latency is not None else None
        sampling = SamplingAnswer(s.reply, latency, s.model, s.stop_reason, s.reply_from)
    if (e := cfg.elicitation) is not None:
        from readiness.init import synth  # shared with `init`; its jsonschema import, now

        synth.valid({}, {})
        elicitation = ElicitationAnswer(e.action, e.content, synth)
    return ClientSimulation(sampling, elicitation, cfg.roots)


def log_redaction(cfg: TargetConfig) -> dict[bytes, bytes]:
    """What a server log of this target shows instead of each of its ${VAR} values: the
    server is handed them (env, args, URL) and may print them."""
    from readiness.config.placeholders import Redactor

    return Redactor(cfg.placeholder_values().items()).byte_forms()


@asynccontextmanager
async def open_target(
    cfg: TargetConfig,
    log_dir: Path,
    label: str,
    *,
    faults: Sequence[AnyFault] = (),
    seed: int | None = None,
    pool: PoolConfig | None = None,
    listen: bool = False,
) -> AsyncIterator[TargetSession]:
    """Start (when configured) and connect to a target, whatever its transport.

    With `faults`, through the interposer applying them (`seed` for their draws; the
    session's `interposer` controls it). With a pool (`pool`, else the target's
    `[targets.resilience.pool]`), requests share that many sessions. Logs are written to
    `log_dir` under `label`. Start-up failures are raised as TargetError named after the
    configured target. `listen`: over HTTP, keep the standalone GET stream open (resource
    updates arrive there) even without a simulated client.
    """
    if pool is None and cfg.resilience is not None:
        pool = cfg.resilience.pool
    if faults and pool is not None:
        raise ConfigError(
            "a pool cannot be used with fault injection: faults act on one session's channel;"
            " use a target without [targets.resilience.pool] for failure and recovery scenarios",
            key=f"targets ({cfg.name}).resilience.pool",
        )
    try:
        async with _open(cfg, log_dir, label, faults, seed, pool, listen) as session:
            yield session
    except TargetError as exc:
        if exc.target == cfg.name:
            raise
        raise type(exc)(cfg.name, exc.cause, stderr_tail=exc.stderr_tail) from None


@asynccontextmanager
async def _open(
    cfg: TargetConfig,
    log_dir: Path,
    label: str,
    faults: Sequence[AnyFault],
    seed: int | None,
    pool: PoolConfig | None,
    listen: bool = False,
) -> AsyncIterator[TargetSession]:
    from readiness.protocol.client import open_connection

    await anyio.Path(log_dir).mkdir(parents=True, exist_ok=True)
    stem = log_path(log_dir, cfg.name, label, suffix="")
    server_log = f"{stem}.stderr.log"
    redact = log_redaction(cfg)
    async with AsyncExitStack() as stack:
        supervisor: ServerSupervisor | None = None
        params: StdioParams | HttpParams
        if cfg.transport == "stdio":
            assert cfg.command is not None
            params = StdioParams(
                command=cfg.command,
                args=tuple(cfg.args),
                env=dict(cfg.env),
                cwd=cfg.cwd,
                stderr_path=server_log,
                redact=redact,
            )
        else:
            assert cfg.url is not None
            params = http_params(cfg)
            if cfg.command is not None:
                spec = ProcessSpec(
                    cfg.command,
                    tuple(cfg.args),
                    env=dict(cfg.env),
                    cwd=cfg.cwd,
                    log_path=server_log,
                    name=cfg.name,
                    redact=redact,
                )
                supervisor = ServerSupervisor(spec, cfg.url, start_timeout=cfg.connect_timeout)
                stack.push_async_callback(supervisor.aclose)
                await supervisor.start()
        pid = _server_pid(cfg, supervisor, faults)  # before connecting: a bad pid is config
        interposer: Interposer | None = None
        if faults:
            from readiness.chaos.interposed import interpose

            params, interposer = await stack.enter_async_context(
                interpose(params, faults, stem=stem, seed=seed, supervisor=supervisor)
            )
        options = connect_options(cfg, listen=listen)
        conn = await stack.enter_async_context(open_connection(params, options))
        if interposer is not None:
            interposer.connected(conn)
        if cfg.transport == "stdio" and not faults:
            pid = conn.pid
        session = TargetSession(cfg.name, _two_way(conn), pid, interposer)
        if pool is not None:
            session = await stack.enter_async_context(
                _pooled(session, cfg, log_dir, label, pool, params)
            )
        yield session


def http_params(cfg: TargetConfig) -> HttpParams:
    assert cfg.url is not None
    return HttpParams(url=cfg.url, headers=dict(cfg.headers), client=cfg.http_client)


@asynccontextmanager
async def open_another(
    cfg: TargetConfig, log_dir: Path, label: str, *, listen: bool = False
) -> AsyncIterator[TargetSession]:
    """One more session to a target already opened with `open_target`: over stdio a server
    process of its own; over HTTP a new MCP session on the same URL (and server)."""
    if cfg.transport == "stdio":
        async with open_target(cfg, log_dir, label, listen=listen) as session:
            yield session
        return
    from readiness.protocol.client import open_connection

    async with open_connection(http_params(cfg), connect_options(cfg, listen=listen)) as conn:
        yield TargetSession(cfg.name, _two_way(conn), None)


def _two_way(conn: StdioConnection | HttpConnection) -> Connection:
    """`conn` behind the simulated client's wrapper when the target has one ([targets.client])."""
    if conn.responder is None:
        return conn
    from readiness.protocol.twoway import TwoWayConnection

    return TwoWayConnection(conn, conn.responder)


def _server_pid(
    cfg: TargetConfig, supervisor: ServerSupervisor | None, faults: Sequence[AnyFault]
) -> int | None:
    """The server's pid when it can be sampled as one process: not behind an interposer that
    may kill and restart it. A stdio server's is its connection's, known once connected."""
    if faults:
        from readiness.chaos.faults import KillFault

        if cfg.command is not None or any(isinstance(f, KillFault) for f in faults):
            return None
    if cfg.transport == "stdio":
        return None
    if supervisor is not None:
        return supervisor.pid
    return configured_pid(cfg)


class TargetPool:
    """A pooled target as the scenarios see it: a Connection whose requests each borrow a
    session of the pool; and the pool itself, for its statistics."""

    def __init__(
        self,
        first: Connection,
        sessions: SessionPool[PooledConnection],
        *,
        config: PoolConfig,
        request_timeout: float,
        open_timeout: float,
    ) -> None:
        self._first = first
        self.sessions = sessions
        self.config = config
        self.size = config.size
        self.wait_timeout = config.wait_timeout or request_timeout
        self.request_timeout = request_timeout
        self._open_timeout = open_timeout
        self._requester = self.requester()

    def requester(self) -> PooledRequester[PooledConnection]:
        """A requester over the pool with statistics of its own (the connection has one)."""
        from readiness.resilience.pooled import PooledRequester

        return PooledRequester(
            self.sessions,
            wait_timeout=self.wait_timeout,
            request_timeout=self.request_timeout,
            open_timeout=self._open_timeout,
        )

    @property
    def connection_requester(self) -> PooledRequester[PooledConnection]:
        """The requester behind `request()`: what the scenario's own requests waited for."""
        return self._requester

    @property
    def protocol_version(self) -> str:
        return self._first.protocol_version

    @property
    def server_info(self) -> dict[str, Any]:
        return self._first.server_info

    @property
    def pid(self) -> int | None:
        return self._first.pid

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        return await self._requester.request(method, params, timeout=timeout)

    async def aclose(self) -> None:
        """Nothing: the opener closes the pool and every session in it."""

    def __repr__(self) -> str:
        return f"<TargetPool size={self.size} {self.sessions!r}>"


@asynccontextmanager
async def _pooled(
    first: TargetSession,
    cfg: TargetConfig,
    log_dir: Path,
    label: str,
    config: PoolConfig,
    params: StdioParams | HttpParams,
) -> AsyncIterator[TargetSession]:
    """`first` and up to `config.size - 1` more sessions like it in a pool: over stdio each a
    server process of its own; over HTTP a new MCP session on the same URL (and server)."""
    from readiness.protocol.client import open_connection
    from readiness.resilience.pooled import open_session_pool

    def connect(number: int) -> AbstractAsyncContextManager[tuple[Channel, int | None]]:
        return _another(number)

    @asynccontextmanager
    async def _another(number: int) -> AsyncIterator[tuple[Channel, int | None]]:
        if isinstance(params, StdioParams):
            async with _open(cfg, log_dir, f"{label}-session{number}", (), None, None) as more:
                yield more.conn, more.pid
        else:
            async with open_connection(params, connect_options(cfg)) as conn:
                yield _two_way(conn), first.pid

    wait = config.wait_timeout or cfg.request_timeout
    async with open_session_pool(
        first.conn,
        first.pid,
        connect,
        size=config.size,
        wait_timeout=wait,
        idle_timeout=config.idle_timeout,
    ) as sessions:
        pooled = TargetPool(
            first.conn,
            sessions,
            config=config,
            request_timeout=cfg.request_timeout,
            open_timeout=cfg.connect_timeout,
        )
        yield TargetSession(first.name, pooled, first.pid, first.interposer, pooled)


def configured_pid(cfg: TargetConfig) -> int | None:
    """The server process of a URL target we did not start, from `pid` or `process_name`."""
    import psutil

    key = f"targets ({cfg.name})"
    if cfg.pid is not None:
        try:
            psutil.Process(cfg.pid).memory_info()
        except psutil.NoSuchProcess:
            raise ConfigError(
                f"no process with pid {cfg.pid} is running", key=f"{key}.pid"
            ) from None
        except psutil.AccessDenied:
            raise ConfigError(
                f"process {cfg.pid} belongs to another user; readiness cannot sample it",
                key=f"{key}.pid",
            ) from None
        return cfg.pid
    if cfg.process_name is None:
        return None
    wanted = cfg.process_name
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["name", "cmdline", "create_time"]):
        if proc.pid == os.getpid():
            continue
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == wanted or " ".join(cmdline).find(wanted) >= 0:
            found.append(proc)
    if not found:
        raise ConfigError(f"no running process matches {wanted!r}", key=f"{key}.process_name")
    # Several matches are usually a server and its workers: sample the oldest, tree and all.
    oldest: int = min(found, key=lambda p: p.info["create_time"] or 0.0).pid
    return oldest
