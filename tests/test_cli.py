"""The command line as a user runs it: a subprocess, real servers, exit codes and files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.clirun import READINESS, results, run_cli, suite
from tests.servers import kill_tree


def processes_marked(marker: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("READINESS_TEST_MARKER") == marker:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


DEMO_TARGET = """
[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo" %s]
env = { READINESS_TEST_MARKER = "%s" }
request_timeout = "%s"
"""


def demo_target(marker: str, flags: str = "", timeout: str = "10s") -> str:
    extra = "".join(f', "{f}"' for f in flags.split())
    return DEMO_TARGET % (extra, marker, timeout)


HELP_THEN_LIST_MODULES = """
import sys
sys.argv = ["readiness", "--help"]
from readiness.cli import main
try:
    main()
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)), file=sys.stderr)
"""


def test_help_imports_nothing_heavy_and_nothing_of_the_package_beyond_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HELP_THEN_LIST_MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "run" in proc.stdout
    loaded = set(proc.stderr.split())
    assert "typer" in loaded  # the list is the real one
    heavy = {"rich", "numpy", "mcp", "pydantic", "aiohttp", "httpx", "anyio", "psutil", "orjson"}
    heavy |= {"prometheus_client", "httptools"}
    assert not {name.split(".")[0] for name in loaded} & heavy
    assert {name for name in loaded if name.startswith("readiness")} == {
        "readiness",
        "readiness.cli",
        "readiness.errors",
    }


def test_version_prints_the_version(tmp_path: Path) -> None:
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("readiness 0.")


def test_run_without_a_suite_uses_the_built_in_demo_suite(tmp_path: Path) -> None:
    proc = run_cli("run", "-s", "throughput", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = results(tmp_path / "out")
    assert data["run"]["config"] == "<built-in default suite>"
    # the command as a user would type it again, not the interpreter's path to cli.py
    assert data["run"]["argv"] == ["readiness", "run", "-s", "throughput", "--out", "out"]
    [scenario] = data["scenarios"]
    assert scenario["status"] == "passed"
    assert scenario["totals"]["sent"] == scenario["totals"]["ok"] > 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"{scenario['totals']['sent']:,}" in report
    assert (tmp_path / "out" / "report.html").exists()
    assert (tmp_path / "out" / "junit.xml").exists()
    assert (data["score"]["value"], data["score"]["status"]) == (100.0, "ready")
    assert "**Score: 100.0/100 — READY**" in report
    assert proc.stdout.strip().splitlines()[-1] == "report: out"


def test_a_bad_suite_exits_2_naming_file_key_and_line(tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
        [[targets]]
        name = "demo"
        transport = "stdio"
        command = "x"

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = { model = "closed", concurency = 5, requests = 10 }
        """,
    )
    proc = run_cli("run", "-c", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "suite.toml:10" in proc.stderr
    assert "concurrency" in proc.stderr


def test_a_missing_command_exits_3_with_one_clear_line(tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
        [[targets]]
        name = "ghost"
        transport = "stdio"
        command = "no-such-mcp-server-here"

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = { model = "closed", concurrency = 1, requests = 1 }
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert "ghost" in proc.stderr
    assert "no-such-mcp-server-here" in proc.stderr
    assert results(tmp_path / "out")["scenarios"][0]["status"] == "error"


def test_a_command_that_exits_at_once_exits_3_with_its_stderr(tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
        [[targets]]
        name = "dies"
        transport = "stdio"
        command = "${PYTHON}"
        args = ["-c", "import sys; print('bad credentials', file=sys.stderr); sys.exit(4)"]

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = { model = "closed", concurrency = 1, requests = 1 }
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 3
    assert "bad credentials" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_url_with_nothing_listening_exits_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = suite(
        tmp_path,
        f"""
        [[targets]]
        name = "nobody"
        transport = "http"
        url = "http://127.0.0.1:{port}/mcp"
        connect_timeout = "5s"

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = {{ model = "closed", concurrency = 1, requests = 1 }}
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 3
    assert "nobody" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_server_crash_mid_scenario_is_transport_errors_exit_1_and_no_orphans(
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex
    path = suite(
        tmp_path,
        '[run]\nname = "crash"\n'
        + demo_target(marker, "--crash-after 50")
        + """
[[scenarios]]
name = "t"
kind = "throughput"
load = { model = "closed", concurrency = 4, requests = 200 }
""",
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    [scenario] = results(tmp_path / "out")["scenarios"]
    totals = scenario["totals"]
    assert 40 <= totals["ok"] <= 50  # answers still buffered when the server exits are lost
    assert totals["errors"]["transport"] == 200 - totals["ok"]
    assert scenario["status"] == "failed"
    assert (tmp_path / "out" / "report.md").exists()
    assert processes_marked(marker) == []


def test_a_server_that_never_answers_times_out_and_the_run_ends(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    path = suite(
        tmp_path,
        demo_target(marker, timeout="300ms")
        + """
[[workload.operations]]
call = "tools/call"
tool = "work"
arguments = { ms = 60000 }  # the demo's longest work, far past the timeout

[[scenarios]]
name = "t"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 4 }
""",
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1
    [scenario] = results(tmp_path / "out")["scenarios"]
    assert scenario["totals"]["errors"]["timeout"] == 4
    assert processes_marked(marker) == []


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll a condition another process makes true, within a bound; True once it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


CALL_LOG_SERVER = Path(__file__).with_name("call_log_server.py")


def test_ctrl_c_exits_130_and_keeps_partial_results(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    calls = tmp_path / "calls.log"
    short_requests, users = 20, 2
    path = suite(
        tmp_path,
        f"""
[[targets]]
name = "logger"
transport = "stdio"
command = "${{PYTHON}}"
args = ["{CALL_LOG_SERVER}"]
env = {{ READINESS_TEST_MARKER = "{marker}", CALL_LOG = "{calls}" }}

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = {{ text = "hi" }}

[[scenarios]]
name = "short"
kind = "throughput"
load = {{ model = "closed", concurrency = {users}, requests = {short_requests} }}

[[scenarios]]
name = "long"
kind = "throughput"
load = {{ model = "closed", concurrency = {users}, duration = "60s" }}
""",
    )

    def calls_logged() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    proc = subprocess.Popen(
        [*READINESS, "run", "-c", str(path), "--out", "out", "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the short scenario's line: the long one is starting
        assert "short" in first
        # Each closed-loop user sends its next call only after recording the last reply, so
        # once the long scenario's server has seen users + 1 calls, it has recorded a reply.
        wanted = short_requests + users + 1
        assert wait_for(lambda: calls_logged() >= wanted), f"{calls_logged()} calls logged"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 130, err
    data = results(tmp_path / "out")
    assert data["run"]["status"] == "interrupted"
    short, long = data["scenarios"]
    assert short["status"] == "passed"
    assert short["totals"]["ok"] == short_requests
    assert long["partial"] is True
    assert long["totals"]["ok"] > 0
    assert (tmp_path / "out" / "report.md").exists()
    assert "report: out" in out
    assert processes_marked(marker) == []


def test_a_third_party_server_from_pypi_runs_with_zero_errors(tmp_path: Path) -> None:
    pytest.importorskip("mcp_server_time")
    path = suite(
        tmp_path,
        """
        [[targets]]
        name = "time"
        transport = "stdio"
        command = "${PYTHON}"
        args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]

        [[workload.operations]]
        call = "tools/call"
        tool = "get_current_time"
        arguments = { timezone = "Europe/Paris" }

        [[scenarios]]
        name = "throughput"
        kind = "throughput"
        load = { model = "closed", concurrency = 8, requests = 300 }
        thresholds = ["success_rate >= 100%", "errors == 0"]
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [scenario] = results(tmp_path / "out")["scenarios"]
    assert scenario["totals"]["ok"] == 300
    assert sum(scenario["totals"]["errors"].values()) == 0


@pytest.mark.parametrize(
    "mode", [[], ["--stateless", "--json-response"]], ids=["stateful", "stateless"]
)
def test_an_http_target_started_from_its_command_is_tested_and_ended(
    tmp_path: Path, mode: list[str]
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    marker = uuid.uuid4().hex
    args = ", ".join(
        f'"{a}"' for a in ["-m", "readiness.demo", "--http", "--port", str(port), *mode]
    )
    path = suite(
        tmp_path,
        f"""
        [[targets]]
        name = "web"
        transport = "http"
        url = "http://127.0.0.1:{port}/mcp"
        command = "${{PYTHON}}"
        args = [{args}]
        env = {{ READINESS_TEST_MARKER = "{marker}" }}

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = {{ model = "closed", concurrency = 8, requests = 200 }}
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = results(tmp_path / "out")
    [scenario] = data["scenarios"]
    assert scenario["totals"]["ok"] == 200
    assert scenario["server"]["measured"] is True
    assert data["targets"][0]["protocol_version"]
    assert processes_marked(marker) == []


def test_a_pid_that_does_not_exist_is_a_clear_error_at_start(tmp_path: Path) -> None:
    pid = 4_000_000  # above Linux's pid_max: never a running process
    assert not psutil.pid_exists(pid)
    path = suite(
        tmp_path,
        f"""
        [[targets]]
        name = "remote"
        transport = "http"
        url = "http://127.0.0.1:9/mcp"
        pid = {pid}

        [[scenarios]]
        name = "m"
        kind = "memory"
        load = {{ model = "open", rate = 10, duration = "15s" }}
        """,
    )
    proc = run_cli("run", "-c", str(path), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"no process with pid {pid}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert results(tmp_path / "out")["scenarios"][0]["status"] == "error"


def test_the_one_line_summary_never_rounds_a_failure_up_to_100_percent() -> None:
    from readiness.cli import _scenario_line
    from tests.reports import load_sample

    scenario = load_sample()["scenarios"][0]
    scenario["totals"]["success_rate"] = 0.99996
    line = _scenario_line(scenario)
    assert "ok >99.99%" in line
    assert "100.00%" not in line


def test_the_one_line_summary_of_a_security_scenario_counts_probes_and_findings() -> None:
    from readiness.cli import _scenario_line
    from tests.reports import load_sample

    scenario = load_sample()["scenarios"][0]
    scenario["totals"]["success_rate"] = 0.4  # most probes refused, as they should be
    scenario["security"] = {  # type: ignore[typeddict-item]
        "probes_sent": 266,
        "counts": {"critical": 0, "high": 1, "medium": 2, "low": 0},
    }
    line = _scenario_line(scenario)
    assert "probes 266  findings 0 critical, 1 high, 2 medium, 0 low" in line
    assert "ok " not in line
