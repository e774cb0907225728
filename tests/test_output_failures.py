"""Every path readiness reads or writes can fail: each failure ends in one line and exit 2,
no load is sent that could not be kept, and what was written before stays."""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from readiness.config import parse_suite
from readiness.errors import ExitCode, OutputError
from readiness.results import write_atomic
from readiness.runner import new_state, plan_pairs, run_suite
from tests import clirun

run_cli = functools.partial(clirun.run_cli, timeout=120)


SUITE = """\
[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]

[[scenarios]]
name = "one"
kind = "throughput"
load = { concurrency = 1, requests = 5 }

[[scenarios]]
name = "two"
kind = "throughput"
load = { concurrency = 1, requests = 5 }

[[scenarios]]
name = "three"
kind = "throughput"
load = { concurrency = 1, requests = 5 }
"""


def marking_python(folder: Path, marker: Path) -> Path:
    """A stand-in for ${PYTHON} that leaves `marker` behind when a target is started."""
    script = folder / "marking-python"
    script.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def files_in(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir()]


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "out",
    [
        pytest.param("/proc/nope", id="a folder that cannot be created"),
        pytest.param("/proc/self", id="a folder that cannot be written"),
        pytest.param("{tmp}/file", id="a file where the folder should be"),
        pytest.param("{tmp}/file/inside", id="a file where a parent folder should be"),
    ],
)
def test_a_report_folder_that_cannot_be_written_exits_2_before_any_load(
    tmp_path: Path, out: str
) -> None:
    (tmp_path / "file").write_text("in the way")
    marker = tmp_path / "started"
    env = {"PYTHON": str(marking_python(tmp_path, marker))}
    (tmp_path / "suite.toml").write_text(SUITE)
    proc = run_cli(
        "run", "-c", "suite.toml", "--out", out.format(tmp=tmp_path), cwd=tmp_path, env=env
    )
    line = one_line(proc)
    assert line.startswith("OutputError: cannot write ")
    assert not marker.exists()


def test_a_disk_that_fills_during_a_run_stops_it_and_keeps_results_json(tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    # The first results.json (no scenario yet) is about 5 KB; with a scenario it is about 10.
    proc = run_cli("run", "-c", "suite.toml", "--out", "out", "-q", cwd=tmp_path, fsize=8000)
    line = one_line(proc)
    assert line.startswith("OutputError: cannot write ")
    assert "File too large" in line
    assert "the run stopped" in line
    kept = json.loads((tmp_path / "out" / "results.json").read_text())
    assert kept["scenarios"] == []
    assert not (tmp_path / "out" / "logs" / "demo-two.stderr.log").exists()  # never started


def test_a_disk_that_fills_while_the_reports_are_written_keeps_results_json(
    tmp_path: Path,
) -> None:
    (tmp_path / "suite.toml").write_text(SUITE.split('[[scenarios]]\nname = "two"')[0])
    # One scenario: results.json is about 10 KB, report.md 7 KB, report.html 20 KB.
    proc = run_cli("run", "-c", "suite.toml", "--out", "out", "-q", cwd=tmp_path, fsize=15000)
    line = one_line(proc)
    assert line.startswith("OutputError: cannot write ")
    assert "File too large" in line
    kept = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s["name"] for s in kept["scenarios"]] == ["one"]
    assert "PASSED  one" in proc.stdout  # the run itself went through
    assert not (tmp_path / "out" / "report.html").exists()


def test_a_disk_that_fills_with_a_server_log_stops_the_run_in_one_line(tmp_path: Path) -> None:
    from tests.protocol.conftest import ROGUE_SERVER
    from tests.robustness.runs import gone

    flood, limit = 2_000_000, 100_000  # the log's head alone (256 KiB) is over the limit
    pid_file = tmp_path / "pid"
    text = SUITE.replace(
        'args = ["-m", "readiness.demo"]',
        f'args = ["{ROGUE_SERVER}", "--flood-stderr", "{flood}", "--pid-file", "{pid_file}"]',
    ).replace("${PYTHON}", sys.executable)
    (tmp_path / "suite.toml").write_text(text)
    proc = run_cli("run", "-c", "suite.toml", "--out", "out", "-q", cwd=tmp_path, fsize=limit)
    line = one_line(proc)  # not an asyncio "Exception in callback" per pipe read
    assert line.startswith("OutputError: cannot write out/logs/demo-one.stderr.log: File too large")
    assert "the run stopped" in line
    kept = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s["name"] for s in kept["scenarios"]] == ["one"]  # two and three never started
    assert gone(int(pid_file.read_text()))


@pytest.mark.anyio
async def test_a_results_json_that_cannot_be_saved_ends_the_run_after_that_scenario(
    tmp_path: Path,
) -> None:
    suite = parse_suite(SUITE, str(tmp_path / "suite.toml"))
    state = new_state(suite, tmp_path, ["readiness", "run"])
    writes = 0

    def disk_fills_after_two_writes(path: Path, data: bytes) -> None:
        nonlocal writes
        writes += 1
        if writes > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write_atomic(path, data)

    state.write = disk_fills_after_two_writes
    await run_suite(suite, state, plan_pairs(suite))
    assert isinstance(state.fatal, OutputError)
    assert "No space left on device" in str(state.fatal)
    assert [s["name"] for s in state.result["scenarios"]] == ["one", "two"]  # three never ran
    kept = json.loads((tmp_path / "results.json").read_text())
    assert [s["name"] for s in kept["scenarios"]] == ["one"]  # the last save that succeeded
    assert sorted(files_in(tmp_path)) == ["logs", "results.json"]  # no torn temporary file


@pytest.mark.parametrize("given", [True, False], ids=["given with -c", "found in the folder"])
def test_a_suite_file_that_is_a_folder_exits_2_with_one_line(tmp_path: Path, given: bool) -> None:
    (tmp_path / "scenarios.toml").mkdir()
    args = ("run", "-c", "scenarios.toml") if given else ("run",)
    line = one_line(run_cli(*args, cwd=tmp_path))
    assert line.startswith(f"ConfigError: {tmp_path / 'scenarios.toml'}: ")
    assert "Is a directory" in line


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"schema_version": 1, "run": {"name": "x", "sta', id="truncated"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00", id="binary"),
        pytest.param(b"[1, 2, 3]", id="not an object"),
        pytest.param(b'{"schema_version": 1}', id="no run"),
    ],
)
def test_a_broken_results_file_given_to_report_exits_2_with_one_line(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "results.json").write_bytes(content)
    line = one_line(run_cli("report", "results.json", cwd=tmp_path))
    assert line.startswith("ConfigError: results.json: ")
    assert not (tmp_path / "report.md").exists()


def test_a_truncated_results_file_or_an_unwritable_folder_exits_2_in_every_command(
    tmp_path: Path,
) -> None:
    (tmp_path / "suite.toml").write_text(SUITE.split('[[scenarios]]\nname = "two"')[0])
    assert run_cli("run", "-c", "suite.toml", "--out", "out", "-q", cwd=tmp_path).returncode == 0
    whole = (tmp_path / "out" / "results.json").read_bytes()
    for cut in (1, len(whole) // 3, len(whole) // 2, len(whole) - 2):
        (tmp_path / "cut.json").write_bytes(whole[:cut])
        line = one_line(run_cli("report", "cut.json", "--out", "again", cwd=tmp_path))
        assert line.startswith("ConfigError: cut.json: ")
    for out in ("/proc/nope", str(tmp_path / "suite.toml")):
        line = one_line(run_cli("report", "out", "--out", out, cwd=tmp_path))
        assert line.startswith(f"OutputError: cannot write {out}")
    # Every other command that reads a results.json: compare (either side), a baseline, merge.
    for args in (
        ("compare", "out", "cut.json"),
        ("compare", "cut.json", "out"),
        ("run", "-c", "suite.toml", "--baseline", "cut.json", "--out", "never"),
        ("merge", "cut.json", "--out", "merged"),
    ):
        line = one_line(run_cli(*args, cwd=tmp_path))
        assert line.startswith("ConfigError: cut.json: not valid JSON"), args
    assert not (tmp_path / "never").exists()


def test_report_on_a_results_file_of_the_wrong_shape_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutants of a real results.json (keys deleted, values of the wrong type) either render
    or are refused naming the file: never a traceback."""
    from typer.testing import CliRunner

    from readiness.cli import app
    from tests.config_mutants import WRONG_TYPES, copy, delete, paths, put, show

    (tmp_path / "suite.toml").write_text(SUITE.split('[[scenarios]]\nname = "two"')[0])
    assert run_cli("run", "-c", "suite.toml", "--out", "out", "-q", cwd=tmp_path).returncode == 0
    base = json.loads((tmp_path / "out" / "results.json").read_text())
    keys = list(paths(base))
    finite = [v for v in WRONG_TYPES if not isinstance(v, float) or math.isfinite(v)]
    rng = random.Random(14)
    monkeypatch.chdir(tmp_path)
    failures = []
    for i in range(40):
        mutant, key = copy(base), rng.choice(keys)
        if i % 2:
            delete(mutant, key)
            note = f"deleted {show(key)}"
        else:
            put(mutant, key, rng.choice(finite))
            note = f"{show(key)} of a wrong type"
        (tmp_path / "mutant.json").write_text(json.dumps(mutant))
        result = CliRunner().invoke(app, ["report", "mutant.json", "--out", f"again{i}"])
        clean = result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.stderr.strip().splitlines()
        refused_well = result.exit_code == 2 and len(lines) == 1
        if not clean or not (result.exit_code == 0 or refused_well):
            failures.append(f"{note}: exit {result.exit_code} {result.exception!r} {lines}")
        elif result.exit_code == 2:
            assert lines[0].startswith("ConfigError: mutant.json: "), lines
    assert not failures, "\n".join(failures)
