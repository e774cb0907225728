"""The comparison's statistics as pure functions on synthetic histograms."""

from __future__ import annotations

import numpy as np
import pytest

from readiness.compare.bootstrap import (
    block_length,
    expanded_tail,
    percentiles_of,
    relative_intervals,
    t_quantile,
)
from readiness.compare.matrix import scenario_matrices
from readiness.compare.model import ALL_OPERATIONS
from readiness.metrics.histogram import LatencyHistogram
from readiness.results import IntervalData
from tests.compare.synthetic import ar1_levels, interval_data, lognormal_load


def _intervals(
    base: IntervalData, new: IntervalData, seed: int = 7
) -> dict[str, tuple[float, float] | None]:
    m = scenario_matrices(base, new, ["op"])
    found = relative_intervals(
        m.base[ALL_OPERATIONS], m.new[ALL_OPERATIONS], m.values_ms, resamples=1000, seed=seed
    )
    return found.intervals


def _loads(shift: float, seed: int = 1) -> tuple[IntervalData, IntervalData]:
    rng = np.random.default_rng(seed)
    base = lognormal_load(rng, intervals=60, per_interval=200, median_ms=10.0)
    new = lognormal_load(rng, intervals=60, per_interval=200, median_ms=10.0 * (1 + shift))
    return interval_data(base), interval_data(new)


def test_a_known_shift_is_inside_an_interval_that_excludes_zero() -> None:
    intervals = _intervals(*_loads(0.20))
    for metric in ("p50", "p90", "p99"):
        found = intervals[metric]
        assert found is not None
        low, high = found
        assert 0 < low < 0.20 < high, (metric, found)


def test_no_shift_gives_intervals_that_include_zero() -> None:
    intervals = _intervals(*_loads(0.0, seed=2))
    for metric in ("throughput", "p50", "p90", "p95", "p99", "p999"):
        found = intervals[metric]
        assert found is not None
        assert found[0] <= 0 <= found[1], (metric, found)


def test_heavy_autocorrelation_widens_the_interval_against_iid_intervals_of_the_same_marginal() -> (
    None
):
    rng = np.random.default_rng(3)
    widths = {}
    for name in ("autocorrelated", "shuffled"):
        sides = []
        for _ in range(2):
            levels = ar1_levels(rng, 300, phi=0.95, sigma=0.4)
            if name == "shuffled":
                levels = rng.permutation(levels)  # the same levels, in no order
            sides.append(
                interval_data(
                    lognormal_load(
                        rng, intervals=300, per_interval=50, median_ms=10.0, levels=levels
                    )
                )
            )
        found = _intervals(sides[0], sides[1])["p50"]
        assert found is not None
        widths[name] = found[1] - found[0]
    assert widths["autocorrelated"] > 2 * widths["shuffled"], widths


def test_the_block_length_grows_with_autocorrelation() -> None:
    rng = np.random.default_rng(4)
    levels = ar1_levels(rng, 600, phi=0.95, sigma=0.4)
    assert block_length(levels) > 3 * block_length(rng.permutation(levels))
    assert block_length(np.ones(600)) >= 1
    assert block_length(np.arange(3, dtype=np.float64)) == 1


def test_percentiles_of_the_merged_rows_read_as_the_histogram_does() -> None:
    rng = np.random.default_rng(5)
    load = lognormal_load(rng, intervals=10, per_interval=50, median_ms=5.0)  # < 1024 buckets
    data = interval_data(load)
    m = scenario_matrices(data, data, ["op"])
    whole = LatencyHistogram.merged(
        LatencyHistogram.decode(text) for text in data["operations"]["op"]["histograms"]
    )
    merged = m.base["op"].counts.sum(axis=0, keepdims=True)
    for q in (50.0, 90.0, 99.0, 99.9):
        got = percentiles_of(merged, m.values_ms, q)[0]
        # The histogram also caps a reading at the exact maximum; a bucket is < 0.1% wide.
        assert got == pytest.approx(whole.percentile_us(q) / 1000, rel=1e-3)


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    base, new = _loads(0.05, seed=6)
    assert _intervals(base, new, seed=11) == _intervals(base, new, seed=11)
    assert _intervals(base, new, seed=11) != _intervals(base, new, seed=12)


def test_throughput_counts_a_short_last_interval_by_its_length() -> None:
    counts = [np.full(100, 5.0)] * 9 + [np.full(10, 5.0)]  # the last second: 0.1 s of load
    base = interval_data(counts)
    base["seconds"] = [1.0] * 9 + [0.1]
    found = _intervals(base, base)["throughput"]
    assert found is not None
    assert found == pytest.approx((0.0, 0.0), abs=1e-12)


def test_success_rate_comes_from_per_interval_ok_and_failed_counts() -> None:
    rng = np.random.default_rng(8)
    load = lognormal_load(rng, intervals=30, per_interval=100, median_ms=5.0)
    healthy = interval_data(load)
    failing = interval_data(load, failed=[10] * 30)  # 100 ok and 10 failed a second
    found = _intervals(healthy, failing)["success_rate"]
    assert found is not None
    expected = (100 / 110) - 1
    assert found == pytest.approx((expected, expected))


@pytest.mark.parametrize(
    ("df", "exact"), [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042)]
)
def test_the_t_quantile_is_close_to_the_table(df: int, exact: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(exact, rel=0.01)


def test_few_blocks_read_the_bootstrap_further_out_and_many_at_the_nominal_tail() -> None:
    assert expanded_tail(0.95, 600) == pytest.approx(0.025, abs=0.001)
    assert expanded_tail(0.95, 5) < expanded_tail(0.95, 15) < expanded_tail(0.95, 75) < 0.025
    assert expanded_tail(0.95, 1.5) == 0.0


def test_stationary_loads_rarely_differ_significantly() -> None:
    rng = np.random.default_rng(9)
    excluded = 0
    for trial in range(40):
        sides = [
            interval_data(lognormal_load(rng, intervals=15, per_interval=100, median_ms=5.0))
            for _ in range(2)
        ]
        found = _intervals(sides[0], sides[1], seed=trial)["p50"]
        assert found is not None
        excluded += not found[0] <= 0 <= found[1]
    assert excluded <= 4  # a 95% interval: about 2 of 40 by chance
