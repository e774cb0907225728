"""comparison.md/html and the "Compared with baseline" section: every row shown, text escaped,
the forest plot inline, nothing fetched."""

from __future__ import annotations

import copy
import re

from readiness.compare.runs import compare_runs
from readiness.reports.comparison import (
    render_comparison_html,
    render_comparison_markdown,
)
from readiness.reports.comparison_format import plotted
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import RunResult

HOSTILE = '<img src=x onerror="alert(1)">|x'


def _hostile_pair(run: RunResult) -> tuple[RunResult, RunResult]:
    base, new = copy.deepcopy(run), copy.deepcopy(run)
    for result in (base, new):
        result["scenarios"][0]["name"] = HOSTILE
    new["run"]["name"] = HOSTILE
    return base, new


def test_the_html_escapes_every_name_and_fetches_nothing(run: RunResult) -> None:
    comparison = compare_runs(*_hostile_pair(run))
    html = render_comparison_html(comparison)
    assert "<img" not in html
    assert "&lt;img src=x" in html
    assert not re.search(r"(src|href)\s*=", html.replace("&lt;img src=x", ""))
    assert "<script" not in html
    assert html.count("<circle") == len(plotted(comparison["rows"]))
    assert html.count('<tr class="verdict-') == len(comparison["rows"])


def test_the_markdown_keeps_one_row_per_comparison_and_escapes_cells(run: RunResult) -> None:
    comparison = compare_runs(*_hostile_pair(run))
    md = render_comparison_markdown(comparison)
    assert "<img" not in md
    table = [line for line in md.splitlines() if line.startswith("| ") and "/" in line]
    assert len([line for line in table if "\\|x" in line]) >= len(
        [r for r in comparison["rows"] if r["scenario"] == HOSTILE]
    )


def test_a_run_with_a_comparison_gets_the_section_and_one_without_does_not(
    run: RunResult,
) -> None:
    assert "Compared with baseline" not in render_markdown(run)
    assert "Compared with baseline" not in render_html(run)
    with_baseline = copy.deepcopy(run)
    with_baseline["comparison"] = compare_runs(run, run)
    md = render_markdown(with_baseline)
    assert "## Compared with baseline" in md
    assert "✅ **No regression**" in md
    assert "#### Before and after" in md
    html = render_html(with_baseline)
    assert '<section id="baseline">' in html
    assert '<svg class="forest"' in html
