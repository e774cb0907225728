"""Shared set-up for the protocol tests: demo servers started once per module, and helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from readiness.protocol.connection import HttpParams, StdioParams
from tests.servers import demo_command, demo_http_server

ROGUE_SERVER = str(Path(__file__).with_name("rogue_server.py"))


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope lets one demo server (an async fixture) serve a whole test module.
    return "asyncio"


def demo_stdio(*flags: str, stderr_path: str | None = None) -> StdioParams:
    command, *args = demo_command(*flags)
    return StdioParams(command, tuple(args), stderr_path=stderr_path)


def rogue_stdio(*flags: str) -> StdioParams:
    return StdioParams(sys.executable, (ROGUE_SERVER, *flags))


def python_stdio(code: str) -> StdioParams:
    return StdioParams(sys.executable, ("-c", code))


def child_pids() -> set[int]:
    """Every live descendant of this test process (zombies count as ended)."""
    alive = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


HTTP_CLIENTS = ["fast", "aiohttp"]


@pytest.fixture(params=HTTP_CLIENTS)
def http_client(request: pytest.FixtureRequest) -> str:
    """Each HTTP conformance test runs with both clients: ours on httptools, and aiohttp."""
    client: str = request.param
    return client


@pytest.fixture(scope="module")
def stateful_server() -> Iterator[HttpParams]:
    # Stateful and streaming: the SDK answers each POST with a chunked SSE stream.
    with demo_http_server() as server:
        yield HttpParams(server.url)


@pytest.fixture(scope="module")
def stateless_server() -> Iterator[HttpParams]:
    # Stateless JSON: each POST gets one application/json body with a Content-Length.
    with demo_http_server(["--stateless", "--json-response"]) as server:
        yield HttpParams(server.url)


@pytest.fixture
def stateful_http(stateful_server: HttpParams, http_client: str) -> HttpParams:
    return replace(stateful_server, client=http_client)


@pytest.fixture
def stateless_http(stateless_server: HttpParams, http_client: str) -> HttpParams:
    return replace(stateless_server, client=http_client)
