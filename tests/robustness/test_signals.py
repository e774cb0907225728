"""Signals to `readiness run`, as a CI runner or a closing terminal sends them: SIGTERM and
SIGHUP act like Ctrl-C (exit 130, partial results written); a second Ctrl-C stops at once and
still writes results.json. Every wait is on something the run or its server says, bounded by
a configured duration the run would otherwise take; every server is checked gone by pid."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clirun import READINESS
from tests.protocol.conftest import ROGUE_SERVER
from tests.robustness.runs import gone
from tests.servers import kill_tree

LONG = 120.0  # seconds: what the run would take if a signal were not honoured
BOUND = LONG / 2  # every wait in these tests ends well before that


def rogue_target(tmp_path: Path, name: str, *flags: str, **keys: str) -> str:
    args = [ROGUE_SERVER, "--pid-file", str(tmp_path / f"{name}.pid")]
    args += ["--call-log", str(tmp_path / f"{name}.log"), *flags]
    extra = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    return f"""
[[targets]]
name = "{name}"
transport = "stdio"
command = "{sys.executable}"
args = [{", ".join(f'"{a}"' for a in args)}]
{extra}
"""


WORKLOAD = """
[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hi" }
"""


def scenario(name: str, target: str, load: str) -> str:
    return f"""
[[scenarios]]
name = "{name}"
kind = "throughput"
target = "{target}"
load = {load}
"""


class Cli:
    """`readiness run` in a subprocess, its stderr lines collected as they come."""

    def __init__(self, tmp_path: Path, suite_text: str) -> None:
        self.folder = tmp_path / "out"
        path = tmp_path / "suite.toml"
        path.write_text(textwrap.dedent(suite_text))
        self.proc = subprocess.Popen(
            [*READINESS, "run", "-c", str(path), "--out", str(self.folder), "--quiet"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for_line(self, start: str) -> None:
        deadline = time.monotonic() + BOUND
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            self.stderr.append(line)
            if line.startswith(start):
                return

    def end(self) -> int:
        """Wait for the run to end by itself, within BOUND."""
        code = self.proc.wait(timeout=BOUND)
        self._reader.join(timeout=BOUND)
        while not self.lines.empty():
            self.stderr.append(self.lines.get())
        return code

    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / "results.json").read_text())
        return data

    def close(self) -> None:
        kill_tree(self.proc.pid)
        self.proc.wait(timeout=BOUND)
        self._reader.join(timeout=BOUND)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def wait_for(condition: Callable[[], bool]) -> None:
    """Poll a condition another process makes true, bounded by BOUND."""
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def logged(path: Path, line: str) -> int:
    return path.read_text().splitlines().count(line) if path.exists() else 0


def server_gone(tmp_path: Path, name: str) -> bool:
    return gone(int((tmp_path / f"{name}.pid").read_text()))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    text = rogue_target(tmp_path, "rogue") + WORKLOAD
    text += scenario("long", "rogue", f'{{ concurrency = 2, duration = "{LONG:g}s" }}')
    cli = Cli(tmp_path, text)
    try:
        # Closed-loop users send their next call only after recording the last reply.
        wait_for(lambda: logged(tmp_path / "rogue.log", "call") >= 5)
        cli.proc.send_signal(signum)
        code = cli.end()  # well before the load's planned end
    finally:
        cli.close()
    assert code == 130, cli.stderr
    assert cli.stderr[0].startswith("interrupted: stopping the load")
    data = cli.results()
    assert data["run"]["status"] == "interrupted"
    [long] = data["scenarios"]
    assert long["partial"] is True
    assert long["totals"]["ok"] >= 3
    assert (cli.folder / "report.md").exists()
    assert server_gone(tmp_path, "rogue")


def test_ctrl_c_during_start_up_does_not_wait_for_the_connect_timeout(tmp_path: Path) -> None:
    text = rogue_target(tmp_path, "mute", "--silent-start", connect_timeout=f"{LONG:g}s")
    text += WORKLOAD + scenario("never", "mute", "{ concurrency = 1, requests = 5 }")
    cli = Cli(tmp_path, text)
    try:
        wait_for(lambda: logged(tmp_path / "mute.log", "handshake") >= 1)
        cli.proc.send_signal(signal.SIGINT)
        code = cli.end()  # within BOUND: the handshake would have waited LONG
    finally:
        cli.close()
    assert code == 130, cli.stderr
    data = cli.results()
    assert data["run"]["status"] == "interrupted"
    [never] = data["scenarios"]
    assert never["error"] == "interrupted while its target was starting; nothing was measured"
    assert server_gone(tmp_path, "mute")


def test_a_second_ctrl_c_stops_at_once_and_still_writes_results(tmp_path: Path) -> None:
    # The stuck target never answers the tools/list every scenario asks first, ignores SIGTERM
    # and the end of its input: after one Ctrl-C the run would wait LONG for that list.
    text = rogue_target(tmp_path, "good")
    text += rogue_target(
        tmp_path, "stuck", "--silent-list", "--stubborn", request_timeout=f"{LONG:g}s"
    )
    text += WORKLOAD
    text += scenario("short", "good", "{ concurrency = 1, requests = 5 }")
    text += scenario("stuck", "stuck", "{ concurrency = 1, requests = 5 }")
    cli = Cli(tmp_path, text)
    try:
        wait_for(lambda: logged(tmp_path / "stuck.log", "tools/list") >= 1)
        cli.proc.send_signal(signal.SIGINT)
        cli.wait_for_line("interrupted: stopping the load")
        cli.proc.send_signal(signal.SIGINT)
        code = cli.end()
    finally:
        cli.close()
    assert code == 130, cli.stderr
    assert any(line.startswith("interrupted again: stopping now") for line in cli.stderr)
    assert not any("Traceback" in line or "unhandled" in line for line in cli.stderr), cli.stderr
    data = cli.results()
    assert data["run"]["status"] == "interrupted"
    assert [s["name"] for s in data["scenarios"]] == ["short"]  # what finished is kept
    assert data["scenarios"][0]["totals"]["ok"] == 5
    assert (cli.folder / "report.md").exists()
    assert server_gone(tmp_path, "good")
    assert server_gone(tmp_path, "stuck")  # killed: it ignores SIGTERM
