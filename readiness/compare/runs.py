"""Compare two runs: match target × scenario × operation, find each figure's change and its
interval, and judge it — or say why the two cannot be compared."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import numpy as np

from readiness.compare.bootstrap import (
    QUANTILES,
    RATES,
    relative_intervals,
    resample_weights,
    side_block_length,
)
from readiness.compare.matrix import scenario_matrices
from readiness.compare.model import (
    ALL_OPERATIONS,
    Better,
    Comparison,
    ComparisonRow,
    ComparisonSide,
    Verdict,
    VerdictCounts,
)
from readiness.compare.repeats import between_run_intervals
from readiness.compare.verdict import judge, severity
from readiness.config.gate import GateConfig
from readiness.results import LatencySummary, RunResult, ScenarioResult, TargetInfo, Totals

_K = TypeVar("_K")

DEFAULT_SEED: Final = 20260
DEFAULT_RESAMPLES: Final = 1000
MIN_INTERVALS: Final = 2  # below this a side has no spread to resample
MIN_TAIL: Final = 10  # requests beyond a percentile, on each side, to judge its change

_UNITS: Final[Mapping[str, tuple[str, Better]]] = {
    "throughput": ("/s", "higher"),
    "success_rate": ("ratio", "higher"),
    **{name: ("ms", "lower") for name in QUANTILES},
    "leak_slope": ("bytes/h", "lower"),
    "recovery_time": ("s", "lower"),
    "time_to_first_success": ("s", "lower"),
    "max_sustainable_rate": ("/s", "higher"),
    "score": ("points", "higher"),
}
_LOAD_METRICS: Final = (*RATES, *QUANTILES)
# A load shorter than MIN_INTERVALS seconds has no spread to resample: its change is shown,
# never judged (a verdict from one second would be luck).
_TOO_SHORT: Final = "too few intervals to judge"
_NEVER_MEANS_WORSE: Final[Mapping[str, str]] = {
    "recovery_time": "no recovery",
    "time_to_first_success": "no successful request after the restore",
}


def compare_runs(
    base: RunResult,
    new: RunResult,
    *,
    gate: GateConfig | None = None,
    base_file: str = "",
    new_file: str = "",
    seed: int = DEFAULT_SEED,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> Comparison:
    """The comparison of `new` against `base`; the same inputs and seed give the same result."""
    comparer = _Comparer(
        gate or GateConfig(), seed=seed, resamples=resamples, confidence=confidence
    )
    rows: list[ComparisonRow] = []
    targets_b = {t["name"]: t for t in base["targets"]}
    targets_n = {t["name"]: t for t in new["targets"]}
    scenarios_b = {(s["target"], s["name"]): s for s in base["scenarios"]}
    scenarios_n = {(s["target"], s["name"]): s for s in new["scenarios"]}
    for key in _union(scenarios_b, scenarios_n):
        target, name = key
        b, n = scenarios_b.get(key), scenarios_n.get(key)
        if b is None or n is None:
            side = "base" if b is None else "new"
            rows.append(
                _incomparable(target, name, ALL_OPERATIONS, f"scenario missing in the {side} run")
            )
            continue
        reason = _target_difference(targets_b.get(target), targets_n.get(target))
        if reason is None:
            reason = _scenario_difference(b, n)
        if reason is not None:
            rows.append(_incomparable(target, name, ALL_OPERATIONS, reason))
            continue
        rows.extend(comparer.scenario_rows(target, b, n))
    score_b, score_n = _score(base), _score(new)
    if score_b is not None and score_n is not None:
        # A score is the whole run's: of other servers, it is not comparable.
        differences = [
            reason
            for name in _union(targets_b, targets_n)
            if (reason := _target_difference(targets_b.get(name), targets_n.get(name)))
        ]
        if differences:
            rows.append(_incomparable("", "", "", differences[0], metric="score"))
        else:
            rows.append(comparer.point_row("", "", "", "score", score_b, score_n))
    rows.sort(key=_severity_key)
    counts = VerdictCounts(regressed=0, not_comparable=0, improved=0, unchanged=0)
    for row in rows:
        counts[row["verdict"]] += 1
    return Comparison(
        base=_side(base, base_file),
        new=_side(new, new_file),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        warnings=_warnings(base, new),
        counts=counts,
        regressed=counts["regressed"] > 0,
        rows=rows,
    )


def _union(a: Iterable[_K], b: Iterable[_K]) -> list[_K]:
    """Keys of both, in order: the base's first, then the new run's own."""
    return list(dict.fromkeys([*a, *b]))


def _severity_key(row: ComparisonRow) -> tuple[int, float]:
    """By verdict (regressions first), then the largest change first."""
    return severity(row["verdict"]), -abs(row["delta_relative"] or 0.0)


def _score(result: RunResult) -> float | None:
    score: Any = result.get("score")  # written by the scoring step, when it ran
    value = score.get("value") if isinstance(score, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def _side(result: RunResult, file: str) -> ComparisonSide:
    return ComparisonSide(
        file=file,
        run=result["run"]["name"],
        started_at=result["run"]["started_at"],
        tool_version=result["run"]["tool_version"],
        hostname=result["environment"]["hostname"],
        cpu_count=result["environment"]["cpu_count"],
        schema_version=result["schema_version"],
    )


def _warnings(base: RunResult, new: RunResult) -> list[str]:
    out: list[str] = []
    eb, en = base["environment"], new["environment"]
    if (eb["hostname"], eb["cpu_count"], eb["platform"]) != (
        en["hostname"],
        en["cpu_count"],
        en["platform"],
    ):
        out.append(
            f"different machine: base on {eb['hostname']} ({eb['cpu_count']} CPUs, "
            f"{eb['platform']}), new on {en['hostname']} ({en['cpu_count']} CPUs, "
            f"{en['platform']}); compared anyway"
        )
    vb, vn = base["run"]["tool_version"], new["run"]["tool_version"]
    if vb != vn:
        out.append(f"different readiness version: base {vb}, new {vn}; compared anyway")
    if base["schema_version"] < 3 or new["schema_version"] < 3:
        out.append(
            "no interval data: point comparison only (a results.json older than schema version 3)"
        )
    return out


def _target_difference(b: TargetInfo | None, n: TargetInfo | None) -> str | None:
    if b is None or n is None:
        return None  # the scenario names its target; nothing more is known about it
    if b["transport"] != n["transport"]:
        return f"different target: transport {b['transport']} vs {n['transport']}"
    for key in ("name", "version"):
        vb, vn = b["server_info"].get(key), n["server_info"].get(key)
        if vb and vn and vb != vn:
            return f"different target: server {key} {vb!r} vs {vn!r}"
    return None


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _scenario_difference(b: ScenarioResult, n: ScenarioResult) -> str | None:
    if b["kind"] != n["kind"]:
        return f"different scenario kind: {b['kind']} vs {n['kind']}"
    if b["load"] != n["load"]:
        return f"different load: base {_compact(b['load'])}, new {_compact(n['load'])}"
    for side, s in (("base", b), ("new", n)):
        if s["status"] == "error" or s["totals"]["sent"] == 0:
            why = (s["error"] or "no request was sent").splitlines()[0]
            return f"the scenario did not run in the {side} run: {why}"
    methods_b = {o["name"]: o["method"] for o in b["operations"]}
    methods_n = {o["name"]: o["method"] for o in n["operations"]}
    for name in methods_b.keys() & methods_n.keys():
        if methods_b[name] != methods_n[name]:
            return f"different workload: {name!r} calls {methods_b[name]} vs {methods_n[name]}"
    return None


def _incomparable(
    target: str, scenario: str, operation: str, reason: str, metric: str = ""
) -> ComparisonRow:
    unit, better = _UNITS.get(metric, ("", "lower"))
    return ComparisonRow(
        target=target,
        scenario=scenario,
        operation=operation,
        metric=metric,
        unit=unit,
        better=better,
        base=None,
        new=None,
        delta=None,
        delta_relative=None,
        interval=None,
        tolerance=0.0,
        verdict="not_comparable",
        reason=reason,
        method="",
    )


def _figures(totals: Totals, latency: LatencySummary) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        "throughput": totals["throughput_rps"],
        "success_rate": totals["success_rate"],
    }
    for name in QUANTILES:
        out[name] = latency[name]  # type: ignore[literal-required]
    return out


def _extra_figures(s: ScenarioResult) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    chaos = s.get("chaos")
    if chaos is not None and chaos["outage"] is not None:
        out["recovery_time"] = chaos["outage"]["recovery_time_s"]
        out["time_to_first_success"] = chaos["outage"]["time_to_first_success_s"]
    overload = s.get("overload")
    if overload is not None:
        out["recovery_time"] = overload["recovery_time_s"]
        out["max_sustainable_rate"] = overload["max_sustainable_rate"]
    return out


class _Comparer:
    """Rows for matched scenarios, under one gate, seed and number of resamples."""

    def __init__(self, gate: GateConfig, *, seed: int, resamples: int, confidence: float) -> None:
        self.gate = gate
        self.seed = seed
        self.resamples = resamples
        self.confidence = confidence

    def scenario_rows(
        self, target: str, b: ScenarioResult, n: ScenarioResult
    ) -> list[ComparisonRow]:
        name = b["name"]
        ops_b = {o["name"]: o for o in b["operations"]}
        ops_n = {o["name"]: o for o in n["operations"]}
        shared = [op for op in ops_b if op in ops_n]
        rows: list[ComparisonRow] = []
        for op in _union(ops_b, ops_n):
            if op not in shared:
                side = "base" if op not in ops_b else "new"
                rows.append(_incomparable(target, name, op, f"operation missing in the {side} run"))
        groups: dict[str, tuple[dict[str, float | None], dict[str, float | None]]] = {}
        counts: dict[str, int] = {}  # the fewer successful requests of the two sides
        if len(shared) == len(ops_b) == len(ops_n):
            groups[ALL_OPERATIONS] = (
                _figures(b["totals"], b["latency_ms"]),
                _figures(n["totals"], n["latency_ms"]),
            )
            counts[ALL_OPERATIONS] = min(b["latency_ms"]["count"], n["latency_ms"]["count"])
        else:
            rows.append(
                _incomparable(
                    target, name, ALL_OPERATIONS, "different workload: the operations differ"
                )
            )
        if len(ops_b) > 1 or len(ops_n) > 1:
            for op in shared:
                groups[op] = (
                    _figures(ops_b[op]["totals"], ops_b[op]["latency_ms"]),
                    _figures(ops_n[op]["totals"], ops_n[op]["latency_ms"]),
                )
                counts[op] = min(ops_b[op]["latency_ms"]["count"], ops_n[op]["latency_ms"]["count"])
        intervals, method = self._intervals(target, b, n, shared, list(groups))
        between, reps_b, reps_n = between_run_intervals(b, n, self.confidence)
        if between and not method.startswith(_TOO_SHORT):
            whole = intervals.setdefault(ALL_OPERATIONS, {})
            for metric, (low, high) in between.items():
                within = whole.get(metric)
                whole[metric] = (
                    (low, high) if within is None else (min(low, within[0]), max(high, within[1]))
                )
            method += (
                f"; between-run spread of {reps_b}+{reps_n} repetitions (Student t on the log"
                " figures), the wider interval"
            )
        for group, (fb, fn) in groups.items():
            for metric in _LOAD_METRICS:
                row = self._row(
                    target,
                    name,
                    group,
                    metric,
                    fb[metric],
                    fn[metric],
                    intervals.get(group, {}).get(metric),
                    method,
                )
                rows.append(_thin_tail(row, counts.get(group, 0)))
        extra_b, extra_n = _extra_figures(b), _extra_figures(n)
        for metric in sorted(extra_b.keys() & extra_n.keys()):
            before, after = extra_b[metric], extra_n[metric]
            if before is None and after is None:
                continue  # neither run has the figure (nothing recovered, no limit found)
            row = self.point_row(target, name, ALL_OPERATIONS, metric, before, after)
            if metric in _NEVER_MEANS_WORSE and (before is None) != (after is None):
                # A time that never came (no recovery) is worse than any time that did.
                side = "new" if after is None else "base"
                row["verdict"] = "regressed" if after is None else "improved"
                row["reason"] = f"{_NEVER_MEANS_WORSE[metric]} in the {side} run"
                row["tolerance"] = self.gate.tolerance(metric)
            rows.append(row)
        leak = _leak_row(target, name, b, n)
        if leak is not None:
            rows.append(leak)
        return rows

    def _intervals(
        self,
        target: str,
        b: ScenarioResult,
        n: ScenarioResult,
        shared: list[str],
        groups: list[str],
    ) -> tuple[dict[str, dict[str, tuple[float, float] | None]], str]:
        data_b, data_n = b.get("intervals"), n.get("intervals")
        if data_b is None or data_n is None:
            return {}, "no interval data: point comparison only"
        n_b = len(next(iter(data_b["operations"].values()))["ok"]) if data_b["operations"] else 0
        n_n = len(next(iter(data_n["operations"].values()))["ok"]) if data_n["operations"] else 0
        if min(n_b, n_n) < MIN_INTERVALS or not shared:
            return {}, f"{_TOO_SHORT} ({n_b} and {n_n})"
        matrices = scenario_matrices(data_b, data_n, shared)
        values = matrices.values_ms
        whole_b, whole_n = matrices.base[ALL_OPERATIONS], matrices.new[ALL_OPERATIONS]
        blocks = (side_block_length(whole_b, values), side_block_length(whole_n, values))
        rng = np.random.default_rng(self.seed ^ zlib.crc32(f"{target}\0{b['name']}".encode()))
        weights = (
            resample_weights(whole_b.n, blocks[0], self.resamples, rng),
            resample_weights(whole_n.n, blocks[1], self.resamples, rng),
        )
        out: dict[str, dict[str, tuple[float, float] | None]] = {}
        for group in groups:
            found = relative_intervals(
                matrices.base[group],
                matrices.new[group],
                values,
                resamples=self.resamples,
                seed=self.seed,
                confidence=self.confidence,
                blocks=blocks,
                weights=weights,
            )
            out[group] = found.intervals
        method = (
            f"block bootstrap: {n_b}+{n_n} intervals of {data_b['width_s']}/{data_n['width_s']} s,"
            f" blocks of {blocks[0]}/{blocks[1]}, {self.resamples} resamples"
        )
        return out, method

    def _row(
        self,
        target: str,
        scenario: str,
        operation: str,
        metric: str,
        base: float | None,
        new: float | None,
        interval: tuple[float, float] | None,
        method: str,
    ) -> ComparisonRow:
        unit, better = _UNITS[metric]
        if base is None or new is None:
            side = "base" if base is None else "new"
            row = _incomparable(
                target, scenario, operation, f"no {metric} in the {side} run", metric
            )
            row["base"], row["new"] = base, new
            return row
        tolerance = self.gate.tolerance(metric)
        delta = new - base
        relative = delta / base if base else None
        points = metric == "success_rate"
        verdict: Verdict
        if relative is None and not points:
            verdict, reason = (
                ("unchanged", "both zero")
                if new == base
                else judge(better, float("inf") if delta > 0 else float("-inf"), None, tolerance)
            )
        else:
            change = delta if points else relative
            assert change is not None
            verdict, reason = judge(better, change, interval, tolerance, points=points)
        if method.startswith(_TOO_SHORT):
            verdict, reason = "unchanged", f"{reason.split(',')[0]}: {method}; run it longer"
        return ComparisonRow(
            target=target,
            scenario=scenario,
            operation=operation,
            metric=metric,
            unit=unit,
            better=better,
            base=base,
            new=new,
            delta=delta,
            delta_relative=relative,
            interval=list(interval) if interval is not None else None,
            tolerance=tolerance,
            verdict=verdict,
            reason=reason,
            method=method
            if interval is not None
            else (method or "one figure per run: point comparison only"),
        )

    def point_row(
        self,
        target: str,
        scenario: str,
        operation: str,
        metric: str,
        base: float | None,
        new: float | None,
    ) -> ComparisonRow:
        return self._row(
            target,
            scenario,
            operation,
            metric,
            base,
            new,
            None,
            "one figure per run: point comparison only",
        )


def _thin_tail(row: ComparisonRow, count: int) -> ComparisonRow:
    """A percentile that rests on fewer than MIN_TAIL requests beyond it (p99.9 of 1,000
    requests is the slowest one or two) is shown, never judged: the bootstrap cannot resample
    an extreme order statistic honestly, and A/A runs of the demo flagged it (benchmarks/)."""
    q = QUANTILES.get(row["metric"])
    if q is None or row["verdict"] not in ("regressed", "improved"):
        return row
    tail = round(count * (1 - q / 100), 6)
    if tail >= MIN_TAIL:
        return row
    needed = math.ceil(round(MIN_TAIL / (1 - q / 100), 6))
    row["verdict"] = "unchanged"
    row["reason"] = (
        f"{row['reason'].split(' (')[0]}: fewer than {MIN_TAIL} requests lie beyond it —"
        f" shown, not judged (about {needed:,} requests per side would judge it)"
    )
    return row


def _leak_row(
    target: str, scenario: str, b: ScenarioResult, n: ScenarioResult
) -> ComparisonRow | None:
    """The leak slope is judged by the memory scenario's own verdict (its slope's interval)."""
    mb, mn = b.get("memory"), n.get("memory")
    if mb is None or mn is None or mb["rss"] is None or mn["rss"] is None:
        return None
    vb, vn = mb["rss"], mn["rss"]
    sb, sn = vb["per_hour"], vn["per_hour"]
    if sb is None or sn is None:
        return None
    base, new = sb["slope"], sn["slope"]
    delta = new - base
    verdict: Verdict
    if vb["verdict"] != "leak" and vn["verdict"] == "leak":
        verdict, reason = "regressed", f"the memory verdict went from {vb['verdict']} to leak"
    elif vb["verdict"] == "leak" and vn["verdict"] != "leak":
        verdict, reason = "improved", f"the memory verdict went from leak to {vn['verdict']}"
    else:
        verdict, reason = "unchanged", f"the memory verdict is {vn['verdict']} in both runs"
    return ComparisonRow(
        target=target,
        scenario=scenario,
        operation=ALL_OPERATIONS,
        metric="leak_slope",
        unit="bytes/h",
        better="lower",
        base=base,
        new=new,
        delta=delta,
        delta_relative=delta / abs(base) if base else None,
        interval=None,
        tolerance=0.0,
        verdict=verdict,
        reason=reason,
        method="the memory scenario's leak verdict (RSS slope with its 95% interval)",
    )
