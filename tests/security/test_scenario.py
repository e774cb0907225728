"""The security scenario end to end against real servers: the demo (stdio and HTTP) comes out
with no critical or high finding; each problem planted in tests/vulnerable_server.py is found
with its severity; the same server with nothing planted yields no finding at all; SARIF is
valid against the SARIF 2.1.0 schema."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from readiness.reports.writer import write_reports
from readiness.results import ScenarioResult, load_results
from tests.servers import demo_http_server, free_port
from tests.suites import run_all

ROOT = Path(__file__).resolve().parents[2]
VULNERABLE = ROOT / "tests" / "vulnerable_server.py"
VULNERABLE_HTTP = ROOT / "tests" / "vulnerable_http_server.py"
SCHEMA = Path(__file__).with_name("sarif-schema-2.1.0.json")
pytestmark = pytest.mark.anyio


def stdio_suite(args: list[str], **scenario: Any) -> str:
    quoted = ", ".join(json.dumps(a) for a in args)
    settings = {
        "probe_rate": '"500/s"',
        "probe_timeout": '"2s"',
        "huge_strings": '["1MiB"]',
        **scenario,
    }
    lines = "\n".join(f"{k} = {v}" for k, v in settings.items())
    return (
        textwrap.dedent(
            f"""
        [[targets]]
        name = "server"
        transport = "stdio"
        command = {json.dumps(sys.executable)}
        args = [{quoted}]
        cwd = {json.dumps(str(ROOT))}

        [[scenarios]]
        name = "security"
        kind = "security"
        """
        )
        + lines
    )


async def run_security_suite(tmp_path: Path, text: str) -> ScenarioResult:
    state = await run_all(tmp_path, text)
    [scenario] = state.result["scenarios"]
    assert scenario["status"] != "error", scenario["error"]
    write_reports(state.result, tmp_path)
    return scenario


def findings(scenario: ScenarioResult) -> list[tuple[str, str, str]]:
    return [(f["rule"], f["severity"], f["tool"]) for f in scenario["security"]["findings"]]


def sarif_errors(path: Path) -> list[str]:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    return [error.message for error in validator.iter_errors(json.loads(path.read_text()))]


async def test_the_demo_server_has_no_critical_or_high_finding(tmp_path: Path) -> None:
    # 16 MiB strings take the SDK seconds to parse on a busy machine: a generous probe_timeout,
    # so only a real hang or crash is found (it costs nothing while the demo keeps up).
    scenario = await run_security_suite(
        tmp_path,
        stdio_suite(
            ["-m", "readiness.demo"], huge_strings='["1MiB", "16MiB"]', probe_timeout='"10s"'
        ),
    )
    security = scenario["security"]
    assert security["counts"]["critical"] == 0, security["findings"]
    assert security["counts"]["high"] == 0, security["findings"]
    assert not security["crashed"]
    assert security["probes_sent"] == security["probes_planned"] > 100
    assert set(security["by_class"]) == {"schema", "injection", "protocol"}
    assert {"echo", "read_note"} <= set(security["matrix"])
    assert scenario["status"] == "passed"
    assert sarif_errors(tmp_path / "security.sarif") == []


async def test_the_demo_over_http_refuses_foreign_hosts_and_origins_but_not_a_missing_token(
    tmp_path: Path,
) -> None:
    # The demo has no authentication: with a token configured, readiness must notice that
    # it is not enforced (high); Host and Origin are checked by the SDK (no finding).
    with demo_http_server() as server:
        text = textwrap.dedent(
            f"""
            [[targets]]
            name = "server"
            transport = "http"
            url = "{server.url}"
            headers = {{ Authorization = "Bearer rdy-test-token" }}

            [[scenarios]]
            name = "security"
            kind = "security"
            probe_rate = "500/s"
            huge_strings = ["1MiB"]
            """
        )
        scenario = await run_security_suite(tmp_path, text)
    security = scenario["security"]
    assert findings(scenario) == [("RDY-AUTH", "high", "(http)")]
    http = security["matrix"]["(http)"]
    assert http["foreign-host"]["findings"] == 0
    assert http["foreign-origin"]["findings"] == 0
    assert http["no-authorization"]["worst"] == "high"
    assert scenario["status"] == "failed"
    assert "rdy-test-token" not in (tmp_path / "results.json").read_text()
    assert sarif_errors(tmp_path / "security.sarif") == []


async def test_a_server_without_dns_rebinding_protection_is_found_serving_any_host(
    tmp_path: Path,
) -> None:
    port = free_port()
    text = textwrap.dedent(
        f"""
        [[targets]]
        name = "server"
        transport = "http"
        url = "http://127.0.0.1:{port}/mcp"
        command = {json.dumps(sys.executable)}
        args = [{json.dumps(str(VULNERABLE_HTTP))}, "--port", "{port}"]

        [[scenarios]]
        name = "security"
        kind = "security"
        probe_rate = "500/s"
        huge_strings = ["1MiB"]
        """
    )
    scenario = await run_security_suite(tmp_path, text)
    assert sorted(findings(scenario)) == [
        ("RDY-HOST", "high", "(http)"),
        ("RDY-ORIGIN", "high", "(http)"),
    ]
    evidence = {f["rule"]: f["probe"] for f in scenario["security"]["findings"]}
    assert "Host" in evidence["RDY-HOST"]
    assert "Origin" in evidence["RDY-ORIGIN"]


async def test_the_clean_vulnerable_server_yields_no_finding(tmp_path: Path) -> None:
    scenario = await run_security_suite(tmp_path, stdio_suite([str(VULNERABLE)]))
    security = scenario["security"]
    assert security["findings"] == []
    assert security["probes_sent"] == security["probes_planned"]
    # the tool annotated destructiveHint = true is listed but never called
    assert "wipe" in security["tools"]
    assert "wipe" in security["skipped"]
    assert "wipe" not in security["matrix"]
    assert scenario["status"] == "passed"
    sarif = json.loads((tmp_path / "security.sarif").read_text())
    assert sarif["runs"][0]["results"] == []
    assert sarif_errors(tmp_path / "security.sarif") == []
    # `readiness report --format` writes SARIF only when asked, and then the same bytes
    stored = load_results(tmp_path / "results.json")
    (tmp_path / "md").mkdir()
    assert write_reports(stored, tmp_path / "md", ("md",)) == [tmp_path / "md" / "report.md"]
    (tmp_path / "sarif").mkdir()
    [again] = write_reports(stored, tmp_path / "sarif", ("sarif",))
    assert again.read_bytes() == (tmp_path / "security.sarif").read_bytes()


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        ("traversal", ("RDY-TRAVERSAL", "critical", "read_file")),
        ("canary", ("RDY-CANARY", "critical", "run")),
        ("stacktrace", ("RDY-STACK", "medium", "lookup")),
        ("crash", ("RDY-CRASH", "critical", "store")),
        ("hang", ("RDY-HANG", "high", "wait")),
    ],
)
async def test_each_planted_problem_is_found_with_its_severity(
    tmp_path: Path, plant: str, expected: tuple[str, str, str]
) -> None:
    scenario = await run_security_suite(tmp_path, stdio_suite([str(VULNERABLE), "--plant", plant]))
    security = scenario["security"]
    found = findings(scenario)
    assert expected in found
    # nothing but the plant (a leaked trace also leaks the file path it names)
    assert {rule for rule, _, _ in found} <= {expected[0], "RDY-PATH"}
    assert {tool for _, _, tool in found} == {expected[2]}
    assert scenario["status"] == "failed" or expected[1] == "medium"
    if plant == "crash":
        assert security["crashed"] is True
        assert scenario["partial"] is True
        assert security["probes_sent"] < security["probes_planned"]
        assert "stopped answering" in security["stopped"]
    if plant == "hang":
        assert security["hangs"] >= 1
    sarif = json.loads((tmp_path / "security.sarif").read_text())
    assert expected[0] in [r["ruleId"] for r in sarif["runs"][0]["results"]]
    assert sarif_errors(tmp_path / "security.sarif") == []
    report = (tmp_path / "report.md").read_text()
    assert "### Security probes" in report
    assert expected[0].split("-", 1)[0] in report


async def test_what_a_server_sent_back_is_escaped_in_the_html_report(tmp_path: Path) -> None:
    from readiness.reports.html import render_html
    from readiness.results import load_results

    await run_security_suite(tmp_path, stdio_suite([str(VULNERABLE), "--plant", "canary"]))
    result = load_results(tmp_path / "results.json")
    [finding] = result["scenarios"][0]["security"]["findings"]
    finding["evidence"] = "<script>alert(1)</script>"
    finding["tool"] = "<b>tool</b>"
    html = render_html(result)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html
    assert "<b>tool</b>" not in html


async def test_a_crash_of_the_raw_protocol_session_is_found_and_the_target_still_probed(
    tmp_path: Path,
) -> None:
    scenario = await run_security_suite(
        tmp_path, stdio_suite([str(VULNERABLE), "--plant", "batch"])
    )
    security = scenario["security"]
    assert findings(scenario) == [("RDY-CRASH", "critical", "(protocol)")]
    assert security["crashed"] is True
    assert security["matrix"]["(protocol)"]["batch-array"]["worst"] == "critical"
    # the raw session had a server process of its own: the target's own went on being probed
    assert security["by_class"]["schema"] > 0
    assert security["probes_sent"] < security["probes_planned"]  # protocol probes after it
    assert scenario["status"] == "failed"
    assert [c["observed"] for c in scenario["checks"] if c["metric"] == "crashed"] == [1.0]


async def test_a_server_slow_to_recover_from_a_protocol_probe_hung_and_did_not_crash(
    tmp_path: Path,
) -> None:
    # The oversize frame stops it for 1.5 s: past the probe_timeout, well within the grace
    # a server still running gets (RECOVERY_FACTOR probe_timeouts more).
    scenario = await run_security_suite(
        tmp_path, stdio_suite([str(VULNERABLE), "--plant", "stall"], probe_timeout='"1s"')
    )
    security = scenario["security"]
    assert findings(scenario) == [("RDY-HANG", "high", "(protocol)")]
    assert security["crashed"] is False
    assert security["hangs"] == 1
    assert security["probes_sent"] == security["probes_planned"]


async def test_probes_stop_at_the_cap(tmp_path: Path) -> None:
    scenario = await run_security_suite(tmp_path, stdio_suite([str(VULNERABLE)], max_probes="30"))
    security = scenario["security"]
    assert security["probes_sent"] == 30
    assert security["probes_planned"] > 30
    assert "cap of 30" in security["stopped"]


async def test_allow_destructive_probes_a_destructive_tool(tmp_path: Path) -> None:
    scenario = await run_security_suite(
        tmp_path,
        stdio_suite([str(VULNERABLE)], allow_destructive="true", probe_classes='["schema"]'),
    )
    security = scenario["security"]
    assert security["skipped"] == {}
    assert security["matrix"]["wipe"]["schema"]["probes"] > 0
    assert set(security["by_class"]) == {"schema"}
