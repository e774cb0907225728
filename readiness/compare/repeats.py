"""The between-run spread of `run --repeat`: when both sides kept their repetitions, an interval
of the relative change from the repetitions' own figures (Welch's t on their logarithms), which
the comparison holds beside the block bootstrap's and keeps the wider of."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Final

from readiness.compare.bootstrap import QUANTILES, t_quantile
from readiness.results import ScenarioResult

MIN_REPEATS: Final = 2


def _figure(s: ScenarioResult, metric: str) -> float | None:
    if metric == "throughput":
        return s["totals"]["throughput_rps"]
    if metric == "success_rate":
        return s["totals"]["success_rate"]
    value = s["latency_ms"][metric]  # type: ignore[literal-required]
    return None if value is None else float(value)


def repetitions(s: ScenarioResult) -> list[ScenarioResult]:
    """The repetitions that ran (not errored, something sent)."""
    return [r for r in s.get("repeats", []) if r["status"] != "error" and r["totals"]["sent"]]


def welch_log_interval(
    base: Sequence[float], new: Sequence[float], confidence: float
) -> tuple[float, float] | None:
    """Interval of new/base − 1 from two small samples of positive figures."""
    if min(len(base), len(new)) < MIN_REPEATS or min(*base, *new) <= 0:
        return None
    lb, ln = [math.log(x) for x in base], [math.log(x) for x in new]
    d = statistics.fmean(ln) - statistics.fmean(lb)
    vb, vn = statistics.variance(lb) / len(lb), statistics.variance(ln) / len(ln)
    se = math.sqrt(vb + vn)
    if se == 0:
        return math.exp(d) - 1, math.exp(d) - 1
    df = se**4 / (vb**2 / (len(lb) - 1) + vn**2 / (len(ln) - 1))
    t = t_quantile(1 - (1 - confidence) / 2, max(1, math.floor(df)))
    return math.exp(d - t * se) - 1, math.exp(d + t * se) - 1


def between_run_intervals(
    base: ScenarioResult, new: ScenarioResult, confidence: float
) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Each load figure's between-run interval, and how many repetitions each side had."""
    rb, rn = repetitions(base), repetitions(new)
    out: dict[str, tuple[float, float]] = {}
    if min(len(rb), len(rn)) < MIN_REPEATS:
        return out, len(rb), len(rn)
    for metric in ("throughput", "success_rate", *QUANTILES):
        xb = [v for r in rb if (v := _figure(r, metric)) is not None]
        xn = [v for r in rn if (v := _figure(r, metric)) is not None]
        found = welch_log_interval(xb, xn, confidence)
        if found is not None:
            out[metric] = found
    return out, len(rb), len(rn)
