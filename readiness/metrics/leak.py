"""Leak statistics: a robust slope with a confidence interval over resource samples, and the
leak / stable / inconclusive verdicts the memory scenario reports for RSS, FDs and threads.

The idea, once. A server's RSS under load is a floor (what it really holds) plus noise on top:
objects in flight, allocator jumps, the sawtooth between garbage collections. A leak raises the
floor. So the samples after warm-up are cut into consecutive windows (20, or fewer so that each
has at least 8 samples, 2 s at 250 ms) and each window contributes one point: its minimum, at
the x (completed requests, or time) of the sample where the minimum was seen. A line through
those floors is fitted with Theil–Sen (the median of all pairwise slopes), which a few wild
points cannot move, and its confidence interval comes from Sen's method (inverting Kendall's
tau). Short windows are what let one-off noise through: with 4-sample windows, in-flight FDs
kept the minimum off the floor often enough to fake a trend.

Why windows and not the raw samples: neighbouring samples are strongly autocorrelated (an
allocation lives for seconds), so an interval over raw samples pretends to have thousands of
independent points and is far too narrow (37% coverage for nominal 95% on AR(1) noise, against
92% for window minimums). Window minimums are close to independent once a window outlasts the
noise's memory (a 10-minute soak gives 30 s windows), and Sen's normal approximation is sound
from about ten points. The x of the minimum, rather than the window's mid-point, keeps every
fitted point a real observation, so an exact line is recovered exactly however unevenly its x
is spaced; the interval stays valid because windows keep x in order and each window's noise
is independent of the others'.

The limit: a window must outlast a GC cycle for its minimum to find the floor, and a run that
never sees a collection (shorter than one cycle) shows the ramp up to it as steady growth,
which no statistic can tell from a leak. Run longer than the server's GC cycle.

Samples are taken to be evenly spaced in time (the sampler's fixed interval) and already
exclude warm-up. `requests` is the cumulative count of completed requests at each sample.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
Verdict = Literal["leak", "stable", "inconclusive"]

DEFAULT_WINDOWS = 20
CONFIDENCE = 0.95  # of the verdicts' intervals
MIN_WINDOWS = 6
MIN_WINDOW_SAMPLES = 8
MIN_SAMPLES = MIN_WINDOWS * MIN_WINDOW_SAMPLES
DEFAULT_THRESHOLD_BYTES_PER_1K = 1024.0
DEFAULT_MIN_GROWTH_BYTES = 5 * 2**20
DEFAULT_MIN_COUNT_INCREASE = 2


@dataclass(frozen=True)
class SlopeFit:
    """A Theil–Sen line with Sen's confidence interval for its slope."""

    slope: float  # units of y per unit of x
    low: float  # lower bound of the confidence interval
    high: float  # upper bound
    intercept: float
    n_points: int  # points actually fitted (after aggregation into windows)
    method: str  # e.g. "theil-sen on 20 window minimums"


@dataclass(frozen=True)
class LeakVerdict:
    """Whether one resource grew steadily with load, with the fits and the sentence behind it.

    `per_1k_requests` and `per_hour` are in `unit`s (bytes for RSS, the counted thing for FDs
    and threads). `growth` is the last window minimum minus the first, in the same unit;
    `growth_percent` is that relative to the first (None when the first is zero).
    """

    verdict: Verdict
    reason: str
    per_1k_requests: SlopeFit | None
    per_hour: SlopeFit | None
    growth: int
    growth_percent: float | None
    unit: str


def robust_slope(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    windows: int | None = None,
    confidence: float = 0.95,
) -> SlopeFit | None:
    """The slope of y's floor against x: Theil–Sen on per-window minimums, Sen's interval.

    `x` must be non-decreasing (time, or a cumulative count). `windows=None` takes up to 20
    windows of at least 8 samples; `windows=len(x)` fits the raw points. None when there are
    fewer than 6 windows, or when x does not vary across them.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    xs, ys = _series(x, y)
    count = _window_count(len(ys), windows)
    if count < MIN_WINDOWS:
        return None
    at = _window_minima(ys, count)
    return _theil_sen(xs[at], ys[at], confidence)


def rss_verdict(
    t_s: npt.ArrayLike,
    rss_bytes: npt.ArrayLike,
    requests: npt.ArrayLike,
    *,
    threshold_bytes_per_1k: float = DEFAULT_THRESHOLD_BYTES_PER_1K,
    min_growth_bytes: int = DEFAULT_MIN_GROWTH_BYTES,
) -> LeakVerdict:
    """Leak when RSS rose steadily with completed requests; stable when it provably did not.

    `leak`: the interval's lower bound exceeds the threshold, the floor grew by more than
    `min_growth_bytes`, and a line explains the floors better than a single step. The last
    rule keeps a one-off allocation in mid-run (a cache filling) from reading as a leak: one
    run cannot tell it from growth in bursts, so it is `inconclusive`, and a step near either
    end barely moves the median slope anyway. `stable`: the upper bound is below the
    threshold. Otherwise `inconclusive`, saying why.
    """
    fits = _fit_floors(t_s, rss_bytes, requests)
    if isinstance(fits, str):
        return LeakVerdict("inconclusive", fits, None, None, 0, None, "bytes")
    per_1k, grew = fits.per_1k, _signed_size(fits.growth)
    if fits.growth_percent is not None:
        grew += f" ({fits.growth_percent:+.1f}%)"
    threshold = f"{_size(threshold_bytes_per_1k)} per 1,000 requests"

    def verdict(kind: Verdict, reason: str) -> LeakVerdict:
        return LeakVerdict(
            kind, reason, per_1k, fits.per_hour, fits.growth, fits.growth_percent, "bytes"
        )

    if per_1k is None:
        return verdict("inconclusive", fits.no_slope_reason)
    slope = _bytes_per_1k(per_1k)
    if per_1k.low > threshold_bytes_per_1k:
        if fits.growth <= min_growth_bytes:
            return verdict(
                "inconclusive",
                f"slope {slope} exceeds {threshold}, but RSS grew only {grew}, within the "
                f"{_size(min_growth_bytes)} floor; run longer",
            )
        step = _one_step(fits, per_1k)
        if step is not None:
            return verdict("inconclusive", _step_reason("RSS", _signed_size(step[0]), step[1]))
        hourly = "" if fits.per_hour is None else f", {_size(fits.per_hour.slope)} per hour"
        return verdict("leak", f"slope {slope} exceeds {threshold}; RSS grew {grew}{hourly}")
    if per_1k.high < threshold_bytes_per_1k:
        return verdict("stable", f"slope {slope} is below {threshold}; RSS changed {grew}")
    return verdict(
        "inconclusive",
        f"slope {slope}: the interval straddles {threshold}; RSS changed {grew}; "
        "run longer to narrow it",
    )


def count_verdict(
    t_s: npt.ArrayLike,
    counts: npt.ArrayLike,
    requests: npt.ArrayLike,
    *,
    what: str,
    min_increase: int = DEFAULT_MIN_COUNT_INCREASE,
) -> LeakVerdict:
    """Leak when an integer resource (FDs, threads) grew steadily with completed requests.

    Any steady growth counts, so there is no rate threshold. `leak` needs all of: the
    interval's lower bound above zero, a fitted trend that adds at least one over the run, a
    floor that grew by at least `min_increase`, and a line that explains the floors better than
    a single step (as for RSS). `stable`: even the upper bound adds less than one over the run,
    which a one-off step near either end can leave true; the reason gives both floors.
    """
    fits = _fit_floors(t_s, counts, requests)
    if isinstance(fits, str):
        return LeakVerdict("inconclusive", fits, None, None, 0, None, what)
    per_1k = fits.per_1k

    def verdict(kind: Verdict, reason: str) -> LeakVerdict:
        return LeakVerdict(
            kind, reason, per_1k, fits.per_hour, fits.growth, fits.growth_percent, what
        )

    if per_1k is None:
        return verdict("inconclusive", fits.no_slope_reason)
    first, last = int(fits.floors[0]), int(fits.floors[-1])
    changed = f"{what} went from {first:,} to {last:,}"
    slope = _count_per_1k(per_1k)
    over_run = per_1k.slope * fits.requests_k
    if per_1k.low > 0 and over_run >= 1 and fits.growth >= min_increase:
        step = _one_step(fits, per_1k)
        if step is not None:
            return verdict("inconclusive", _step_reason(what, f"{step[0]:+,.0f}", step[1]))
        return verdict("leak", f"{changed}, steadily: {slope}")
    if per_1k.high * fits.requests_k < 1:
        return verdict(
            "stable", f"{changed}; no steady growth: the trend adds less than one over the run"
        )
    if fits.growth >= 1 and per_1k.low <= 0:
        why = "not steadily (a one-off step?)"
    else:
        why = f"the trend ({slope}) is not clear"
    return verdict("inconclusive", f"{changed}, {why}; run longer to tell")


def settle_fraction(before_load: int, peak: int, after_settle: int) -> float | None:
    """The share of the growth under load given back after the idle settle period.

    1.0 is back at the pre-load level, 0 gave nothing back, above 1 fell below the pre-load
    level, below 0 kept growing while idle. None when there was no growth to give back.
    """
    growth = peak - before_load
    if growth <= 0:
        return None
    return (peak - after_settle) / growth


@dataclass(frozen=True)
class _Floors:
    floors: FloatArray  # per-window minimums
    requests: FloatArray  # cumulative completed requests where each minimum was seen
    times: FloatArray  # seconds, likewise
    per_1k: SlopeFit | None
    per_hour: SlopeFit | None
    growth: int
    growth_percent: float | None
    no_slope_reason: str  # why per_1k is None, when it is

    @property
    def requests_k(self) -> float:
        """Thousands of requests between the first and the last window minimum."""
        return float(self.requests[-1] - self.requests[0]) / 1000


def _fit_floors(t_s: npt.ArrayLike, y: npt.ArrayLike, requests: npt.ArrayLike) -> _Floors | str:
    """Window floors and their fits against requests and time; a reason string if too short."""
    times, ys = _series(t_s, y, "t_s")
    done, _ = _series(requests, ys, "requests (cumulative completed)")
    n = len(ys)
    count = _window_count(n, None)
    if count < MIN_WINDOWS:
        span = float(times[-1] - times[0]) if n else 0.0
        return (
            f"only {n} samples over {span:.1f} s after warm-up; the fit needs at least "
            f"{MIN_SAMPLES} ({MIN_WINDOWS} windows of {MIN_WINDOW_SAMPLES}); run longer"
        )
    at = _window_minima(ys, count)
    floors = ys[at]
    growth = round(float(floors[-1] - floors[0]))
    percent = growth / float(floors[0]) * 100 if floors[0] > 0 else None
    per_hour = _theil_sen(times[at] / 3600, floors, CONFIDENCE)
    if done[-1] <= done[0]:
        per_1k, why = None, "no requests completed after warm-up, so there is no slope per request"
    else:
        per_1k = _theil_sen(done[at] / 1000, floors, CONFIDENCE)
        why = "requests completed in too few windows to fit a slope per request"
    return _Floors(floors, done[at], times[at], per_1k, per_hour, growth, percent, why)


def _one_step(fits: _Floors, line: SlopeFit) -> tuple[float, float] | None:
    """(rise, seconds) when one step explains the floors better than the line does, else None.

    Both are judged by the sum of absolute residuals: the line's from the fit, the step's from
    each side's median at the best split.
    """
    y, x = fits.floors, fits.requests / 1000
    line_residual = float(np.abs(y - line.intercept - line.slope * x).sum())
    best: tuple[float, int] | None = None
    for split in range(1, len(y)):
        left, right = y[:split], y[split:]
        residual = float(
            np.abs(left - np.median(left)).sum() + np.abs(right - np.median(right)).sum()
        )
        if best is None or residual < best[0]:
            best = (residual, split)
    if best is None or best[0] >= line_residual:
        return None
    split = best[1]
    return float(np.median(y[split:]) - np.median(y[:split])), float(fits.times[split])


def _step_reason(what: str, rise: str, at_s: float) -> str:
    return (
        f"{what} rose in one step of {rise} near {at_s:.0f} s and stayed flat before and after: "
        "a one-off (a cache or pool filling?) rather than steady growth; run longer or "
        "lengthen the warm-up to tell them apart"
    )


def _series(x: npt.ArrayLike, y: npt.ArrayLike, x_name: str = "x") -> tuple[FloatArray, FloatArray]:
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or ys.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"expected two 1-D series of one length, got {xs.shape} and {ys.shape}")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ValueError("series must be finite (no NaN or infinity)")
    if np.any(np.diff(xs) < 0):
        raise ValueError(f"{x_name} must be non-decreasing (time, or a cumulative count)")
    return xs, ys


def _window_count(n: int, windows: int | None) -> int:
    if windows is None:
        return min(DEFAULT_WINDOWS, n // MIN_WINDOW_SAMPLES)
    if windows < 1:
        raise ValueError(f"windows must be at least 1, got {windows}")
    return min(windows, n)


def _window_minima(y: FloatArray, count: int) -> IndexArray:
    """The index of the minimum of each of `count` consecutive, near-equal windows."""
    edges = np.arange(count + 1) * len(y) // count
    return np.array(
        [start + int(np.argmin(y[start:end])) for start, end in itertools.pairwise(edges.tolist())],
        dtype=np.intp,
    )


def _theil_sen(x: FloatArray, y: FloatArray, confidence: float) -> SlopeFit | None:
    """Theil–Sen over the points, with Sen's (1968) interval; x sorted. None if x is constant."""
    n = len(x)
    i, j = np.triu_indices(n, k=1)
    dx = x[j] - x[i]
    varies = dx != 0
    if not varies.any():
        return None
    slopes = np.sort((y[j] - y[i])[varies] / dx[varies])
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    # Variance of Kendall's S under no trend, corrected for ties in x only: at the true slope
    # the residuals are continuous, so ties in y (whole-number counts) do not make ties there.
    _, ties = np.unique(x, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18
    spread = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(max(variance, 0.0))
    pairs = len(slopes)
    low = slopes[max(round((pairs - spread) / 2) - 1, 0)]
    high = slopes[min(round((pairs + spread) / 2), pairs - 1)]
    return SlopeFit(
        slope=slope,
        low=float(low),
        high=float(high),
        intercept=intercept,
        n_points=n,
        method=f"theil-sen on {n} window minimums, Sen's {confidence:.0%} interval",
    )


_SIZE_STEPS = (("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10))


def _size_unit(magnitude: float) -> tuple[str, float]:
    for name, scale in _SIZE_STEPS:
        if magnitude >= scale:
            return name, scale
    return "B", 1.0


def _size(value: float) -> str:
    name, scale = _size_unit(abs(value))
    return f"{value / scale:,.1f} {name}" if scale > 1 else f"{value:,.0f} B"


def _signed_size(value: float) -> str:
    return f"+{_size(value)}" if value > 0 else _size(value)


def _amount(value: float) -> str:
    return f"{value:,.3g}"


def _bytes_per_1k(fit: SlopeFit) -> str:
    """ "19.5 MiB per 1,000 requests (95% CI 19.4 to 19.6 MiB)": bounds in the slope's unit."""
    name, scale = _size_unit(max(abs(fit.slope), abs(fit.low), abs(fit.high)))
    digits = 1 if scale > 1 else 0

    def show(v: float) -> str:
        return f"{v / scale:,.{digits}f}"

    return (
        f"{show(fit.slope)} {name} per 1,000 requests "
        f"(95% CI {show(fit.low)} to {show(fit.high)} {name})"
    )


def _count_per_1k(fit: SlopeFit) -> str:
    return (
        f"{_amount(fit.slope)} per 1,000 requests "
        f"(95% CI {_amount(fit.low)} to {_amount(fit.high)})"
    )
