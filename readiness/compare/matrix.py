"""From results.json's per-interval histograms to the bootstrap's matrices: both sides of a
scenario on shared bucket columns, one matrix per operation and one for all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from readiness.compare.bootstrap import FloatArray, IntArray, IntervalMatrix
from readiness.compare.model import ALL_OPERATIONS
from readiness.metrics.histogram import LatencyHistogram, bucket_values
from readiness.results import IntervalData

# The bootstrap's cost is linear in the columns. Past this many distinct buckets, neighbours
# (by rank) share a column: a resample's percentile then reads within a few tenths of a percent.
MAX_COLUMNS: Final = 1024

_Sparse = list[tuple[IntArray, IntArray]]  # per interval: bucket indices, counts


@dataclass(frozen=True)
class ScenarioMatrices:
    values_ms: FloatArray  # each column's latency: the highest value of its last bucket
    base: dict[str, IntervalMatrix]  # operation (or ALL_OPERATIONS) → matrix
    new: dict[str, IntervalMatrix]


def _decode(histograms: list[str]) -> _Sparse:
    empty = np.zeros(0, dtype=np.int64)
    return [
        LatencyHistogram.decode(text).buckets() if text else (empty, empty) for text in histograms
    ]


def _seconds(data: IntervalData, n: int) -> FloatArray:
    seconds = data.get("seconds")
    if seconds is None or len(seconds) != n:
        return np.full(n, float(data["width_s"]))
    return np.asarray(seconds, dtype=np.float64)


def scenario_matrices(
    base: IntervalData, new: IntervalData, operations: list[str]
) -> ScenarioMatrices:
    """Matrices for the operations both sides have (raises ValueError on corrupt histograms)."""
    sides = [
        {name: _decode(data["operations"][name]["histograms"]) for name in operations}
        for data in (base, new)
    ]
    every = [idx for side in sides for sparse in side.values() for idx, _ in sparse]
    union = np.unique(np.concatenate(every)) if every else np.zeros(0, dtype=np.int64)
    group = max(1, -(-len(union) // MAX_COLUMNS))
    n_columns = max(1, -(-len(union) // group))
    if len(union):
        last_of_column = union[np.minimum(np.arange(n_columns) * group + group - 1, len(union) - 1)]
        values_ms = bucket_values(last_of_column).astype(np.float64) / 1000.0
    else:  # no successful request on either side: one empty column
        values_ms = np.zeros(1)
    out: list[dict[str, IntervalMatrix]] = []
    for data, side in zip((base, new), sides, strict=True):
        matrices: dict[str, IntervalMatrix] = {}
        for name in operations:
            sparse = side[name]
            counts = np.zeros((len(sparse), n_columns), dtype=np.float64)
            for row, (idx, n) in enumerate(sparse):
                if len(idx):
                    columns = np.searchsorted(union, idx) // group
                    counts[row] = np.bincount(columns, weights=n, minlength=n_columns)
            op = data["operations"][name]
            matrices[name] = IntervalMatrix(
                counts=counts,
                ok=np.asarray(op["ok"], dtype=np.float64),
                failed=np.asarray(op["failed"], dtype=np.float64),
                seconds=_seconds(data, len(sparse)),
            )
        first = next(iter(matrices.values()))
        matrices[ALL_OPERATIONS] = IntervalMatrix(
            counts=sum((m.counts for m in matrices.values()), np.zeros_like(first.counts)),
            ok=sum((m.ok for m in matrices.values()), np.zeros_like(first.ok)),
            failed=sum((m.failed for m in matrices.values()), np.zeros_like(first.failed)),
            seconds=first.seconds,
        )
        out.append(matrices)
    return ScenarioMatrices(values_ms=values_ms, base=out[0], new=out[1])
