"""A reply of 64 MiB against the 16 MiB cap, over stdio and over HTTP (JSON with and without a
Content-Length, and SSE): each request gets a classified OversizedReply, the server is not left
blocked (the next request is answered), and the generator never holds more than about one
cap's worth: its peak RSS, measured in a process of its own, grows by less than twice the cap."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.conftest import ROGUE_SERVER
from tests.servers import kill_tree

PROBE = Path(__file__).with_name("memory_probe.py")
HTTP_SERVER = Path(__file__).parents[1] / "protocol" / "rogue_http_server.py"
ROOT = Path(__file__).parents[2]
CAP = 16 * 1024 * 1024
REFUSED = "OversizedReply:TRANSPORT"


def probe(*args: str) -> tuple[list[str], int]:
    done = subprocess.run(
        [sys.executable, str(PROBE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    ended, growth = done.stdout.splitlines()
    return ended.split(), int(growth)


@pytest.fixture
def http_url() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, str(HTTP_SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=30)
        finally:
            kill_tree(server.pid)
            server.stdout.close()  # type: ignore[union-attr]


def test_a_64_mib_stdio_reply_is_refused_with_memory_bounded_by_the_cap() -> None:
    ended, growth = probe("stdio", ROGUE_SERVER)
    assert ended == [REFUSED, REFUSED, "OK"]
    # Measured: 1.07 x cap; 2.06 x while the held chunks of an oversized line were joined.
    assert growth < 2 * CAP, f"peak RSS grew by {growth / 2**20:.0f} MiB"


def test_64_mib_http_replies_are_refused_with_memory_bounded_by_the_cap(http_url: str) -> None:
    ended, growth = probe("http", http_url)
    assert ended == [REFUSED, REFUSED, REFUSED, "OK"]
    assert growth < 2 * CAP, f"peak RSS grew by {growth / 2**20:.0f} MiB"
