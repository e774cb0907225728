"""`[gate] on_inconclusive` as a user meets it: a check whose interval straddles its limit, and
the exit code, report and junit.xml under each mode. 40 requests cannot bound a p99 from above,
so "p99 < 10s" is inconclusive however fast the server is; "p50 < 10s" passes outright."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.clirun import run_cli, suite

SUITE = """
[run]
name = "unproven"

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

[[scenarios]]
name = "short"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 40 }
thresholds = ["p99 < 10s", "p50 < 10s"]
%s
"""


def _run(tmp_path: Path, gate: str) -> tuple[int, dict[str, object], Path]:
    suite(tmp_path, SUITE % gate)
    out = tmp_path / "run"
    proc = run_cli("run", "-c", "suite.toml", "--out", str(out), "-q", cwd=tmp_path)
    (out / "stdout.txt").write_text(proc.stdout)
    return proc.returncode, json.loads((out / "results.json").read_text()), out


@pytest.mark.parametrize(
    ("gate", "code", "status"),
    [
        ("", 0, "passed"),  # warn, the default
        ('[gate]\non_inconclusive = "pass"', 0, "passed"),
        ('[gate]\non_inconclusive = "fail"', 1, "failed"),
    ],
)
def test_an_inconclusive_check_exits_by_the_gate_mode(
    tmp_path: Path, gate: str, code: int, status: str
) -> None:
    exit_code, result, out = _run(tmp_path, gate)
    scenario = result["scenarios"][0]  # type: ignore[index]
    p99, p50 = scenario["checks"]
    assert p99["verdict"] == "inconclusive"
    assert p99["passed"] is False
    assert p99["interval"][1] is None  # not bounded above by 40 requests
    assert "requests would decide it" in p99["reason"]
    assert p50["verdict"] == "pass"
    assert p50["passed"] is True
    assert scenario["status"] == status
    assert exit_code == code
    assert "INCONCLUSIVE (not proven)" in (out / "report.md").read_text()
    assert "checks 1/2 (1 not proven)" in (out / "stdout.txt").read_text()
    case = ET.parse(out / "junit.xml").getroot().find(".//testcase[@name='p99 < 10s']")
    assert case is not None
    if status == "passed":
        skipped = case.find("skipped")
        assert skipped is not None
        assert skipped.get("message", "").startswith("inconclusive")
    else:
        assert case.find("failure") is not None


def test_the_score_gives_an_inconclusive_check_partial_credit(tmp_path: Path) -> None:
    _, result, _ = _run(tmp_path, "")
    scored = [
        c
        for category in result["score"]["categories"]  # type: ignore[index]
        for c in category["checks"]
        if c["check"] == "p99 < 10s"
    ]
    assert len(scored) == 1
    assert 0 < scored[0]["credit"] < 1
    assert scored[0]["reason"].startswith("inconclusive")


def test_the_report_says_why_a_check_is_not_proven_and_how_long_to_run(tmp_path: Path) -> None:
    _, _, out = _run(tmp_path, "")
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert "Not proven" in text
        assert "requests would decide it" in text
