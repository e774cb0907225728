"""Which charts report.html draws for a scenario and for the score, from results.json alone.

Each function takes the plain result data and returns an SVG string, or "" when the data for
that chart is absent (an older results.json, a scenario that ended before it measured).
Percentile spectra are re-derived from the stored histograms, never from stored percentiles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.leak import robust_slope
from readiness.reports import format as fmt
from readiness.reports.charts import (
    Axis,
    Band,
    Bar,
    Marker,
    Point,
    Segment,
    Series,
    Span,
    bar_chart,
    xy_chart,
)
from readiness.results import PhaseStats, ScenarioResult, TimelinePoint

# Palette slots (see charts.PALETTE) by meaning, so a colour means one thing on every chart.
BLUE, MAGENTA, GREEN, RED, AMBER, PURPLE, GREY, TEAL = range(1, 9)
TIME_AXIS = "time since the load started (s)"


def _per_second(values: Sequence[float | None]) -> list[Point]:
    """A value per whole second as step points: each holds from t to t + 1."""
    points: list[Point] = [(float(t), v) for t, v in enumerate(values)]
    if values:
        points.append((float(len(values)), values[-1]))
    return points


def _timeline_points(
    timeline: Sequence[TimelinePoint], values: Sequence[float | None]
) -> list[Point]:
    points: list[Point] = [(float(p["t_s"]), v) for p, v in zip(timeline, values, strict=True)]
    if timeline:
        points.append((float(timeline[-1]["t_s"] + 1), values[-1]))
    return points


def _wide_range(values: Sequence[float | None], ratio: float = 50.0) -> bool:
    """Whether positive values span enough orders of magnitude to need a log axis."""
    present = [v for v in values if v is not None and v > 0]
    return bool(present) and max(present) / min(present) > ratio


def _fault_bands(s: ScenarioResult) -> list[Band]:
    chaos = s.get("chaos")
    if not chaos or len(chaos["window_s"]) != 2:
        return []
    start, end = chaos["window_s"]
    name = "outage (fault until recovered)" if chaos.get("outage") else "faults acting"
    return [Band(start, end, name, RED)]


def _step_markers(s: ScenarioResult) -> list[Marker]:
    """Where each scaling step's seconds begin, labelled with its level (steps are separate
    loads laid end to end, so a dip between them is no idle second of one load)."""
    steps = s.get("steps") or []
    markers: list[Marker] = []
    seen: set[int] = set()
    for point in s["timeline"]:
        index = point.get("step")
        if index is None or index in seen or not 0 <= index < len(steps):
            continue
        seen.add(index)
        step = steps[index]
        label = fmt.level(step["level"], step["model"])
        markers.append(Marker(float(point["t_s"]), f"step {index + 1}: {label}", GREY))
    return markers


# -- latency ---------------------------------------------------------------------------------


def latency_over_time(s: ScenarioResult) -> str:
    """p50/p95/p99 of each second of the load (successful requests)."""
    timeline = s["timeline"]
    if len(timeline) < 2 or not any(p["p50_ms"] is not None for p in timeline):
        return ""  # a load shorter than two seconds has no course over time to show
    lines = [
        ("p50", [p["p50_ms"] for p in timeline], GREEN),
        ("p95", [p["p95_ms"] for p in timeline], BLUE),
        ("p99", [p["p99_ms"] for p in timeline], MAGENTA),
    ]
    log = _wide_range([v for _, values, _ in lines for v in values])
    series = [
        Series(name, _timeline_points(timeline, values), slot, style="step")
        for name, values, slot in lines
    ]
    return xy_chart(
        f"Latency per second: {s['name']}",
        Axis(TIME_AXIS),
        Axis("latency (ms)" + (", log scale" if log else ""), log=log),
        series,
        markers=_step_markers(s),
        bands=_fault_bands(s),
    )


SPECTRUM_DECADES = (
    (2.0, "50%"),
    (10.0, "90%"),
    (100.0, "99%"),
    (1e3, "99.9%"),
    (1e4, "99.99%"),
    (1e5, "99.999%"),
    (1e6, "99.9999%"),
)


def _spectrum(histogram: LatencyHistogram) -> list[Point]:
    """(1 in N, ms) from the median to the maximum, 20 points per decade of N."""
    points: list[Point] = []
    top = histogram.count
    k = math.log10(2) * 20
    while True:
        n = 10 ** (k / 20)
        if n >= top:
            break
        points.append((n, histogram.percentile_us(100 - 100 / n) / 1000))
        k = math.floor(k) + 1
    points.append((float(max(top, 2)), histogram.max_us / 1000))
    return points


def _decode(text: object) -> LatencyHistogram | None:
    if not isinstance(text, str):
        return None
    try:
        histogram = LatencyHistogram.decode(text)
    except ValueError:
        return None
    return histogram if histogram.count else None


def _stored_histograms(s: Mapping[str, Any]) -> Mapping[str, Any]:
    """The scenario's histograms; none in a results.json written before they were stored."""
    stored = s.get("histograms")
    return stored if isinstance(stored, Mapping) else {}


def percentile_spectrum(s: ScenarioResult) -> str:
    """Latency by percentile on a "1 in N" log axis, corrected and uncorrected together."""
    stored = _stored_histograms(s)
    corrected = _decode(stored.get("corrected"))
    uncorrected = _decode(stored.get("uncorrected"))
    if corrected is None:
        return ""
    both = uncorrected is not None and (s["method"]["corrected"] or corrected != uncorrected)
    series = [
        Series(
            "from the intended start (corrected)" if both else "from the send",
            _spectrum(corrected),
            BLUE,
        )
    ]
    if both and uncorrected is not None:
        series.append(
            Series("from the actual send (uncorrected)", _spectrum(uncorrected), AMBER, dashed=True)
        )
    top = max(p[0] for line in series for p in line.points)
    ticks = [(n, label) for n, label in SPECTRUM_DECADES if n <= top * 1.0001]
    if top / ticks[-1][0] >= 2:
        ticks.append((top, "max"))
    values = [v for line in series for _, v in line.points]
    log_y = _wide_range(values, 20)
    return xy_chart(
        f"Latency by percentile: {s['name']}",
        Axis(
            "percentile (log scale of 1 in N requests; the last point is the maximum)",
            log=True,
            low=1.5,
            high=max(top, 10.0),
            ticks=ticks,
        ),
        Axis("latency (ms)" + (", log scale" if log_y else ""), log=log_y),
        series,
    )


# -- scaling ---------------------------------------------------------------------------------


def scaling_curve(s: ScenarioResult) -> str:
    """Throughput and p95 against concurrency (or offered rate), the knee marked."""
    steps = s.get("steps") or []
    if not steps:
        return ""
    model = fmt.scaling_model(s)
    levels = [step["level"] for step in steps]
    log_x = min(levels) > 0 and max(levels) / min(levels) >= 20
    throughput = [(step["level"], step["totals"]["throughput_rps"]) for step in steps]
    p95 = [(step["level"], step["latency_ms"]["p95"]) for step in steps]
    markers = []
    scaling = s.get("scaling")
    if scaling and scaling["knee_level"] is not None:
        markers.append(
            Marker(scaling["knee_level"], f"knee: {fmt.level(scaling['knee_level'], model)}", RED)
        )
    noun = "offered rate (req/s)" if model == "open" else "concurrency (virtual users)"
    return xy_chart(
        f"Scaling: {s['name']}",
        Axis(noun + (", log scale" if log_x else ""), log=log_x),
        Axis("throughput (req/s)"),
        [
            Series("throughput (req/s, left)", throughput, BLUE, dots=True),
            Series("p95 latency (ms, right)", p95, MAGENTA, axis="right", dashed=True, dots=True),
        ],
        y2=Axis("p95 latency (ms)"),
        markers=markers,
    )


# -- memory ----------------------------------------------------------------------------------


def memory_over_time(s: ScenarioResult) -> str:
    """Server RSS and open FDs over time, with the RSS slope fitted under load and its interval."""
    memory = s.get("memory")
    if not memory or not memory["measured"] or not memory["samples"]:
        return ""
    samples = memory["samples"]
    mib = 2.0**20
    rss = [(p["t_s"], p["rss_bytes"] / mib) for p in samples]
    fds = [(p["t_s"], None if p["fds"] is None else float(p["fds"])) for p in samples]
    series = [Series("server RSS (MiB, left)", rss, BLUE)]
    spans: list[Span] = []
    fit = memory["rss"]["per_hour"] if memory["rss"] else None
    load = [p for p in samples if p["phase"] == "load"]
    if fit is not None and len(load) >= 2:
        # The stored slope and interval, pivoting on the floor line robust_slope re-derives
        # from the same samples (results.json keeps the slope, not its intercept).
        t = [p["t_s"] for p in load]
        line = robust_slope([v / 3600 for v in t], [p["rss_bytes"] for p in load])
        if line is not None:
            middle = (t[0] + t[-1]) / 2
            pivot = (line.intercept + line.slope * middle / 3600) / mib

            def at(slope: float, when: float) -> float:
                return pivot + slope / mib * (when - middle) / 3600

            per_h = fmt.size(fit["slope"])
            series.append(
                Series(
                    f"fitted RSS floor ({per_h}/h)",
                    [(v, at(fit["slope"], v)) for v in (t[0], t[-1])],
                    AMBER,
                    dashed=True,
                )
            )
            spans.append(
                Span(
                    f"95% interval ({fmt.size(fit['low'])} to {fmt.size(fit['high'])}/h)",
                    [(v, at(fit["low"], v), at(fit["high"], v)) for v in (t[0], middle, t[-1])],
                    AMBER,
                )
            )
    y2 = None
    if any(v is not None for _, v in fds):
        series.append(
            Series("open file descriptors (right)", fds, PURPLE, style="step", axis="right")
        )
        y2 = Axis("file descriptors")
    bands = []
    if samples[0]["t_s"] < 0:
        bands.append(Band(samples[0]["t_s"], 0.0, "warm-up (not fitted)", GREY))
    settle = [p["t_s"] for p in samples if p["phase"] == "settle"]
    if settle:
        bands.append(Band(settle[0], samples[-1]["t_s"], "idle settle", TEAL))
    return xy_chart(
        f"Memory: {s['name']}",
        Axis("time since the measured load started (s)"),
        Axis(
            "RSS (MiB)",
            low=_floor_of([v for _, v in rss] + [lo for sp in spans for _, lo, _ in sp.points]),
        ),
        series,
        y2=y2,
        spans=spans,
        bands=bands,
    )


def _floor_of(values: Sequence[float | None]) -> float | None:
    """A y-axis start just under the data, so a few KiB of growth on 70 MiB stays visible."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    low, high = min(present), max(present)
    margin = max((high - low) * 0.5, high * 0.002)
    return max(math.floor((low - margin) * 10) / 10, 0.0)


# -- faults, recovery and overload -----------------------------------------------------------

EVENT_WORDS = {
    "inject": "fault",
    "detect": "detected",
    "restore": "restored",
    "first_success": "first success",
    "recovered": "recovered",
}


BREAKER_NAMES = {"open": "breaker open", "half_open": "breaker half-open"}
BREAKER_COLORS = {"open": PURPLE, "half_open": AMBER}
_TRANSITION = re.compile(r"^\s*(closed|open|half_open)\s*→\s*(closed|open|half_open)\b")


def _breaker_bands(s: ScenarioResult) -> list[Band]:
    """When the breaker was open or half-open: from its transitions in the chaos events (to
    the millisecond), else from its state at the end of each second of the timeline."""
    timeline = s["timeline"]
    end = float(timeline[-1]["t_s"] + 1) if timeline else 0.0
    chaos = s.get("chaos")
    events = [e for e in (chaos["events"] if chaos else []) if e["what"] == "breaker"]
    moves = [(e["t_s"], _TRANSITION.match(e["detail"])) for e in events]
    if events and all(m is not None for _, m in moves):
        bands = []
        for i, (start, move) in enumerate(moves):
            state = move.group(2) if move else "closed"
            if state in BREAKER_NAMES:
                until = moves[i + 1][0] if i + 1 < len(moves) else max(end, start)
                bands.append(Band(start, until, BREAKER_NAMES[state], BREAKER_COLORS[state]))
        return bands
    bands = []
    for point in timeline:
        state = point.get("breaker", "closed")
        if state not in BREAKER_NAMES:
            continue
        second = float(point["t_s"])
        name = BREAKER_NAMES[state]
        if bands and bands[-1].name == name and bands[-1].end == second:
            bands[-1] = Band(bands[-1].start, second + 1, name, bands[-1].color)
        else:
            bands.append(Band(second, second + 1, name, BREAKER_COLORS[state]))
    return bands


def requests_per_second(s: ScenarioResult) -> str:
    """Successes, failures and rejections per second; under faults also the fault window, the
    outage's events (fault, detection, restore, first success, recovery) and the breaker's
    open seconds."""
    chaos = s.get("chaos")
    timeline = s["timeline"]
    if len(timeline) < 2:
        return ""
    ok = [float(p["ok"]) for p in timeline]
    failed = [float(fmt.error_total(p["errors"])) for p in timeline]
    series = [
        Series("successes per second", _timeline_points(timeline, ok), GREEN, style="step_area"),
        Series("failures per second", _timeline_points(timeline, failed), RED, style="step"),
    ]
    if any(p.get("rejected") for p in timeline):
        rejected = [float(p.get("rejected", 0)) for p in timeline]
        series.append(
            Series(
                "rejected by the breaker per second",
                _timeline_points(timeline, rejected),
                AMBER,
                style="step",
                dashed=True,
            )
        )
    markers = _step_markers(s) + [
        Marker(
            e["t_s"], EVENT_WORDS[e["what"]], RED if e["what"] in ("inject", "detect") else GREEN
        )
        for e in (chaos["events"] if chaos else [])
        if e["what"] in EVENT_WORDS
    ]
    bands = _fault_bands(s) + _breaker_bands(s)
    if chaos and chaos.get("outage"):
        title = "Outage timeline"
    elif chaos:
        title = "Requests per second under faults"
    else:
        title = "Requests per second"
    return xy_chart(
        f"{title}: {s['name']}",
        Axis(TIME_AXIS),
        Axis("requests per second"),
        series,
        markers=markers,
        bands=bands,
    )


def _phase_bar(label: str, phase: PhaseStats, lost: int | None = None) -> Bar:
    segments = [
        Segment("succeeded", phase["ok"], GREEN),
        Segment("failed", phase["errors"], RED),
        Segment("rejected by readiness", phase["rejected"], AMBER),
    ]
    if lost is not None:
        segments.append(Segment("dropped or never answered", lost, GREY))
    return Bar(label, segments, fmt.percent(phase["success_rate"]) + " ok")


def fault_phases(s: ScenarioResult) -> str:
    """Outcomes of the requests due before, while and after the faults acted."""
    chaos = s.get("chaos")
    if not chaos:
        return ""
    bars = [
        _phase_bar("before", chaos["steady"]),
        _phase_bar("outage" if chaos.get("outage") else "faults acting", chaos["during"]),
        _phase_bar("after", chaos["after"]),
    ]
    return bar_chart(
        f"Requests by phase: {s['name']}", Axis("requests (by when they were due)"), bars
    )


def overload_timeline(s: ScenarioResult) -> str:
    """Offered and served requests per second through the ramp, the hold and the drop."""
    o = s.get("overload")
    if not o or not o["seconds_offered"]:
        return ""
    offered = [float(v) for v in o["seconds_offered"]]
    served = [float(v) for v in o["seconds_ok"]]
    p95 = list(o["seconds_p95_ms"])
    series = [
        Series("offered (req/s)", _per_second(offered), GREY, style="step", dashed=True),
        Series("succeeded (req/s)", _per_second(served), GREEN, style="step_area"),
        Series("p95 latency (ms, right)", _per_second(p95), MAGENTA, style="step", axis="right"),
    ]
    end = float(len(offered))
    if o["capacity_rps"] is not None:
        series.insert(
            0,
            Series(
                "capacity", [(0.0, o["capacity_rps"]), (end, o["capacity_rps"])], BLUE, dashed=True
            ),
        )
    bands = []
    ramp_end = o["steady_s"] + o["ramp_s"]
    bands.append(Band(o["steady_s"], ramp_end, "ramp", AMBER))
    if o["drop_at_s"] is not None:
        bands.append(Band(ramp_end, o["drop_at_s"], "held above capacity", RED))
    markers = []
    if o["drop_at_s"] is not None:
        markers.append(Marker(o["drop_at_s"], "drop", GREY))
        if o["recovered"] and o["recovery_time_s"] is not None:
            markers.append(Marker(o["drop_at_s"] + o["recovery_time_s"], "recovered", GREEN))
    log_y = _wide_range(p95)
    return xy_chart(
        f"Overload: {s['name']}",
        Axis("time since the overload load started (s)"),
        Axis("requests per second"),
        series,
        y2=Axis("p95 latency (ms" + (", log)" if log_y else ")"), log=log_y),
        markers=markers,
        bands=bands,
    )


def overload_phases(s: ScenarioResult) -> str:
    o = s.get("overload")
    if not o or o["low_rate"] is None:
        return ""
    dropped = o["dropped"]
    bars = [
        _phase_bar("steady", o["steady"], dropped.get("steady", 0)),
        _phase_bar("overloaded", o["overloaded"], dropped.get("overloaded", 0)),
        _phase_bar("after", o["after"], dropped.get("after", 0)),
    ]
    return bar_chart(
        f"Requests by phase: {s['name']}", Axis("requests (by when they were due)"), bars
    )


# -- the score -------------------------------------------------------------------------------


# Narrower than the other charts: the page shows it at this size, and shrinks it to fit a
# phone (figure.fit) rather than scroll the score's own chart sideways.
SCORE_WIDTH = 480


def score_by_category(score: Mapping[str, Any] | None) -> str:
    """Each category's value (0–100) as a bar, labelled with its share of the score; a
    category that was not assessed says so, without a bar."""
    if not score or not score.get("categories"):
        return ""
    bars = []
    for category in score["categories"]:
        label = str(category.get("label") or category.get("name", "?"))
        value = category.get("value")
        if not category.get("assessed", True) or not isinstance(value, int | float):
            bars.append(Bar(label, [], "not assessed"))
            continue
        share = category.get("share")
        if isinstance(share, int | float):
            label += f" ({round(share * 100, 1):g}%)"
        slot = GREEN if value >= 90 else AMBER if value >= 75 else RED
        bars.append(Bar(label, [Segment("value", float(value), slot)], f"{value:.1f}"))
    return bar_chart(
        "Score by category",
        Axis("category value (0–100); in brackets, its share of the score", low=0, high=100),
        bars,
        legend=False,
        width=SCORE_WIDTH,
    )
