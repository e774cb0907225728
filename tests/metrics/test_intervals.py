"""Per-interval histograms: one a second, merged pairwise past 600, never losing a count."""

from __future__ import annotations

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.intervals import MAX_INTERVALS, IntervalSeries


def _second(value_us: int) -> LatencyHistogram:
    hist = LatencyHistogram()
    hist.record_many([value_us] * 3)
    return hist


def _merged(texts: list[str]) -> LatencyHistogram:
    return LatencyHistogram.merged(LatencyHistogram.decode(t) for t in texts if t)


def test_each_second_is_one_interval_with_its_counts() -> None:
    series = IntervalSeries(2)
    series.add([_second(1000), None], [3, 0], [1, 2])
    series.add([_second(2000), _second(500)], [3, 3], [0, 0])
    data = series.to_result(["a", "b"])
    assert data["width_s"] == 1
    assert data["seconds"] == [1.0, 1.0]
    assert data["operations"]["a"]["ok"] == [3, 3]
    assert data["operations"]["b"]["failed"] == [2, 0]
    assert data["operations"]["b"]["histograms"][0] == ""
    assert LatencyHistogram.decode(data["operations"]["a"]["histograms"][1]) == _second(2000)


def test_a_long_load_keeps_at_most_600_intervals_and_every_count() -> None:
    series = IntervalSeries(1)
    seconds = 2 * MAX_INTERVALS + 301
    whole = LatencyHistogram()
    for t in range(seconds):
        part = _second(1000 + t)
        whole.merge(part)
        series.add([part], [3], [t % 2])
    series.finish(load_s=seconds - 0.5)
    data = series.to_result(["op"])
    op = data["operations"]["op"]
    assert len(op["ok"]) <= MAX_INTERVALS
    assert data["width_s"] == 4
    assert sum(op["ok"]) == 3 * seconds
    assert sum(op["failed"]) == seconds // 2
    assert sum(data["seconds"]) == seconds - 0.5
    assert _merged(op["histograms"]) == whole


def test_loads_laid_end_to_end_share_one_width() -> None:
    short, long = IntervalSeries(1), IntervalSeries(1)
    for _ in range(3):
        short.add([_second(100)], [3], [0])
    for _ in range(2 * MAX_INTERVALS):
        long.add([_second(200)], [3], [0])
    both = IntervalSeries.concatenated([short, long])
    assert both.width_s == 2  # the short load's 3 seconds became 2 intervals
    assert len(both) == 2 + MAX_INTERVALS
    data = both.to_result(["op"])  # 602 intervals: merged once more for results.json
    assert data["width_s"] == 4
    assert len(data["seconds"]) == 1 + MAX_INTERVALS // 2
    assert sum(data["operations"]["op"]["ok"]) == 3 * (3 + 2 * MAX_INTERVALS)
