"""Render a run's security findings as SARIF 2.1.0 (security.sarif), for code-scanning
dashboards: one SARIF run, a rule per readiness rule that fired, a result per finding."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from readiness.results import RunResult, ScenarioResult, SecurityFinding

SARIF_FILE = "security.sarif"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/readiness/readiness"
# SARIF levels, and the CVSS-like score code-scanning dashboards sort by.
_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SCORES = {"critical": "9.5", "high": "7.5", "medium": "5.0", "low": "2.0"}


def has_security(result: RunResult) -> bool:
    return any("security" in s for s in result["scenarios"])


def render_sarif(result: RunResult) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for scenario in result["scenarios"]:
        security = scenario.get("security")
        if security is None:
            continue
        for finding in security["findings"]:
            if finding["rule"] not in rules:
                rules[finding["rule"]] = _rule(finding)
            results.append(_result(result, scenario, finding, list(rules).index(finding["rule"])))
    run_info = result["run"]
    invocation: dict[str, Any] = {
        "executionSuccessful": run_info["status"] not in ("error", "interrupted"),
        "startTimeUtc": run_info["started_at"],
    }
    if run_info["finished_at"]:
        invocation["endTimeUtc"] = run_info["finished_at"]
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "readiness",
                        "version": run_info["tool_version"],
                        "informationUri": INFORMATION_URI,
                        "rules": list(rules.values()),
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": {
                    "run": run_info["name"],
                    "probes": sum(
                        s["security"]["probes_sent"] for s in result["scenarios"] if "security" in s
                    ),
                },
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rule(finding: SecurityFinding) -> dict[str, Any]:
    # The rule's description travels in each finding: reports read results.json alone.
    description = finding["message"]
    return {
        "id": finding["rule"],
        "name": finding["rule_name"],
        "shortDescription": {"text": finding["rule_name"].replace("-", " ")},
        "fullDescription": {"text": description},
        "defaultConfiguration": {"level": _LEVELS.get(finding["severity"], "warning")},
        "properties": {
            "tags": ["security", finding["category"]],
            "security-severity": _SCORES.get(finding["severity"], "5.0"),
            "precision": "high",
        },
    }


def _result(
    run: RunResult, scenario: ScenarioResult, finding: SecurityFinding, rule_index: int
) -> dict[str, Any]:
    where = f"{scenario['target']}/{finding['tool']}"
    repeats = f" ({finding['count']} probes)" if finding["count"] > 1 else ""
    text = (
        f"{finding['message']} Target {scenario['target']}, {finding['tool']}{repeats}."
        f" Probe: {finding['probe']} Evidence: {finding['evidence']}"
    )
    fingerprint = hashlib.sha256(
        f"{scenario['target']}\0{finding['rule']}\0{finding['tool']}".encode()
    ).hexdigest()
    location: dict[str, Any] = {
        "logicalLocations": [
            {"name": finding["tool"], "fullyQualifiedName": where, "kind": "function"}
        ],
    }
    config = run["run"]["config"]
    if config and not config.startswith("<"):  # not the built-in suite
        # The suite file that names the target: what a dashboard can point at.
        location["physicalLocation"] = {
            "artifactLocation": {"uri": quote(config.replace("\\", "/"))},
            "region": {"startLine": 1},
        }
    return {
        "ruleId": finding["rule"],
        "ruleIndex": rule_index,
        "level": _LEVELS.get(finding["severity"], "warning"),
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"readinessFinding/v1": fingerprint},
        "properties": {
            "id": finding["id"],
            "severity": finding["severity"],
            "category": finding["category"],
            "scenario": scenario["name"],
            "target": scenario["target"],
            "tool": finding["tool"],
            "probeClass": finding["probe_class"],
            "probe": finding["probe"],
            "evidence": finding["evidence"],
            "count": finding["count"],
        },
    }
