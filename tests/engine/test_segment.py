"""Shards of a load: their parts add up to the configured load, and open shards' arrivals
interleave into exactly the configured schedule."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.engine.schedule import Ramp, arrival_offsets, constant, staged
from readiness.engine.segment import Segment


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_shares_of_all_shards_sum_to_the_total(total: int, count: int) -> None:
    shares = [Segment(i, count).share(total) for i in range(count)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1  # the remainder is spread, one each


@pytest.mark.parametrize(
    ("ramp", "poisson"),
    [
        (constant(97.0, 2.0), False),
        (constant(97.0, 2.0), True),
        (staged(10.0, [(1.0, 200.0), (0.5, 50.0)]), False),
    ],
)
@pytest.mark.parametrize("count", [2, 3, 5])
def test_open_shards_interleave_into_the_configured_schedule(
    ramp: Ramp, poisson: bool, count: int
) -> None:
    def schedule() -> list[float]:
        return list(arrival_offsets(ramp, poisson=poisson, duration=None, requests=None, seed=7))

    whole = schedule()
    shards = [list(Segment(i, count).arrivals(iter(schedule()))) for i in range(count)]
    assert list(heapq.merge(*shards)) == whole
    assert [len(s) for s in shards] == [Segment(i, count).share(len(whole)) for i in range(count)]


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1/0", "a/b", "1", ""])
def test_a_bad_segment_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"i/N|i < N"):
        Segment.parse(text)


def test_a_segment_reads_i_of_n() -> None:
    assert Segment.parse(" 1 / 3 ") == Segment(1, 3)
    assert str(Segment(1, 3)) == "1/3"
