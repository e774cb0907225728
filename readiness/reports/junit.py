"""Render a run as junit.xml for CI dashboards: a <testsuite> per scenario, a <testcase> per
check, named by its expression; a fleet (several targets) has a <testsuite> per target
instead, its test cases classed by "target.scenario"."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from readiness.config.scoring import CATEGORY_LABELS
from readiness.results import FleetRow, RunResult, ScenarioResult, ScoredCheck
from readiness.scoring import score_of

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PLACEHOLDER = "scenario completed"


def render_junit(result: RunResult) -> str:
    score = score_of(result)
    scored = {
        (c["target"], c["scenario"], c["check"]): c
        for category in score["categories"]
        for c in category["checks"]
    }
    several = len(result["targets"]) > 1
    suites = [_suite(s, scored, several) for s in result["scenarios"]]
    fleet = result.get("fleet")
    if several and fleet is not None:
        suites = [_target_suite(row, result["scenarios"], suites) for row in fleet["rows"]]
    root = ET.Element(
        "testsuites",
        _attributes(
            name=f"readiness: {result['run']['name']}",
            tests=sum(int(s.get("tests", "0")) for s in suites),
            failures=sum(int(s.get("failures", "0")) for s in suites),
            errors=sum(int(s.get("errors", "0")) for s in suites),
            skipped=sum(int(s.get("skipped", "0")) for s in suites),
            time=sum(s_["duration_s"] for s_ in result["scenarios"]),
        ),
    )
    root.extend(suites)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _suite(
    scenario: ScenarioResult,
    scored: dict[tuple[str, str, str], ScoredCheck],
    several_targets: bool,
) -> ET.Element:
    classname = f"{scenario['target']}.{scenario['name']}"
    errored = scenario["status"] == "error"
    cases: list[ET.Element] = []
    failures = errors = 0
    checks = [(c["expression"], c["passed"]) for c in scenario["checks"]]
    if errored and not checks:
        checks = [(_PLACEHOLDER, False)]
    # A check its interval cannot decide is skipped — not proven, not failed — unless
    # [gate] on_inconclusive = "fail" failed its scenario for it (no other check failed).
    unproven = {
        c["expression"]: c.get("reason", "inconclusive")
        for c in scenario["checks"]
        if c.get("verdict") == "inconclusive" and c["observed"] is not None
    }
    failed_otherwise = any(
        not c["passed"] and c["expression"] not in unproven for c in scenario["checks"]
    )
    skip_unproven = scenario["status"] != "failed" or failed_otherwise
    skipped = 0
    for expression, passed in checks:
        case = ET.Element("testcase", _attributes(classname=classname, name=expression, time=0.0))
        found = scored.get((scenario["target"], scenario["name"], expression))
        if errored:
            errors += 1
            message = (scenario["error"] or "the scenario ended in error").strip()
            first = message.splitlines()[0] if message else "the scenario ended in error"
            error = ET.SubElement(
                case,
                "error",
                _attributes(message=f"scenario ended in error: {first}", type="error"),
            )
            error.text = _clean(message)
        elif expression in unproven and skip_unproven:
            skipped += 1
            ET.SubElement(
                case, "skipped", _attributes(message=f"inconclusive: {unproven[expression]}")
            )
        elif not passed:
            failures += 1
            if found is not None:
                message = f"observed {found['observed']}, required {found['required']}"
            else:  # scored under another name: say what is known
                message = f"failed: {expression}"
            failure = ET.SubElement(case, "failure", _attributes(message=message, type="threshold"))
            failure.text = _clean(_failure_text(found) if found is not None else message)
        cases.append(case)
    suite = ET.Element(
        "testsuite",
        _attributes(
            name=classname if several_targets else scenario["name"],
            tests=len(cases),
            failures=failures,
            errors=errors,
            skipped=skipped,
            time=scenario["duration_s"],
            timestamp=scenario["started_at"],
        ),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("kind", scenario["kind"]),
        ("target", scenario["target"]),
        ("status", scenario["status"]),
        ("partial", "true" if scenario["partial"] else "false"),
    ):
        ET.SubElement(properties, "property", _attributes(name=name, value=value))
    suite.extend(cases)
    return suite


def _target_suite(
    row: FleetRow, scenarios: list[ScenarioResult], suites: list[ET.Element]
) -> ET.Element:
    """One fleet target's scenario suites merged into one suite: their counts summed, their
    test cases kept in the run's order."""
    mine = [
        (s, suite)
        for s, suite in zip(scenarios, suites, strict=True)
        if s["target"] == row["target"]
    ]
    started = min((s["started_at"] for s, _ in mine), default="")
    suite = ET.Element(
        "testsuite",
        _attributes(
            name=row["target"],
            tests=sum(int(x.get("tests", "0")) for _, x in mine),
            failures=sum(int(x.get("failures", "0")) for _, x in mine),
            errors=sum(int(x.get("errors", "0")) for _, x in mine),
            skipped=sum(int(x.get("skipped", "0")) for _, x in mine),
            time=sum(s["duration_s"] for s, _ in mine),
            timestamp=started,
        ),
    )
    properties = ET.SubElement(suite, "properties")
    score = "" if row["score"] is None else f"{row['score']:.1f}"
    for name, value in (
        ("target", row["target"]),
        ("status", row["status"]),
        ("score", score),
        ("scenarios", ",".join(s["name"] for s, _ in mine)),
    ):
        ET.SubElement(properties, "property", _attributes(name=name, value=value))
    for _, scenario_suite in mine:
        suite.extend(scenario_suite.findall("testcase"))
    return suite


def _failure_text(check: ScoredCheck) -> str:
    critical = " It is a critical check." if check["critical"] else ""
    return (
        f"{check['check']}: observed {check['observed']}, required {check['required']}"
        f" ({check['reason']}). It cost {check['points']:.2f} points of the readiness score"
        f" ({CATEGORY_LABELS.get(check['category'], check['category'])}).{critical}"
    )


def _attributes(**values: str | int | float) -> dict[str, str]:
    shown: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, float):
            shown[key] = f"{value:.3f}"
        else:
            shown[key] = _clean(str(value))
    return shown


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
