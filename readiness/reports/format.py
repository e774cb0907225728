"""Formatting shared by the Markdown and HTML renderers: figures in their units, timestamps,
Markdown sparklines, and the few display choices (which rows, which sentence) both make alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from readiness.results import (
    ErrorCounts,
    LatencySummary,
    ScalingSummary,
    ScenarioResult,
    TimelinePoint,
)

DASH = "—"
SPARK_BARS = "▁▂▃▄▅▆▇█"
TIMELINE_MAX_ROWS = 30

T = TypeVar("T")


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def ms(value: float | None) -> str:
    """Milliseconds with about as many digits as a 3-significant-digit histogram can back."""
    if value is None:
        return DASH
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def percent(ratio: float | None, digits: int = 2) -> str:
    """A ratio as a percentage that never rounds a failure away (0.99996 is not "100%")."""
    if ratio is None:
        return DASH
    text = f"{ratio * 100:.{digits}f}"
    smallest = 10.0**-digits
    if ratio < 1 and float(text) >= 100:
        return f">{100 - smallest:.{digits}f}%"
    if ratio > 0 and float(text) == 0:
        return f"<{smallest:.{digits}f}%"
    return f"{text}%"


def rate(value: float | None) -> str:
    """Per second (throughput, rates): one decimal, two below 10."""
    if value is None:
        return DASH
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def number(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def duration(value: float | None) -> str:
    """Seconds as a human duration: "40.2 s", "2 min 05 s", "1 h 02 min"."""
    if value is None:
        return DASH
    if value < 120:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def observed(value: float | None, unit: str) -> str:
    """A check's observed value in the check's own unit."""
    if value is None:
        return DASH
    if unit == "ratio":
        return percent(value)
    if unit == "seconds":
        return f"{ms(value * 1000)} ms"
    if unit == "milliseconds":
        return f"{ms(value)} ms"
    if unit == "per_second":
        return f"{rate(value)}/s"
    if unit == "count":
        return count(round(value))
    if unit == "bytes":
        return size(value)
    if unit == "bool":
        return "true" if value else "false"
    return f"{value:g} {unit}".rstrip()


def size(value: float | None) -> str:
    """Bytes in binary units: 512 B, 1.5 KiB, 48.2 MiB."""
    if value is None:
        return DASH
    magnitude = abs(value)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if magnitude >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def sentence(text: str | None) -> str:
    """Free text as a sentence: capital first letter, one final period."""
    if not text or not text.strip():
        return DASH
    body = text.strip().rstrip(".")
    return f"{body[0].upper()}{body[1:]}."


def plain(value: object) -> str:
    """A configuration value as the user would write it (JSON, not Python repr)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def level(value: float | None, model: str) -> str:
    """A scaling level: a concurrency (closed model) or an offered rate (open model)."""
    if value is None:
        return DASH
    text = f"{value:g}" if math.isfinite(value) and value == int(value) else f"{value:.2f}"
    return f"{text}/s" if model == "open" else text


def level_noun(model: str) -> str:
    return "rate" if model == "open" else "concurrency"


def step_label(scenario: ScenarioResult, index: int | None) -> str:
    """The scaling step a timeline second belongs to: "2 (concurrency 8)"."""
    steps = scenario.get("steps") or []
    if index is None or not 0 <= index < len(steps):
        return DASH
    step = steps[index]
    return f"{index + 1} ({level_noun(step['model'])} {level(step['level'], step['model'])})"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def timestamp(text: str | None) -> str:
    """An ISO timestamp to the second; UTC is spelled out, other offsets kept as given."""
    parsed = _parse_time(text)
    if parsed is None:
        return text or DASH
    if parsed.utcoffset() == timedelta(0):
        return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")
    return parsed.isoformat(sep=" ", timespec="seconds")


def seconds_between(start: str | None, end: str | None) -> float | None:
    first, last = _parse_time(start), _parse_time(end)
    if first is None or last is None or (first.tzinfo is None) != (last.tzinfo is None):
        return None
    return (last - first).total_seconds()


def error_total(errors: ErrorCounts) -> int:
    return errors["tool_error"] + errors["rpc_error"] + errors["timeout"] + errors["transport"]


_CLASS_WORDS = (
    ("timeout", "timeout"),
    ("transport", "transport"),
    ("rpc_error", "JSON-RPC"),
    ("tool_error", "tool"),
)


def error_classes(errors: ErrorCounts) -> str:
    """Failures by class: "12 (10 timeout, 2 JSON-RPC)", or "0"."""
    total = error_total(errors)
    if not total:
        return "0"
    parts = [f"{errors[key]:,} {word}" for key, word in _CLASS_WORDS if errors[key]]  # type: ignore[literal-required]
    return f"{total:,} ({', '.join(parts)})"


def rpc_codes(codes: Mapping[str, int]) -> str:
    """Error codes with their counts, most frequent first: "-32603 ×3, -32000 ×1"."""
    if not codes:
        return DASH
    ordered = sorted(codes.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{code} ×{n:,}" for code, n in ordered)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def sparkline(values: Sequence[float | None], width: int | None = None) -> str:
    """Eighth-block bars scaled from zero to the maximum; a gap (None) is a space.

    Scaling from zero, not from the minimum, keeps a 5% dip looking like a 5% dip. When
    `width` is smaller than the series, each character shows the maximum of its slice of
    seconds, so a one-second spike is never smoothed away.
    """
    series = list(values)
    if width is not None and 0 < width < len(series):
        series = [
            peak(series[i * len(series) // width : (i + 1) * len(series) // width])
            for i in range(width)
        ]
    present = [v for v in series if v is not None]
    top = max(present, default=0.0)
    bars = []
    for v in series:
        if v is None:
            bars.append(" ")
        elif top <= 0:
            bars.append(SPARK_BARS[0])
        else:
            step = math.ceil(max(v, 0.0) / top * len(SPARK_BARS)) - 1
            bars.append(SPARK_BARS[min(max(step, 0), len(SPARK_BARS) - 1)])
    return "".join(bars)


def peak(values: Iterable[float | None]) -> float | None:
    """The largest present value; None when there is none."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def thin(rows: Sequence[T], max_rows: int = TIMELINE_MAX_ROWS) -> tuple[list[T], int]:
    """Every Nth row (and always the last) so at most about `max_rows` are shown; returns N.

    Rows are picked, never merged: a per-second p99 cannot be combined without its histogram.
    """
    if len(rows) <= max_rows:
        return list(rows), 1
    every = math.ceil(len(rows) / max_rows)
    picked = list(rows[::every])
    if (len(rows) - 1) % every:
        picked.append(rows[-1])
    return picked, every


@dataclass(frozen=True)
class LatencyRow:
    operation: str  # an operation name, or "all operations"
    measured_from: str  # "intended start", "actual send", or "send" (closed model)
    summary: LatencySummary


def latency_rows(scenario: ScenarioResult) -> list[LatencyRow]:
    """Per operation then overall; a corrected and an uncorrected row when they can differ."""
    pairs = [
        (op["name"], op["latency_ms"], op["latency_uncorrected_ms"])
        for op in scenario["operations"]
    ]
    pairs.append(("all operations", scenario["latency_ms"], scenario["latency_uncorrected_ms"]))
    rows: list[LatencyRow] = []
    for name, corrected, uncorrected in pairs:
        if scenario["method"]["corrected"] or corrected != uncorrected:
            rows.append(LatencyRow(name, "intended start", corrected))
            rows.append(LatencyRow(name, "actual send", uncorrected))
        else:
            rows.append(LatencyRow(name, "send", corrected))
    return rows


@dataclass(frozen=True)
class Sparklines:
    rps: str
    rps_max: float | None
    p99: str
    p99_max: float | None


def timeline_sparklines(timeline: Sequence[TimelinePoint], width: int = 80) -> Sparklines:
    rps = [p["rps"] for p in timeline]
    p99 = [p["p99_ms"] for p in timeline]
    return Sparklines(sparkline(rps, width), peak(rps), sparkline(p99, width), peak(p99))


def scaling_model(scenario: ScenarioResult) -> str:
    steps = scenario.get("steps") or []
    return steps[0]["model"] if steps else scenario["method"]["model"]


def knee_sentence(scenario: ScenarioResult) -> str:
    """Where scaling stopped paying off, in the producer's own words (`knee_reason`).

    A knee on the last step means throughput never stopped growing within the ladder.
    """
    scaling = scenario.get("scaling")
    if scaling is None:
        return ""
    model = scaling_model(scenario)
    reason = scaling["knee_reason"].strip().rstrip(".")
    tail = f": {reason}." if reason else "."
    if scaling["knee_level"] is None:
        return f"No knee found{tail}"
    where = f"{level_noun(model)} {level(scaling['knee_level'], model)}"
    steps = scenario.get("steps") or []
    if steps and scaling["knee_index"] == steps[-1]["index"]:
        return f"Throughput kept growing up to {where}, the last step{tail}"
    return f"Throughput stopped scaling after {where}{tail}"


def peak_sentence(scaling: ScalingSummary, model: str) -> str:
    if scaling["peak_throughput_rps"] is None:
        return "No step completed a request, so there is no peak throughput."
    where = f"{level_noun(model)} {level(scaling['peak_level'], model)}"
    return f"Peak throughput: {rate(scaling['peak_throughput_rps'])} req/s at {where}."


STATUS_ICONS = {
    "passed": "✅",
    "failed": "❌",
    "inconclusive": "❔",
    "error": "⚠️",
    "interrupted": "⏹️",
}


def status_icon(status: str) -> str:
    return STATUS_ICONS.get(status, "•")


def filters() -> dict[str, Callable[..., str]]:
    """The formatters above under the names the templates use."""
    return {
        "status_icon": status_icon,
        "count": count,
        "size": size,
        "ms": ms,
        "percent": percent,
        "rate": rate,
        "number": number,
        "duration": duration,
        "observed": observed,
        "timestamp": timestamp,
        "rpc_codes": rpc_codes,
        "ordinal": ordinal,
        "sparkline": sparkline,
        "sentence": sentence,
        "plain": plain,
    }


def functions() -> dict[str, Callable[..., object]]:
    """The display choices above, callable from templates."""
    return {
        "error_classes": error_classes,
        "error_total": error_total,
        "knee_sentence": knee_sentence,
        "latency_rows": latency_rows,
        "level": level,
        "level_noun": level_noun,
        "step_label": step_label,
        "peak": peak,
        "peak_sentence": peak_sentence,
        "scaling_model": scaling_model,
        "seconds_between": seconds_between,
        "sparkline": sparkline,
        "thin": thin,
        "timeline_sparklines": timeline_sparklines,
    }
