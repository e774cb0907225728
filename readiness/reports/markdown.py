"""Render a run (as loaded from results.json) as report.md, in the shape of a readiness audit.

Plain data in, text out: no transport, no engine, no numbers beyond those in results.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment

from readiness.config.scoring import CATEGORIES, CATEGORY_LABELS, Category, ScoringConfig
from readiness.reports import format as fmt
from readiness.reports.templating import template_environment
from readiness.results import Method, RunResult, ScenarioResult, ScoredCheck
from readiness.scoring import STATUS_LABELS, config_of, score_of

_BACKTICKS = re.compile(r"`+")
_TAG_START = re.compile(r"<(?=[^\s=\d])")


def render_markdown(result: RunResult) -> str:
    """report.md. A result without a score (schema 1) is scored with the default [scoring]."""
    template = _environment().get_template("report.md.j2")
    return template.render(**_context(result))


def render_summary(result: RunResult) -> str:
    """The executive summary alone, for a CI job summary (GITHUB_STEP_SUMMARY)."""
    context = _context(result)
    heading = f"## Readiness: {md_text(result['run']['name'])}\n\n"
    env = _environment()
    summary = heading + env.get_template("_summary.md.j2").render(**context)
    if result.get("fleet") is None:
        return summary
    return summary + "\n" + env.get_template("_fleet.md.j2").render(**context, fleet_heading="###")


@dataclass(frozen=True)
class ScenarioGroup:
    label: str
    scenarios: list[ScenarioResult]


_SCORE_ICONS = {"ready": "✅", "conditional": "⚠️", "not_ready": "❌"}


@dataclass(frozen=True)
class TargetSection:
    """A fleet target's part of the report (target None: a single-target run, no heading)."""

    target: str | None
    status_line: str
    groups: list[ScenarioGroup]


def _context(result: RunResult) -> dict[str, Any]:
    score = score_of(result)
    groups = scenario_groups(result)
    fleet = result.get("fleet")
    return {
        "result": result,
        "score": score,
        "groups": groups,
        "sections": target_sections(result, groups),
        "several_targets": len(result["targets"]) > 1,
        "labels": CATEGORY_LABELS,
        "fleet_label": STATUS_LABELS[fleet["status"]] if fleet is not None else "",
        "score_icons": _SCORE_ICONS,
    }


def target_sections(result: RunResult, groups: list[ScenarioGroup]) -> list[TargetSection]:
    """The scenario groups split by target, in the fleet's order, when the run is a fleet."""
    fleet = result.get("fleet")
    if fleet is None:
        return [TargetSection(None, "", groups)]
    sections = []
    for row in fleet["rows"]:
        mine = [
            ScenarioGroup(g.label, [s for s in g.scenarios if s["target"] == row["target"]])
            for g in groups
        ]
        icon = _SCORE_ICONS.get(row["status"], "")
        line = (
            f"{icon} {row['label']} · score {score_value(row['score'])} · checks passed"
            f" {row['checks_passed']}/{row['checks_total']} · {row['scenarios_total']} scenario(s)"
        )
        sections.append(TargetSection(row["target"], line, [g for g in mine if g.scenarios]))
    return sections


def scenario_groups(result: RunResult) -> list[ScenarioGroup]:
    """The scenarios by the category they count in (their kind's, or [scoring]'s), in the
    categories' order, keeping the run's order within a category."""
    stored = result.get("score")
    config = config_of(stored["config"]) if stored is not None else ScoringConfig()
    placed: dict[Category, list[ScenarioResult]] = {c: [] for c in CATEGORIES}
    for scenario in result["scenarios"]:
        category = config.category_of(scenario["name"], "", scenario["kind"])
        placed[category].append(scenario)
    return [ScenarioGroup(CATEGORY_LABELS[c], found) for c, found in placed.items() if found]


def deduction_line(deduction: ScoredCheck, several_targets: bool = False) -> str:
    """One deduction in a line: "throughput: p99 412 ms vs < 300 ms: −6.2 points"."""
    where = deduction["scenario"]
    if several_targets:
        where = f"{deduction['target']}.{where}"
    if deduction["reason"] == "scenario ended in error":
        what = f"{deduction['check']} not judged, the scenario ended in error"
    elif deduction["reason"].startswith("inconclusive"):
        interval = f" ({deduction.get('interval')})" if deduction.get("interval") else ""
        what = f"{deduction['metric']} {deduction['observed']}{interval} does not prove"
        what += f" {deduction['required']}"
    else:
        what = f"{deduction['metric']} {deduction['observed']} vs {deduction['required']}"
    critical = " (critical)" if deduction["critical"] else ""
    return f"{where}: {what}{critical}: {points(deduction['points'])} points"


def method_groups(scenarios: list[ScenarioResult]) -> list[tuple[list[str], Method]]:
    """The scenarios that share a method (model, correction, note) together, in the run's
    order: a method is explained once, naming its scenarios, not once per scenario."""
    groups: dict[tuple[str, bool, str], tuple[list[str], Method]] = {}
    for s in scenarios:
        method = s["method"]
        key = (method["model"], method["corrected"], method["note"])
        groups.setdefault(key, ([], method))[0].append(s["name"])
    return list(groups.values())


def points(value: float) -> str:
    """Points lost, with a minus sign; two decimals below 0.1 so none reads as −0.0."""
    if value <= 0:
        return "0"
    return f"−{value:.2f}" if value < 0.1 else f"−{value:.1f}"


def score_value(value: float | None) -> str:
    return fmt.DASH if value is None else f"{value:.1f}"


def _environment() -> Environment:
    env = template_environment()
    env.filters.update(text=md_text, code=md_code, points=points, score_value=score_value)
    env.globals.update(deduction_line=deduction_line, method_groups=method_groups)
    return env


def md_text(value: object) -> str:
    """Free text made safe for a Markdown table cell: one line, no cell breaks, no raw HTML."""
    if value is None:
        return fmt.DASH
    text = " ".join(str(value).split())
    # Only a "<" that could open a tag, comment or autolink is escaped: "p99 < 300 ms" stays.
    return _TAG_START.sub("&lt;", text.replace("|", "\\|"))


def md_code(value: object, table: bool = False) -> str:
    """An inline code span that survives backticks in the text (and pipes inside a table)."""
    if value is None:
        return fmt.DASH
    text = " ".join(str(value).split())
    if not text:
        return fmt.DASH
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    span = f"{fence}{padded}{fence}"
    return span.replace("|", "\\|") if table else span
