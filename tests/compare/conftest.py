"""A real run of the demo server, made once for the comparison tests to compare and alter."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from readiness.results import RunResult, load_results
from tests.suites import run_all

SUITE = """
[run]
name = "compare-test"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]
request_timeout = "5s"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hello" }
weight = 3

[[workload.operations]]
call = "resources/read"
uri = "demo://status"
weight = 1

[[scenarios]]
name = "steady"
kind = "throughput"
load = { model = "open", rate = "40/s", duration = "3s" }

[[scenarios]]
name = "burst"
kind = "throughput"
load = { model = "closed", concurrency = 4, requests = 120 }
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    folder = tmp_path_factory.mktemp("run")

    async def bounded() -> None:
        with anyio.fail_after(60):
            await run_all(folder, SUITE)

    anyio.run(bounded)
    return load_results(Path(folder) / "results.json")
