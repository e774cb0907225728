"""`readiness compare`, `readiness baseline save` and `run --baseline` as a user runs them:
subprocesses against the demo server, exit codes, the files written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clirun import run_cli

# Latency set by a knob that dwarfs scheduling noise on a busy machine, and tolerances wide
# enough that only the slowed server (10x) can pass them: the A/A pair must not regress.
SUITE = """
[run]
name = "gate"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo", "--latency", "${DEMO_LATENCY}"]
request_timeout = "5s"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hello" }

[[scenarios]]
name = "steady"
kind = "throughput"
load = { model = "open", rate = "20/s", duration = "4s" }
%s

[gate]
max_regression = { p50 = "100%%", p90 = "100%%", p95 = "100%%", p99 = "200%%", \
p999 = "200%%", throughput = "30%%", success_rate = "5%%" }
"""
FAST = "fixed:20ms"
SLOW = "fixed:300ms"


def cli(
    *args: str, cwd: Path, latency: str = FAST, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, timeout=timeout, env={"DEMO_LATENCY": latency})


def write_suite(folder: Path, thresholds: str = "") -> Path:
    path = folder / "suite.toml"
    path.write_text(SUITE % thresholds)
    return path


def comparison_json(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "comparison.json").read_text())
    return data


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    suite = write_suite(folder)
    proc = cli("run", "-c", str(suite), "--out", "run", "-q", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "run"


def test_a_run_compared_with_its_own_copy_is_unchanged_and_exits_0(
    base_run: Path, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.json").write_bytes((base_run / "results.json").read_bytes())
    proc = cli(
        "compare",
        str(base_run / "results.json"),
        "copy",
        "-c",
        str(suite),
        "--out",
        "cmp",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comparison = comparison_json(tmp_path / "cmp")
    assert comparison["counts"]["regressed"] == 0
    assert comparison["counts"]["not_comparable"] == 0
    assert comparison["counts"]["unchanged"] == len(comparison["rows"]) > 0
    assert "0 regressed" in proc.stdout
    html = (tmp_path / "cmp" / "comparison.html").read_text()
    assert '<svg class="forest"' in html
    assert "src=" not in html
    assert "href=" not in html
    assert "@import" not in html


def test_a_second_run_of_the_same_server_is_comparable_and_its_exit_code_follows_its_verdicts(
    base_run: Path, tmp_path: Path
) -> None:
    # Whether two runs on a busy machine come out "unchanged" is a statistical property,
    # measured by benchmarks/ (A/A calibration), not asserted here.
    suite = write_suite(tmp_path)
    assert cli("run", "-c", str(suite), "--out", "again", "-q", cwd=tmp_path).returncode == 0
    proc = cli(
        "compare",
        str(base_run / "results.json"),
        "again",
        "-c",
        str(suite),
        "--out",
        "cmp",
        cwd=tmp_path,
    )
    comparison = comparison_json(tmp_path / "cmp")
    assert comparison["counts"]["not_comparable"] == 0
    assert proc.returncode == (4 if comparison["counts"]["regressed"] else 0)
    assert comparison["regressed"] == (comparison["counts"]["regressed"] > 0)
    assert "# Comparison" in (tmp_path / "cmp" / "comparison.md").read_text()


def test_a_slowed_server_regresses_and_run_baseline_exits_4(base_run: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    proc = cli(
        "run",
        "-c",
        str(suite),
        "--out",
        "slow",
        "-q",
        "--baseline",
        str(base_run),
        cwd=tmp_path,
        latency=SLOW,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "regressed" in proc.stdout
    saved = json.loads((tmp_path / "slow" / "results.json").read_text())
    assert saved["comparison"]["regressed"]
    p50 = next(
        r for r in saved["comparison"]["rows"] if r["metric"] == "p50" and r["operation"] == "(all)"
    )
    assert p50["verdict"] == "regressed"
    assert p50["interval"][0] > 1.0  # about +1,300%: the whole interval far past the tolerance
    report = (tmp_path / "slow" / "report.md").read_text()
    assert "## Compared with baseline" in report
    assert "Compared with baseline" in (tmp_path / "slow" / "report.html").read_text()
    again = cli("compare", str(base_run), "slow", "--format", "json", cwd=tmp_path)
    assert again.returncode == 4
    assert sorted(p.name for p in (tmp_path / "slow").glob("comparison.*")) == ["comparison.json"]


def test_a_failed_check_wins_over_a_regression_with_exit_1(base_run: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, thresholds='thresholds = ["p50 < 100ms"]')
    proc = cli(
        "run",
        "-c",
        str(suite),
        "--out",
        "slow",
        "-q",
        "--baseline",
        str(base_run),
        cwd=tmp_path,
        latency=SLOW,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = (tmp_path / "slow" / "report.md").read_text()
    assert "❌ FAIL" in report
    assert "❌ **Regressed**" in report


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no such file"),
        ("not json", "not valid JSON"),
        ('{"hello": 1}', "not a readiness results file"),
        ('{"schema_version": 99, "scenarios": []}', "schema version 99 is newer"),
        (
            '{"schema_version": 2, "scenarios": [], "run": {}}',
            "not a readiness results file",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_file(
    base_run: Path, tmp_path: Path, content: str | None, words: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    proc = cli("compare", str(base_run), str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bad.json" in lines[0]
    assert words in lines[0]
    assert not (tmp_path / "comparison.json").exists()


def test_a_folder_without_results_and_a_bad_format_exit_2(base_run: Path, tmp_path: Path) -> None:
    proc = cli("compare", str(tmp_path), str(base_run), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ConfigError: {tmp_path}: no results.json in this folder"
    ]
    proc = cli("compare", str(base_run), str(base_run), "--format", "pdf", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown format 'pdf'" in proc.stderr


def test_run_with_a_missing_baseline_exits_2_before_it_runs(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    proc = cli("run", "-c", str(suite), "--out", "x", "--baseline", "gone.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "ConfigError: gone.json: no such file"
    assert not (tmp_path / "x").exists()


def test_baseline_save_copies_beside_the_suite_and_says_what_it_saved(
    base_run: Path, tmp_path: Path
) -> None:
    proc = cli("baseline", "save", str(base_run), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    beside = base_run.parent / "baseline.json"  # the suite file of that run lives there
    assert proc.stdout.splitlines()[0] == f"saved baseline: {beside}"
    assert "run gate, started " in proc.stdout
    assert "targets: demo" in proc.stdout
    assert "scenarios: steady" in proc.stdout
    assert beside.read_bytes() == (base_run / "results.json").read_bytes()
    proc = cli("baseline", "save", str(base_run), "--as", "kept/main.json", cwd=tmp_path)
    assert proc.returncode == 0
    assert (tmp_path / "kept" / "main.json").read_bytes() == beside.read_bytes()


def test_run_save_baseline_saves_the_run_after_it(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    proc = cli(
        "run", "-c", str(suite), "--out", "r", "-q", "--save-baseline", "b.json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "saved baseline: b.json" in proc.stdout
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "r" / "results.json").read_bytes()


def test_a_result_that_reads_but_does_not_add_up_exits_2_naming_the_files(
    base_run: Path, tmp_path: Path
) -> None:
    data = json.loads((base_run / "results.json").read_text())
    del data["scenarios"][0]["totals"]["throughput_rps"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = cli("compare", str(base_run), str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad.json" in lines[0]
    assert "not a readiness result (KeyError: 'throughput_rps')" in lines[0]
