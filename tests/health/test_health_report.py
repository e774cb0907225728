"""The health section of report.md and report.html: every text a server or config supplies is
escaped, and the probe strip is drawn from the transitions."""

from __future__ import annotations

import re

from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import HealthResult
from tests.reports import load_sample
from tests.reports.test_html import TagBalance

HOSTILE = "<script>alert(1)</script>"


def hostile_health() -> HealthResult:
    return HealthResult(
        time_base="seconds since health polling began",
        interval_s=0.5,
        polled_s=[0.0, 6.0],
        probes=[
            {
                "probe": "liveness",
                "url": f"http://127.0.0.1:9/{HOSTILE}",
                "polls": 12,
                "up": 8,
                "down": 2,
                "unreachable": 2,
                "availability": 8 / 12,
                "p50_ms": 1.5,
                "p95_ms": 3.0,
                "p99_ms": 3.5,
                "max_ms": 4.0,
            }
        ],
        transitions=[
            {"t_s": 0.0, "probe": "liveness", "state": "up", "detail": "HTTP 200"},
            {"t_s": 2.0, "probe": "liveness", "state": "unreachable", "detail": HOSTILE},
            {"t_s": 4.0, "probe": "liveness", "state": "up", "detail": "HTTP 200"},
        ],
        flips=[],
        liveness={
            "lied": True,
            "lie_after_s": 3.0,
            "spans": [[0.0, 3.5]],
            "failing_s": 3.5,
            "rule": f"rule {HOSTILE}",
        },
        metrics={
            "url": f"http://127.0.0.1:9/{HOSTILE}",
            "scrapes": 10,
            "failed_scrapes": 2,
            "series": [
                {
                    "role": "errors",
                    "name": HOSTILE,
                    "before": 0.0,
                    "after": 0.0,
                    "delta": 0.0,
                    "resets": 0,
                    "ours": 3.0,
                    "ours_label": "tools/call failures we made",
                }
            ],
            "server_error_rate": 0.0,
            "our_error_rate": 0.03,
            "disagreements": [f"error rate: {HOSTILE}"],
            "rule": "a rule",
        },
        note="polled on the server itself",
    )


def test_the_health_section_escapes_what_it_shows_and_draws_the_probe_strip() -> None:
    result = load_sample()
    result["scenarios"][0]["health"] = hostile_health()
    page = render_html(result)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<title>Health probes over time</title>" in page
    assert page.count("<title>liveness ") == 3  # a segment per transition
    balance = TagBalance()
    balance.feed(page)
    assert balance.problems == []
    markdown = render_markdown(result)
    assert "### Target health" in markdown
    assert (
        "**Yes** — it said alive while every MCP call failed, from 0.000 s to 3.500 s" in markdown
    )
    # Raw only inside code (fences and spans), where Markdown shows it as text.
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", markdown, flags=re.DOTALL))
    assert "<script>" not in prose
    assert "&lt;script" in prose
