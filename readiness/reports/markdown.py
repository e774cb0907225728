"""Render a run (as loaded from results.json) as report.md, in the shape of a readiness audit.

Plain data in, text out: no transport, no engine, no numbers beyond those in results.json.
"""

from __future__ import annotations

import re

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from readiness.reports import format as fmt
from readiness.results import RunResult

_BACKTICKS = re.compile(r"`+")


def render_markdown(result: RunResult) -> str:
    template = _environment().get_template("report.md.j2")
    return template.render(result=result)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("readiness", "reports/templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_dash_for_none,
    )
    env.filters.update(fmt.filters())
    env.filters.update(text=md_text, code=md_code)
    env.globals.update(fmt.functions())
    return env


def _dash_for_none(value: object) -> object:
    return fmt.DASH if value is None else value


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
