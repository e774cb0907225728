"""LatencyHistogram: accuracy against exact percentiles, exact merges, and its encoded form."""

from __future__ import annotations

import array
import base64
import json
import math
import zlib
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.metrics.histogram import HIGHEST_TRACKABLE_US, LatencyHistogram

QUANTILES = (0, 1, 25, 50, 90, 95, 99, 99.9, 99.99, 100)

latency_lists = st.lists(st.integers(0, HIGHEST_TRACKABLE_US), min_size=1, max_size=200)
any_latency_lists = st.lists(
    st.one_of(st.integers(0, 5_000), st.integers(0, 2**40)), min_size=0, max_size=100
)


def lognormal_us(n: int, seed: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(np.log(3000), 1.1, n)).astype(np.int64)


def histogram_of(
    values: Sequence[int] | np.ndarray[Any, np.dtype[np.integer[Any]]],
) -> LatencyHistogram:
    h = LatencyHistogram()
    h.record_many(values)
    return h


def exact_percentile(values: list[int], q: float) -> int:
    """The order statistic HDR semantics name: the smallest v with at least q% of values ≤ v."""
    ordered = sorted(values)
    rank = max(math.ceil(Fraction(repr(float(q))) * len(ordered) / 100), 1)
    return ordered[rank - 1]


def test_percentiles_match_numpy_within_a_tenth_of_a_percent() -> None:
    values = lognormal_us(200_000, seed=7)
    h = histogram_of(values)
    for q in QUANTILES:
        expected = float(np.percentile(values, q, method="inverted_cdf"))
        assert h.percentile_us(q) == pytest.approx(expected, rel=0.001, abs=1), q


@settings(max_examples=200, deadline=None)
@given(values=latency_lists, q=st.floats(0, 100))
def test_percentile_is_the_exact_order_statistic_rounded_up_within_its_bucket(
    values: list[int], q: float
) -> None:
    got = histogram_of(values).percentile_us(q)
    exact = exact_percentile(values, q)
    assert exact <= got <= min(exact + exact / 1024, max(values))


def test_values_below_2048_us_are_recorded_exactly() -> None:
    values = list(range(2048)) * 3
    h = histogram_of(values)
    for q in QUANTILES:
        assert h.percentile_us(q) == exact_percentile(values, q)


def test_count_min_max_and_mean_are_exact() -> None:
    values = lognormal_us(10_000, seed=3)
    h = histogram_of(values)
    assert h.count == len(values)
    assert h.min_us == int(values.min())
    assert h.max_us == int(values.max())
    assert h.mean_us == pytest.approx(float(values.mean()), rel=1e-12)
    assert h.percentile_us(0) == h.min_us
    assert h.percentile_us(100) == h.max_us


def test_recording_one_at_a_time_equals_recording_a_buffer() -> None:
    values = lognormal_us(2_000, seed=5).tolist()
    one_by_one = LatencyHistogram()
    for v in values:
        one_by_one.record(v)
    assert one_by_one == histogram_of(values)


@pytest.mark.parametrize(
    "buffer",
    [
        pytest.param(lambda v: v.tolist(), id="list"),
        pytest.param(lambda v: array.array("q", v.tolist()), id="array-q"),
        pytest.param(lambda v: v.astype(np.uint32), id="uint32"),
        pytest.param(lambda v: tuple(v.tolist()), id="tuple"),
    ],
)
def test_any_integer_buffer_records_the_same(buffer: Callable[[Any], Any]) -> None:
    values = lognormal_us(5_000, seed=11)
    assert histogram_of(buffer(values)) == histogram_of(values)


def test_merging_shards_equals_recording_everything_in_one() -> None:
    values = lognormal_us(300_000, seed=13)  # larger than one bulk-load chunk
    whole = histogram_of(values)
    shards = [histogram_of(part) for part in np.array_split(values, 17)]

    merged = LatencyHistogram.merged(shards)
    in_place = LatencyHistogram()
    for shard in reversed(shards):
        in_place.merge(shard)

    for h in (merged, in_place):
        assert h == whole
        assert h.count == whole.count
        assert h.percentiles_ms(QUANTILES) == whole.percentiles_ms(QUANTILES)
        assert h.encode() == whole.encode()


def test_merged_leaves_its_parts_untouched() -> None:
    a, b = histogram_of([10, 20, 30]), histogram_of([5_000_000])
    before = (a.encode(), b.encode())
    total = LatencyHistogram.merged([a, LatencyHistogram(), b])
    assert (a.encode(), b.encode()) == before
    assert total.count == 4
    assert (total.min_us, total.max_us) == (10, 5_000_000)


def test_merged_of_nothing_is_empty() -> None:
    assert LatencyHistogram.merged([]).count == 0


@settings(deadline=None)  # numpy calls: no per-example deadline on a busy machine
@given(a=any_latency_lists, b=any_latency_lists)
def test_merge_is_commutative(a: list[int], b: list[int]) -> None:
    ab, ba = histogram_of(a), histogram_of(b)
    ab.merge(histogram_of(b))
    ba.merge(histogram_of(a))
    assert ab == ba
    assert ab == histogram_of(a + b)


@settings(deadline=None)
@given(a=any_latency_lists, b=any_latency_lists, c=any_latency_lists)
def test_merge_is_associative_and_preserves_count(a: list[int], b: list[int], c: list[int]) -> None:
    left = LatencyHistogram.merged(
        [LatencyHistogram.merged([histogram_of(a), histogram_of(b)]), histogram_of(c)]
    )
    right = LatencyHistogram.merged(
        [histogram_of(a), LatencyHistogram.merged([histogram_of(b), histogram_of(c)])]
    )
    assert left == right
    assert left.count == len(a) + len(b) + len(c)


@settings(deadline=None)
@given(values=latency_lists, qs=st.lists(st.floats(0, 100), min_size=2, max_size=10))
def test_percentile_never_decreases_as_q_grows(values: list[int], qs: list[float]) -> None:
    h = histogram_of(values)
    answers = [h.percentile_us(q) for q in sorted(qs)]
    assert answers == sorted(answers)


@settings(deadline=None)
@given(values=any_latency_lists)
def test_encode_then_decode_gives_back_the_same_histogram(values: list[int]) -> None:
    h = histogram_of(values)
    text = h.encode()
    assert json.loads(json.dumps(text)) == text
    assert text.isascii()
    back = LatencyHistogram.decode(text)
    assert back == h
    assert back.clamped == h.clamped
    assert back.percentiles_ms(QUANTILES) == h.percentiles_ms(QUANTILES)


def test_encoded_form_is_compact() -> None:
    text = histogram_of(lognormal_us(1_000_000, seed=17)).encode()
    assert len(text) < 20_000


def test_decoding_counts_large_enough_to_need_eight_bytes() -> None:
    h = LatencyHistogram()
    h.merge(histogram_of([7]))
    for _ in range(33):  # doubling: 2**33 samples of one value
        h.merge(LatencyHistogram.decode(h.encode()))
    assert LatencyHistogram.decode(h.encode()).count == 2**33


@pytest.mark.parametrize(
    "text",
    [
        "not a histogram",
        "lh1:%%%",
        "lh1:" + "QUJD",  # valid base64, not zlib
    ],
)
def test_decode_rejects_what_encode_did_not_write(text: str) -> None:
    with pytest.raises(ValueError, match="LatencyHistogram"):
        LatencyHistogram.decode(text)


def test_decode_rejects_counts_that_do_not_add_up() -> None:
    text = histogram_of([1, 2, 3]).encode()
    payload = zlib.decompress(base64.b64decode(text[4:]))
    tampered = payload.replace(b'"count":3', b'"count":4')
    assert tampered != payload
    forged = "lh1:" + base64.b64encode(zlib.compress(tampered)).decode()
    with pytest.raises(ValueError, match="add up"):
        LatencyHistogram.decode(forged)


def test_values_above_the_top_are_clamped_and_counted() -> None:
    h = histogram_of([100, HIGHEST_TRACKABLE_US + 1, 2**50])
    assert h.clamped == 2
    assert h.max_us == 2**50
    assert h.mean_us == (100 + HIGHEST_TRACKABLE_US + 1 + 2**50) / 3
    assert h.percentile_us(50) == HIGHEST_TRACKABLE_US
    assert h.percentile_us(10) == 100
    single = LatencyHistogram()
    single.record(2**50)
    assert single.clamped == 1


def test_range_covers_at_least_a_minute_with_three_significant_digits() -> None:
    assert HIGHEST_TRACKABLE_US >= 60_000_000
    h = histogram_of([60_000_000, 60_000_001, 59_999_999, 61_000_000])
    assert h.clamped == 0
    assert h.percentile_us(50) == pytest.approx(60_000_000, rel=0.001)


def test_an_empty_histogram_has_no_percentiles() -> None:
    h = LatencyHistogram()
    h.record_many([])
    assert h.count == 0
    assert h.percentiles_ms() == {}
    with pytest.raises(ValueError, match="empty"):
        h.percentile_us(50)
    with pytest.raises(ValueError, match="empty"):
        _ = h.max_us
    assert repr(h) == "<LatencyHistogram count=0>"


def test_percentiles_ms_names_each_quantile_and_adds_max_and_mean() -> None:
    h = histogram_of([1000, 2000, 3000, 4000])
    assert h.percentiles_ms() == {
        "p50": 2.0,
        "p90": 4.0,
        "p95": 4.0,
        "p99": 4.0,
        "p999": 4.0,
        "max": 4.0,
        "mean": 2.5,
    }


@pytest.mark.parametrize("q", [-0.1, 100.5, math.nan])
def test_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        histogram_of([1]).percentile_us(q)


def test_negative_latencies_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        histogram_of([5, -1])
    with pytest.raises(ValueError, match=">= 0"):
        LatencyHistogram().record(-1)


def test_non_integer_latencies_are_refused() -> None:
    with pytest.raises(TypeError, match="integer"):
        histogram_of(np.array([1.5, 2.0]))
    with pytest.raises(TypeError, match="integer"):
        histogram_of([1, 2.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        LatencyHistogram().record(2.5)  # type: ignore[arg-type]


def test_repr_shows_count_and_key_percentiles() -> None:
    assert repr(histogram_of([1000, 2000, 3000])) == (
        "<LatencyHistogram count=3 p50=2.000ms p99=3.000ms max=3.000ms>"
    )
