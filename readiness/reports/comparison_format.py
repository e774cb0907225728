"""How a comparison row reads in a report: figures in their unit, changes, intervals, verdicts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from readiness.compare.model import ALL_OPERATIONS, Comparison, ComparisonRow
from readiness.reports import format as fmt

_ICONS = {"regressed": "❌", "not_comparable": "⚠️", "improved": "✅", "unchanged": "➖"}
_NAMES = {
    "throughput": "throughput",
    "success_rate": "success rate",
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p999": "p99.9",
    "leak_slope": "RSS leak slope",
    "recovery_time": "recovery time",
    "time_to_first_success": "time to first success",
    "max_sustainable_rate": "max sustainable rate",
    "score": "score",
    "": "—",
}


def verdict_icon(verdict: str) -> str:
    return _ICONS.get(verdict, "")


def figure_name(metric: str) -> str:
    return _NAMES.get(metric, metric)


def figure_value(value: float | None, unit: str) -> str:
    if value is None:
        return fmt.DASH
    if unit == "ms":
        return f"{fmt.ms(value)} ms"
    if unit == "/s":
        return f"{fmt.rate(value)}/s"
    if unit == "ratio":
        return fmt.percent(value)
    if unit == "s":
        return fmt.duration(value)
    if unit == "bytes/h":
        return f"{fmt.size(value)}/h"
    return fmt.number(value, 1)


def change_text(row: ComparisonRow) -> str:
    if row["delta"] is None:
        return fmt.DASH
    if row["metric"] == "success_rate":
        return f"{row['delta'] * 100:+.2f} pts"
    if row["delta_relative"] is None:
        return figure_value(row["delta"], row["unit"])
    return f"{row['delta_relative'] * 100:+.1f}%"


def interval_text(row: ComparisonRow) -> str:
    interval = row["interval"]
    if interval is None:
        return fmt.DASH
    return f"{interval[0] * 100:+.1f}% … {interval[1] * 100:+.1f}%"


def tolerance_text(row: ComparisonRow) -> str:
    if row["verdict"] == "not_comparable" or row["metric"] == "leak_slope":
        return fmt.DASH
    if row["metric"] == "success_rate":
        return f"{row['tolerance'] * 100:g} pts"
    return f"{row['tolerance'] * 100:g}%"


# The reason repeats the change and its interval, which the table has in columns of their own.
_LEADING_FIGURES = re.compile(r"^[+-][0-9.,]+(?:%| points)(?: \(95% CI [^)]*\))?(?:, |: )")


_CI_INCLUDES_ZERO = re.compile(r"the 95% CI \S+ … \S+ includes zero")


def why_text(row: ComparisonRow) -> str:
    """The reason without the figures the row's other cells already show."""
    short = _LEADING_FIGURES.sub("", row["reason"])
    return _CI_INCLUDES_ZERO.sub("the interval includes zero", short)


def where_text(row: ComparisonRow) -> str:
    """target / scenario / operation, as short as it can be."""
    parts = [row["target"], row["scenario"]]
    if row["operation"] and row["operation"] != ALL_OPERATIONS:
        parts.append(row["operation"])
    return " / ".join(p for p in parts if p) or "the run"


def before_after(comparison: Comparison) -> list[ComparisonRow]:
    """The rows of whole scenarios (and the run's score) that were measured on both sides."""
    rows = [
        r
        for r in comparison["rows"]
        if r["operation"] in (ALL_OPERATIONS, "") and r["base"] is not None and r["new"] is not None
    ]
    order = list(_NAMES)
    return sorted(
        rows,
        key=lambda r: (
            r["target"],
            r["scenario"],
            order.index(r["metric"]) if r["metric"] in order else 99,
        ),
    )


def plotted(rows: Sequence[ComparisonRow]) -> list[ComparisonRow]:
    """The forest plot's rows: whole scenarios, and operations whose verdict is not unchanged."""
    return [
        r
        for r in rows
        if r["delta_relative"] is not None
        and r["metric"] != "leak_slope"
        and (r["operation"] in (ALL_OPERATIONS, "") or r["verdict"] != "unchanged")
    ]


def functions() -> dict[str, Callable[..., object]]:
    return {
        "verdict_icon": verdict_icon,
        "figure_name": figure_name,
        "figure_value": figure_value,
        "change_text": change_text,
        "interval_text": interval_text,
        "tolerance_text": tolerance_text,
        "where_text": where_text,
        "why_text": why_text,
        "before_after": before_after,
    }
