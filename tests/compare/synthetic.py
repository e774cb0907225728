"""Synthetic per-interval histograms: loads whose latency distribution is known exactly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from readiness.metrics.histogram import LatencyHistogram
from readiness.results import IntervalData, OperationIntervals


def interval_data(
    latencies_ms: list[npt.NDArray[np.float64]], *, failed: list[int] | None = None
) -> IntervalData:
    """One operation ("op"), one interval per array of latencies (ms)."""
    histograms: list[str] = []
    for values in latencies_ms:
        hist = LatencyHistogram()
        hist.record_many(np.maximum(np.round(values * 1000), 0).astype(np.int64))
        histograms.append(hist.encode() if hist.count else "")
    return IntervalData(
        width_s=1,
        seconds=[1.0] * len(latencies_ms),
        operations={
            "op": OperationIntervals(
                histograms=histograms,
                ok=[len(v) for v in latencies_ms],
                failed=failed or [0] * len(latencies_ms),
            )
        },
    )


def lognormal_load(
    rng: np.random.Generator,
    *,
    intervals: int,
    per_interval: int,
    median_ms: float,
    levels: npt.NDArray[np.float64] | None = None,
) -> list[npt.NDArray[np.float64]]:
    """Latencies per interval; `levels` scales each interval's median (slow stretches)."""
    scale = np.ones(intervals) if levels is None else levels
    return [
        rng.lognormal(np.log(median_ms * scale[i]), 0.5, per_interval) for i in range(intervals)
    ]


def ar1_levels(
    rng: np.random.Generator, n: int, phi: float, sigma: float
) -> npt.NDArray[np.float64]:
    """exp of an AR(1) series: stretches of slow and fast seconds, mean level about 1."""
    x = np.zeros(n)
    noise = rng.normal(0.0, sigma * np.sqrt(1 - phi * phi), n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    levels: npt.NDArray[np.float64] = np.exp(x - x.mean())
    return levels
