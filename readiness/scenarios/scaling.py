"""The scaling scenario: a ladder of concurrency levels (or rates) and where throughput stops
growing — the knee."""

from __future__ import annotations

import time
from collections.abc import Sequence

from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel
from readiness.engine.schedule import constant
from readiness.metrics.recorder import Recorder, Recording
from readiness.metrics.summary import (
    latency_summary,
    merge_recordings,
    overall,
    recording_totals,
    timeline,
)
from readiness.results import ScalingStep, ScalingSummary, ScenarioResult, TimelinePoint
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
from readiness.scenarios.instruments import watch
from readiness.target import open_target


async def run_scaling(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    workload = build_workload(ctx)
    model = scenario.step_model
    started_at = now_iso()
    started = time.perf_counter()
    runs: list[LoadRun] = []
    plans: list[LoadPlan] = []
    levels = list(scenario.steps)
    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        async with watch(session.pid, live=ctx.exposed) as instruments:
            for index, level in enumerate(levels):
                if ctx.interrupt.is_set():
                    break
                plan = LoadPlan(
                    model=model,
                    level=constant(level, scenario.step_duration),
                    duration=scenario.step_duration,
                    requests=None,
                )
                what = "concurrency" if model == "closed" else "rate"
                label = ProgressLabel(
                    scenario.name,
                    scenario.kind,
                    ctx.target.name,
                    f"step {index + 1}/{len(levels)} ({what} {level:g})",
                )
                await warm_up(ctx, session.conn, workload, plan, label)
                run = await drive(ctx, session.conn, workload, plan, label)
                runs.append(run)
                plans.append(plan)
    recordings = [r.recording for r in runs]
    steps = _steps(recordings, plans)
    merged = merge_recordings(recordings or [Recorder(len(workload.operations)).finish()])
    result = assemble(
        ctx,
        merged,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=any(r.partial for r in runs) or len(runs) < len(levels),
        load={"model": model, "steps": levels, "step_duration": scenario.step_duration},
        method=method_of(plans[0] if plans else _placeholder_plan(model)),
        generator=instruments.generator_stats(merged.sent),
        server=instruments.server_resources(),
    )
    result["timeline"] = stepped_timeline(recordings)
    result["steps"] = steps
    result["scaling"] = find_knee(steps, growth=scenario.knee_growth, p95_limit_s=scenario.knee_p95)
    return judge(result, scenario)


def stepped_timeline(recordings: Sequence[Recording]) -> list[TimelinePoint]:
    """The steps' seconds end to end, each marked with its step: a second in which a step's
    last replies came back after its sends stopped is that step's, not an idle gap."""
    points: list[TimelinePoint] = []
    offset = 0
    for index, rec in enumerate(recordings):
        for point in timeline(rec.intervals, offset):
            point["step"] = index
            points.append(point)
        offset += len(rec.intervals)
    return points


def _placeholder_plan(model: str) -> LoadPlan:
    return LoadPlan(
        model="open" if model == "open" else "closed",
        level=constant(1, 0),
        duration=0,
        requests=None,
    )


def _steps(recordings: Sequence[Recording], plans: Sequence[LoadPlan]) -> list[ScalingStep]:
    steps: list[ScalingStep] = []
    base: float | None = None
    for index, (rec, plan) in enumerate(zip(recordings, plans, strict=True)):
        corrected, _, _ = overall(rec)
        totals = recording_totals(rec)
        level = plan.level.start
        per_unit = totals["throughput_rps"] / level if level > 0 else None
        if index == 0:
            base = per_unit
        efficiency = per_unit / base if per_unit is not None and base else None
        steps.append(
            ScalingStep(
                index=index,
                model=plan.model,
                level=level,
                duration_s=round(rec.window_s, 3),
                totals=totals,
                latency_ms=latency_summary(corrected),
                efficiency=efficiency,
                histogram=corrected.encode(),
            )
        )
    return steps


def find_knee(
    steps: Sequence[ScalingStep], *, growth: float, p95_limit_s: float | None
) -> ScalingSummary:
    """The last step up to which throughput kept growing by `growth` (and p95 held its limit)."""
    if not steps:
        return ScalingSummary(
            knee_index=None,
            knee_level=None,
            knee_reason="no step completed",
            peak_throughput_rps=None,
            peak_level=None,
        )
    what = "concurrency" if steps[0]["model"] == "closed" else "rate"
    peak = max(steps, key=lambda s: s["totals"]["throughput_rps"])
    knee = 0
    reason = ""
    for i in range(1, len(steps)):
        prev, cur = steps[i - 1], steps[i]
        before, after = prev["totals"]["throughput_rps"], cur["totals"]["throughput_rps"]
        gain = (after / before - 1.0) if before > 0 else (1.0 if after > 0 else 0.0)
        p95 = cur["latency_ms"]["p95"]
        if p95_limit_s is not None and (p95 is None or p95 / 1000.0 > p95_limit_s):
            shown = "—" if p95 is None else f"{p95:.1f} ms"
            reason = (
                f"p95 at {what} {cur['level']:g} was {shown}, over the "
                f"{p95_limit_s * 1000:g} ms limit"
            )
            break
        if gain < growth:
            reason = (
                f"throughput grew {gain * 100:.1f}% from {what} {prev['level']:g} "
                f"({before:.0f}/s) to {cur['level']:g} ({after:.0f}/s), less than the "
                f"{growth * 100:g}% a step must add"
            )
            break
        knee = i
    else:
        reason = (
            f"throughput still grew at the last step ({what} {steps[-1]['level']:g}); "
            "the knee lies beyond the ladder"
        )
    return ScalingSummary(
        knee_index=knee,
        knee_level=steps[knee]["level"],
        knee_reason=reason,
        peak_throughput_rps=peak["totals"]["throughput_rps"],
        peak_level=peak["level"],
    )
