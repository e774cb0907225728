"""A check's interval and verdict as pure functions on synthetic histograms of known latency."""

from __future__ import annotations

import math

import numpy as np
import pytest

from readiness.compare.uncertainty import (
    FigureInterval,
    decide,
    judged,
    order_statistic_ranks,
    scenario_figure_intervals,
)
from readiness.scoring import interval_credit
from tests.compare.synthetic import interval_data, lognormal_load

MEDIAN_MS = 10.0
SIGMA = 0.5  # lognormal_load's shape
TRUE_P99_S = MEDIAN_MS * math.exp(SIGMA * 2.3263478740408408) / 1000


def _p99(intervals: int, per_interval: int, seed: int) -> FigureInterval:
    rng = np.random.default_rng(seed)
    data = interval_data(
        lognormal_load(rng, intervals=intervals, per_interval=per_interval, median_ms=MEDIAN_MS)
    )
    return scenario_figure_intervals(data)["p99"]


def test_a_limit_far_from_the_percentile_passes_or_fails_outright() -> None:
    found = _p99(20, 100, seed=1)
    assert decide("<", TRUE_P99_S * 3, TRUE_P99_S, found)[0] == "pass"
    assert decide("<", TRUE_P99_S / 3, TRUE_P99_S, found)[0] == "fail"
    assert decide(">", TRUE_P99_S / 3, TRUE_P99_S, found)[0] == "pass"


def test_a_limit_at_the_true_percentile_is_inconclusive_with_a_request_estimate() -> None:
    rng = np.random.default_rng(2)
    data = interval_data(lognormal_load(rng, intervals=10, per_interval=100, median_ms=MEDIAN_MS))
    found = scenario_figure_intervals(data)["p99"]
    observed = found.low  # any observed value inside the interval
    verdict, reason = judged("p99", "<", TRUE_P99_S, observed * 1.0001, "seconds", found)
    assert found.low < TRUE_P99_S
    assert found.high is None or found.high > TRUE_P99_S
    assert verdict == "inconclusive"
    assert "run longer — about" in reason
    assert "requests would decide it" in reason


def test_the_interval_holds_the_true_percentile_and_more_data_narrows_it() -> None:
    widths = []
    for per_interval in (100, 1000):
        found = _p99(20, per_interval, seed=3)
        assert found.high is not None
        assert found.low <= TRUE_P99_S <= found.high
        widths.append(found.high - found.low)
    assert widths[1] < widths[0] / 2


def test_a_p99_of_too_few_requests_has_no_upper_bound() -> None:
    assert order_statistic_ranks(100, 0.99)[1] is None
    assert order_statistic_ranks(5000, 0.99)[1] is not None
    found = _p99(2, 50, seed=4)
    assert found.high is None
    assert decide("<", 1.0, found.low, found)[0] == "inconclusive"


def test_success_rate_and_throughput_get_intervals_that_hold_their_figures() -> None:
    rng = np.random.default_rng(5)
    data = interval_data(
        lognormal_load(rng, intervals=30, per_interval=100, median_ms=MEDIAN_MS), failed=[1] * 30
    )
    figures = scenario_figure_intervals(data)
    rate = figures["success_rate"]
    assert rate.high is not None
    assert rate.low < 100 / 101 < rate.high
    throughput = figures["throughput"]
    assert throughput.high is not None
    assert throughput.low <= 100.0 <= throughput.high
    assert decide(">=", 0.95, 100 / 101, rate)[0] == "pass"
    assert decide(">=", 0.995, 100 / 101, rate)[0] == "fail"


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_a_figure_on_its_limit_is_inconclusive_and_no_run_length_is_promised(op: str) -> None:
    found = FigureInterval(low=0.9, high=1.1, n=1000, method="test")
    verdict, needed = decide(op, 1.0, 1.0, found)
    assert verdict == "inconclusive"
    assert needed is None


def test_the_request_estimate_grows_as_the_figure_nears_the_limit() -> None:
    found = FigureInterval(low=0.8, high=1.2, n=1000, method="test")
    far = decide("<", 1.15, 1.0, found)[1]
    near = decide("<", 1.05, 1.0, found)[1]
    assert far is not None
    assert near is not None
    assert near > far > 1000


def test_a_load_without_a_successful_request_still_gets_rate_intervals() -> None:
    data = interval_data([np.zeros(0)] * 6, failed=[5] * 6)
    figures = scenario_figure_intervals(data)
    assert "p99" not in figures
    assert figures["success_rate"].low == 0.0


def test_a_drain_sliver_at_the_end_does_not_inflate_the_throughput_interval() -> None:
    rng = np.random.default_rng(6)
    data = interval_data(lognormal_load(rng, intervals=8, per_interval=100, median_ms=MEDIAN_MS))
    data["seconds"][-1] = 0.01  # the last "interval": replies drained in 10 ms
    figures = scenario_figure_intervals(data)
    high = figures["throughput"].high
    assert high is not None
    assert high < 2 * 800 / 7.01


def test_an_inconclusive_check_earns_the_share_of_its_interval_on_the_passing_side() -> None:
    assert interval_credit("<", 30.0, [20.0, 40.0]) == pytest.approx(0.5)
    assert interval_credit("<", 35.0, [20.0, 40.0]) > interval_credit("<", 25.0, [20.0, 40.0])
    assert interval_credit(">", 30.0, [20.0, 40.0]) == pytest.approx(0.5)
    assert interval_credit("<", 40.0, [20.0, 40.0]) < 1.0  # not proven is never full marks
    assert 0 < interval_credit("<", 1.0, [0.5, None]) < 1
