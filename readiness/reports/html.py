"""Render a run (as loaded from results.json) as report.html: one self-contained page.

Same content as report.md; inline CSS and SVG, no scripts, no external assets.
"""

from __future__ import annotations

from readiness.reports.templating import template_environment
from readiness.results import RunResult


def render_html(result: RunResult) -> str:
    template = template_environment().get_template("report.html.j2")
    return template.render(result=result)
