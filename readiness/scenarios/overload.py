"""The overload scenario: an open load ramped past the target's capacity, held, then dropped
back — the highest rate it sustained, how it fared overloaded, and whether it came back.

The capacity is configured, or found by a probe (readiness.scenarios.overload_probe) that
raises a constant rate until the server does not keep up, within max_rate and the generator's
own limit. Then one continuous open load runs at half the capacity for a steady period (the
yardstick), ramps to capacity × overload_factor (at most max_rate), holds, and drops back to
half for the cooldown. Each request is judged by the second it was due in, so a backlog is
charged to the second that caused it; the recorder's per-request trace gives those times
exactly. When the server kept up with everything offered, the scenario says it was not
overloaded and ends inconclusive: none of its overload figures can be read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import numpy as np
import numpy.typing as npt

from readiness.engine.arguments import DataExhausted
from readiness.engine.load import LoadPlan, ProgressLabel, Requester
from readiness.engine.schedule import constant
from readiness.engine.workload import Workload
from readiness.metrics.recorder import Recorder, Recording
from readiness.metrics.trace import Trace, TracingRecorder
from readiness.protocol.outcome import Outcome
from readiness.results import (
    GeneratorStats,
    OverloadOutcome,
    OverloadResult,
    PhaseStats,
    ScenarioResult,
)
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
    overloaded_seconds,
    p95_of,
    recovered_at,
    rule_text,
    scheduled,
)
from readiness.scenarios.overload_probe import Probe, probe_capacity, probe_plan
from readiness.target import open_target

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig

_NO_ANSWER = (Outcome.TIMEOUT, Outcome.TRANSPORT)
_NO_SERVER = "the overload load's own generator figures; the server is watched for the scenario"


async def run_overload(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    capacity = scenario.capacity
    probe = Probe.of_config(capacity) if capacity is not None else None
    measured: Measured | None = None
    alive: tuple[bool, str] = (False, "not checked: the scenario was stopped")
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        async with watch(session.pid, live=ctx.exposed) as instruments:
            if probe is None:
                probe = await probe_capacity(ctx, session.conn, workload)
            if probe.capacity is not None and not ctx.interrupt.is_set():
                measured = await _measure(ctx, session.conn, workload, probe.capacity)
            if not ctx.interrupt.is_set():
                alive = await check_alive(session.conn, workload, ctx.target.request_timeout)
    recording, plan = _shown_load(workload, probe, measured)
    result = assemble(
        ctx,
        recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=measured.partial if measured else ctx.interrupt.is_set() or not probe.readings,
        load=_describe(scenario, probe, measured),
        method=method_of(plan),
        generator=instruments.generator_stats(probe.sent + (measured.sent if measured else 0)),
        server=instruments.server_resources(),
    )
    figures = overload_figures(scenario, probe, measured, alive)
    result["overload"] = figures
    result = judge(
        result,
        scenario,
        extra={
            "max_sustainable_rate": figures["max_sustainable_rate"],
            "recovery_time": figures["recovery_time_s"],
            "recovered": None if figures["recovered"] is None else float(figures["recovered"]),
            "alive": 1.0 if figures["alive"] else 0.0,
        },
    )
    if figures["outcome"] != "overloaded" and result["status"] == "passed":
        # Checks that held say nothing about overload when there was none to see.
        result["status"] = "inconclusive"
    return result


def _shown_load(
    workload: Workload, probe: Probe, measured: Measured | None
) -> tuple[Recording, LoadPlan]:
    """The load the scenario's headline figures describe: the overload load; without one, the
    probe step at the highest rate the server kept up with."""
    if measured is not None:
        return measured.run_recording, measured.shape.plan()
    top = probe.top_step()
    if top is not None:
        reading, recording = top
        return recording, probe_plan(reading.rate, recording.window_s)
    empty = LoadPlan(model="open", level=constant(1, 0), duration=0, requests=None)
    return Recorder(len(workload.operations)).finish(), empty


# --- the overload load -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    shape: Shape
    run_recording: Recording
    trace: Trace
    offsets: npt.NDArray[np.float64]
    partial: bool
    generator: GeneratorStats  # over the overload load alone

    @property
    def sent(self) -> int:
        return self.run_recording.sent


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
    async with watch(None, no_pid_reason=_NO_SERVER, live=ctx.exposed) as instruments:
        run = await drive(ctx, conn, workload, plan, label, recorder=recorder)
    return Measured(
        shape=shape,
        run_recording=run.recording,
        trace=recorder.trace(),
        offsets=scheduled(plan),
        partial=run.partial,
        generator=instruments.generator_stats(run.recording.sent),
    )


async def check_alive(conn: Requester, workload: Workload, timeout: float) -> tuple[bool, str]:
    """Send the workload's first operation once, straight to the server (no breaker or retry):
    any answer, even an error, means the server is alive."""
    op = workload.operations[0]
    started = time.perf_counter()
    with anyio.move_on_after(timeout + 1.0):  # the connection's own timeout should come first
        method, params = op.method, op.params
        try:
            params = op.params_for(workload.draw(0))
        except DataExhausted:  # the unique rows are spent: any answer still shows life
            method, params = "ping", None
        reply = await conn.request(method, params, timeout=timeout)
        took_ms = (time.perf_counter() - started) * 1000.0
        if reply.outcome in _NO_ANSWER:
            detail = f": {reply.detail}" if reply.detail else ""
            return False, f"{op.name}: {reply.outcome.name.lower()}{detail}"
        return True, f"{op.name} answered ({reply.outcome.name.lower()}) in {took_ms:.1f} ms"
    return False, f"{op.name}: no answer within {timeout:g} s"


# --- the result ------------------------------------------------------------------------------


def overload_figures(
    scenario: ScenarioConfig,
    probe: Probe,
    measured: Measured | None,
    alive: tuple[bool, str] = (False, "not checked: the scenario was stopped"),
) -> OverloadResult:
    tolerance = scenario.recovery_tolerance
    empty = phase_stats(Trace.empty(), np.zeros(0, dtype=np.bool_))
    stats = {"steady": empty, "overloaded": empty, "after": empty}
    offered: dict[str, int] = {}
    dropped: dict[str, int] = {}
    seconds = Seconds([], [], [], [], [])
    back: int | None = None
    shape = measured.shape if measured else None
    outcome: OverloadOutcome
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
        outcome = "overloaded" if overloaded_seconds(seconds, shape) else "not_overloaded"
        back = recovered_at(seconds, shape.drop_at_s, scenario.recovery_window)
        limit = _load_generator_limit(scenario, measured)
        reason = _reason(
            scenario, stats["steady"], offered["steady"], yardstick, back, measured, outcome
        )
        if outcome != "overloaded" and probe.verdict.overloaded and not probe.configured:
            reason += (
                f"; the probe saw the server fall behind above {probe.capacity:,g}/s, yet it kept"
                " up with the load: a probe step was likely disturbed (run again, or lengthen"
                " step_duration)"
            )
    elif probe.readings and probe.capacity is None:
        outcome, limit, reason = "not_overloaded", probe.verdict.generator_limit, ""
    else:
        outcome, limit = "not_measured", probe.verdict.generator_limit
        reason = "the scenario was stopped before the overload load ran"
    overloaded = outcome == "overloaded"
    kept_up = max_sustainable(seconds, shape.drop_at_s) if shape else probe.verdict.highest_kept_up
    return OverloadResult(
        outcome=outcome,
        max_rate=scenario.max_rate,
        capacity_rps=probe.capacity,
        capacity_source="configured" if probe.configured else "probe",
        capacity_reason=probe.verdict.reason,
        probe=list(probe.steps),
        probe_kept_up=[r.kept_up for r in probe.readings],
        probe_generator=list(probe.generator),
        generator_limit=limit,
        low_rate=None if shape is None else round(shape.low, 3),
        peak_rate=None if shape is None else round(shape.peak, 3),
        steady_s=max(scenario.recovery_window, MIN_STEADY_S),
        ramp_s=scenario.ramp,
        hold_s=scenario.hold,
        cooldown_s=scenario.cooldown,
        drop_at_s=None if shape is None else round(shape.drop_at_s, 3),
        max_in_flight=None if shape is None else in_flight_for(shape.peak),
        max_sustainable_rate=kept_up if overloaded else None,
        highest_kept_up_rate=kept_up,
        steady=stats["steady"],
        overloaded=stats["overloaded"],
        after=stats["after"],
        offered=offered,
        dropped=dropped,
        recovery_time_s=(
            round(max(back - shape.drop_at_s, 0.0), 3)
            if overloaded and back is not None and shape is not None
            else None
        ),
        recovered=(back is not None) if overloaded else None,
        alive=alive[0],
        alive_detail=alive[1],
        reason=reason,
        rule=rule_text(tolerance, scenario.recovery_window),
        seconds_offered=seconds.offered,
        seconds_ok=seconds.ok,
        seconds_p95_ms=seconds.p95_ms,
        seconds_kept_up=seconds.kept_up,
    )


def _load_generator_limit(scenario: ScenarioConfig, measured: Measured) -> str:
    generator = measured.generator
    if generator["saturated"]:
        return f"the generator limit was reached during the load ({generator['saturation_reason']})"
    lag = generator["p99_loop_lag_ms"]
    shown = "—" if lag is None else f"{lag:.0f} ms"
    capped = (
        f"; max_rate ({scenario.max_rate:,g}/s) capped the peak, raise it to push further"
        if measured.shape.peak >= scenario.max_rate
        else ""
    )
    return (
        f"the generator limit was not reached: over the load the generator used"
        f" {generator['cpu_percent']:.0f}% of a core and its event loop ran {shown} late at p99"
        f"{capped}"
    )


def _reason(
    scenario: ScenarioConfig,
    steady: PhaseStats,
    offered: int,
    yardstick: Yardstick,
    back: int | None,
    measured: Measured,
    outcome: OverloadOutcome,
) -> str:
    notes: list[str] = []
    shape = measured.shape
    if outcome != "overloaded":
        notes.append(
            f"not overloaded: the server kept up at {shape.peak:,g}/s, the highest rate offered;"
            f" {_load_generator_limit(scenario, measured)}"
        )
    elif measured.generator["saturated"]:
        notes.append(
            "the generator was itself saturated during the load"
            f" ({measured.generator['saturation_reason']}): part of the shortfall may be its own"
        )
    if yardstick.p95_ms is None:
        notes.append("no request due in the steady period succeeded, so no second could keep up")
    elif steady["ok"] < KEEP_UP * offered:
        notes.append(
            f"the steady period itself did not keep up ({steady['ok']:,} of {offered:,}"
            " requests succeeded): the capacity may be set too high"
        )
    if back is None and outcome == "overloaded":
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


def _describe(
    scenario: ScenarioConfig, probe: Probe, measured: Measured | None
) -> dict[str, object]:
    """The load as run, in the report's "Load:" line."""
    load: dict[str, object] = {"model": "open", "arrivals": "constant"}
    if not probe.configured:
        load["probe_steps"] = [r.rate for r in probe.readings]
        load["probe_step_duration"] = scenario.probe_step_s()
    load["max_rate"] = scenario.max_rate
    if probe.capacity is not None:
        load["capacity"] = probe.capacity
    if measured is None:
        top = probe.top_step()
        if top is not None:
            load["shown"] = f"the probe step at {top[0].rate:,g}/s, the highest that kept up"
        return load
    shape = measured.shape
    load |= {
        "overload_factor": scenario.overload_factor,
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
