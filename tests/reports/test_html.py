from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from readiness.reports.html import render_html
from tests.reports import (
    load_all_kinds,
    load_sample,
    scored,
    with_a_failed_check,
    with_dead_server,
)

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
    assert {"style", "svg", "path", "table", "nav"} <= parser.tags
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert not re.search(r"@import|url\(|@font-face", page)
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


def test_timeline_charts_cover_every_second(page: str) -> None:
    charts = chart_titles(page)
    assert charts == [
        "Requests per second: throughput",
        "Latency per second: throughput",
        "Scaling: scaling",
        "Requests per second: scaling",
        "Latency per second: scaling",
    ]
    latency = chart(page, "Latency per second: throughput")
    p99 = re.search(r'<path d="([^"]+)" class="mark line c2"', latency)
    assert p99 is not None
    # a step per second: 40 seconds, each a horizontal and a vertical move after the first
    assert p99.group(1).count("H") == 40


def chart_titles(page: str) -> list[str]:
    return re.findall(r'<figure class="chart(?: fit)?">\s*<svg[^>]*><title>([^<]*)</title>', page)


def chart(page: str, title: str) -> str:
    found = re.search(r"<svg[^>]*><title>" + re.escape(title) + r"</title>.*?</svg>", page, re.S)
    assert found is not None, title
    return found.group(0)


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
    p99 = re.findall(r'class="mark line c2"', chart(page, "Latency per second: scaling"))
    assert len(p99) == 2  # a gap splits the p99 line


def test_a_scenario_where_every_request_failed_still_renders() -> None:
    page = render_html(with_dead_server(load_sample()))
    titles = chart_titles(page)
    assert "Requests per second: throughput" in titles
    assert "Latency per second: throughput" not in titles  # no success, so no latency
    assert "None" not in page


def test_page_without_a_score_has_no_badge_or_deductions(page: str) -> None:
    assert 'class="score ' not in page
    assert 'id="score"' not in page
    assert "Why not 100" not in page


def test_score_badge_category_chart_and_deductions() -> None:
    result = scored(load_sample())  # the real scorer; success_rate 98.90% against >= 99%
    page = render_html(result)
    assert re.search(r'<div class="score score-ready".*?>97.9</span>.*?READY', page, re.S)
    assert '<a href="#score">Score</a>' in page
    assert chart_titles(page)[0] == "Score by category"
    text = text_of(chart(page, "Score by category"))
    assert "Performance (62.5%) value: 96.7 96.7" in text  # the bar's tooltip, then its note
    assert "Scalability (37.5%) value: 100 100.0" in text
    assert "Security not assessed" in text
    row = re.search(r'<tr><td class="num fail">−2.1</td>.*?</tr>', page)
    assert row is not None
    assert text_of(row.group(0)).split() == [
        *("−2.1", "Performance", "throughput", "demo", "success_rate", "&gt;=", "99%"),
        *("98.90%", "&gt;=", "99%", "failed,", "kept", "90%", "of", "its", "points"),
    ]
    assert "In scaling (target demo) the load generator, not the server" in page  # a warning
    assert "Stability was not assessed" in page  # a limitation
    # The largest deductions in a line each, as report.md's executive summary says them.
    largest = page.split('<ul class="largest">')[1].split("</ul>")[0]
    assert text_of(largest).split() == [
        *("throughput:", "success_rate", "98.90%", "vs", "&gt;=", "99%:", "−2.1", "points"),
    ]


def test_a_score_of_a_run_where_every_check_passed_has_nothing_to_deduct() -> None:
    result = scored(load_all_kinds())
    page = render_html(result)
    assert re.search(r'<span class="score-value">100.0</span>', page)
    assert "Nothing: every check passed." in page


def test_a_score_given_apart_from_the_result_wins() -> None:
    score = scored(with_a_failed_check(load_all_kinds()))["score"]  # type: ignore[typeddict-item]
    page = render_html(load_sample(), score)
    assert "unaffected_success_rate" in text_of(page.split('id="deductions"')[1])


def test_every_scenario_kind_gets_its_charts() -> None:
    titles = chart_titles(render_html(scored(load_all_kinds())))
    for expected in [
        "Score by category",
        "Latency by percentile: throughput",
        "Scaling: scaling",
        "Memory: memory",
        "Requests per second under faults: failure",
        "Requests by phase: failure",
        "Outage timeline: recovery",
        "Outage timeline: kill-and-restart",
        "Overload: overload",
        "Requests by phase: overload",
        "Latency per second: session-pool",
        "Latency by percentile: payload",
    ]:
        assert expected in titles


def test_memory_is_drawn_as_a_chart_not_as_a_text_sparkline_beside_it() -> None:
    page = render_html(scored(load_all_kinds()))
    assert "Memory: memory" in chart_titles(page)
    assert "█" not in page
    assert "samples: min " in page


HOSTILE = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">', "</svg><b>x</b>"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_names_from_servers_and_configs_render_as_text(hostile: str) -> None:
    result = load_all_kinds()
    result["run"]["name"] = hostile
    result["targets"][0]["name"] = hostile
    result["targets"][0]["server_info"]["name"] = hostile
    result["targets"][0]["command"] = hostile
    for s in result["scenarios"]:
        s["name"] = hostile
        s["target"] = hostile
        for op in s["operations"]:
            op["name"] = hostile
        for check in s["checks"]:
            check["expression"] = hostile
        if "chaos" in s:
            for event in s["chaos"]["events"]:
                event["detail"] = hostile
            for fault in s["chaos"]["faults"]:
                fault["spec"] = hostile
            for op in s["chaos"]["operations"]:
                op["name"] = hostile
    score = scored(with_a_failed_check(result))["score"]  # type: ignore[typeddict-item]
    score["categories"][0]["label"] = hostile
    score["deductions"][0].update(scenario=hostile, target=hostile, check=hostile, observed=hostile)
    score["limitations"].append(hostile)
    score["warnings"].append(hostile)
    page = render_html(result, score)
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert not parser.tags & {"script", "img", "b"}
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert page.count("&lt;") >= 50  # the names are there, as text


def test_deduction_figures_take_the_checks_unit_when_they_are_numbers() -> None:
    score = scored(load_sample())["score"]  # type: ignore[typeddict-item]
    score["deductions"][0].update(observed=0.989, required=0.99)  # type: ignore[typeddict-item]
    page = render_html(load_sample(), score)
    assert '<td class="num">98.90%</td><td><code>99.00%</code></td>' in page
