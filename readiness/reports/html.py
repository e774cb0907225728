"""Render a run (as loaded from results.json) as report.html: one self-contained page.

Same content as report.md, plus charts drawn as inline SVG; inline CSS, no scripts, nothing
fetched. The score (results.json's `score`, when the run was scored) heads the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from readiness.reports import scenario_charts
from readiness.reports.call_graph import call_graph
from readiness.reports.health_chart import health_strip
from readiness.reports.markdown import deduction_line, method_groups, points, score_value
from readiness.reports.templating import template_environment
from readiness.results import RunResult, ScenarioResult

STATUS_WORDS = {
    "ready": "READY",
    "conditional": "CONDITIONALLY READY",
    "not_ready": "NOT READY",
}


def render_html(result: RunResult, score: Mapping[str, Any] | None = None) -> str:
    """The page for `result`; `score` defaults to the result's own top-level `score`."""
    env = template_environment()
    env.globals.update(_charts())
    env.globals["chart_health_strip"] = lambda s: Markup(health_strip(s))  # escapes its text
    env.globals["chart_call_graph"] = lambda s: Markup(call_graph(s))  # escapes its text
    env.globals["score_words"] = STATUS_WORDS
    env.globals["target_sections"] = target_sections
    env.globals["method_groups"] = method_groups
    env.globals["deduction_line"] = deduction_line
    env.filters.update(points_lost=points, score_value=score_value)
    template = env.get_template("report.html.j2")
    return template.render(result=result, score=score if score is not None else score_of(result))


@dataclass(frozen=True)
class NumberedSection:
    """A fleet target's scenarios, each with its number in the run (its section's anchor);
    target None: a single-target run, the scenarios in the run's order with no heading."""

    target: str | None
    number: int
    status: str
    label: str
    score: float | None
    checks: str
    scenarios: list[tuple[int, ScenarioResult]]


def target_sections(result: RunResult) -> list[NumberedSection]:
    numbered = list(enumerate(result["scenarios"], start=1))
    fleet = result.get("fleet")
    if fleet is None:
        return [NumberedSection(None, 0, "", "", None, "", numbered)]
    return [
        NumberedSection(
            row["target"],
            i,
            row["status"],
            row["label"],
            row["score"],
            f"{row['checks_passed']}/{row['checks_total']}",
            [(n, s) for n, s in numbered if s["target"] == row["target"]],
        )
        for i, row in enumerate(fleet["rows"], start=1)
    ]


def score_of(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The run's score, when it was scored; None for an unscored (or older) results.json."""
    score = result.get("score")
    return score if isinstance(score, Mapping) else None


def _charts() -> dict[str, Callable[..., Markup]]:
    # The chart functions escape every text they draw, so their SVG is marked safe as is.
    def safe(draw: Callable[..., str]) -> Callable[..., Markup]:
        return lambda *args: Markup(draw(*args))

    names = (
        "latency_over_time",
        "percentile_spectrum",
        "scaling_curve",
        "memory_over_time",
        "requests_per_second",
        "fault_phases",
        "overload_timeline",
        "overload_phases",
        "score_by_category",
    )
    return {f"chart_{name}": safe(getattr(scenario_charts, name)) for name in names}
