"""report.html in a real browser (headless Chromium over the DevTools protocol): no console
errors, no request but the page itself, every chart drawn, nothing wider than a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from readiness.reports.html import render_html
from tests.reports import load_all_kinds, scored, with_a_failed_check
from tests.reports.browser import Browser, find_chromium, open_browser

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no headless browser: install Debian's `chromium` package "
        "(or point READINESS_CHROMIUM at a Chromium)",
    ),
]

HOSTILE_SERVER = "<script>alert(1)</script>"
HOSTILE_TOOL = '<img src=x onerror="alert(2)">'

# Runs in the page; reports what it finds instead of asserting, so a failure shows it all.
INSPECT = """(() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.localName !== 'svg') continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 0.5 || box.left < -0.5) && !clipped(el)) {
      overflowing.push(`${el.localName}.${el.className.baseVal ?? el.className}: `
                       + (el.textContent || '').trim().slice(0, 60));
    }
  }
  const charts = [...document.querySelectorAll('figure.chart > svg')].map((svg) => ({
    title: svg.querySelector('title')?.textContent ?? '',
    marks: [...svg.querySelectorAll('.mark')].filter((m) => {
      const b = m.getBBox();
      return b.width > 0 || b.height > 0;
    }).length,
    width: svg.getBoundingClientRect().width,
    fit: svg.parentElement.classList.contains('fit'),
  }));
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    overflowing: overflowing.slice(0, 20),
    charts,
    scripts: document.scripts.length,
    images: document.images.length,
    title: document.title,
    server: [...document.querySelectorAll('td')]
      .some((td) => td.textContent.includes('<script>alert(1)</script>')),
    tool: [...document.querySelectorAll('td')].some((td) => td.textContent.includes('<img src=x')),
  };
})()"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every scenario kind from real runs, scored, with hostile and overlong names."""
    result = scored(with_a_failed_check(load_all_kinds()))
    result["targets"][0]["server_info"]["name"] = HOSTILE_SERVER
    result["targets"][0]["server_info"]["version"] = "1.0.0+build." + "0123456789abcdef" * 8
    result["run"]["name"] = "a-long-run-name-without-spaces-" * 4  # must wrap, not overflow
    result["scenarios"][0]["operations"][0]["name"] = HOSTILE_TOOL
    result["scenarios"][3]["chaos"]["operations"][0]["name"] = HOSTILE_TOOL
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(render_html(result))
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with open_browser(CHROMIUM) as running:
        yield running


def look(browser: Browser, report: Path, width: int, *, dark: bool = False) -> dict[str, Any]:
    page = browser.new_page()
    if dark:
        page.send(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
    page.open(report.as_uri(), width, mobile=width < 500)
    found: dict[str, Any] = page.evaluate(INSPECT)
    found["console"] = [
        f"{e['type']}: {e['args']}"
        for e in page.events("Runtime.consoleAPICalled")
        if e["type"] in ("error", "assert", "warning")
    ]
    found["console"] += [str(e["exceptionDetails"]) for e in page.events("Runtime.exceptionThrown")]
    found["console"] += [
        f"{e['entry']['level']}: {e['entry']['text']}"
        for e in page.events("Log.entryAdded")
        if e["entry"]["level"] in ("error", "warning")
    ]
    found["requests"] = [e["request"]["url"] for e in page.events("Network.requestWillBeSent")]
    return found


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (375, False), (375, True)])
def test_report_renders_cleanly_in_chromium(
    browser: Browser, report: Path, width: int, dark: bool
) -> None:
    found = look(browser, report, width, dark=dark)
    assert found["console"] == []
    assert found["requests"] == [report.as_uri()]  # nothing fetched but the page itself
    assert found["scripts"] == 0
    assert found["images"] == 0
    assert found["server"]  # the hostile names are shown as text
    assert found["tool"]
    assert found["width"] == width
    assert found["scrollWidth"] <= width, found["overflowing"]
    assert found["overflowing"] == []
    charts = found["charts"]
    # latency, requests/s and spectrum per timed scenario; scaling, memory, faults, overload, score
    assert len(charts) >= 25
    assert [c["title"] for c in charts if c["marks"] == 0] == []
    # Legible: on a phone a chart's own box scrolls; a chart drawn to fit (the score's) shrinks
    # into the page instead, whole, and is never wider than the screen.
    assert [c["title"] for c in charts if not c["fit"] and c["width"] < 440] == []
    fitted = [c for c in charts if c["fit"]]
    assert [c["title"] for c in fitted] == ["Score by category"]
    assert all(c["width"] <= width - 32 for c in fitted)
