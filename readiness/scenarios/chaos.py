"""The failure and recovery scenarios: a steady load through the fault interposer, faults acting
during the injection window, and the figures that say how the target coped — error isolation
and graceful degradation (failure), detection, restore and recovery times (recovery)."""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from readiness.chaos.faults import (
    AnyFault,
    DisconnectFault,
    ErrorFault,
    HangFault,
    KillFault,
    Window,
)
from readiness.chaos.interposed import Interposer
from readiness.chaos.plan import FaultEvent
from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel, Requester
from readiness.engine.workload import Workload
from readiness.errors import ConfigError
from readiness.metrics.trace import Trace, TracingRecorder
from readiness.protocol.outcome import Outcome
from readiness.results import (
    ChaosEvent,
    ChaosResult,
    InjectedFault,
    Outage,
    ScenarioResult,
)
from readiness.scenarios import chaos_figures as figures
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
    attach_health,
    build_workload,
    describe_load,
    drive,
    judge,
    load_plan,
    method_of,
    now_iso,
    preflight,
    warm_up,
)
from readiness.scenarios.instruments import watch
from readiness.target import open_target

# Faults that take the whole channel down, whichever request triggers them.
_CHANNEL_FAULTS = (KillFault, HangFault, DisconnectFault)
DEFAULT_ERROR_PROBABILITY = 0.1
DEFAULT_RESTART_AFTER = 2.0
DEFAULT_HANG = 5.0


async def run_failure(ctx: ScenarioContext) -> ScenarioResult:
    return await _run(ctx)


async def run_recovery(ctx: ScenarioContext) -> ScenarioResult:
    return await _run(ctx)


# --- which faults --------------------------------------------------------------------------


def default_faults(ctx: ScenarioContext, workload: Workload) -> tuple[AnyFault, ...]:
    """failure: 10% JSON-RPC internal errors on the workload's first tool. recovery: kill the
    server and restart it after 2 s when readiness started it; else a 5 s hang."""
    if ctx.scenario.kind == "failure":
        for op in workload.operations:
            if op.method == "tools/call" and op.params is not None:
                tool = str(op.params["name"])
                return (ErrorFault(tool=tool, probability=DEFAULT_ERROR_PROBABILITY),)
        method = workload.operations[0].method
        return (ErrorFault(method=method, probability=DEFAULT_ERROR_PROBABILITY),)
    if ctx.target.command is not None:
        return (KillFault(restart_after=DEFAULT_RESTART_AFTER),)  # an outage: fires once
    return (HangFault(duration=DEFAULT_HANG),)


def scheduled(faults: Sequence[AnyFault], window: Window) -> tuple[AnyFault, ...]:
    """The faults, each acting in its own `during` window or else the scenario's."""
    return tuple(
        f if f.during is not None else f.model_copy(update={"during": window}) for f in faults
    )


def span(faults: Sequence[AnyFault]) -> Window:
    """From the first fault's window start to the last one's end: when faults may act."""
    windows = [f.during for f in faults if f.during is not None]
    return Window(min(w.start for w in windows), max(w.end for w in windows))


def affected_operations(workload: Workload, faults: Sequence[AnyFault]) -> list[bool]:
    """Which operations some fault can hit: those its selection matches, or all of them for
    a fault that takes the whole channel down."""
    if any(isinstance(f, _CHANNEL_FAULTS) for f in faults):
        return [True] * len(workload.operations)
    affected: list[bool] = []
    for op in workload.operations:
        tool = op.params.get("name") if op.method == "tools/call" and op.params else None
        affected.append(
            any(f.selected_method in (None, op.method) and f.tool in (None, tool) for f in faults)
        )
    return affected


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    run: LoadRun
    trace: Trace
    clock_s: float  # the interposer's zero, in seconds since the load started
    mono_offset_s: float  # the load's start minus the scenario's start, monotonic seconds
    events: list[FaultEvent]
    matched: tuple[int, ...] | None
    injected: tuple[int, ...]


async def _run(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    assert scenario.load is not None
    plan = load_plan(scenario.load)
    workload = build_workload(ctx)
    faults = scheduled(
        scenario.faults or default_faults(ctx, workload), scenario.injection_window()
    )
    window = span(faults)
    affected = affected_operations(workload, faults)
    if scenario.kind == "failure" and not scenario.thresholds and all(affected):
        raise ConfigError(
            "every operation of this failure scenario's workload is hit by its faults, so error"
            " isolation cannot be measured: add an operation no fault selects (e.g. another"
            " tool), or set thresholds",
            file=ctx.suite.source,
            key=f"scenarios ({scenario.name}).workload",
        )
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, ctx.target.name, "load")
    logs = ctx.run_dir / "logs"
    seed = zlib.crc32(scenario.name.encode())  # reproducible draws, per scenario
    async with open_target(ctx.target, logs, scenario.name, faults=faults, seed=seed) as session:
        chaos = session.interposer
        assert chaos is not None
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        await warm_up(ctx, session.conn, workload, plan, label)
        # The interposer may kill and restart the server: no one process to sample.
        unattributed = "the server ran behind the fault interposer, which may kill and restart"
        unattributed += " it; its resources are not attributed to one process"
        async with watch(session.pid, no_pid_reason=unattributed, live=ctx.exposed) as instruments:
            measured = await _measure(ctx, session.conn, workload, plan, label, chaos, faults)
    result = assemble(
        ctx,
        measured.run.recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=measured.run.partial,
        load=describe_load(scenario.load),
        method=method_of(plan),
        generator=instruments.generator_stats(measured.run.recording.sent),
        server=instruments.server_resources(),
    )
    chaos_result = _figures(ctx, result, measured, workload, faults, affected, window, seed)
    result["chaos"] = chaos_result
    attach_health(ctx, result)  # again, now with the faults' times: the health flips
    _annotate_timeline(result, measured)
    return judge(result, scenario, extra=_metrics(chaos_result))


async def _measure(
    ctx: ScenarioContext,
    conn: Requester,
    workload: Workload,
    plan: LoadPlan,
    label: ProgressLabel,
    chaos: Interposer,
    faults: Sequence[AnyFault] = (),
) -> _Measured:
    recorder = TracingRecorder(len(workload.operations))
    clock = await chaos.start_clock()
    mono_minus_perf = time.monotonic() - time.perf_counter()
    windows = (
        nullcontext()
        if ctx.live is None
        else ctx.live.faults(ctx.target.name, ctx.scenario.name, faults)
    )
    with windows:
        run = await drive(ctx, conn, workload, plan, label, recorder=recorder)
    await chaos.finish()
    load_start = recorder.start_ns / 1e9
    counts = chaos.counts
    return _Measured(
        run=run,
        trace=recorder.trace(),
        clock_s=clock - load_start,
        mono_offset_s=load_start + mono_minus_perf - ctx.started,
        events=chaos.events,
        matched=counts.matched,
        injected=counts.injected,
    )


# --- figures -------------------------------------------------------------------------------


def _figures(
    ctx: ScenarioContext,
    result: ScenarioResult,
    m: _Measured,
    workload: Workload,
    faults: Sequence[AnyFault],
    affected: Sequence[bool],
    window: Window,
    seed: int,
) -> ChaosResult:
    scenario = ctx.scenario
    trace = m.trace
    load_s = (scenario.load.planned_duration() if scenario.load else None) or 0.0
    load_s -= scenario.warmup
    inject_times = sorted(e.t_s + m.clock_s for e in m.events if e.phase == "inject")
    end_times = sorted(e.t_s + m.clock_s for e in m.events if e.phase == "end")
    start_s = window.start
    end_s = window.end if math.isfinite(window.end) else load_s
    outage = None
    events: list[ChaosEvent] = []
    if scenario.kind == "recovery":
        injected_s = inject_times[0] if inject_times else None
        restored = [t for t in end_times if injected_s is not None and t >= injected_s]
        restored_s = restored[0] if restored else None
        if restored_s is None and injected_s is not None and math.isfinite(window.end):
            restored_s = window.end  # the faults were removed at the window's end
        if injected_s is not None:
            start_s = injected_s
        steady = figures.steady_state(trace, min(1.0, start_s / 2), start_s)
        outage = figures.outage(
            trace,
            steady,
            injected_s=injected_s,
            restored_s=restored_s,
            load_s=load_s,
            tolerance=scenario.recovery_tolerance,
            window_s=scenario.recovery_window,
        )
        # The outage lasts until the target is back (or the load ends, if it never is).
        back = outage["recovered_s"] if outage["recovered_s"] is not None else load_s
        end_s = max(back, start_s)
        events += _outage_events(outage)
    else:
        events.append(_event(window.start, "inject", f"faults act from {window}"))
        if math.isfinite(window.end):
            events.append(_event(window.end, "restore", "faults removed"))
    phases = figures.Phases.split(trace, start_s, end_s)
    names = [op.name for op in workload.operations]
    hit = [i for i, a in enumerate(affected) if a]
    spared = [i for i, a in enumerate(affected) if not a]
    during_hit = figures.phase_stats(trace, phases.during & figures.of_operations(trace, hit))
    spared_mask = figures.of_operations(trace, spared)
    steady_spared = figures.phase_stats(trace, phases.steady & spared_mask)
    during_spared = figures.phase_stats(trace, phases.during & spared_mask)
    resilience = result.get("resilience")
    breaker = resilience.get("breaker") if resilience else None
    retry = resilience.get("retry") if resilience else None
    rejected = trace.outcome == int(Outcome.REJECTED)
    # How long a refusal took from the send, not from the due time: a late generator is not
    # the breaker being slow.
    rejected_ms = ((trace.done_s - trace.sent_s) * 1000.0)[rejected & phases.during]
    if breaker is not None:
        for t in breaker["transitions"]:
            at = t["at_s"] - m.mono_offset_s
            events.append(_event(at, "breaker", f"{t['from']} → {t['to']}: {t['reason']}"))
    events.sort(key=lambda e: e["t_s"])
    return ChaosResult(
        window_s=[round(start_s, 3), round(end_s, 3)],
        faults=[
            InjectedFault(
                index=i,
                spec=fault.describe(),
                window=str(fault.during) if fault.during else "",
                matched=m.matched[i] if m.matched is not None and i < len(m.matched) else None,
                injected=m.injected[i],
                fires=fault.fires(),
            )
            for i, fault in enumerate(faults)
        ],
        seed=seed,
        steady=figures.phase_stats(trace, phases.steady),
        during=figures.phase_stats(trace, phases.during),
        after=figures.phase_stats(trace, phases.after),
        operations=figures.operation_impacts(trace, phases, names, affected),
        affected_success_rate=during_hit["success_rate"] if hit else None,
        unaffected_success_rate=during_spared["success_rate"] if spared else None,
        unaffected_p99_growth=figures.p99_growth(steady_spared, during_spared) if spared else None,
        breaker_opened=breaker["opened"] if breaker is not None else None,
        rejected_during=int(np.count_nonzero(rejected & phases.during)),
        rejection_p99_ms=(
            round(float(np.percentile(rejected_ms, 99)), 3) if len(rejected_ms) else None
        ),
        retries=retry["retries"] if retry is not None else None,
        lost=result["totals"]["cancelled"],
        outage=outage,
        events=events,
    )


def _event(t_s: float, what: str, detail: str) -> ChaosEvent:
    return ChaosEvent(t_s=round(t_s, 3), what=what, detail=detail)


def _outage_events(outage: Outage) -> list[ChaosEvent]:
    events: list[ChaosEvent] = []
    milestones = (
        ("injected_s", "inject", "the outage fault fired"),
        ("detected_s", "detect", "first request failed or overdue"),
        ("restored_s", "restore", "the interposer restored the server"),
        ("first_success_s", "first_success", "first success after restore"),
        ("recovered_s", "recovered", "back within tolerance of the steady state"),
    )
    for key, what, detail in milestones:
        value = outage[key]  # type: ignore[literal-required]
        if value is not None:
            events.append(_event(float(value), what, detail))
    return events


def _annotate_timeline(result: ScenarioResult, m: _Measured) -> None:
    """Add each second's rejections and the breaker's state to the timeline."""
    intervals = m.run.recording.intervals
    breaker = result.get("resilience", {}).get("breaker")
    states = (
        figures.breaker_by_second(breaker["transitions"], m.mono_offset_s, len(intervals))
        if breaker is not None
        else None
    )
    for point, interval in zip(result["timeline"], intervals, strict=False):
        point["rejected"] = interval.counts[Outcome.REJECTED]
        if states is not None and point["t_s"] < len(states):
            point["breaker"] = states[point["t_s"]]


def _metrics(chaos: ChaosResult) -> dict[str, float | None]:
    outage = chaos["outage"]
    metrics: dict[str, float | None] = {
        "affected_success_rate": chaos["affected_success_rate"],
        "unaffected_success_rate": chaos["unaffected_success_rate"],
        "unaffected_p99_growth": chaos["unaffected_p99_growth"],
        "breaker_opened": chaos["breaker_opened"],
        "lost": float(chaos["lost"]),
    }
    if outage is not None:
        metrics |= {
            "time_to_detect": outage["time_to_detect_s"],
            "time_to_first_success": outage["time_to_first_success_since_restore_s"],
            "recovery_time": outage["recovery_time_s"],
            "recovered": 1.0 if outage["recovered"] else 0.0,
            "failed_during_outage": float(outage["failed_during_outage"]),
        }
    return metrics
