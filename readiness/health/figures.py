"""The health block of a scenario's result, from what the poller kept: availability and
latency per probe, the status timeline, the flips around a fault, whether liveness lied, and
the server's own counters beside ours. Pure functions of recorded data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from readiness.health.poller import HealthWatch, MetricsScrape, ProbeSample
from readiness.health.prometheus import increase
from readiness.metrics.histogram import LatencyHistogram
from readiness.results import (
    HealthFlip,
    HealthProbeStats,
    HealthResult,
    HealthTransition,
    LivenessVerdict,
    MetricsComparison,
    MetricsSeries,
    ScenarioResult,
)

# Faults the interposer applies between readiness and a server it leaves untouched: while they
# act, MCP calls fail but the server is fine, and a liveness probe saying so tells the truth.
_IN_BETWEEN_FAULTS = ("error", "drop", "latency", "hang", "disconnect")


def health_result(watch: HealthWatch, result: ScenarioResult) -> HealthResult:
    measured = [m for m in watch.loads if not m.warmup]
    origin = measured[0].start_s if measured else watch.started_s
    time_base = (
        "seconds since the measured load started (the time base of the chaos figures)"
        if measured
        else "seconds since health polling began"
    )
    fault = _fault_window(result)
    in_between = _in_between_window(result, fault)

    def rel(t: float) -> float:
        return round(t - origin, 3)

    # Judged while the scenario drove load (and the scrapes around it), not while its server
    # was still starting or already being stopped.
    lo, hi = _judged_span(watch)
    samples = sorted((s for s in watch.samples if lo <= s.at_s <= hi), key=lambda s: s.at_s)
    by_probe = {p: [s for s in samples if s.probe == p] for p in watch.urls}
    flips: list[HealthFlip] = []
    if fault is not None:
        for probe in ("liveness", "readiness"):
            if probe in by_probe:
                flips.append(_flip(probe, by_probe[probe], fault, origin))
    liveness = None
    if "liveness" in by_probe:
        liveness = _liveness_verdict(watch, by_probe["liveness"], in_between, origin)
    return HealthResult(
        time_base=time_base,
        interval_s=watch.config.interval,
        polled_s=[rel(samples[0].at_s), rel(samples[-1].at_s)] if samples else [0.0, 0.0],
        probes=[_probe_stats(p, watch.urls[p], s) for p, s in by_probe.items()],
        transitions=[
            HealthTransition(t_s=rel(s.at_s), probe=s.probe, state=state, detail=detail)
            for s, state, detail in _transitions(samples)
        ],
        flips=flips,
        liveness=liveness,
        metrics=_metrics(watch, result, samples) if "metrics" in watch.urls else None,
        note=(
            "health endpoints were polled on the server itself, not through readiness's fault"
            " proxy, so they show what the server said about its own state; polls count from"
            " the metrics scrape before the first load (or its start) to the end of the last,"
            " not while the server was starting or being stopped"
        ),
    )


def _judged_span(watch: HealthWatch) -> tuple[float, float]:
    if not watch.loads:
        return -math.inf, math.inf
    explicit = [s.at_s for s in watch.scrapes if s.explicit]
    lo = min([m.start_s for m in watch.loads] + explicit[:1])
    hi = max([m.end_s for m in watch.loads] + explicit[-1:])
    return lo, hi


# --- probes ----------------------------------------------------------------------------------


State = Literal["up", "down", "unreachable"]


def state_of(sample: ProbeSample) -> tuple[State, str]:
    if sample.status is None:
        return "unreachable", sample.error
    return ("up" if sample.up else "down"), f"HTTP {sample.status}"


def _probe_stats(probe: str, url: str, samples: Sequence[ProbeSample]) -> HealthProbeStats:
    answered = [s.latency_ms for s in samples if s.latency_ms is not None]
    hist = LatencyHistogram()
    hist.record_many([max(int(ms * 1000), 1) for ms in answered])
    p = hist.percentiles_ms((50, 95, 99)) if hist.count else {}
    up = sum(1 for s in samples if s.up)
    unreachable = sum(1 for s in samples if s.status is None)
    return HealthProbeStats(
        probe=probe,
        url=url,
        polls=len(samples),
        up=up,
        down=len(samples) - up - unreachable,
        unreachable=unreachable,
        availability=up / len(samples) if samples else None,
        p50_ms=_r(p.get("p50")),
        p95_ms=_r(p.get("p95")),
        p99_ms=_r(p.get("p99")),
        max_ms=_r(max(answered)) if answered else None,
    )


def _transitions(samples: Sequence[ProbeSample]) -> list[tuple[ProbeSample, State, str]]:
    """Each probe's first state and every change of state, in time order."""
    last: dict[str, str] = {}
    changes: list[tuple[ProbeSample, State, str]] = []
    for s in samples:
        state, detail = state_of(s)
        if last.get(s.probe) != state:
            last[s.probe] = state
            changes.append((s, state, detail))
    return changes


# --- around a fault --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fault:
    start_s: float  # on the load's time base
    end_s: float | None
    first_success_s: float | None


def _fault_window(result: ScenarioResult) -> _Fault | None:
    chaos = result.get("chaos")
    if chaos is None:
        return None
    outage = chaos["outage"]
    if outage is not None:
        if outage["injected_s"] is None:
            return None
        return _Fault(outage["injected_s"], outage["restored_s"], outage["first_success_s"])
    start, end = chaos["window_s"]
    return _Fault(start, end, None)


def _in_between_window(result: ScenarioResult, fault: _Fault | None) -> _Fault | None:
    """The fault window when every fault acts between readiness and the server only."""
    chaos = result.get("chaos")
    if chaos is None or fault is None:
        return None
    kinds = {f["spec"].split(":", 1)[0] for f in chaos["faults"]}
    return fault if kinds and kinds <= set(_IN_BETWEEN_FAULTS) else None


def _flip(probe: str, samples: Sequence[ProbeSample], fault: _Fault, origin: float) -> HealthFlip:
    down_s = up_s = None
    for s in samples:
        t = s.at_s - origin
        if down_s is None:
            if t >= fault.start_s and not s.up:
                down_s = t
        elif s.up:
            up_s = t
            break

    def since(t: float | None, start: float | None) -> float | None:
        return None if t is None or start is None else round(t - start, 3)

    return HealthFlip(
        probe=probe,
        fault_s=_r(fault.start_s),
        restore_s=_r(fault.end_s),
        first_success_s=_r(fault.first_success_s),
        down_s=_r(down_s),
        up_s=_r(up_s),
        down_after_fault_s=since(down_s, fault.start_s),
        up_after_restore_s=since(up_s, fault.end_s),
        up_after_first_success_s=since(up_s, fault.first_success_s),
    )


# --- did liveness lie ------------------------------------------------------------------------


def lie_rule(lie_after: float) -> str:
    return (
        f"liveness lied when, for at least {lie_after:g} s in a row, every MCP call that"
        " completed failed (each second had a completion and no success; calls refused by our"
        " own breaker left out) and every liveness poll in that stretch answered 2xx; seconds"
        " in which readiness's own fault interposer was injecting faults that leave the server"
        f" untouched ({', '.join(_IN_BETWEEN_FAULTS)}) are not judged"
    )


def failing_runs(
    watch: HealthWatch, excluded: tuple[float, float] | None
) -> list[tuple[float, float]]:
    """[start, end) of each run of whole seconds (perf_counter time) in which every MCP call
    that completed failed, across every load the scenario drove."""
    seconds = sorted(
        (load.start_s + i, ok, failed)
        for load in watch.loads
        for i, (ok, failed) in enumerate(load.seconds)
    )
    runs: list[tuple[float, float]] = []
    start = end = None
    for t, ok, failed in seconds:
        bad = failed > 0 and ok == 0
        if bad and excluded is not None and excluded[0] <= t + 0.5 < excluded[1]:
            bad = False
        if bad and start is not None and end is not None and t - end < 0.5:
            end = t + 1.0
        elif bad:
            if start is not None and end is not None:
                runs.append((start, end))
            start, end = t, t + 1.0
        else:
            if start is not None and end is not None:
                runs.append((start, end))
            start = end = None
    if start is not None and end is not None:
        runs.append((start, end))
    return runs


def _liveness_verdict(
    watch: HealthWatch,
    samples: Sequence[ProbeSample],
    in_between: _Fault | None,
    origin: float,
) -> LivenessVerdict:
    lie_after = watch.config.lie_after
    excluded = None
    if in_between is not None:
        end = in_between.end_s if in_between.end_s is not None else float("inf")
        excluded = (in_between.start_s + origin, end + origin)
    runs = failing_runs(watch, excluded)
    longest = max((b - a for a, b in runs), default=0.0)
    spans: list[list[float]] = []
    for a, b in runs:
        if b - a < lie_after:
            continue
        stretch_start: float | None = a
        polls = 0
        for s in samples:
            if not a <= s.at_s < b:
                continue
            if s.up:
                polls += 1
                if stretch_start is None:
                    stretch_start = s.at_s
            else:
                if stretch_start is not None and polls and s.at_s - stretch_start >= lie_after:
                    spans.append([_t(stretch_start, origin), _t(s.at_s, origin)])
                stretch_start, polls = None, 0
        if stretch_start is not None and polls and b - stretch_start >= lie_after:
            spans.append([_t(stretch_start, origin), _t(b, origin)])
    return LivenessVerdict(
        lied=None if longest < lie_after else bool(spans),
        lie_after_s=lie_after,
        spans=spans,
        failing_s=round(longest, 3),
        rule=lie_rule(lie_after),
    )


# --- the server's counters beside ours -------------------------------------------------------


def metrics_rule(tolerance: float) -> str:
    return (
        "series are compared over the same span, from the scrape just before the first load"
        " (warm-up included) to the scrape just after the last; counters count their increase"
        " (a drop is a restart, and what the server counted since is added). Disagreement:"
        f" the server's error rate (errors/requests) differs from ours on tools/call by more"
        f" than {tolerance:.1%} absolute, or — with no restart — its request count differs from"
        f" the tool calls we made by more than {tolerance:.1%} of ours. Memory is shown beside"
        " our own sampling of the server process, not judged"
    )


def _metrics(
    watch: HealthWatch, result: ScenarioResult, polls: Sequence[ProbeSample]
) -> MetricsComparison:
    lo, hi = _judged_span(watch)
    scrapes = sorted((s for s in watch.scrapes if lo <= s.at_s <= hi), key=lambda s: s.at_s)
    explicit = [s for s in scrapes if s.explicit]
    first = explicit[0] if explicit else (scrapes[0] if scrapes else None)
    last = explicit[-1] if explicit else (scrapes[-1] if scrapes else None)
    span: list[MetricsScrape] = []
    if first is not None and last is not None:
        span = [s for s in scrapes if first.at_s <= s.at_s <= last.at_s]
    loads = [
        m
        for m in watch.loads
        if first is not None and last is not None and first.at_s <= m.start_s <= last.at_s
    ]
    calls = sum(m.tool_calls for m in loads)
    failures = sum(m.tool_failures for m in loads)
    names = watch.series_names()
    series: dict[str, MetricsSeries] = {}
    roles: tuple[Literal["requests", "errors"], ...] = ("requests", "errors")
    for role in roles:
        values = [v for s in span if (v := s.values.get(role)) is not None]
        delta, resets = increase(values) if len(values) >= 2 else (None, 0)
        ours = float(calls if role == "requests" else failures) if loads else None
        series[role] = MetricsSeries(
            role=role,
            name=names[role],
            before=values[0] if values else None,
            after=values[-1] if values else None,
            delta=delta,
            resets=resets,
            ours=ours,
            ours_label=f"tools/call {'requests' if role == 'requests' else 'failures'} we made",
        )
    memory = [v for s in span if (v := s.values.get("memory")) is not None]
    server = result["server"]
    rss_mb = server["rss_final_mb"] if server["measured"] else None
    series["memory"] = MetricsSeries(
        role="memory",
        name=names["memory"],
        before=memory[0] if memory else None,
        after=memory[-1] if memory else None,
        delta=memory[-1] - memory[0] if len(memory) >= 2 else None,
        resets=0,
        ours=rss_mb * 1024 * 1024 if rss_mb is not None else None,
        ours_label="server RSS at the end, as we sampled it (bytes)",
    )
    requests, errors = series["requests"]["delta"], series["errors"]["delta"]
    server_rate = errors / requests if requests and errors is not None else None
    our_rate = failures / calls if calls else None
    tolerance = watch.config.disagreement
    disagreements: list[str] = []
    if server_rate is not None and our_rate is not None:
        if abs(server_rate - our_rate) > tolerance:
            disagreements.append(
                f"error rate: the server counted {server_rate:.1%} ({errors:g} of"
                f" {requests:g}), we saw {our_rate:.1%} ({failures} of {calls} tools/call)"
            )
    elif errors == 0 and our_rate is not None and our_rate > tolerance:
        disagreements.append(
            f"error rate: the server counted no errors, we saw {our_rate:.1%}"
            f" ({failures} of {calls} tools/call)"
        )
    restarted = series["requests"]["resets"] > 0
    if (
        requests is not None
        and loads
        and not restarted
        and abs(requests - calls) > tolerance * max(calls, 1)
    ):
        disagreements.append(
            f"requests: the server counted {requests:g} tool calls, we made {calls}"
        )
    return MetricsComparison(
        url=watch.urls["metrics"],
        scrapes=len(scrapes),
        failed_scrapes=sum(1 for p in polls if p.probe == "metrics") - len(scrapes),
        series=list(series.values()),
        server_error_rate=_r(server_rate, 4),
        our_error_rate=_r(our_rate, 4),
        disagreements=disagreements,
        rule=metrics_rule(tolerance),
    )


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _t(t: float, origin: float) -> float:
    return round(t - origin, 3)


def health_metrics(health: HealthResult | None) -> dict[str, float | None]:
    """The health figures thresholds may name. Liveness that never had occasion to lie (MCP
    calls never all failed for lie_after) did not lie: 0. None: not measured."""
    if health is None:
        return {}
    probes = {p["probe"]: p for p in health["probes"]}
    flips = {f["probe"]: f for f in health["flips"]}
    liveness = health["liveness"]
    metrics = health["metrics"]
    readiness = flips.get("readiness")
    return {
        "liveness_lied": None if liveness is None else (1.0 if liveness["lied"] else 0.0),
        "readiness_availability": (
            probes["readiness"]["availability"] if "readiness" in probes else None
        ),
        "readiness_down_after_fault": readiness["down_after_fault_s"] if readiness else None,
        "readiness_up_after_restore": readiness["up_after_restore_s"] if readiness else None,
        "metrics_disagreements": None if metrics is None else float(len(metrics["disagreements"])),
    }
