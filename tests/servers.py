"""Start real MCP servers for tests: the demo server over stdio or HTTP on 127.0.0.1.

Every process started here is ended here, by its pid.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psutil

READY = re.compile(r"readiness-demo listening on (http://\S+)")


@dataclass(frozen=True)
class RunningServer:
    url: str
    pid: int


def demo_command(*flags: str) -> list[str]:
    """The argv that starts the demo server over stdio with the given knobs."""
    return [sys.executable, "-m", "readiness.demo", *flags]


def kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [*root.children(recursive=True), root]
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


@contextmanager
def demo_http_server(
    flags: Sequence[str] = (), *, start_timeout: float = 60.0
) -> Iterator[RunningServer]:
    """Run `python -m readiness.demo --http --port 0 …` and yield its URL once it listens."""
    argv = [sys.executable, "-m", "readiness.demo", "--http", "--port", "0", *flags]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + start_timeout
        url = None
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = READY.search(line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError("demo HTTP server did not start:\n" + "".join(seen[-20:]))
        # Keep draining stderr so a chatty server never blocks on a full pipe.
        stderr = proc.stderr
        drain = threading.Thread(target=lambda: [None for _ in stderr], daemon=True)
        drain.start()
        try:
            yield RunningServer(url=url, pid=proc.pid)
        finally:
            kill_tree(proc.pid)
            drain.join(timeout=10)
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def free_port() -> int:
    """A loopback port nothing listens on right now (for a server that must bind a fixed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def refuses(port: int) -> bool:
    """True when nothing accepts connections on this loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except OSError:
        return True
