"""Render a run (as loaded from results.json) as report.md, in the shape of a readiness audit.

Plain data in, text out: no transport, no engine, no numbers beyond those in results.json.
"""

from __future__ import annotations

import re

from jinja2 import Environment

from readiness.reports import format as fmt
from readiness.reports.templating import template_environment
from readiness.results import RunResult

_BACKTICKS = re.compile(r"`+")


def render_markdown(result: RunResult) -> str:
    template = _environment().get_template("report.md.j2")
    return template.render(result=result)


def _environment() -> Environment:
    env = template_environment()
    env.filters.update(text=md_text, code=md_code)
    return env


def md_text(value: object) -> str:
    """Free text made safe for a Markdown table cell: one line, no cell breaks, no raw HTML."""
    if value is None:
        return fmt.DASH
    text = " ".join(str(value).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


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
