"""Leak statistics on synthetic series: a known slope plus noise, steps, GC sawtooths, FD leaks.

Properties are checked over many seeded runs, not one lucky seed. Magnitudes follow a real
soak: RSS 60–80 MiB, a few hundred KiB of noise with occasional 1–4 MiB allocator jumps, 250 ms
samples, 500–800 requests/s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from readiness.metrics.leak import (
    MIN_SAMPLES,
    count_verdict,
    robust_slope,
    rss_verdict,
    settle_fraction,
)

KiB = 1024
MiB = 1024 * KiB
PAGE = 4096
INTERVAL = 0.25

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Run:
    t_s: Floats
    values: Floats  # RSS in bytes, or a count
    requests: Floats  # cumulative completed requests


def soak(seed: int, seconds: float, *, leak_per_call: float = 0.0) -> Run:
    """RSS of a server under load: flat (or leaking) plus noise and short allocator jumps."""
    rng = np.random.default_rng(seed)
    n = round(seconds / INTERVAL)
    t = np.arange(n, dtype=np.float64) * INTERVAL
    requests = np.cumsum(rng.poisson(rng.uniform(500, 800) * INTERVAL, n)).astype(np.float64)
    rss = rng.uniform(60, 80) * MiB + leak_per_call * requests
    rss = rss + rng.normal(0, rng.uniform(100, 400) * KiB, n)
    for start in rng.choice(n, size=rng.poisson(n / 80), replace=False):
        rss[start : start + rng.integers(1, 9)] += rng.uniform(1, 4) * MiB
    return Run(t, (np.round(rss / PAGE) * PAGE).astype(np.float64), requests)


def sawtooth(t: Floats, period_s: float, amplitude: float) -> Floats:
    """Garbage-collector RSS: a linear climb to a peak, a drop to the floor, again."""
    return amplitude * ((t / period_s) % 1.0)


def fds(seed: int, seconds: float, *, one_per: int | None = None) -> Run:
    """Open FDs: a base, a few held by requests in flight, and +1 per `one_per` requests."""
    rng = np.random.default_rng(seed)
    n = round(seconds / INTERVAL)
    requests = np.cumsum(rng.poisson(650 * INTERVAL, n)).astype(np.float64)
    counts = 18 + rng.binomial(4, 0.3, n).astype(np.float64)
    if one_per is not None:
        counts += requests // one_per
    return Run(np.arange(n, dtype=np.float64) * INTERVAL, counts, requests)


def with_step(run: Run, at: float, size: float) -> Run:
    values = run.values.copy()
    values[round(at * len(values)) :] += size
    return Run(run.t_s, values, run.requests)


# robust_slope


@given(
    n=st.integers(MIN_SAMPLES, 170),
    gaps=st.lists(st.integers(1, 1000), min_size=170, max_size=170),
    intercept=st.floats(0, 1e8),
    slope=st.floats(-1e4, 1e4),
    raw=st.booleans(),
)
def test_an_exact_line_is_recovered_exactly_with_a_zero_width_interval(
    n: int, gaps: list[int], intercept: float, slope: float, raw: bool
) -> None:
    x = np.cumsum(np.array(gaps[:n], dtype=np.float64))
    fit = robust_slope(x, intercept + slope * x, windows=n if raw else None)
    assert fit is not None
    tolerance = 1e-5 * (1 + abs(slope))
    assert fit.slope == pytest.approx(slope, abs=tolerance)
    assert fit.low == pytest.approx(slope, abs=tolerance)
    assert fit.high == pytest.approx(slope, abs=tolerance)
    assert fit.n_points == (n if raw else 20 if n >= 160 else n // 8)


@given(
    gaps=st.lists(st.integers(0, 3), min_size=6, max_size=60),
    ys=st.lists(st.floats(-1e9, 1e9), min_size=60, max_size=60),
    windows=st.integers(6, 60),
)
def test_the_interval_always_contains_the_estimate(
    gaps: list[int], ys: list[float], windows: int
) -> None:
    x = np.cumsum(np.array(gaps, dtype=np.float64))
    assume(x[-1] > x[0])
    fit = robust_slope(x, ys[: len(x)], windows=windows)
    assume(fit is not None)  # x may not vary across the windows' minimums
    assert fit is not None
    assert fit.low <= fit.slope <= fit.high


def test_the_interval_covers_the_true_slope_in_about_95_percent_of_noisy_runs() -> None:
    covered, errors = 0, []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x = np.sort(rng.uniform(0, 1000, 600))
        fit = robust_slope(x, 5 + 2.0 * x + rng.normal(0, 50, 600))
        assert fit is not None
        covered += fit.low <= 2.0 <= fit.high
        errors.append(fit.slope - 2.0)
    assert 0.88 <= covered / 200 <= 0.99
    assert abs(float(np.median(errors))) < 0.01
    assert float(np.std(errors)) < 0.05


def test_window_minimums_keep_coverage_under_autocorrelated_noise_where_raw_points_lose_it() -> (
    None
):
    windowed = raw = 0
    trials = 60
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        n = 400
        x = np.arange(n) * INTERVAL
        noise = np.zeros(n)
        shocks = rng.normal(0, 1, n)
        for k in range(1, n):  # AR(1): each sample keeps 90% of the last one's noise
            noise[k] = 0.9 * noise[k - 1] + shocks[k]
        y = 10 + 0.5 * x + noise
        by_window, by_point = robust_slope(x, y), robust_slope(x, y, windows=n)
        assert by_window is not None
        assert by_point is not None
        windowed += by_window.low <= 0.5 <= by_window.high
        raw += by_point.low <= 0.5 <= by_point.high
    assert windowed / trials >= 0.85
    assert raw / trials <= 0.6


@pytest.mark.parametrize(("k", "m"), [(10, 10), (8, 13), (25, 6)])
def test_with_x_at_two_values_the_interval_is_the_mann_whitney_interval_for_the_shift(
    k: int, m: int
) -> None:
    # Kendall's S with ties in x reduces to 2U - km, so Sen's interval must be the
    # Hodges–Lehmann one; without the tie correction it comes out wider.
    rng = np.random.default_rng(k * m)
    y = np.concatenate([rng.normal(0, 1, k), rng.normal(3, 1, m)])
    fit = robust_slope(np.array([0.0] * k + [1.0] * m), y, windows=k + m)
    assert fit is not None
    shifts = np.sort(np.subtract.outer(y[k:], y[:k]).ravel())
    reach = 1.959964 * np.sqrt(k * m * (k + m + 1) / 12)
    assert fit.slope == pytest.approx(float(np.median(shifts)))
    assert fit.low == shifts[round(k * m / 2 - reach) - 1]
    assert fit.high == shifts[round(k * m / 2 + reach)]


def test_too_few_points_give_no_fit() -> None:
    x = np.arange(MIN_SAMPLES - 1, dtype=np.float64)
    assert robust_slope(x, 3 * x) is None
    assert robust_slope(x, 3 * x, windows=5) is None
    assert robust_slope(np.zeros(100), np.arange(100.0)) is None  # x never moves
    fit = robust_slope(np.arange(float(MIN_SAMPLES)), np.arange(float(MIN_SAMPLES)))
    assert fit is not None
    assert fit.n_points == 6
    assert "window minimums" in fit.method


def test_bad_series_are_rejected() -> None:
    with pytest.raises(ValueError, match="one length"):
        robust_slope([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-decreasing"):
        robust_slope([3, 2, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        robust_slope([1, 2, 3], [1, float("nan"), 3])
    with pytest.raises(ValueError, match="confidence"):
        robust_slope([1, 2, 3], [1, 2, 3], confidence=95)
    t = np.arange(100) * INTERVAL
    with pytest.raises(ValueError, match="requests"):
        rss_verdict(t, np.ones(100), np.arange(100)[::-1])  # per-interval, not cumulative


# rss_verdict


@pytest.mark.parametrize("seconds", [20, 60])
def test_a_20_kib_per_call_leak_is_flagged_with_its_slope(seconds: int) -> None:
    true_per_1k = 20 * KiB * 1000
    for seed in range(20):
        run = soak(seed, seconds, leak_per_call=20 * KiB)
        verdict = rss_verdict(run.t_s, run.values, run.requests)
        assert verdict.verdict == "leak", verdict.reason
        assert verdict.per_1k_requests is not None
        assert verdict.per_1k_requests.slope == pytest.approx(true_per_1k, rel=0.3)
        rate = run.requests[-1] / run.t_s[-1]
        assert verdict.per_hour is not None
        assert verdict.per_hour.slope == pytest.approx(20 * KiB * rate * 3600, rel=0.3)
        assert verdict.growth > 100 * MiB
    assert "MiB per 1,000 requests" in verdict.reason
    assert "exceeds 1.0 KiB per 1,000 requests" in verdict.reason
    assert "per hour" in verdict.reason


def test_a_flat_noisy_series_is_never_flagged_leak() -> None:
    verdicts: Counter[str] = Counter()
    for seconds in (20, 60, 180):
        for seed in range(150):
            run = soak(seed, seconds)
            verdicts[rss_verdict(run.t_s, run.values, run.requests).verdict] += 1
    assert verdicts["leak"] == 0
    assert verdicts["inconclusive"] > verdicts["stable"]  # short runs cannot prove flatness


def test_without_the_growth_floor_the_interval_alone_rarely_cries_leak() -> None:
    leaks = 0
    for seed in range(200):
        run = soak(seed, 60)
        leaks += (
            rss_verdict(run.t_s, run.values, run.requests, min_growth_bytes=0).verdict == "leak"
        )
    assert leaks <= 10  # the lower bound misses a zero slope ≤ 2.5% of the time


def test_a_ten_minute_flat_run_is_stable() -> None:
    verdicts: Counter[str] = Counter()
    for seed in range(40):
        run = soak(seed, 600)
        verdict = rss_verdict(run.t_s, run.values, run.requests)
        verdicts[verdict.verdict] += 1
        if verdict.verdict == "stable":
            assert "is below 1.0 KiB per 1,000 requests" in verdict.reason
    assert verdicts["leak"] == 0
    assert verdicts["stable"] >= 32


@pytest.mark.parametrize("seconds", [20, 60, 300])
def test_a_one_off_step_is_never_a_leak(seconds: int) -> None:
    for at in (0.1, 0.3, 0.5, 0.7, 0.9):
        for seed in range(15):
            run = with_step(soak(seed, seconds), at, 8 * MiB)
            verdict = rss_verdict(run.t_s, run.values, run.requests)
            assert verdict.verdict != "leak", (at, seed, verdict.reason)


def test_a_step_in_the_first_or_last_window_of_a_short_run_is_not_a_leak() -> None:
    # Ten windows: the step leaves one floor on its short side, and the median slope leans up.
    for at in (0.1, 0.9):
        for seed in range(100):
            run = with_step(soak(seed, 20), at, 8 * MiB)
            verdict = rss_verdict(run.t_s, run.values, run.requests)
            assert verdict.verdict != "leak", (at, seed, verdict.reason)


def test_a_step_in_mid_run_is_inconclusive_and_named_as_a_step() -> None:
    # A cache filling halfway through cannot be told from growth in bursts within one run.
    named = 0
    for seed in range(20):
        run = with_step(soak(seed, 60), 0.5, 8 * MiB)
        verdict = rss_verdict(run.t_s, run.values, run.requests)
        assert verdict.verdict == "inconclusive"
        assert verdict.growth == pytest.approx(8 * MiB, rel=0.15)
        if "RSS rose in one step of +" in verdict.reason:
            assert "near 3" in verdict.reason  # seconds 30–33: where the step is
            named += 1
        else:  # the interval reached down to the threshold before the step test ran
            assert "straddles" in verdict.reason
    assert named >= 15


@pytest.mark.parametrize(("seconds", "least_stable"), [(20, 0), (120, 0), (600, 14)])
def test_a_gc_sawtooth_without_net_growth_is_not_a_leak(seconds: int, least_stable: int) -> None:
    verdicts: Counter[str] = Counter()
    for seed in range(20):
        run = soak(seed, seconds)
        rss = run.values + sawtooth(run.t_s, 4.0, 20 * MiB)
        verdicts[rss_verdict(run.t_s, rss, run.requests).verdict] += 1
    assert verdicts["leak"] == 0
    assert verdicts["stable"] >= least_stable  # 30 s windows find every 4 s cycle's floor


@pytest.mark.parametrize("seconds", [120, 600])
def test_a_gc_sawtooth_on_a_real_slope_is_a_leak_with_that_slope(seconds: int) -> None:
    for seed in range(20):
        run = soak(seed, seconds, leak_per_call=100)
        rss = run.values + sawtooth(run.t_s, 4.0, 20 * MiB)
        verdict = rss_verdict(run.t_s, rss, run.requests)
        assert verdict.verdict == "leak", verdict.reason
        assert verdict.per_1k_requests is not None
        assert verdict.per_1k_requests.slope == pytest.approx(100_000, rel=0.1)


def test_a_short_run_is_inconclusive_and_says_run_longer() -> None:
    run = soak(1, (MIN_SAMPLES - 1) * INTERVAL, leak_per_call=20 * KiB)
    verdict = rss_verdict(run.t_s, run.values, run.requests)
    assert verdict.verdict == "inconclusive"
    assert "run longer" in verdict.reason
    assert f"only {MIN_SAMPLES - 1} samples" in verdict.reason
    assert verdict.per_1k_requests is None
    assert verdict.per_hour is None


def test_growth_within_the_floor_is_inconclusive_even_with_a_clear_slope() -> None:
    run = soak(2, 60, leak_per_call=100)  # about 4 MiB over the minute
    verdict = rss_verdict(run.t_s, run.values, run.requests)
    assert verdict.verdict == "inconclusive"
    assert "within the 5.0 MiB floor" in verdict.reason
    assert verdict.per_1k_requests is not None
    assert verdict.per_1k_requests.low > 1024
    assert 0 < verdict.growth < 5 * MiB


def test_a_run_without_completed_requests_is_inconclusive_but_keeps_the_hourly_slope() -> None:
    run = soak(3, 60, leak_per_call=20 * KiB)
    idle = np.full_like(run.requests, 1234.0)
    verdict = rss_verdict(run.t_s, run.values, idle)
    assert verdict.verdict == "inconclusive"
    assert "no requests completed" in verdict.reason
    assert verdict.per_1k_requests is None
    assert verdict.per_hour is not None
    assert verdict.per_hour.slope > 0


def test_a_straddling_interval_is_inconclusive_and_says_so() -> None:
    run = soak(4, 20)
    verdict = rss_verdict(run.t_s, run.values, run.requests)
    assert verdict.verdict == "inconclusive"
    assert "straddles 1.0 KiB per 1,000 requests" in verdict.reason
    assert verdict.growth_percent is not None
    assert abs(verdict.growth_percent) < 5


# count_verdict


@pytest.mark.parametrize("one_per", [500, 2000, 5000])
def test_an_fd_leak_of_one_per_n_requests_is_flagged(one_per: int) -> None:
    for seed in range(20):
        run = fds(seed, 60, one_per=one_per)
        verdict = count_verdict(run.t_s, run.values, run.requests, what="file descriptors")
        assert verdict.verdict == "leak", verdict.reason
        assert verdict.per_1k_requests is not None
        assert verdict.per_1k_requests.slope == pytest.approx(1000 / one_per, rel=0.2)
        assert verdict.unit == "file descriptors"
    assert verdict.reason.startswith("file descriptors went from 1")
    assert "steadily" in verdict.reason


def test_a_flat_fd_series_with_requests_in_flight_is_stable() -> None:
    for seed in range(20):
        run = fds(seed, 60)
        verdict = count_verdict(run.t_s, run.values, run.requests, what="file descriptors")
        assert verdict.verdict == "stable", verdict.reason
        assert verdict.growth == 0


def test_a_one_off_fd_step_is_never_a_leak() -> None:
    for seconds in (20, 60):
        for at in (0.2, 0.5, 0.8):
            for size in (1, 2, 5):
                for seed in range(10):
                    run = with_step(fds(seed, seconds), at, size)
                    verdict = count_verdict(run.t_s, run.values, run.requests, what="fds")
                    assert verdict.verdict != "leak", (seconds, at, size, seed, verdict.reason)


def test_a_mid_run_fd_step_in_a_short_run_is_never_a_leak() -> None:
    # Windows of 2 s: shorter ones let FDs held by requests in flight lift the floors.
    for size in (2, 5):
        for seed in range(100):
            run = with_step(fds(seed, 20), 0.5, size)
            verdict = count_verdict(run.t_s, run.values, run.requests, what="fds")
            assert verdict.verdict != "leak", (size, seed, verdict.reason)


def test_a_thread_count_that_wanders_by_one_is_not_a_leak() -> None:
    rng = np.random.default_rng(5)
    run = fds(5, 60)
    threads = 8 + rng.integers(0, 2, len(run.t_s)) * (rng.random(len(run.t_s)) < 0.5)
    verdict = count_verdict(run.t_s, threads, run.requests, what="threads")
    assert verdict.verdict == "stable"
    assert verdict.reason.startswith("threads went from 8 to 8")


def test_a_short_count_series_is_inconclusive() -> None:
    run = fds(6, 5, one_per=100)
    verdict = count_verdict(run.t_s, run.values, run.requests, what="threads")
    assert verdict.verdict == "inconclusive"
    assert "run longer" in verdict.reason
    assert verdict.unit == "threads"


# settle_fraction


def test_settle_fraction_is_the_share_of_load_growth_given_back() -> None:
    assert settle_fraction(60 * MiB, 100 * MiB, 70 * MiB) == pytest.approx(0.75)
    assert settle_fraction(60 * MiB, 100 * MiB, 60 * MiB) == pytest.approx(1.0)
    assert settle_fraction(60 * MiB, 100 * MiB, 100 * MiB) == pytest.approx(0.0)
    assert settle_fraction(60 * MiB, 100 * MiB, 50 * MiB) == pytest.approx(1.25)
    assert settle_fraction(60 * MiB, 100 * MiB, 110 * MiB) == pytest.approx(-0.25)
    assert settle_fraction(60 * MiB, 60 * MiB, 50 * MiB) is None
    assert settle_fraction(60 * MiB, 55 * MiB, 50 * MiB) is None
