"""The one jinja2 environment both renderers use: templates, filters, and "—" for None."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from readiness.reports import format as fmt
from readiness.reports.comparison_format import functions as comparison_functions
from readiness.reports.comparison_svg import forest_svg


def template_environment() -> Environment:
    # "html.j2" too: select_autoescape matches the name's ending, and ours end in ".j2".
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
    env.globals.update(fmt.functions())
    env.globals.update(comparison_functions(), forest_svg=forest_svg)
    return env


def _dash_for_none(value: object) -> object:
    return fmt.DASH if value is None else value
