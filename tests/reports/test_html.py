from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from readiness.reports.html import render_html
from tests.reports import load_sample, with_dead_server

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class TagBalance(HTMLParser):
    """Records tags that close out of order or never close."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> with {self.open[-3:]} open")
        else:
            self.open.pop()


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(load_sample())


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_page_is_well_formed_and_self_contained(page: str) -> None:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.open == []
    assert {"style", "svg", "polyline", "table"} <= parser.tags
    assert not parser.tags & {"script", "link", "img", "iframe"}
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "None" not in page


def test_page_shows_the_verdict_badge_and_counts(page: str) -> None:
    assert '<span class="badge badge-failed">❌ failed</span>' in page
    assert "checks passed <strong>3/4</strong>" in page
    assert "scenarios passed <strong>1/2</strong>" in page


def test_page_tables_carry_the_figures_from_the_results(page: str) -> None:
    text = text_of(page)
    assert "status intended start 791 2.71 9.14 13.82 47.25 102.9 102.9 4.77" in text
    assert "4 25 5.0 s 16,545 99.90% 3,305.6 7.55 24.62 44.8%" in text
    assert "JSON-RPC error codes -32603 ×3 -32603 ×2 -32603 ×1" in text
    assert "Throughput stopped scaling after concurrency 25: throughput grew 1.1%" in text
    assert "Peak throughput: 3,342.2 req/s at concurrency 50." in text
    assert "the closed model does not correct for coordinated omission" in text


def test_failed_check_is_marked_failed(page: str) -> None:
    row = re.search(r"<tr><td>throughput</td><td><code>success_rate &gt;= 99%</code>.*?</tr>", page)
    assert row is not None
    assert '<td class="num">98.90%</td><td class="fail">❌ FAIL</td>' in row.group(0)
    assert page.count('class="fail"') == 1


def test_timeline_has_an_svg_sparkline_per_series(page: str) -> None:
    assert page.count("<polyline ") == 4  # rps and p99, two scenarios
    first = re.search(r'<polyline points="([^"]+)"', page)
    assert first is not None
    assert len(first.group(1).split()) == 40  # every second, not only the rows shown


def test_a_scaling_timeline_labels_each_row_with_its_step(page: str) -> None:
    assert "The steps are separate loads" in page
    assert "<td>2 (concurrency 5)</td>" in page
    assert page.count("<th>Step</th>") == 1  # the scaling scenario's timeline only


def test_target_and_run_names_are_escaped() -> None:
    result = load_sample()
    result["run"]["name"] = "<script>alert('run')</script>"
    result["targets"][0]["name"] = "<script>alert('target')</script>"
    result["scenarios"][0]["error"] = '<img src=x onerror="alert(1)">'
    page = render_html(result)
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#39;target&#39;)&lt;/script&gt;" in page
    assert "<title>Readiness report: &lt;script&gt;" in page


def test_missing_values_render_as_a_dash() -> None:
    result = load_sample()
    result["scenarios"][0]["operations"][1]["latency_ms"]["p99"] = None
    result["scenarios"][1]["generator"]["max_loop_lag_ms"] = None
    result["scenarios"][1]["timeline"][3]["p99_ms"] = None
    page = render_html(result)
    text = text_of(page)
    assert "None" not in page
    assert "status intended start 791 2.71 9.14 13.82 — 102.9 102.9 4.77" in text
    assert '<td class="num">— ms</td>' in page
    assert page.count("<polyline ") == 5  # a gap splits the p99 line


def test_a_scenario_where_every_request_failed_still_renders() -> None:
    page = render_html(with_dead_server(load_sample()))
    assert "p99 latency · max — ms" in page
    assert page.count("<polyline ") == 3  # the dead scenario's p99 line has no points
