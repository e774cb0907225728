"""`readiness init` and `readiness validate` as a user runs them: a subprocess, real servers
(the demo over stdio and HTTP, mcp-server-time from PyPI, small servers of our own)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from readiness.config import load_suite
from tests.servers import demo_http_server, free_port

READINESS = [sys.executable, "-m", "readiness.cli"]
SERVERS = Path(__file__).with_name("init_servers.py")
DEMO = f"{sys.executable} -m readiness.demo"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*READINESS, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def shortened(text: str) -> str:
    """The generated suite with its loads cut down for a test (the sizes a user gets are
    checked apart): fewer requests, shorter durations, fewer probes."""
    text = re.sub(r"requests = \d+", "requests = 100", text)
    text = re.sub(r"concurrency = \d+", "concurrency = 5", text)
    text = re.sub(r'duration = "\d+s"', 'duration = "6s"', text)
    text = text.replace("steps = [1, 5, 10, 25, 50]", "steps = [1, 2]")
    text = text.replace('step_duration = "3s"', 'step_duration = "1s"')
    text = text.replace('warmup = "3s"', 'warmup = "1s"').replace('settle = "2s"', 'settle = "1s"')
    return text.replace('huge_strings = ["1MiB"]', 'huge_strings = ["64KiB"]\nmax_probes = 150')


def run_without_errors(
    suite: Path, cwd: Path, env: dict[str, str] | None = None, only: tuple[str, ...] = ()
) -> None:
    """Run the shortened suite (only the scenarios named in `only`, when given): none errors."""
    short = suite.with_name("short.toml")
    short.write_text(shortened(suite.read_text()))
    out = cwd / "run"
    chosen = [arg for name in only for arg in ("-s", name)]
    proc = cli(
        "run", "-c", str(short), "-q", "--out", str(out), *chosen, cwd=cwd, env=env, timeout=400
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    result: dict[str, Any] = json.loads((out / "results.json").read_text())
    errored = [(s["name"], s["error"]) for s in result["scenarios"] if s["error"]]
    assert errored == [], proc.stdout
    expected = only or [s.name for s in load_suite_text(short.read_text(), env).scenarios]
    assert sorted(s["name"] for s in result["scenarios"]) == sorted(expected)


def workload_calls(text: str) -> list[str]:
    """The operations written uncommented: `call subject` each."""
    suite = load_suite_text(text)
    return [op.name for op in suite.workload.operations]


def load_suite_text(text: str, env: dict[str, str] | None = None) -> Any:
    from readiness.config import parse_suite

    return parse_suite(text, "<generated>", environ={**os.environ, **(env or {})})


def test_init_demo_over_stdio_writes_a_suite_that_validates_and_runs(tmp_path: Path) -> None:
    proc = cli("init", "--stdio", DEMO, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "scenarios.toml"
    text = written.read_text()
    assert 'command = "${PYTHON}"' in text  # this interpreter, portable
    suite = load_suite(written)  # readiness's own loader takes it as written
    names = [op.name for op in suite.workload.operations]
    assert "tools/call echo" in names
    assert "resources/read demo://status" in names
    assert "prompts/get summarize" in names
    echo = next(op for op in suite.workload.operations if op.tool == "echo")
    assert isinstance(echo.arguments["text"], str)
    assert [s.kind for s in suite.scenarios] == [
        "throughput",
        "scaling",
        "memory",
        "failure",
        "recovery",
        "security",
    ]
    # Sizes a user gets: bounded loads (≤ 200/s, ≤ 1000 requests), as the default suite.
    assert re.search(r'rate = "(\d+)/s"', text)
    assert all(int(r) <= 200 for r in re.findall(r'rate = "(\d+)/s"', text))
    validated = cli("validate", "-c", str(written), "--connect", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("ok:")
    run_without_errors(written, tmp_path)


def test_init_demo_over_http_writes_headers_as_variables(tmp_path: Path) -> None:
    secret = "Bearer s3cr3t-value"
    env = {"READINESS_AUTHORIZATION": secret}
    with demo_http_server() as server:
        proc = cli(
            "init",
            "--url",
            server.url,
            "--header",
            f"Authorization: {secret}",
            "--out",
            "http.toml",
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        written = tmp_path / "http.toml"
        text = written.read_text()
        assert "s3cr3t" not in text
        assert "s3cr3t" not in proc.stdout + proc.stderr
        assert 'Authorization = "${READINESS_AUTHORIZATION}"' in text
        assert "READINESS_AUTHORIZATION" in proc.stdout  # says what to set
        # memory needs a process to sample: written commented out for a URL it did not start
        assert '\n# name = "memory"' in text
        suite = load_suite_text(text, env)
        assert suite.targets[0].url == server.url
        assert suite.targets[0].headers == {"Authorization": secret}
        validated = cli("validate", "-c", str(written), "--connect", cwd=tmp_path, env=env)
        assert validated.returncode == 0, validated.stderr
        # The whole generated suite runs in the stdio test; over HTTP, the scenarios that send
        # the headers on every request (calls, and the security probes' own HTTP checks).
        run_without_errors(written, tmp_path, env, only=("throughput", "security"))


@pytest.mark.skipif(shutil.which("mcp-server-time") is None, reason="needs mcp-server-time")
def test_init_mcp_server_time_from_pypi(tmp_path: Path) -> None:
    proc = cli("init", "--stdio", "mcp-server-time", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "scenarios.toml"
    suite = load_suite(written)
    tools = {op.tool: op.arguments for op in suite.workload.operations}
    assert set(tools) == {"get_current_time", "convert_time"}  # both work with what init chose
    validated = cli("validate", "-c", str(written), "--connect", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    # Every generated scenario kind runs in the demo's test; here, the ones that call its tools.
    run_without_errors(written, tmp_path, only=("throughput", "failure"))


def test_a_destructive_tool_is_never_called(tmp_path: Path) -> None:
    wipe, touch = tmp_path / "wiped", tmp_path / "touched"
    env = {"WIPE_MARKER": str(wipe), "TOUCH_MARKER": str(touch)}
    command = f"{sys.executable} {SERVERS} destructive"
    proc = cli("init", "--stdio", command, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not wipe.exists()
    assert touch.exists()  # no hint either way: called
    text = (tmp_path / "scenarios.toml").read_text()
    assert "destructiveHint = true" in text
    assert '# tool = "wipe"' in text  # written, commented out
    assert workload_calls(text) == ["tools/call touch", "tools/call peek"]
    touch.unlink()
    proc = cli("init", "--stdio", command, "--read-only", "--out", "ro.toml", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not wipe.exists()
    assert not touch.exists()
    ro = (tmp_path / "ro.toml").read_text()
    assert workload_calls(ro) == ["tools/call peek"]
    assert "readOnlyHint" in ro


def test_a_server_without_tools_still_yields_a_valid_suite(tmp_path: Path) -> None:
    proc = cli("init", "--stdio", f"{sys.executable} {SERVERS} empty", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "scenarios.toml"
    suite = load_suite(written)
    assert [op.name for op in suite.workload.operations] == [
        "resources/read memo://hello",
        "prompts/get greet",
    ]
    validated = cli("validate", "-c", str(written), "--connect", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    existing = tmp_path / "scenarios.toml"
    existing.write_text("mine")
    proc = cli("init", "--stdio", DEMO, cwd=tmp_path)
    assert proc.returncode == 2
    assert "--force" in proc.stderr
    assert existing.read_text() == "mine"
    forced = cli("init", "--stdio", DEMO, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert existing.read_text() != "mine"


def test_an_unreachable_server_exits_3_with_one_line(tmp_path: Path) -> None:
    proc = cli("init", "--url", f"http://127.0.0.1:{free_port()}/mcp", cwd=tmp_path)
    assert proc.returncode == 3
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "scenarios.toml").exists()
    missing = cli("init", "--stdio", "no-such-command-for-readiness", cwd=tmp_path)
    assert missing.returncode == 3
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr


SUITE = """
[[targets]]
name = "demo"
transport = "stdio"
command = "${{PYTHON}}"
args = ["-m", "readiness.demo"]

{operations}

[[scenarios]]
name = "throughput"
kind = "throughput"
load = {{ concurrency = 2, requests = 10 }}
thresholds = [{threshold}]
"""


def _suite(tmp_path: Path, operations: str, threshold: str = '"p99 < 1s"') -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(operations=operations, threshold=threshold))
    return path


def test_validate_connect_catches_an_unknown_tool_and_bad_arguments(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path,
        '[[workload.operations]]\ncall = "tools/call"\ntool = "nope"\n\n'
        '[[workload.operations]]\ncall = "tools/call"\ntool = "echo"\narguments = { text = 5 }\n\n'
        '[[workload.operations]]\ncall = "tools/call"\ntool = "add"\narguments = { a = 1 }\n\n'
        '[[workload.operations]]\ncall = "prompts/get"\nprompt = "summarize"\n',
    )
    offline = cli("validate", "-c", str(suite), cwd=tmp_path)
    assert offline.returncode == 0, offline.stderr  # without --connect nothing is asked
    proc = cli("validate", "-c", str(suite), "--connect", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no tool named 'nope'" in proc.stderr
    assert "arguments.text: 5 is not of type 'string'" in proc.stderr
    assert "'b' is a required property" in proc.stderr
    assert "the prompt needs argument 'topic'" in proc.stderr


def test_validate_fails_as_run_does_on_a_bad_suite(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path,
        '[[workload.operations]]\ncall = "tools/call"\ntool = "echo"\narguments = { text = "a" }',
        threshold='"p99 < soon"',
    )
    validated = cli("validate", "-c", str(suite), cwd=tmp_path)
    ran = cli("run", "-c", str(suite), "-q", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert validated.returncode == ran.returncode == 2
    assert validated.stderr == ran.stderr
    unset = tmp_path / "unset.toml"
    unset.write_text(
        suite.read_text()
        .replace('"p99 < soon"', '"p99 < 1s"')
        .replace(
            'args = ["-m"', 'env = { TOKEN = "${READINESS_TEST_UNSET_VARIABLE}" }\nargs = ["-m"'
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "READINESS_TEST_UNSET_VARIABLE"}
    validated = subprocess.run(
        [*READINESS, "validate", "-c", str(unset)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert validated.returncode == 2
    assert "READINESS_TEST_UNSET_VARIABLE" in validated.stderr
