"""The exact merge of shard results: histograms merged bucket by bucket (overall, per
operation and per interval), counts summed, every percentile re-read from the merged
histograms — never averaged — and each worker's own generator figures kept beside the total."""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Sequence

from readiness.errors import ConfigError
from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.summary import latency_summary
from readiness.results import (
    CheckResult,
    ErrorCounts,
    GeneratorStats,
    Histograms,
    IntervalData,
    OperationIntervals,
    OperationResult,
    RunResult,
    ScenarioResult,
    ScenarioStatus,
    TimelinePoint,
    Totals,
    WorkerShare,
    WorkersResult,
    summarize,
)

# A worker whose generator used more than this share of its core counts as the bottleneck
# when suggesting how many workers the run needed.
_BUSY_CPU_PERCENT = 70.0
_ERRORS = ("tool_error", "rpc_error", "timeout", "transport")


def merged_text(texts: Sequence[str]) -> str:
    """Encoded histograms merged into one; "" when none has samples."""
    parts = [LatencyHistogram.decode(t) for t in texts if t]
    return LatencyHistogram.merged(parts).encode() if parts else ""


def _hist(text: str) -> LatencyHistogram:
    return LatencyHistogram.decode(text) if text else LatencyHistogram()


def shard_order(shards: Sequence[RunResult], names: Sequence[str]) -> list[RunResult]:
    """The shards in index order; ConfigError unless they are shards 0..N-1 of one run."""
    if not shards:
        raise ConfigError("no shard results to merge")
    indexed: dict[int, RunResult] = {}
    counts: set[int] = set()
    for shard, name in zip(shards, names, strict=True):
        segment = shard.get("run", {}).get("segment")
        if not isinstance(segment, str) or "/" not in segment:
            raise ConfigError(f"{name} is not a shard result (no run.segment; use run --segment)")
        i, n = (int(x) for x in segment.split("/"))
        if i in indexed:
            raise ConfigError(f"{name} is shard {segment} again")
        indexed[i] = shard
        counts.add(n)
    if len(counts) != 1:
        raise ConfigError(f"the shards come from different splits (N = {sorted(counts)})")
    (n,) = counts
    missing = sorted(set(range(n)) - set(indexed))
    if missing:
        raise ConfigError(f"shard {missing[0]}/{n} is missing (got {len(indexed)} of {n})")
    configs = {s["run"]["config"] for s in indexed.values()}
    if len(configs) != 1:
        raise ConfigError(f"the shards ran different suites: {', '.join(sorted(configs))}")
    return [indexed[i] for i in range(n)]


def merge_available(
    shards: Sequence[RunResult | None], failures: dict[int, str]
) -> RunResult | None:
    """Shards 0..N-1 merged where a missing one (its worker left nothing: `failures` says
    why) stands in as a shard that ran no scenario; None when no shard is there at all."""
    first = next((s for s in shards if s is not None), None)
    if first is None:
        return None
    present: list[RunResult] = []
    for i, shard in enumerate(shards):
        if shard is None:
            failures.setdefault(i, f"worker {i} left no results")
            shard = copy.deepcopy(first)
            shard["scenarios"] = []
        present.append(shard)
    return merge_runs(present, failures)


def merge_runs(shards: Sequence[RunResult], notes: dict[int, str] | None = None) -> RunResult:
    """Shards 0..N-1 (in order) of one run merged into one RunResult (not yet scored).
    `notes`: a worker's failure (index → reason), which fails every scenario it took part in."""
    notes = notes or {}
    first = shards[0]
    merged: RunResult = copy.deepcopy(first)
    info = merged["run"]
    info.pop("segment", None)
    info["workers"] = len(shards)
    info["started_at"] = min(s["run"]["started_at"] for s in shards)
    finished = [s["run"]["finished_at"] for s in shards if s["run"]["finished_at"]]
    info["finished_at"] = max(finished) if finished else None
    scenarios: list[ScenarioResult] = []
    # Shard 0 ran every scenario, unless it stopped early: then the others name the rest.
    seen: dict[tuple[str, str], ScenarioResult] = {}
    for shard in shards:
        for s in shard["scenarios"]:
            seen.setdefault((s["name"], s["target"]), s)
    for result in seen.values():
        workers = result.get("workers")
        if workers is not None and workers["count"] == 1:
            scenarios.append(copy.deepcopy(result))  # shard 0 ran it whole
            continue
        key = (result["name"], result["target"])
        parts: list[tuple[int, ScenarioResult]] = []
        absent: list[int] = []
        for i, shard in enumerate(shards):
            found = [s for s in shard["scenarios"] if (s["name"], s["target"]) == key]
            if found:
                parts.append((i, found[0]))
            else:
                absent.append(i)
        scenarios.append(merge_scenario(parts, len(shards), absent, notes))
    merged["scenarios"] = scenarios
    merged["summary"] = summarize(scenarios)
    merged.pop("score", None)
    merged.pop("comparison", None)
    statuses = [s["run"]["status"] for s in shards]
    if notes or any(s["status"] == "error" for s in scenarios) or "error" in statuses:
        info["status"] = "error"
    elif "interrupted" in statuses:
        info["status"] = "interrupted"
    elif any(s["status"] == "failed" for s in scenarios):
        info["status"] = "failed"
    elif any(s["status"] == "inconclusive" for s in scenarios):
        info["status"] = "inconclusive"
    else:
        info["status"] = "passed"
    return merged


def merge_scenario(
    parts: Sequence[tuple[int, ScenarioResult]],
    count: int,
    absent: Sequence[int] = (),
    notes: dict[int, str] | None = None,
) -> ScenarioResult:
    """One scenario's shard results merged exactly; a shard that is absent (its worker died
    or stopped before writing it) or failed makes the merged scenario an error that says so."""
    notes = notes or {}
    results = [r for _, r in parts]
    out: ScenarioResult = copy.deepcopy(results[0])
    hists = _merged_histograms([r["histograms"] for r in results])
    out["histograms"] = hists
    out["latency_ms"] = latency_summary(_hist(hists["corrected"]))
    out["latency_uncorrected_ms"] = latency_summary(_hist(hists["uncorrected"]))
    out["failure_latency_ms"] = latency_summary(_hist(hists["failures"]))
    out["totals"] = merged_totals([r["totals"] for r in results])
    out["operations"] = _merged_operations(results, hists)
    out["started_at"] = min(r["started_at"] for r in results)
    out["duration_s"] = max(r["duration_s"] for r in results)
    out["partial"] = any(r["partial"] for r in results) or bool(absent)
    intervals = [r["intervals"] for r in results if "intervals" in r]
    if len(intervals) == len(results) and intervals:
        out["intervals"] = merged_intervals(intervals)
    out["timeline"] = _merged_timeline(results, out.get("intervals"))
    generators = [r["generator"] for r in results]
    out["generator"] = merged_generator(generators, out["totals"]["sent"])
    out["workers"] = _workers(parts, count)
    out["checks"] = _rejudged(out)
    failures = [f"worker {i}: {r['error']}" for i, r in parts if r["status"] == "error"]
    failures += [f"worker {i} wrote no result for it ({notes.get(i, 'it stopped early')})"
                 for i in absent]  # fmt: skip
    failures += [f"worker {i}: {notes[i]}" for i, _ in parts if i in notes]
    if failures:
        out["status"] = "error"
        out["error"] = "; ".join(failures) + "; the merged figures are partial"
        out["partial"] = True
    else:
        out["status"] = _status(out)
        out["error"] = None
    return out


def merged_totals(parts: Sequence[Totals]) -> Totals:
    codes: Counter[str] = Counter()
    for t in parts:
        codes.update(t["rpc_error_codes"])
    sent = sum(t["sent"] for t in parts)
    ok = sum(t["ok"] for t in parts)
    rejected = sum(t["rejected"] for t in parts)
    attempted = sent - rejected
    success = ok / attempted if attempted > 0 else None
    errors = ErrorCounts(
        tool_error=sum(t["errors"]["tool_error"] for t in parts),
        rpc_error=sum(t["errors"]["rpc_error"] for t in parts),
        timeout=sum(t["errors"]["timeout"] for t in parts),
        transport=sum(t["errors"]["transport"] for t in parts),
    )
    return Totals(
        sent=sent,
        ok=ok,
        errors=errors,
        rpc_error_codes=dict(sorted(codes.items(), key=lambda kv: int(kv[0]))),
        rejected=rejected,
        late=sum(t["late"] for t in parts),
        dropped=sum(t["dropped"] for t in parts),
        cancelled=sum(t["cancelled"] for t in parts),
        success_rate=success,
        error_rate=None if success is None else 1.0 - success,
        # The workers ran side by side over the same window (a coordinated start).
        throughput_rps=sum(t["throughput_rps"] for t in parts),
    )


def _merged_histograms(parts: Sequence[Histograms]) -> Histograms:
    names = list(dict.fromkeys(n for p in parts for n in p["operations"]))
    return Histograms(
        corrected=merged_text([p["corrected"] for p in parts]),
        uncorrected=merged_text([p["uncorrected"] for p in parts]),
        failures=merged_text([p["failures"] for p in parts]),
        operations={
            name: {
                kind: merged_text([p["operations"].get(name, {}).get(kind, "") for p in parts])
                for kind in ("corrected", "uncorrected")
            }
            for name in names
        },
    )


def _merged_operations(
    results: Sequence[ScenarioResult], hists: Histograms
) -> list[OperationResult]:
    out: list[OperationResult] = []
    for op in results[0]["operations"]:
        same = [o for r in results for o in r["operations"] if o["name"] == op["name"]]
        texts = hists["operations"].get(op["name"], {})
        out.append(
            OperationResult(
                name=op["name"],
                method=op["method"],
                totals=merged_totals([o["totals"] for o in same]),
                latency_ms=latency_summary(_hist(texts.get("corrected", ""))),
                latency_uncorrected_ms=latency_summary(_hist(texts.get("uncorrected", ""))),
            )
        )
    return out


def merged_intervals(parts: Sequence[IntervalData]) -> IntervalData:
    """Interval by interval, each operation's histograms merged and its counts summed. Shards
    of one run share one width; a longer shard's extra intervals are kept as they are."""
    widths = {p["width_s"] for p in parts}
    if len(widths) != 1:
        raise ConfigError(f"the shards' intervals have different widths: {sorted(widths)}")
    length = max(len(p["seconds"]) for p in parts)
    seconds = [max(p["seconds"][k] for p in parts if k < len(p["seconds"])) for k in range(length)]
    names = list(dict.fromkeys(n for p in parts for n in p["operations"]))
    operations: dict[str, OperationIntervals] = {}
    for name in names:
        columns = [p["operations"][name] for p in parts if name in p["operations"]]

        def at(column: OperationIntervals, key: str, k: int) -> int:
            values: list[int] = column[key]  # type: ignore[literal-required]
            return values[k] if k < len(values) else 0

        operations[name] = OperationIntervals(
            histograms=[
                merged_text([c["histograms"][k] for c in columns if k < len(c["histograms"])])
                for k in range(length)
            ],
            ok=[sum(at(c, "ok", k) for c in columns) for k in range(length)],
            failed=[sum(at(c, "failed", k) for c in columns) for k in range(length)],
        )
    return IntervalData(width_s=widths.pop(), seconds=seconds, operations=operations)


def _merged_timeline(
    results: Sequence[ScenarioResult], intervals: IntervalData | None
) -> list[TimelinePoint]:
    """Second by second, counts summed; percentiles re-read from the merged per-interval
    histograms when intervals are seconds, else left empty (never averaged)."""
    by_t: dict[int, list[TimelinePoint]] = {}
    for r in results:
        for point in r["timeline"]:
            by_t.setdefault(point["t_s"], []).append(point)
    per_second: list[LatencyHistogram] = []
    if intervals is not None and intervals["width_s"] == 1:
        columns = list(intervals["operations"].values())
        per_second = [
            _hist(merged_text([c["histograms"][k] for c in columns]))
            for k in range(len(intervals["seconds"]))
        ]
    out: list[TimelinePoint] = []
    for t in sorted(by_t):
        points = by_t[t]
        point = TimelinePoint(
            t_s=t,
            sent=sum(p["sent"] for p in points),
            ok=sum(p["ok"] for p in points),
            errors=ErrorCounts(
                tool_error=sum(p["errors"]["tool_error"] for p in points),
                rpc_error=sum(p["errors"]["rpc_error"] for p in points),
                timeout=sum(p["errors"]["timeout"] for p in points),
                transport=sum(p["errors"]["transport"] for p in points),
            ),
            late=sum(p["late"] for p in points),
            dropped=sum(p["dropped"] for p in points),
            rps=sum(p["rps"] for p in points),
            p50_ms=None,
            p95_ms=None,
            p99_ms=None,
        )
        if 0 <= t < len(per_second) and per_second[t].count:
            pct = per_second[t].percentiles_ms((50, 95, 99))
            point["p50_ms"], point["p95_ms"], point["p99_ms"] = pct["p50"], pct["p95"], pct["p99"]
        if any("rejected" in p for p in points):
            point["rejected"] = sum(p.get("rejected", 0) for p in points)
        out.append(point)
    return out


def merged_generator(parts: Sequence[GeneratorStats], sent: int) -> GeneratorStats:
    """The generators' total: CPU summed (percent of one core, so 2 busy workers show 200),
    the worst worker's loop lag, saturated when any worker was."""
    cpu_s = sum(g["cpu_s"] for g in parts)
    lags = [g["max_loop_lag_ms"] for g in parts if g["max_loop_lag_ms"] is not None]
    p99s = [g["p99_loop_lag_ms"] for g in parts if g["p99_loop_lag_ms"] is not None]
    rss = [g["rss_peak_mb"] for g in parts if g["rss_peak_mb"] is not None]
    reasons = [
        f"worker {i}: {g['saturation_reason']}" for i, g in enumerate(parts) if g["saturated"]
    ]
    return GeneratorStats(
        cpu_s=round(cpu_s, 3),
        cpu_us_per_request=round(cpu_s * 1e6 / sent, 1) if sent else None,
        cpu_percent=round(sum(g["cpu_percent"] for g in parts), 1),
        max_loop_lag_ms=max(lags) if lags else None,
        p99_loop_lag_ms=max(p99s) if p99s else None,
        rss_peak_mb=round(sum(rss), 1) if rss else None,
        saturated=bool(reasons),
        saturation_reason="; ".join(reasons),
    )


def _workers(parts: Sequence[tuple[int, ScenarioResult]], count: int) -> WorkersResult:
    shares = [
        WorkerShare(
            index=i,
            sent=r["totals"]["sent"],
            ok=r["totals"]["ok"],
            late=r["totals"]["late"],
            dropped=r["totals"]["dropped"],
            throughput_rps=r["totals"]["throughput_rps"],
            generator=r["generator"],
        )
        for i, r in parts
    ]
    limited = any(s["generator"]["saturated"] for s in shares)
    result = WorkersResult(
        count=count,
        note=(
            f"load split across {count} workers (closed: users; open: the one schedule's"
            f" arrivals dealt out in turn), started together; histograms merged bucket by bucket"
        ),
        shards=shares,
        generator_limited=limited,
        workers_needed=None,
    )
    if limited:
        busiest = max(s["generator"]["cpu_percent"] for s in shares)
        result["workers_needed"] = max(count + 1, math.ceil(count * busiest / _BUSY_CPU_PERCENT))
    return result


def _rejudged(result: ScenarioResult) -> list[CheckResult]:
    """Each check of shard 0 judged again on the merged figures; a metric the merge cannot
    re-derive has no observed value, so its check is inconclusive rather than a shard's."""
    from readiness.config.thresholds import parse_threshold
    from readiness.scenarios.base import observed_value

    checks: list[CheckResult] = []
    for check in result["checks"]:
        observed = observed_value(result, check["metric"])
        threshold = parse_threshold(check["expression"])
        judged = CheckResult(**check)
        judged["observed"] = observed
        judged["passed"] = observed is not None and threshold.evaluate(observed)
        checks.append(judged)
    return checks


def _status(result: ScenarioResult) -> ScenarioStatus:
    """As a single run judges it: failed on an observed miss, else inconclusive on an
    unjudged check, else passed."""
    unmet = [c for c in result["checks"] if not c["passed"]]
    if any(c["observed"] is not None for c in unmet):
        return "failed"
    return "inconclusive" if unmet else "passed"
