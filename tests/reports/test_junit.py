from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from readiness.config.scoring import ScoringConfig
from readiness.reports.junit import render_junit
from readiness.results import RunResult
from readiness.scoring import attach_scores
from tests.reports import load_sample


def parse(result: RunResult) -> ET.Element:
    text = render_junit(result)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode())


def assert_counts_consistent(root: ET.Element) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(
            1 for c in cases if c.find("failure") is not None
        )
        assert int(suite.get("errors", "-1")) == sum(
            1 for c in cases if c.find("error") is not None
        )
        assert int(suite.get("skipped", "-1")) == sum(
            1 for c in cases if c.find("skipped") is not None
        )
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        assert int(root.get(key, "-1")) == value


def test_a_testsuite_per_scenario_and_a_testcase_per_check() -> None:
    root = parse(load_sample())
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == ["throughput", "scaling"]
    throughput = root.findall("testsuite")[0]
    cases = throughput.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "success_rate >= 99%",
        "p99 < 500ms",
        "throughput > 100/s",
    ]
    assert {c.get("classname") for c in cases} == {"demo.throughput"}
    assert_counts_consistent(root)
    assert root.get("tests") == "4"
    assert root.get("failures") == "1"


def test_a_failed_check_is_a_failure_with_observed_and_required() -> None:
    root = parse(load_sample())
    [failed] = [c for c in root.iter("testcase") if c.find("failure") is not None]
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message") == "observed 98.90%, required >= 99%"
    assert failure.text is not None
    assert "points of the readiness score" in failure.text


def test_a_scenario_that_ended_in_error_is_an_error_per_check() -> None:
    result = load_sample()
    scenario = result["scenarios"][1]
    scenario["status"] = "error"
    scenario["error"] = "target 'demo': the server exited\n--- stderr ---\nTraceback"
    root = parse(result)
    suite = root.findall("testsuite")[1]
    [case] = suite.findall("testcase")
    error = case.find("error")
    assert error is not None
    assert error.get("message") == "scenario ended in error: target 'demo': the server exited"
    assert error.text is not None
    assert "Traceback" in error.text
    assert suite.get("errors") == "1"
    assert_counts_consistent(root)
    scenario["checks"] = []
    root = parse(result)
    [case] = root.findall("testsuite")[1].findall("testcase")
    assert case.get("name") == "scenario completed"
    assert case.find("error") is not None


def test_a_fleet_gets_a_testsuite_per_target_its_cases_classed_by_scenario() -> None:
    result = load_sample()
    other = copy.deepcopy(result["targets"][0])
    other["name"] = "other"
    result["targets"].append(other)
    copied = copy.deepcopy(result["scenarios"][0])
    copied["target"] = "other"
    result["scenarios"].append(copied)
    attach_scores(result, ScoringConfig())
    root = parse(result)
    demo, other_suite = root.findall("testsuite")
    assert (demo.get("name"), other_suite.get("name")) == ("demo", "other")
    assert [c.get("classname") for c in demo.iter("testcase")] == [
        *(["demo.throughput"] * 3),
        "demo.scaling",
    ]
    assert {c.get("classname") for c in other_suite.iter("testcase")} == {"other.throughput"}
    properties = {p.get("name"): p.get("value") for p in other_suite.iter("property")}
    assert properties["target"] == "other"
    assert properties["status"] == result["fleet"]["rows"][1]["status"]
    assert_counts_consistent(root)


def test_a_fleet_suite_counts_the_checks_its_scenarios_skipped_as_not_proven() -> None:
    result = load_sample()
    other = copy.deepcopy(result["targets"][0])
    other["name"] = "other"
    result["targets"].append(other)
    copied = copy.deepcopy(result["scenarios"][0])
    copied["target"] = "other"
    copied["status"] = "passed"
    unproven = copied["checks"][0]
    unproven["passed"] = False
    unproven["verdict"] = "inconclusive"
    unproven["reason"] = "its 95% interval straddles the limit"
    for check in copied["checks"][1:]:
        check["passed"] = True
    result["scenarios"].append(copied)
    attach_scores(result, ScoringConfig())
    root = parse(result)
    other_suite = root.findall("testsuite")[1]
    assert other_suite.get("skipped") == "1"
    assert root.get("skipped") == "1"
    assert_counts_consistent(root)


def test_names_and_messages_are_escaped_and_control_characters_replaced() -> None:
    result = load_sample()
    result["run"]["name"] = 'a "quoted" <run> & more'
    scenario = result["scenarios"][1]
    scenario["name"] = "<script>alert(1)</script>"
    scenario["status"] = "error"
    scenario["error"] = "bad \x00 byte & <tag>"
    text = render_junit(result)
    assert "<script>" not in text
    root = ET.fromstring(text.encode())
    assert root.get("name") == 'readiness: a "quoted" <run> & more'
    suite = root.findall("testsuite")[1]
    assert suite.get("name") == "<script>alert(1)</script>"
    error = suite.find("testcase/error")
    assert error is not None
    assert error.text == "bad \ufffd byte & <tag>"
