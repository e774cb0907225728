"""Starts, watches and ends the server under test, and opens the MCP connection to it.

For stdio the protocol layer owns the child (it owns the pipes). For an HTTP target with a
command we start the process here, wait until the URL accepts connections, and kill it by pid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from readiness.errors import ConfigError, TargetError, TargetStartFailed, TargetUnreachable
from readiness.protocol.connection import BatchOptions, ConnectOptions, HttpParams, StdioParams

if TYPE_CHECKING:
    from readiness.config import TargetConfig
    from readiness.protocol.connection import Connection

_PORT_POLL_S = 0.05
_STDERR_TAIL_BYTES = 4096


@dataclass(frozen=True)
class TargetSession:
    name: str
    conn: Connection
    pid: int | None  # the server process when we started it; None for a URL we did not start


def connect_options(cfg: TargetConfig) -> ConnectOptions:
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
    )


@asynccontextmanager
async def open_target(cfg: TargetConfig, log_dir: Path, label: str) -> AsyncIterator[TargetSession]:
    """Start (when configured) and connect to a target; everything started is ended on exit.

    Start-up failures are raised as TargetError named after the configured target.
    """
    try:
        async with _open_target(cfg, log_dir, label) as session:
            yield session
    except TargetError as exc:
        if exc.target == cfg.name:
            raise
        raise type(exc)(cfg.name, exc.cause, stderr_tail=exc.stderr_tail) from None


@asynccontextmanager
async def _open_target(
    cfg: TargetConfig, log_dir: Path, label: str
) -> AsyncIterator[TargetSession]:
    from readiness.protocol.client import open_connection

    await anyio.Path(log_dir).mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"{cfg.name}-{label}.stderr.log"
    options = connect_options(cfg)
    if cfg.transport == "stdio":
        assert cfg.command is not None
        params = StdioParams(
            command=cfg.command,
            args=tuple(cfg.args),
            env=dict(cfg.env),
            cwd=cfg.cwd,
            stderr_path=str(stderr_path),
        )
        async with open_connection(params, options) as conn:
            yield TargetSession(name=cfg.name, conn=conn, pid=conn.pid)
        return

    assert cfg.url is not None
    http = HttpParams(url=cfg.url, headers=dict(cfg.headers))
    if cfg.command is None:
        pid = configured_pid(cfg)
        async with open_connection(http, options) as conn:
            yield TargetSession(name=cfg.name, conn=conn, pid=pid)
        return

    with _start_process(cfg, stderr_path) as proc:
        await _wait_until_listening(cfg, proc, stderr_path)
        async with open_connection(http, options) as conn:
            yield TargetSession(name=cfg.name, conn=conn, pid=proc.pid)


class _Started:
    """A server process we started; ended (tree and all) by pid on exit."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def __enter__(self) -> subprocess.Popen[bytes]:
        return self.proc

    def __exit__(self, *exc: object) -> None:
        end_process_tree(self.pid)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def _start_process(cfg: TargetConfig, stderr_path: Path) -> _Started:
    assert cfg.command is not None
    log = stderr_path.open("wb")
    try:
        proc = subprocess.Popen(
            [cfg.command, *cfg.args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=cfg.cwd,
            env={**os.environ, **cfg.env},
            start_new_session=True,
        )
    except FileNotFoundError:
        raise TargetStartFailed(cfg.name, f"command not found: {cfg.command}") from None
    except OSError as exc:
        raise TargetStartFailed(cfg.name, f"could not start {cfg.command}: {exc}") from None
    finally:
        log.close()
    return _Started(proc)


async def _wait_until_listening(
    cfg: TargetConfig, proc: subprocess.Popen[bytes], stderr_path: Path
) -> None:
    assert cfg.url is not None
    parts = urlsplit(cfg.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + cfg.connect_timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise TargetStartFailed(
                cfg.name,
                f"server command exited with code {code} before {cfg.url} answered",
                stderr_tail=_tail(stderr_path),
            )
        if await anyio.to_thread.run_sync(_port_open, host, port):
            return
        await anyio.sleep(_PORT_POLL_S)
    raise TargetUnreachable(
        cfg.name,
        f"nothing listened at {cfg.url} within {cfg.connect_timeout:g}s of starting the server",
        stderr_tail=_tail(stderr_path),
    )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - _STDERR_TAIL_BYTES, 0))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-20:])


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


def end_process_tree(pid: int) -> None:
    """Kill a process and its descendants by pid, and reap what we can."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        procs = [root]
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)
