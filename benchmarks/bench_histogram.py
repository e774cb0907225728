"""How fast LatencyHistogram is against wrapping the `hdrhistogram` package.

Run: `python benchmarks/bench_histogram.py`. Bulk-records 1,000,000 latencies, merges 1,000
histograms and queries percentiles, the three things the recorder and reports do.
"""

from __future__ import annotations

import array
import math
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from hdrh.histogram import HdrHistogram

from readiness.metrics.histogram import HIGHEST_TRACKABLE_US, LatencyHistogram

N_SAMPLES = 1_000_000
N_PARTS = 1_000
PER_PART = 1_000
QUANTILES = (50, 90, 95, 99, 99.9)


def latencies(n: int, seed: int) -> list[int]:
    """Lognormal latencies in µs: median 3 ms, p99 about 40 ms."""
    rng = np.random.default_rng(seed)
    sigma = np.log(40 / 3) / 2.326
    values: list[int] = np.exp(rng.normal(np.log(3000), sigma, n)).astype(np.int64).clip(1).tolist()
    return values


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def hdr() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_TRACKABLE_US, 3)


def hdr_record(values: list[int]) -> HdrHistogram:
    h = hdr()
    record = h.record_value
    for v in values:
        record(v)
    return h


def ours_record(values: list[int] | array.array[int]) -> LatencyHistogram:
    h = LatencyHistogram()
    h.record_many(values)
    return h


def hdr_merge(parts: list[HdrHistogram]) -> HdrHistogram:
    total = hdr()
    for part in parts:
        total.add(part)
    return total


def hdr_query(h: HdrHistogram) -> dict[float, int]:
    out: dict[float, int] = h.get_percentile_to_value_dict(list(QUANTILES))
    out[100] = h.get_max_value()
    out[-1] = h.get_mean_value()
    return out


def main() -> None:
    values = latencies(N_SAMPLES, seed=1)
    packed = array.array("q", values)
    shards = [latencies(PER_PART, seed=100 + i) for i in range(N_PARTS)]

    ours_1m = ours_record(values)
    hdr_1m = hdr_record(values)
    ours_parts = [ours_record(s) for s in shards]
    hdr_parts = [hdr_record(s) for s in shards]

    def ours_merge_each() -> LatencyHistogram:
        total = LatencyHistogram()
        for part in ours_parts:
            total.merge(part)
        return total

    rows = [
        (
            "record 1,000,000 from a list",
            best_of(5, lambda: ours_record(values)),
            best_of(1, lambda: hdr_record(values)),
        ),
        ("record 1,000,000 from array('q')", best_of(5, lambda: ours_record(packed)), None),
        (
            "merge 1,000 (merged)",
            best_of(5, lambda: LatencyHistogram.merged(ours_parts)),
            best_of(5, lambda: hdr_merge(hdr_parts)),
        ),
        ("merge 1,000 (merge one by one)", best_of(5, ours_merge_each), None),
        (
            "p50..p99.9 + max + mean",
            best_of(20, lambda: ours_1m.percentiles_ms(QUANTILES)),
            best_of(20, lambda: hdr_query(hdr_1m)),
        ),
        ("encode", best_of(20, ours_1m.encode), best_of(20, hdr_1m.encode)),
        ("decode", best_of(20, lambda: LatencyHistogram.decode(ours_1m.encode())), None),
    ]
    print(f"{'operation':<34} {'LatencyHistogram':>17} {'hdrhistogram':>14} {'ratio':>8}")
    for name, ours, theirs in rows:
        other = f"{theirs * 1e3:11.2f} ms" if theirs is not None else f"{'-':>14}"
        ratio = f"{theirs / ours:7.1f}x" if theirs is not None else f"{'':>8}"
        print(f"{name:<34} {ours * 1e3:14.2f} ms {other} {ratio}")
    print(
        f"\nper sample: {rows[0][1] / N_SAMPLES * 1e9:.0f} ns (list), "
        f"{rows[1][1] / N_SAMPLES * 1e9:.0f} ns (array); hdrh record_value "
        f"{(rows[0][2] or 0) / N_SAMPLES * 1e9:.0f} ns"
    )
    print(
        f"encoded size, 1,000,000 samples: {len(ours_1m.encode())} chars "
        f"(hdrhistogram: {len(hdr_1m.encode())})"
    )
    ordered = np.sort(np.asarray(values))
    ranks = [max(math.ceil(Fraction(repr(float(q))) * N_SAMPLES / 100), 1) for q in QUANTILES]
    ours_p = ours_1m.percentiles_ms(QUANTILES)
    hdr_p = hdr_query(hdr_1m)
    print("\nq      exact µs   ours µs   hdrh µs   (exact: the value at rank ceil(q·n/100))")
    for q, rank in zip(QUANTILES, ranks, strict=True):
        ours = ours_p[f"p{q:g}".replace(".", "")] * 1e3
        print(f"{q:<6} {ordered[rank - 1]:9d} {ours:9.0f} {hdr_p[q]:9d}")


if __name__ == "__main__":
    main()
