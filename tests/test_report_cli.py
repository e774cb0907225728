"""`readiness report` and the score gates, as a user runs them: a real short suite with a
deliberately failing threshold, rendered again from its results.json."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.clirun import results, run_cli, suite

FAILING_SUITE = """
[run]
name = "gate"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]

[[scenarios]]
name = "quick"
kind = "throughput"
# 500 requests: enough for "success_rate >= 99%" to be proven (its 95% interval above 99%).
load = { model = "closed", concurrency = 2, requests = 500 }
# No request answers within a microsecond: this check fails by design.
thresholds = ["success_rate >= 99%", { check = "p99 < 1us", critical = true }]
"""


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("gate")
    path = suite(where, FAILING_SUITE)
    proc = run_cli("run", "-q", "-c", str(path), "--out", "out", cwd=where)
    assert proc.returncode == 1, proc.stderr
    return where / "out"


def test_a_failing_threshold_costs_points_names_the_check_and_fails_in_junit(
    run_folder: Path,
) -> None:
    score = results(run_folder)["score"]
    assert score["value"] == 50.0
    assert score["status"] == "not_ready"
    assert score["critical_failed"] == ["demo.quick: p99 < 1us"]
    [deduction] = score["deductions"]
    assert deduction["check"] == "p99 < 1us"
    assert deduction["required"] == "< 1 µs"
    assert deduction["observed"].endswith(" ms")
    assert deduction["points"] == 50.0
    assert score["config"]["weights"]["performance"] == 25.0
    report = (run_folder / "report.md").read_text()
    assert "**Score: 50.0/100 — NOT READY**" in report
    assert f"quick: p99 {deduction['observed']} vs < 1 µs (critical): −50.0 points" in report
    why = report[report.index("## Why not 100") : report.index("## Limitations")]
    assert "`p99 < 1us` (critical)" in why
    root = ET.parse(run_folder / "junit.xml").getroot()
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["p99 < 1us"]
    message = failures[0].find("failure").get("message")  # type: ignore[union-attr]
    assert message == f"observed {deduction['observed']}, required < 1 µs"


def test_report_renders_a_stored_run_byte_for_byte_as_run_wrote_it(
    run_folder: Path, tmp_path: Path
) -> None:
    proc = run_cli("report", str(run_folder / "results.json"), "--out", "again", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("report.md", "junit.xml", "report.html", "results.json"):
        assert (tmp_path / "again" / name).read_bytes() == (run_folder / name).read_bytes(), name


def test_report_writes_only_the_formats_asked_for(run_folder: Path, tmp_path: Path) -> None:
    proc = run_cli("report", str(run_folder), "--format", "junit", "--out", "j", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["junit.xml", "results.json"]


def test_report_scores_again_with_another_scoring_table(run_folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "scoring.toml"
    other.write_text(
        '[scoring]\nready = 40\nconditional = 30\ncategories = { quick = "recovery" }\n'
    )
    proc = run_cli("report", str(run_folder), "-c", str(other), "--out", "o", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    score = results(tmp_path / "o")["score"]
    # 50 is above ready now, but a critical check failed.
    assert (score["value"], score["status"]) == (50.0, "conditional")
    assert [c["name"] for c in score["categories"] if c["assessed"]] == ["recovery"]
    assert "CONDITIONALLY READY" in (tmp_path / "o" / "report.md").read_text()
    assert results(run_folder)["score"]["status"] == "not_ready"  # the original is untouched
    proc = run_cli("report", str(run_folder), "-c", str(other), cwd=tmp_path)
    assert proc.returncode == 2
    assert "needs --out" in proc.stderr


@pytest.mark.parametrize(
    ("gate", "said"),
    [
        (["--fail-under", "40"], None),
        (["--fail-under", "60"], "score 50.0 is below --fail-under 60"),
        (["--fail-on", "not_ready"], "status NOT READY is --fail-on not_ready or worse"),
        (["--fail-on", "conditional"], "status NOT READY is --fail-on conditional or worse"),
        (
            ["--fail-under", "50", "--fail-on", "not_ready"],
            "status NOT READY is --fail-on not_ready or worse",
        ),
    ],
)
def test_report_gates_the_exit_code_on_score_and_status(
    run_folder: Path, tmp_path: Path, gate: list[str], said: str | None
) -> None:
    proc = run_cli("report", str(run_folder), "--format", "md", "--out", "g", *gate, cwd=tmp_path)
    assert proc.returncode == (0 if said is None else 1), proc.stderr
    # A failed gate says which one, and why, in a line of its own.
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gate failed: ")]
    assert lines == ([] if said is None else [f"gate failed: {said}"])


def test_run_gated_on_the_score_passes_and_writes_the_job_summary(tmp_path: Path) -> None:
    path = suite(tmp_path, FAILING_SUITE)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    proc = run_cli(
        "run",
        "-q",
        "-c",
        str(path),
        "--out",
        "out",
        "--fail-under",
        "40",
        cwd=tmp_path,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert proc.returncode == 0, proc.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n## Readiness: gate\n")
    assert "**Score: 50.0/100 — NOT READY**" in text
    assert "quick: p99" in text


def test_bad_input_exits_2_with_one_line_naming_the_file(run_folder: Path, tmp_path: Path) -> None:
    newer = json.loads((run_folder / "results.json").read_text())
    newer["schema_version"] = 99
    cases = {
        "missing.json": (None, "no such file"),
        "broken.json": ("{", "not valid JSON"),
        "newer.json": (json.dumps(newer), "schema version 99 is newer"),
        "other.json": ('{"name": "package.json"}', "not a readiness results file"),
    }
    for name, (content, problem) in cases.items():
        if content is not None:
            (tmp_path / name).write_text(content)
        proc = run_cli("report", str(tmp_path / name), cwd=tmp_path)
        assert proc.returncode == 2, (name, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert str(tmp_path / name) in lines[0]
        assert problem in lines[0]


def test_a_folder_without_results_is_bad_input(tmp_path: Path, run_folder: Path) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(run_folder, empty)
    (empty / "results.json").unlink()
    proc = run_cli("report", str(empty), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{empty / 'results.json'}: no such file" in proc.stderr


HOSTILE_SUITE = """
[run]
name = "hostile"

[[targets]]
name = "api/<b>x</b>"
transport = "stdio"
command = "${PYTHON}"
args = ["tests/hostile_names_server.py"]

[[scenarios]]
name = "calls"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 40 }
workload.operations = [{ call = "tools/call", tool = '<img src=x onerror="alert(2)">' }]
thresholds = ["throughput > 1/s"]
"""


def test_hostile_server_target_and_tool_names_reach_every_report_as_text(
    tmp_path: Path,
) -> None:
    from tests.hostile_names_server import SERVER_NAME, SERVER_VERSION, TOOL_NAME

    path = suite(tmp_path, HOSTILE_SUITE)
    repo = Path(__file__).resolve().parents[1]
    proc = run_cli("run", "-q", "-c", str(path), "--out", str(tmp_path / "out"), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    # The target's name is no path: its server still gets a stderr log, inside logs/.
    [log] = (out / "logs").iterdir()
    assert log.name == "api_b_x_b_-calls.stderr.log"
    stored = results(out)
    assert stored["targets"][0]["server_info"]["name"] == SERVER_NAME
    html = (out / "report.html").read_text()
    for hostile in (SERVER_NAME, SERVER_VERSION, TOOL_NAME, "<b>x</b>"):
        assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "<script" not in html
    markdown = (out / "report.md").read_text()
    assert "<script>" not in markdown
    assert "<img" not in markdown
    root = ET.parse(out / "junit.xml").getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["calls"]
    assert {c.get("classname") for c in root.iter("testcase")} == {"api/<b>x</b>.calls"}
