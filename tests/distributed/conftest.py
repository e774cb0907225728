"""One demo server over HTTP on 127.0.0.1 for the worker tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RunningServer, demo_http_server


@pytest.fixture(scope="module")
def demo_http() -> Iterator[RunningServer]:
    with demo_http_server() as server:
        yield server
