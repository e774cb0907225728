"""How sure a threshold check is: a 95% interval of the figure it judges, and a verdict —
pass, fail, or inconclusive when the interval straddles the limit.

A percentile's interval is the wider of two: the distribution-free order-statistic interval on
the merged histogram (exact ranks of a binomial, honest for any latency distribution, but it
assumes independent requests) and the block bootstrap over consecutive intervals (honest about
autocorrelation, but too narrow when there are few blocks). Rates, the mean and throughput come
from the block bootstrap, widened by the count-based interval (Wilson, normal, Poisson) that
holds when the intervals are too few to resample. An interval may be open above (None): 200
requests cannot bound a p99 from above, whatever they show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Literal

import numpy as np

from readiness.compare.bootstrap import (
    QUANTILES,
    FloatArray,
    IntervalMatrix,
    expanded_tail,
    percentiles_of,
    resample_weights,
    side_block_length,
)
from readiness.compare.matrix import scenario_matrices
from readiness.compare.model import ALL_OPERATIONS
from readiness.reports.format import observed as shown
from readiness.results import IntervalData

CheckVerdict = Literal["pass", "fail", "inconclusive"]

MIN_BOOTSTRAP_INTERVALS: Final = 4  # fewer: the count-based interval alone
RESAMPLES: Final = 400
SEED: Final = 20261
LATENCY: Final = (*QUANTILES, "mean")
RATES: Final = ("success_rate", "error_rate")
FIGURES: Final = (*LATENCY, *RATES, "throughput")


@dataclass(frozen=True)
class FigureInterval:
    """A figure's 95% interval in the check's own unit (seconds, ratio, per second); `high` is
    None when the data cannot bound it from above. `n` counts the requests it rests on."""

    low: float
    high: float | None
    n: int
    method: str


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def order_statistic_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int, int | None]:
    """1-based ranks (low, high) bracketing the q-quantile with the given confidence, from the
    binomial(n, q) by its normal approximation with a continuity margin; high None past n."""
    z = _z(confidence)
    centre = n * q
    spread = z * math.sqrt(n * q * (1 - q))
    low = max(1, math.floor(centre - spread))
    high = math.ceil(centre + spread) + 1
    return low, (high if high <= n else None)


def _value_at_rank(counts: FloatArray, values: FloatArray, rank: int) -> float:
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, rank - 1e-9))
    return float(values[min(index, len(values) - 1)])


def _tail_merged(side: IntervalMatrix) -> IntervalMatrix:
    """The load's last interval folded into the one before it when it is under half as long:
    it holds the drain (replies to requests sent earlier) in a sliver of time, and a resample
    that drew it several times would read an absurd rate."""
    if side.n < 2 or side.seconds[-1] >= 0.5 * float(side.seconds.max()):
        return side

    def fold(a: FloatArray) -> FloatArray:
        out: FloatArray = a[:-1].copy()
        out[-1] = out[-1] + a[-1]
        return out

    return IntervalMatrix(
        counts=fold(side.counts),
        ok=fold(side.ok),
        failed=fold(side.failed),
        seconds=fold(side.seconds),
    )


def _bootstrap(
    side: IntervalMatrix, values: FloatArray, confidence: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Each figure's percentile interval over block resamples of the intervals."""
    side = _tail_merged(side)
    if side.n < MIN_BOOTSTRAP_INTERVALS:
        return {}
    block = side_block_length(side, values)
    rng = np.random.default_rng(seed)
    weights = resample_weights(side.n, block, RESAMPLES, rng)
    merged = weights @ side.counts
    ok = weights @ side.ok
    failed = weights @ side.failed
    attempted = ok + failed
    totals = merged.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        figures: dict[str, FloatArray] = {
            "throughput": ok / (weights @ side.seconds),
            "success_rate": ok / attempted,
            "error_rate": failed / attempted,
            "mean": (merged @ values) / totals,
        }
    if side.counts.size and float(side.counts.sum()) > 0:  # no successful request: no latency
        for name, q in QUANTILES.items():
            figures[name] = percentiles_of(merged, values, q)
    tail = expanded_tail(confidence, side.n / block) * 100
    out: dict[str, tuple[float, float]] = {}
    for name, series in figures.items():
        finite = series[np.isfinite(series)]
        if len(finite) >= len(series) / 2:
            low, high = np.percentile(finite, [tail, 100 - tail])
            out[name] = (float(low), float(high))
    return out


def figure_intervals(
    side: IntervalMatrix, values_ms: FloatArray, *, confidence: float = 0.95, seed: int = SEED
) -> dict[str, FigureInterval]:
    """Every figure's interval from one scenario's per-interval data (latency in seconds)."""
    z = _z(confidence)
    merged = side.counts.sum(axis=0)
    total = round(float(merged.sum()))
    ok, failed = float(side.ok.sum()), float(side.failed.sum())
    attempted = ok + failed
    seconds = float(side.seconds.sum())
    boot = _bootstrap(side, values_ms, confidence, seed)
    blocks = f"block bootstrap over {side.n} intervals" if boot else ""
    out: dict[str, FigureInterval] = {}

    def hull(name: str, low: float, high: float | None, n: int, method: str, scale: float) -> None:
        if name in boot:
            b_low, b_high = boot[name]
            low = min(low, b_low)
            high = None if high is None else max(high, b_high)
            method = f"{method} and {blocks}, the wider"
        out[name] = FigureInterval(low * scale, None if high is None else high * scale, n, method)

    if total > 0:
        for name, q in QUANTILES.items():
            r_low, r_high = order_statistic_ranks(total, q / 100.0, confidence)
            low = _value_at_rank(merged, values_ms, r_low)
            high = None if r_high is None else _value_at_rank(merged, values_ms, r_high)
            hull(name, low, high, total, "order statistics of the merged histogram", 1e-3)
        mean = float(merged @ values_ms) / total
        sd = math.sqrt(max(0.0, float(merged @ (values_ms - mean) ** 2) / max(1, total - 1)))
        half = z * sd / math.sqrt(total)
        hull("mean", mean - half, mean + half, total, "normal interval of the mean", 1e-3)
    if attempted > 0:
        for name, hits in (("success_rate", ok), ("error_rate", failed)):
            low, high = _wilson(hits, attempted, z)
            hull(name, low, high, int(attempted), "Wilson interval", 1.0)
    if seconds > 0:
        half = z * math.sqrt(ok)
        hull(
            "throughput",
            max(0.0, ok - half) / seconds,
            (ok + half) / seconds,
            int(ok),
            "Poisson interval of the count",
            1.0,
        )
    return out


def _wilson(hits: float, n: float, z: float) -> tuple[float, float]:
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def decide(
    op: str, limit: float, observed: float, interval: FigureInterval
) -> tuple[CheckVerdict, int | None]:
    """The verdict of `observed op limit` given the figure's interval, and when inconclusive
    about how many requests would decide it (None: the figure sits on the limit)."""
    low = min(interval.low, observed)
    high = None if interval.high is None else max(interval.high, observed)
    upper = op in ("<", "<=")

    def below(x: float | None) -> bool:  # x is on the passing side of an upper limit
        return x is not None and (x < limit if op == "<" else x <= limit)

    def above(x: float | None) -> bool:  # x is on the passing side of a lower limit
        return x is not None and (x > limit if op == ">" else x >= limit)

    if upper:
        if below(high):
            return "pass", None
        if not below(low):
            return "fail", None
    else:
        if above(low):
            return "pass", None
        if high is not None and not above(high):
            return "fail", None
    gap = abs(observed - limit)
    if gap == 0:
        return "inconclusive", None
    # The half-width shrinks as 1/√n: the side that straddles must shrink to the gap.
    side = (high if high is not None else math.inf) - observed
    if (upper and below(observed)) or (not upper and not above(observed)):
        spread = side
    else:
        spread = observed - low
    if not math.isfinite(spread):
        spread = 2 * max(gap, observed - low, 1e-12)
    needed = interval.n * (spread / gap) ** 2
    return "inconclusive", _round_up(max(needed, interval.n + 1))


def _round_up(n: float) -> int:
    """Up to two significant figures: 1234 → 1300."""
    if n < 100:
        return math.ceil(n)
    step = 10 ** (math.floor(math.log10(n)) - 1)
    return int(math.ceil(n / step) * step)


def scenario_figure_intervals(data: IntervalData) -> dict[str, FigureInterval]:
    """The figures' intervals of a scenario from its results.json `intervals` (all operations
    together); empty when it recorded no interval."""
    names = list(data["operations"])
    if not names or not data["operations"][names[0]]["ok"]:
        return {}
    matrices = scenario_matrices(data, data, names)
    return figure_intervals(matrices.base[ALL_OPERATIONS], matrices.values_ms)


def judged(
    metric: str, op: str, limit: float, observed: float, unit: str, interval: FigureInterval
) -> tuple[CheckVerdict, str]:
    """The verdict and its reason, e.g. "p99 28.1 ms, 95% interval 21.4–41.0 ms, limit 30 ms:
    run longer — about 2,400 requests would decide it"."""
    verdict, needed = decide(op, limit, observed, interval)
    low = shown(min(interval.low, observed), unit)
    high = "unbounded" if interval.high is None else shown(max(interval.high, observed), unit)
    head = (
        f"{metric} {shown(observed, unit)}, 95% interval {low}–{high},"
        f" limit {op} {shown(limit, unit)}"
    )
    if verdict == "pass":
        return verdict, f"{head}: the whole interval passes"
    if verdict == "fail":
        return verdict, f"{head}: the whole interval fails"
    if needed is None:
        return verdict, f"{head}: the figure sits on the limit; no run length would decide it"
    return verdict, f"{head}: run longer — about {needed:,} requests would decide it"
