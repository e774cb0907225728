"""The overload scenario: an open load ramped past the target's capacity, held, then dropped
back — the highest rate it sustained, how it fared overloaded, and whether it came back.

The capacity is configured, or found by a short probe: a ladder of constant rates, each
`step_duration` long when that is set (else 2 s), stopping at the first that does not keep up.
Then one continuous open load runs at half the capacity for a steady period (the yardstick),
ramps to capacity × overload_factor, holds, and drops back to half for the cooldown. Each
request is judged by the second it was due in, so a backlog is charged to the second that
caused it; the recorder's per-request trace gives those times exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio
import numpy as np
import numpy.typing as npt

from readiness.engine.load import LoadPlan, ProgressLabel, Requester
from readiness.engine.schedule import constant
from readiness.engine.workload import Workload
from readiness.metrics.recorder import Recorder, Recording
from readiness.metrics.summary import latency_summary, overall, recording_totals
from readiness.metrics.trace import Trace, TracingRecorder
from readiness.protocol.outcome import Outcome
from readiness.results import OverloadResult, PhaseStats, ScalingStep, ScenarioResult
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
    build_workload,
    drive,
    judge,
    method_of,
    now_iso,
    preflight,
    warm_up,
)
from readiness.scenarios.chaos_figures import phase_stats
from readiness.scenarios.instruments import watch
from readiness.scenarios.overload_figures import (
    KEEP_UP,
    MIN_STEADY_S,
    OK,
    Seconds,
    Shape,
    Yardstick,
    by_due_second,
    in_flight_for,
    max_sustainable,
    p95_of,
    recovered_at,
    rule_text,
    scheduled,
)
from readiness.target import open_target

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig

_NO_ANSWER = (Outcome.TIMEOUT, Outcome.TRANSPORT)


async def run_overload(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    configured = scenario.capacity is not None
    probe = Probe(scenario.capacity, "configured", "") if configured else None
    measured: Measured | None = None
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        async with watch(session.pid) as instruments:
            if probe is None:
                probe = await probe_capacity(ctx, session.conn, workload)
            if probe.capacity is not None and not ctx.interrupt.is_set():
                measured = await _measure(ctx, session.conn, workload, probe.capacity)
    recording = measured.run_recording if measured else Recorder(len(workload.operations)).finish()
    shape = measured.shape if measured else None
    result = assemble(
        ctx,
        recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=measured is None or measured.partial,
        load=_describe(scenario, probe, shape),
        method=method_of(shape.plan() if shape else _placeholder_plan()),
        generator=instruments.generator_stats(probe.sent + recording.sent),
        server=instruments.server_resources(),
    )
    figures = overload_figures(scenario, probe, measured)
    result["overload"] = figures
    return judge(
        result,
        scenario,
        extra={
            "max_sustainable_rate": figures["max_sustainable_rate"],
            "recovery_time": figures["recovery_time_s"],
            "recovered": 1.0 if figures["recovered"] else 0.0,
            "alive": 1.0 if figures["alive"] else 0.0,
        },
    )


# --- the probe -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """Where the capacity came from: configured, or the probe's steps and its reading of them."""

    capacity: float | None
    source: Literal["configured", "probe"]
    reason: str
    steps: tuple[ScalingStep, ...] = ()
    kept_up: tuple[bool, ...] = ()
    sent: int = 0


async def probe_capacity(ctx: ScenarioContext, conn: Requester, workload: Workload) -> Probe:
    """Climb constant rates until one does not keep up; the last that did is the capacity."""
    scenario = ctx.scenario
    rates = list(scenario.probe_rates())
    length = scenario.probe_step_s()
    steps: list[ScalingStep] = []
    kept: list[bool] = []
    yardstick: Yardstick | None = None
    sent = 0
    stopped_by = ""
    for index, rate in enumerate(rates):
        if ctx.interrupt.is_set():
            break
        plan = _constant_plan(rate, length)
        label = ProgressLabel(
            scenario.name,
            scenario.kind,
            ctx.target.name,
            f"probe {index + 1}/{len(rates)} (rate {rate:g}/s)",
        )
        if index == 0:
            await warm_up(ctx, conn, workload, plan, label)
        run = await drive(ctx, conn, workload, plan, label)
        sent += run.recording.sent
        if ctx.interrupt.is_set():
            break  # a step cut short says nothing about the rate
        offered = len(scheduled(plan))
        step = _probe_step(index, rate, run.recording)
        yardstick = yardstick or Yardstick(step["latency_ms"]["p95"], scenario.recovery_tolerance)
        ok, p95 = step["totals"]["ok"], step["latency_ms"]["p95"]
        steps.append(step)
        kept.append(yardstick.kept_up(offered, ok, p95))
        if not kept[-1]:
            stopped_by = yardstick.why_not(offered, ok, p95)
            break
    capacity, reason = _capacity_from(rates, kept, stopped_by)
    return Probe(capacity, "probe", reason, steps=tuple(steps), kept_up=tuple(kept), sent=sent)


def _capacity_from(
    rates: Sequence[float], kept: Sequence[bool], stopped_by: str
) -> tuple[float | None, str]:
    if not kept:
        return None, "the probe was stopped before a step completed"
    passed = [rate for rate, ok in zip(rates, kept, strict=False) if ok]
    if not passed:
        return rates[0], (
            f"even the lowest probe rate, {rates[0]:g}/s, did not keep up ({stopped_by});"
            " it is used as the capacity"
        )
    if len(kept) == len(rates) and all(kept):
        return passed[-1], (
            f"every probe step kept up, up to {passed[-1]:g}/s: the capacity is at least that"
        )
    failed = rates[len(kept) - 1]
    return passed[-1], (
        f"{passed[-1]:g}/s was the highest probe rate that kept up; at {failed:g}/s {stopped_by}"
    )


def _constant_plan(rate: float, length: float) -> LoadPlan:
    return LoadPlan(
        model="open",
        level=constant(rate, length),
        duration=length,
        requests=None,
        max_in_flight=in_flight_for(rate),
        drop_when_full=True,
    )


def _probe_step(index: int, rate: float, rec: Recording) -> ScalingStep:
    corrected, _, _ = overall(rec)
    return ScalingStep(
        index=index,
        model="open",
        level=rate,
        duration_s=round(rec.window_s, 3),
        totals=recording_totals(rec),
        latency_ms=latency_summary(corrected),
        efficiency=None,
        histogram=corrected.encode(),
    )


# --- the overload load -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    shape: Shape
    run_recording: Recording
    trace: Trace
    offsets: npt.NDArray[np.float64]
    partial: bool
    alive: bool
    alive_detail: str


async def _measure(
    ctx: ScenarioContext, conn: Requester, workload: Workload, capacity: float
) -> Measured:
    scenario = ctx.scenario
    shape = Shape.of(scenario, capacity)
    plan = shape.plan()
    label = ProgressLabel(
        scenario.name,
        scenario.kind,
        ctx.target.name,
        f"overload {shape.low:g}/s → {shape.peak:g}/s → {shape.low:g}/s",
    )
    await warm_up(ctx, conn, workload, plan, label)
    recorder = TracingRecorder(len(workload.operations))
    run = await drive(ctx, conn, workload, plan, label, recorder=recorder)
    if ctx.interrupt.is_set():
        alive, detail = False, "not checked: the scenario was stopped"
    else:
        alive, detail = await check_alive(conn, workload, ctx.target.request_timeout)
    return Measured(
        shape=shape,
        run_recording=run.recording,
        trace=recorder.trace(),
        offsets=scheduled(plan),
        partial=run.partial,
        alive=alive,
        alive_detail=detail,
    )


async def check_alive(conn: Requester, workload: Workload, timeout: float) -> tuple[bool, str]:
    """Send the workload's first operation once, straight to the server (no breaker or retry):
    any answer, even an error, means the server is alive."""
    op = workload.operations[0]
    started = time.perf_counter()
    with anyio.move_on_after(timeout + 1.0):  # the connection's own timeout should come first
        reply = await conn.request(op.method, op.params, timeout=timeout)
        took_ms = (time.perf_counter() - started) * 1000.0
        if reply.outcome in _NO_ANSWER:
            detail = f": {reply.detail}" if reply.detail else ""
            return False, f"{op.name}: {reply.outcome.name.lower()}{detail}"
        return True, f"{op.name} answered ({reply.outcome.name.lower()}) in {took_ms:.1f} ms"
    return False, f"{op.name}: no answer within {timeout:g} s"


# --- the result ------------------------------------------------------------------------------


def overload_figures(
    scenario: ScenarioConfig, probe: Probe, measured: Measured | None
) -> OverloadResult:
    tolerance = scenario.recovery_tolerance
    empty = phase_stats(Trace.empty(), np.zeros(0, dtype=np.bool_))
    stats = {"steady": empty, "overloaded": empty, "after": empty}
    offered: dict[str, int] = {}
    dropped: dict[str, int] = {}
    seconds = Seconds([], [], [], [], [])
    back: int | None = None
    reason = "the scenario was stopped before the overload load ran"
    shape = measured.shape if measured else None
    if measured is not None:
        shape = measured.shape
        trace, offsets = measured.trace, measured.offsets
        phases = {
            "steady": (0.0, shape.steady_s),
            "overloaded": (shape.hold_at_s, shape.drop_at_s),
            "after": (shape.drop_at_s, math.inf),
        }
        for name, (start, end) in phases.items():
            stats[name] = phase_stats(trace, (trace.due_s >= start) & (trace.due_s < end))
            offered[name] = int(np.count_nonzero((offsets >= start) & (offsets < end)))
            dropped[name] = max(offered[name] - stats[name]["completed"], 0)
        steady_ok = (trace.due_s < shape.steady_s) & (trace.outcome == OK)
        yardstick = Yardstick(p95_of(trace.latency_ms[steady_ok]), tolerance)
        seconds = by_due_second(trace, offsets, shape, yardstick)
        back = recovered_at(seconds, shape.drop_at_s, scenario.recovery_window)
        reason = _reason(scenario, stats["steady"], offered["steady"], yardstick, back, measured)
    return OverloadResult(
        capacity_rps=probe.capacity,
        capacity_source=probe.source,
        capacity_reason=probe.reason,
        probe=list(probe.steps),
        probe_kept_up=list(probe.kept_up),
        low_rate=None if shape is None else round(shape.low, 3),
        peak_rate=None if shape is None else round(shape.peak, 3),
        steady_s=max(scenario.recovery_window, MIN_STEADY_S),
        ramp_s=scenario.ramp,
        hold_s=scenario.hold,
        cooldown_s=scenario.cooldown,
        drop_at_s=None if shape is None else round(shape.drop_at_s, 3),
        max_in_flight=None if shape is None else in_flight_for(shape.peak),
        max_sustainable_rate=None if shape is None else max_sustainable(seconds, shape.drop_at_s),
        steady=stats["steady"],
        overloaded=stats["overloaded"],
        after=stats["after"],
        offered=offered,
        dropped=dropped,
        recovery_time_s=(
            None if back is None or shape is None else round(max(back - shape.drop_at_s, 0.0), 3)
        ),
        recovered=back is not None,
        alive=measured.alive if measured else False,
        alive_detail=measured.alive_detail if measured else "not checked: the load did not run",
        reason=reason,
        rule=rule_text(tolerance, scenario.recovery_window),
        seconds_offered=seconds.offered,
        seconds_ok=seconds.ok,
        seconds_p95_ms=seconds.p95_ms,
        seconds_kept_up=seconds.kept_up,
    )


def _reason(
    scenario: ScenarioConfig,
    steady: PhaseStats,
    offered: int,
    yardstick: Yardstick,
    back: int | None,
    measured: Measured,
) -> str:
    notes: list[str] = []
    shape = measured.shape
    if yardstick.p95_ms is None:
        notes.append("no request due in the steady period succeeded, so no second could keep up")
    elif steady["ok"] < KEEP_UP * offered:
        notes.append(
            f"the steady period itself did not keep up ({steady['ok']:,} of {offered:,}"
            " requests succeeded): the capacity may be set too high"
        )
    if back is None:
        window = max(math.ceil(scenario.recovery_window - 1e-9), 1)
        notes.append(
            f"not recovered: no {window} s in a row kept up between the drop at"
            f" {shape.drop_at_s:g} s and the end of the load at {shape.end_s:g} s"
        )
    if measured.partial:
        notes.append("the load was cut short by its deadline or a stop")
    if measured.trace.not_kept:
        notes.append(
            f"{measured.trace.not_kept:,} requests past the trace's limit are not in the figures"
        )
    return "; ".join(notes)


def _describe(scenario: ScenarioConfig, probe: Probe, shape: Shape | None) -> dict[str, object]:
    """The load as run, in the report's "Load:" line."""
    load: dict[str, object] = {"model": "open", "arrivals": "constant"}
    if probe.source == "probe":
        load["probe_steps"] = list(scenario.probe_rates())
        load["probe_step_duration"] = scenario.probe_step_s()
    if probe.capacity is not None:
        load["capacity"] = probe.capacity
    load["overload_factor"] = scenario.overload_factor
    if shape is not None:
        load |= {
            "low_rate": round(shape.low, 3),
            "peak_rate": round(shape.peak, 3),
            "steady": shape.steady_s,
            "ramp": shape.ramp_s,
            "hold": shape.hold_s,
            "cooldown": shape.cooldown_s,
            "max_in_flight": in_flight_for(shape.peak),
            "on_max_in_flight": "drop",
        }
    return load


def _placeholder_plan() -> LoadPlan:
    return LoadPlan(model="open", level=constant(1, 0), duration=0, requests=None)
