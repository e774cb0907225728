from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.metrics.histogram import LatencyHistogram
from readiness.reports import charts, scenario_charts
from readiness.reports.charts import Axis, Band, Bar, Marker, Segment, Series, Span
from tests.reports import load_all_kinds, load_sample, scored

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def marks(svg: str) -> list[ET.Element]:
    return [e for e in parse(svg).iter() if "mark" in (e.get("class") or "").split()]


def numbers_in(d: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]


def test_every_text_is_escaped_and_the_svg_stays_well_formed() -> None:
    svg = charts.xy_chart(
        HOSTILE,
        Axis(HOSTILE),
        Axis(HOSTILE),
        [Series(HOSTILE, [(0, 1), (1, 2)])],
        y2=Axis(HOSTILE),
        spans=[Span(HOSTILE, [(0, 0.5, 1.5), (1, 1.5, 2.5)])],
        markers=[Marker(0.5, HOSTILE)],
        bands=[Band(0.2, 0.8, HOSTILE)],
    )
    bars = charts.bar_chart(
        HOSTILE, Axis(HOSTILE), [Bar(HOSTILE, [Segment(HOSTILE, 3, 1)], HOSTILE)]
    )
    for drawn in (svg, bars):
        root = parse(drawn)
        assert {e.tag for e in root.iter()} <= {
            SVG + t for t in ("svg", "title", "g", "rect", "path", "text", "circle")
        }
        assert "<script" not in drawn
        assert "<img" not in drawn
        assert HOSTILE in "".join(root.itertext())  # shown as text, whole


def test_a_long_series_is_thinned_per_pixel_column_and_keeps_its_spike() -> None:
    rng = np.random.default_rng(1)
    values = (rng.random(10_800) * 10 + 50).tolist()
    values[7_777] = 500.0  # a one-second spike in three hours
    points = [(float(t), v) for t, v in enumerate(values)]
    svg = charts.xy_chart("long", Axis("t (s)"), Axis("ms"), [Series("p99", points)])
    (line,) = marks(svg)
    coordinates = numbers_in(line.get("d") or "")
    assert len(coordinates) // 2 <= 4 * charts.WIDTH  # first, lowest, highest, last per column
    ys = coordinates[1::2]
    top = min(ys)  # y grows downwards: the spike is the smallest y
    assert sum(1 for y in ys if y == top) == 1
    assert ys.index(top) > 0
    assert len(svg) < 40_000


def test_three_long_series_stay_small() -> None:
    points = [(float(t), math.sin(t / 50) + 2) for t in range(10_800)]
    series = [Series(f"s{i}", points, i + 1, style="step") for i in range(3)]
    svg = charts.xy_chart("three", Axis("t (s)"), Axis("ms"), series)
    assert len(marks(svg)) >= 3
    assert len(svg) < 100_000


def test_a_gap_splits_a_line_and_a_lone_point_is_a_dot() -> None:
    svg = charts.xy_chart(
        "gaps",
        Axis("t"),
        Axis("v"),
        [Series("s", [(0, 1), (1, 2), (2, None), (3, 4), (4, None), (5, 3)])],
    )
    kinds = [m.tag.removeprefix(SVG) for m in marks(svg)]
    assert kinds == ["path", "circle", "circle"]  # two points, then two lone ones


def test_log_axis_ticks_are_powers_of_ten_within_the_data() -> None:
    svg = charts.xy_chart(
        "log", Axis("x"), Axis("ms", log=True), [Series("s", [(0, 3), (1, 4000)])]
    )
    labels = [t.text for t in parse(svg).iter(SVG + "text") if t.get("text-anchor") == "end"]
    assert {"10", "100", "1,000"} <= set(labels)
    assert "1" not in labels
    assert "10k" not in labels


def test_spectrum_is_the_histogram_read_at_each_one_in_n() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(np.arange(1, 100_001) * 10)  # 10 µs … 1 s, uniform
    points = scenario_charts._spectrum(histogram)
    ns = [n for n, _ in points]
    ms = [v for _, v in points]
    assert ns[0] == pytest.approx(2.0)
    assert ms[0] == pytest.approx(histogram.percentile_us(50) / 1000)
    assert ms == sorted(ms)  # a spectrum never falls
    assert ms[-1] == histogram.max_us / 1000
    assert ns[-1] == histogram.count
    assert all(n < histogram.count for n in ns[:-1])


def test_scenario_charts_are_empty_without_their_data() -> None:
    scenario = load_all_kinds()["scenarios"][0]
    scenario.pop("histograms")  # type: ignore[misc]
    scenario["timeline"] = scenario["timeline"][:1]
    assert scenario_charts.percentile_spectrum(scenario) == ""
    assert scenario_charts.latency_over_time(scenario) == ""
    assert scenario_charts.scaling_curve(scenario) == ""
    assert scenario_charts.memory_over_time(scenario) == ""
    assert scenario_charts.fault_phases(scenario) == ""
    assert scenario_charts.overload_timeline(scenario) == ""
    assert scenario_charts.score_by_category(None) == ""
    assert scenario_charts.score_by_category({"value": 100}) == ""


def test_memory_chart_draws_the_stored_slope_and_its_interval() -> None:
    memory = next(s for s in load_all_kinds()["scenarios"] if s["kind"] == "memory")
    svg = scenario_charts.memory_over_time(memory)
    text = " ".join(parse(svg).itertext())
    fit = memory["memory"]["rss"]["per_hour"]  # type: ignore[index]
    assert fit is not None
    assert f"fitted RSS floor ({scenario_charts.fmt.size(fit['slope'])}/h)" in text
    assert "95% interval" in text
    assert any("span" in (m.get("class") or "") for m in marks(svg))


def test_score_chart_leaves_unassessed_categories_without_a_bar() -> None:
    svg = scenario_charts.score_by_category(scored(load_sample())["score"])  # type: ignore[typeddict-item]
    bars = [m for m in marks(svg) if m.tag == SVG + "rect"]
    assert len(bars) == 2  # performance and scalability; the other four were not assessed
    assert "".join(parse(svg).itertext()).count("not assessed") == 4


values = st.one_of(
    st.none(),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.sampled_from([0.0, 1e-9, float("nan"), float("inf")]),
)


@settings(max_examples=300, deadline=None)
@given(
    ys=st.lists(values, max_size=60),
    log=st.booleans(),
    log_x=st.booleans(),
    style=st.sampled_from(["line", "step", "area", "step_area", "dots"]),
    xs_step=st.floats(min_value=5e-324, max_value=1e4),
)
def test_any_series_draws_well_formed_svg_with_finite_coordinates(
    ys: list[float | None], log: bool, log_x: bool, style: charts.Style, xs_step: float
) -> None:
    points = [(i * xs_step, y) for i, y in enumerate(ys)]
    svg = charts.xy_chart(
        "any",
        Axis("x", log=log_x),
        Axis("y", log=log),
        [Series("s", points, style=style)],
        y2=Axis("y2"),
        markers=[Marker(xs_step, "m")],
        bands=[Band(0.0, xs_step, "b")],
    )
    parse(svg)
    assert not re.search(r"nan|inf", svg, re.IGNORECASE)


def test_a_log_axis_with_only_a_figure_below_its_floor_still_has_a_span() -> None:
    # Found by the property above: a marker at 1.4e-301 on a log x axis and nothing else.
    svg = charts.xy_chart(
        "tiny",
        Axis("x", log=True),
        Axis("y"),
        [Series("s", [])],
        markers=[Marker(1.4328034909324677e-301, "m")],
        bands=[Band(0.0, 1.4328034909324677e-301, "b")],
    )
    parse(svg)
    assert not re.search(r"nan|inf", svg, re.IGNORECASE)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(min_value=0, max_value=1e12), max_size=4), max_size=8))
def test_any_bars_draw_well_formed_svg_with_finite_coordinates(rows: list[list[float]]) -> None:
    bars = [
        Bar(f"row {i}", [Segment(f"s{j}", v, j + 1) for j, v in enumerate(row)], "note")
        for i, row in enumerate(rows)
    ]
    svg = charts.bar_chart("any", Axis("count"), bars)
    parse(svg)
    assert not re.search(r"nan|inf", svg, re.IGNORECASE)


def test_outage_timeline_shows_the_events_and_when_the_breaker_was_open() -> None:
    scenario = next(s for s in load_all_kinds()["scenarios"] if s["name"] == "kill-and-restart")
    svg = scenario_charts.requests_per_second(scenario)
    root = parse(svg)
    labels = [t.text for t in root.iter(SVG + "text") if t.get("class") == "marker-label"]
    assert labels == ["fault", "detected", "restored", "first success", "recovered"]
    bands = [
        b.findtext(SVG + "title")
        for b in root.iter(SVG + "rect")
        if "band" in (b.get("class") or "")
    ]
    # the outage 4.0 → 7.0 s; from the chaos events: open 6.108 → 7.108, half-open → 7.123
    assert bands == ["outage (fault until recovered)", "breaker open", "breaker half-open"]
