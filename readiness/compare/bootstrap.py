"""Block bootstrap over consecutive intervals: confidence intervals of the relative change in
throughput, success rate and latency percentiles between two loads.

A side is a matrix of per-interval bucket counts (intervals × buckets). A resample picks
blocks of consecutive intervals with replacement (circular moving blocks, so autocorrelation
inside a block survives); its merged histogram is a weighted sum of rows — one matrix product
for all resamples — and every percentile is read from that merged histogram, never averaged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

QUANTILES: Final[Mapping[str, float]] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p999": 99.9,
}
RATES: Final = ("throughput", "success_rate")
_FLOAT32_EXACT: Final = 1 << 24  # sums of counts below this are exact in float32


@dataclass(frozen=True)
class IntervalMatrix:
    """One side of a comparison: bucket counts per interval, and ok / failed per interval."""

    counts: FloatArray  # (intervals, buckets); columns shared with the other side
    ok: FloatArray  # (intervals,)
    failed: FloatArray  # (intervals,)
    seconds: FloatArray  # (intervals,) each interval's length

    @property
    def n(self) -> int:
        return int(self.counts.shape[0])

    def mean_latency(self, values: FloatArray) -> FloatArray:
        """Per-interval mean of the ok requests' latency (NaN-free: empty intervals read 0)."""
        totals = self.counts.sum(axis=1)
        sums = self.counts @ values
        out: FloatArray = np.divide(sums, totals, out=np.zeros_like(sums), where=totals > 0)
        return out


def block_length(series: FloatArray) -> int:
    """A block length from the data: at least n^(1/3), and long enough to span the lags whose
    autocorrelation is still significant (|acf| ≥ 2/√n), at most a quarter of the series."""
    n = len(series)
    if n < 4:
        return 1
    base = max(1, round(math.cbrt(n)))
    x = series - series.mean()
    variance = float(x @ x)
    if variance == 0.0:
        return base
    acf = np.correlate(x, x, mode="full")[n:] / variance  # lags 1 … n-1
    bound = 2.0 / math.sqrt(n)
    insignificant = np.flatnonzero(np.abs(acf[: n // 2]) < bound)
    span = int(insignificant[0]) + 1 if len(insignificant) else n // 2
    return min(max(base, span), max(1, n // 4))


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, Cornish–Fisher beyond (within
    1% of the exact value at 3, 0.1% from 5 on)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def expanded_tail(confidence: float, blocks: float) -> float:
    """The tail (a fraction) to read the bootstrap distribution at, so that an interval from few
    independent pieces — blocks — is not too narrow: Hesterberg's expanded percentile interval,
    Φ(−√(b/(b−1))·t(b−1)). About (1 − confidence)/2 when there are many blocks."""
    if blocks < 2:
        return 0.0
    df = max(1, math.floor(blocks - 1))
    x = math.sqrt(blocks / (blocks - 1)) * t_quantile(1 - (1 - confidence) / 2, df)
    return NormalDist().cdf(-x)


def resample_weights(n: int, length: int, resamples: int, rng: np.random.Generator) -> FloatArray:
    """(resamples, n): how often each interval appears in each circular block resample."""
    blocks = -(-n // length)
    starts = rng.integers(0, n, size=(resamples, blocks))
    picked = (starts[:, :, None] + np.arange(length)) % n
    picked = picked.reshape(resamples, blocks * length)[:, :n]
    flat = picked + (np.arange(resamples) * n)[:, None]
    weights = np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n)
    return weights.astype(np.float64)


def percentiles_of(merged: FloatArray, values: FloatArray, q: float) -> FloatArray:
    """The q-th percentile of each row's histogram (bucket values in `values`); NaN if empty."""
    cumulative = np.cumsum(merged, axis=1)
    total = cumulative[:, -1]
    rank = np.maximum(np.ceil(total * (q / 100.0) - 1e-9), 1.0)
    index = np.minimum((cumulative < rank[:, None]).sum(axis=1), merged.shape[1] - 1)
    out: FloatArray = np.where(total > 0, values[index], np.nan)
    return out


def _product(weights: FloatArray, matrix: FloatArray) -> FloatArray:
    # float32 halves the cost of the one big product; exact while the sums stay below 2**24.
    if matrix.size and float(matrix.sum()) * float(weights.max(initial=0.0)) < _FLOAT32_EXACT:
        product: FloatArray = (weights.astype(np.float32) @ matrix.astype(np.float32)).astype(
            np.float64
        )
        return product
    out: FloatArray = weights @ matrix
    return out


def resampled_figures(
    side: IntervalMatrix, values: FloatArray, weights: FloatArray
) -> dict[str, FloatArray]:
    """Each figure of each resample: throughput, success rate and the percentiles."""
    merged = _product(weights, side.counts)
    ok = weights @ side.ok
    attempted = ok + weights @ side.failed
    out: dict[str, FloatArray] = {
        "throughput": ok / (weights @ side.seconds),
        "success_rate": np.divide(ok, attempted, out=np.full_like(ok, np.nan), where=attempted > 0),
    }
    for name, q in QUANTILES.items():
        out[name] = percentiles_of(merged, values, q)
    return out


@dataclass(frozen=True)
class RelativeIntervals:
    """Confidence intervals of new/base − 1 per figure (None when too few resamples were finite)."""

    intervals: dict[str, tuple[float, float] | None]
    base_block: int
    new_block: int


def side_block_length(side: IntervalMatrix, values: FloatArray) -> int:
    """The longer of the block lengths the latency and the throughput series call for."""
    return max(block_length(side.mean_latency(values)), block_length(side.ok))


def relative_intervals(
    base: IntervalMatrix,
    new: IntervalMatrix,
    values: FloatArray,
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    blocks: tuple[int, int] | None = None,
    weights: tuple[FloatArray, FloatArray] | None = None,
) -> RelativeIntervals:
    """Bootstrap both sides independently and read the interval of the relative change.

    `weights` lets several groups of the same intervals (the operations of one scenario) share
    one set of resamples; `blocks` their block lengths.
    """
    base_block, new_block = blocks or (
        side_block_length(base, values),
        side_block_length(new, values),
    )
    if weights is None:
        rng = np.random.default_rng(seed)
        weights = (
            resample_weights(base.n, base_block, resamples, rng),
            resample_weights(new.n, new_block, resamples, rng),
        )
    before = resampled_figures(base, values, weights[0])
    after = resampled_figures(new, values, weights[1])
    blocks_seen = min(base.n / base_block, new.n / new_block)
    tail = expanded_tail(confidence, blocks_seen) * 100
    intervals: dict[str, tuple[float, float] | None] = {}
    for name, b in before.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            change = after[name] / b - 1.0
        finite = change[np.isfinite(change)]
        if len(finite) < len(change) / 2:
            intervals[name] = None
            continue
        low, high = np.percentile(finite, [tail, 100 - tail])
        intervals[name] = (float(low), float(high))
    return RelativeIntervals(intervals, base_block, new_block)
