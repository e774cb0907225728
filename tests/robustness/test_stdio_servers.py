"""Misbehaving stdio servers, run as `readiness run` runs a suite: each run ends, writes its
results and reports, classifies what the server did, and leaves no process behind."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from tests.protocol.conftest import ROGUE_SERVER, child_pids
from tests.robustness.runs import Run, gone, run_suite_text

pytestmark = pytest.mark.anyio

REQUEST_TIMEOUT = 1.0  # seconds; every bound below is derived from it and the loads


def rogue_suite(
    tmp_path: Path,
    *flags: str,
    load: str = "{ concurrency = 2, requests = 40 }",
    tool: str = "echo",
    arguments: str = '{ text = "hi" }',
    max_reply: str = "16MiB",
    target_extra: str = "",
) -> str:
    args = ", ".join(f'"{a}"' for a in (ROGUE_SERVER, "--pid-file", str(tmp_path / "pid"), *flags))
    return textwrap.dedent(
        f"""
        [[targets]]
        name = "rogue"
        transport = "stdio"
        command = "{sys.executable}"
        args = [{args}]
        request_timeout = "{REQUEST_TIMEOUT}s"
        max_reply_bytes = "{max_reply}"
        {target_extra}

        [[workload.operations]]
        call = "tools/call"
        tool = "{tool}"
        arguments = {arguments}

        [[scenarios]]
        name = "misbehaving"
        kind = "throughput"
        load = {load}
        grace = "{3 * REQUEST_TIMEOUT:g}s"
        """
    )


async def run_rogue(tmp_path: Path, text: str) -> Run:
    before = child_pids()
    with anyio.fail_after(60):
        run = await run_suite_text(tmp_path / "out", text)
    assert gone(int((tmp_path / "pid").read_text()))
    assert child_pids() <= before
    return run


async def test_non_json_lines_on_stdout_are_counted_reported_and_skipped(tmp_path: Path) -> None:
    run = await run_rogue(tmp_path, rogue_suite(tmp_path, "--noise", "37"))
    scenario = run.scenario
    assert scenario["status"] == "passed"
    assert scenario["totals"]["ok"] == scenario["totals"]["sent"] == 40  # replies still matched
    notes = scenario["protocol"]
    assert notes["non_json_lines"] == 37
    assert notes["malformed"] == 0
    assert notes["violations"] == ["server wrote 37 non-JSON lines to stdout"]
    assert "Server wrote 37 non-JSON lines to stdout." in run.markdown
    assert "Server wrote 37 non-JSON lines to stdout." in run.html


async def test_a_well_behaved_server_has_no_protocol_notes(tmp_path: Path) -> None:
    run = await run_rogue(tmp_path, rogue_suite(tmp_path, load="{ concurrency = 1, requests = 5 }"))
    assert "protocol" not in run.scenario
    assert "Protocol violations" not in run.markdown


async def test_oversized_replies_are_classified_and_reported(tmp_path: Path) -> None:
    text = rogue_suite(
        tmp_path,
        tool="huge",
        arguments="{ size = 4194304 }",
        max_reply="1MiB",
        load="{ concurrency = 1, requests = 3 }",
    )
    run = await run_rogue(tmp_path, text)
    scenario = run.scenario
    assert scenario["totals"]["errors"]["transport"] == 3
    notes = scenario["protocol"]
    assert notes["oversized_replies"] == 3
    assert notes["transport_errors"] == {"reply exceeds 1048576 bytes": 3}
    assert "exceeded the reply cap of 1 MiB" in run.markdown


async def test_a_server_that_closes_stdout_but_keeps_running(tmp_path: Path) -> None:
    text = rogue_suite(
        tmp_path,
        "--after-calls",
        "3",
        "close-stdout",
        load="{ concurrency = 1, requests = 10 }",
    )
    run = await run_rogue(tmp_path, text)
    totals = run.scenario["totals"]
    assert totals["ok"] == 3
    assert totals["errors"]["transport"] == 7  # the first one after waiting for the exit settle
    notes = run.scenario["protocol"]
    assert notes["stdout_closed"] is True
    assert notes["transport_errors"] == {"server closed its stdout": 7}
    assert "closed its stdout while still running" in run.markdown


async def test_a_server_that_closes_stdin_but_keeps_running(tmp_path: Path) -> None:
    text = rogue_suite(
        tmp_path, "--after-calls", "3", "close-stdin", load="{ concurrency = 1, requests = 10 }"
    )
    run = await run_rogue(tmp_path, text)
    totals = run.scenario["totals"]
    assert totals["ok"] == 3
    # The request written as the pipe closed may wait for its timeout; later ones fail at once.
    assert totals["errors"]["transport"] + totals["errors"]["timeout"] == 7
    assert totals["errors"]["timeout"] <= 1
    assert run.scenario["protocol"]["stdin_closed"] is True
    assert "closed its stdin while still running" in run.markdown


@pytest.mark.parametrize("batch", [False, True], ids=["each-write", "batched-writes"])
async def test_a_server_that_stops_reading_stdin_times_requests_out(
    tmp_path: Path, batch: bool
) -> None:
    # 200 kB per request: the pipe and our write buffer are full after the first few.
    text = rogue_suite(
        tmp_path,
        "--after-calls",
        "2",
        "stop-reading",
        tool="echo",
        arguments='{ text = "' + "x" * 200_000 + '" }',
        load='{ concurrency = 4, duration = "2s" }',
        target_extra="[targets.resilience.batch]\nmax_size = 2\n" if batch else "",
    )
    run = await run_rogue(tmp_path, text)
    scenario = run.scenario
    totals = scenario["totals"]
    assert totals["ok"] == 2
    # Every request after those timed out by request_timeout, within the grace (3 timeouts):
    # none was left waiting to write until the load's deadline cancelled it.
    assert totals["errors"]["timeout"] >= 4  # 4 users, each one request per timeout
    assert totals["cancelled"] == 0
    assert totals["sent"] == totals["ok"] + totals["errors"]["timeout"]
    assert scenario["error"] is None


async def test_a_server_flooding_stderr_gets_a_bounded_log(tmp_path: Path) -> None:
    flood = 8 * 1024 * 1024
    run = await run_rogue(tmp_path, rogue_suite(tmp_path, "--flood-stderr", str(flood)))
    assert run.scenario["status"] == "passed"
    [log] = (tmp_path / "out" / "logs").glob("rogue-*.stderr.log")
    data = log.read_bytes()
    assert len(data) <= 1024 * 1024 + 100  # head + tail + a marker, of 8 MiB written
    assert data.startswith(b"rogue server ready\n")
    assert b"bytes of stderr skipped" in data
