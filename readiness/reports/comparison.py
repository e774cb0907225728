"""Render a comparison (comparison.json's content) as comparison.md, .html and .json.

The same partials make the "Compared with baseline" section of a run's report.
"""

from __future__ import annotations

from jinja2 import Environment

from readiness.compare.model import Comparison
from readiness.reports.markdown import md_code, md_text
from readiness.reports.templating import template_environment


def _environment() -> Environment:
    env = template_environment()
    env.filters.update(text=md_text, code=md_code)
    return env


def render_comparison_markdown(comparison: Comparison) -> str:
    return _environment().get_template("comparison.md.j2").render(comparison=comparison)


def render_comparison_html(comparison: Comparison) -> str:
    return template_environment().get_template("comparison.html.j2").render(comparison=comparison)


def comparison_json(comparison: Comparison) -> bytes:
    import orjson

    return orjson.dumps(comparison, option=orjson.OPT_INDENT_2) + b"\n"
