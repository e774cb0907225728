"""`run --repeat N`: the repetitions of one scenario pooled into the entry reports, scores and
comparisons read, with every repetition kept beside it and the run-to-run spread of each figure.

Load figures (latency percentiles, rates, throughput) are the pooled ones: histograms merged,
counts summed, per-interval data concatenated in repetition order, so a check on them is judged
on all the requests with an interval that sees the between-run spread too. A kind's own figures
(recovery time, leak verdicts, the scaling table) cannot be pooled: a check on one passes only
when it passed in every repetition, and the sections come from the median repetition (by
throughput).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.summary import latency_summary
from readiness.results import (
    ErrorCounts,
    Histograms,
    IntervalData,
    LatencySummary,
    OperationIntervals,
    OperationResult,
    ScenarioResult,
    Spread,
    Totals,
)

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig

# The figures a pooled entry recomputes; a check on anything else is a kind's own figure.
LOAD_METRICS: Final = frozenset(
    {
        "p50",
        "p90",
        "p95",
        "p99",
        "p999",
        "max",
        "mean",
        "success_rate",
        "error_rate",
        "throughput",
        "late",
        "dropped",
        "timeouts",
        "errors",
    }
)
SPREAD_FIGURES: Final = ("throughput", "success_rate", "p50", "p90", "p95", "p99", "p999")


def _merged(encoded: Sequence[str]) -> LatencyHistogram:
    return LatencyHistogram.merged(LatencyHistogram.decode(t) for t in encoded if t)


def _window(totals: Totals) -> float:
    rate = totals["throughput_rps"]
    return totals["ok"] / rate if rate > 0 else 0.0


def pooled_totals(parts: Sequence[Totals]) -> Totals:
    """Counts summed; rates from the sums (throughput over the summed measured windows)."""
    sent = sum(t["sent"] for t in parts)
    ok = sum(t["ok"] for t in parts)
    rejected = sum(t["rejected"] for t in parts)
    codes: dict[str, int] = {}
    for t in parts:
        for code, n in t["rpc_error_codes"].items():
            codes[code] = codes.get(code, 0) + n
    attempted = sent - rejected
    success = ok / attempted if attempted > 0 else None
    window = sum(_window(t) for t in parts)
    errors = ErrorCounts(
        tool_error=sum(t["errors"]["tool_error"] for t in parts),
        rpc_error=sum(t["errors"]["rpc_error"] for t in parts),
        timeout=sum(t["errors"]["timeout"] for t in parts),
        transport=sum(t["errors"]["transport"] for t in parts),
    )
    return Totals(
        sent=sent,
        ok=ok,
        errors=errors,
        rpc_error_codes=dict(sorted(codes.items())),
        rejected=rejected,
        late=sum(t["late"] for t in parts),
        dropped=sum(t["dropped"] for t in parts),
        cancelled=sum(t["cancelled"] for t in parts),
        success_rate=success,
        error_rate=None if success is None else 1.0 - success,
        throughput_rps=ok / window if window > 0 else 0.0,
    )


def _pooled_intervals(parts: Sequence[ScenarioResult]) -> IntervalData | None:
    found = [p.get("intervals") for p in parts]
    data = [d for d in found if d is not None]
    if len(data) != len(parts) or len({d["width_s"] for d in data}) != 1:
        return None
    names = list(data[0]["operations"])
    if any(list(d["operations"]) != names for d in data):
        return None
    return IntervalData(
        width_s=data[0]["width_s"],
        seconds=[s for d in data for s in d["seconds"]],
        operations={
            name: OperationIntervals(
                histograms=[h for d in data for h in d["operations"][name]["histograms"]],
                ok=[n for d in data for n in d["operations"][name]["ok"]],
                failed=[n for d in data for n in d["operations"][name]["failed"]],
            )
            for name in names
        },
    )


def _pooled_operations(parts: Sequence[ScenarioResult]) -> tuple[list[OperationResult], Histograms]:
    names = [o["name"] for o in parts[0]["operations"]]
    operations: list[OperationResult] = []
    encoded: dict[str, dict[str, str]] = {}
    for name in names:
        mine = [o for p in parts for o in p["operations"] if o["name"] == name]
        hists = [p["histograms"]["operations"].get(name, {}) for p in parts]
        corrected = _merged([h.get("corrected", "") for h in hists])
        uncorrected = _merged([h.get("uncorrected", "") for h in hists])
        encoded[name] = {"corrected": corrected.encode(), "uncorrected": uncorrected.encode()}
        operations.append(
            OperationResult(
                name=name,
                method=mine[0]["method"],
                totals=pooled_totals([o["totals"] for o in mine]),
                latency_ms=latency_summary(corrected),
                latency_uncorrected_ms=latency_summary(uncorrected),
            )
        )
    overall = {
        key: _merged([p["histograms"][key] for p in parts])
        for key in ("corrected", "uncorrected", "failures")
    }
    histograms = Histograms(
        corrected=overall["corrected"].encode(),
        uncorrected=overall["uncorrected"].encode(),
        failures=overall["failures"].encode(),
        operations=encoded,
    )
    return operations, histograms


def _latency(encoded: str) -> LatencySummary:
    return latency_summary(LatencyHistogram.decode(encoded) if encoded else LatencyHistogram())


def spread_of(parts: Sequence[ScenarioResult]) -> dict[str, Spread]:
    """Median and range of each load figure and each check's observed value over the
    repetitions (figures a repetition lacks are left out of that figure's spread)."""
    series: dict[str, list[float]] = {}
    for p in parts:
        figures: dict[str, float | None] = {
            "throughput": p["totals"]["throughput_rps"],
            "success_rate": p["totals"]["success_rate"],
        }
        for name in SPREAD_FIGURES[2:]:
            value = p["latency_ms"][name]
            figures[name] = None if value is None else float(value) / 1000.0  # seconds
        for check in p["checks"]:
            figures.setdefault(check["metric"], check["observed"])
        for name, value in figures.items():
            if value is not None:
                series.setdefault(name, []).append(float(value))
    return {
        name: Spread(
            median=statistics.median(values), min=min(values), max=max(values), values=values
        )
        for name, values in series.items()
    }


def _median_repetition(parts: Sequence[ScenarioResult]) -> ScenarioResult:
    ranked = sorted(parts, key=lambda p: p["totals"]["throughput_rps"])
    return ranked[(len(ranked) - 1) // 2]


def _own_figures(parts: Sequence[ScenarioResult]) -> dict[str, float | None]:
    """A kind's own figures, for the pooled checks: the first failing repetition's value,
    else the median of the repetitions' values."""
    out: dict[str, float | None] = {}
    metrics = {c["metric"] for p in parts for c in p["checks"]} - LOAD_METRICS
    for metric in metrics:
        checks = [c for p in parts for c in p["checks"] if c["metric"] == metric]
        failing = [c for c in checks if not c["passed"]]
        if failing:
            out[metric] = failing[0]["observed"]
            continue
        values = [c["observed"] for c in checks if c["observed"] is not None]
        out[metric] = statistics.median_low(values) if values else None
    return out


def pool_repetitions(parts: Sequence[ScenarioResult], scenario: ScenarioConfig) -> ScenarioResult:
    """The pooled entry of a scenario's repetitions (in order), each kept under `repeats`."""
    from readiness.scenarios.base import judge

    kept = [copy.deepcopy(p) for p in parts]
    ran = [p for p in kept if p["status"] != "error" and p["totals"]["sent"] > 0]
    if not ran:
        pooled = copy.deepcopy(kept[-1])
    else:
        pooled = copy.deepcopy(_median_repetition(ran))
        operations, histograms = _pooled_operations(ran)
        pooled["operations"] = operations
        pooled["histograms"] = histograms
        pooled["totals"] = pooled_totals([p["totals"] for p in ran])
        pooled["latency_ms"] = _latency(histograms["corrected"])
        pooled["latency_uncorrected_ms"] = _latency(histograms["uncorrected"])
        pooled["failure_latency_ms"] = _latency(histograms["failures"])
        pooled["duration_s"] = round(sum(p["duration_s"] for p in kept), 3)
        pooled["partial"] = any(p["partial"] for p in kept)
        pooled["started_at"] = kept[0]["started_at"]
        intervals = _pooled_intervals(ran)
        if intervals is None:
            pooled.pop("intervals", None)
        else:
            pooled["intervals"] = intervals
        pooled["status"] = "passed"
        judge(pooled, scenario, _own_figures(ran))
        errored = [p for p in kept if p["status"] == "error"]
        if errored:
            pooled["status"] = "error"
            pooled["error"] = (
                f"repetition {errored[0].get('repeat', '?')} of {len(kept)}: {errored[0]['error']}"
            )
    pooled["spread"] = spread_of(ran or kept)
    pooled["repeats"] = kept
    pooled.pop("repeat", None)
    return pooled
