"""The between-run spread of `run --repeat`: when both sides kept their repetitions, an interval
of the relative change from the repetitions' own figures (Student's t on their logarithms), which
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


def log_ratio_interval(
    base: Sequence[float], new: Sequence[float], confidence: float
) -> tuple[float, float] | None:
    """Interval of new/base − 1 from two small samples of positive figures: Student's t on their
    logarithms with the variance pooled. Both sides ran the same suite on the same kind of
    machine, so their run-to-run noise is one multiplicative spread; with equal repetitions the
    standard error is Welch's, but Welch's estimated degrees of freedom collapse towards
    n − 1 with 2–5 repetitions (t = 4.3 at 3 + 3), and a +50% change would go unseen."""
    if min(len(base), len(new)) < MIN_REPEATS or min(*base, *new) <= 0:
        return None
    lb, ln = [math.log(x) for x in base], [math.log(x) for x in new]
    d = statistics.fmean(ln) - statistics.fmean(lb)
    df = len(lb) + len(ln) - 2
    pooled = (
        (len(lb) - 1) * statistics.variance(lb) + (len(ln) - 1) * statistics.variance(ln)
    ) / df
    se = math.sqrt(pooled * (1 / len(lb) + 1 / len(ln)))
    if se == 0:
        return math.exp(d) - 1, math.exp(d) - 1
    t = t_quantile(1 - (1 - confidence) / 2, df)
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
        found = log_ratio_interval(xb, xn, confidence)
        if found is not None:
            out[metric] = found
    return out, len(rb), len(rn)
