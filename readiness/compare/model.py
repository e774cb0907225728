"""The comparison's JSON form (comparison.json, and results.json's `comparison` key)."""

from __future__ import annotations

from typing import Literal, TypedDict

Verdict = Literal["improved", "regressed", "unchanged", "not_comparable"]
Better = Literal["higher", "lower"]

ALL_OPERATIONS = "(all)"


class ComparisonRow(TypedDict):
    target: str
    scenario: str
    operation: str  # an operation's name, "(all)" for the scenario as a whole, "" for the run
    metric: str  # throughput, success_rate, p50 … p999, leak_slope, recovery_time, …, score
    unit: str  # "ms", "/s", "ratio", "s", "bytes/h", "points"
    better: Better
    base: float | None
    new: float | None
    delta: float | None  # new − base, in the unit
    delta_relative: float | None  # new / base − 1
    interval: list[float] | None  # 95% confidence interval of delta_relative; None: point only
    tolerance: float  # [gate] max_regression (relative; success_rate in percentage points)
    verdict: Verdict
    reason: str
    method: str  # how the interval was found, e.g. "block bootstrap: 60+60 intervals, blocks of 4"


class ComparisonSide(TypedDict):
    file: str
    run: str
    started_at: str
    tool_version: str
    hostname: str
    cpu_count: int | None
    schema_version: int


class VerdictCounts(TypedDict):
    regressed: int
    not_comparable: int
    improved: int
    unchanged: int


class Comparison(TypedDict):
    base: ComparisonSide
    new: ComparisonSide
    confidence: float
    resamples: int
    seed: int
    warnings: list[str]  # compared anyway: another machine, another tool version
    counts: VerdictCounts
    regressed: bool
    rows: list[ComparisonRow]  # most severe first
