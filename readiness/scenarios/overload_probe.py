"""The overload scenario's capacity probe: constant rates, doubled while the server keeps up,
then bisected between the last rate that kept up and the first that did not.

The probe never offers more than max_rate, and it does not blame the server for a step in
which the generator itself was at its limit (its CPU or event-loop lag, as the instruments
judge saturation): such a step runs again, and saturated again it caps the rates tried. When
no step failed for the server's own sake, the probe says the server was not overloaded, and
by what bound it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readiness.config.scenario import OVERLOAD_PROBE_RESOLUTION
from readiness.engine.load import LoadPlan, ProgressLabel, Requester
from readiness.engine.schedule import constant
from readiness.metrics.recorder import Recording
from readiness.metrics.summary import latency_summary, overall, recording_totals
from readiness.results import GeneratorStats, ScalingStep
from readiness.scenarios.base import ScenarioContext, drive, warm_up
from readiness.scenarios.instruments import SATURATED_CPU_PERCENT, SATURATED_LAG_MS, watch
from readiness.scenarios.overload_figures import Yardstick, in_flight_for, scheduled

if TYPE_CHECKING:
    from readiness.engine.workload import Workload

# A probe step runs in a process readiness did not start the sampler for; only the generator
# (this process) is watched per step.
_NO_SERVER = "the probe watches only the generator, step by step"


# --- the arithmetic --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One probe step as the probe judges it."""

    rate: float
    kept_up: bool
    saturated: bool = False  # the generator was at its own limit during the step
    why: str = ""  # why it did not keep up; "" when it did
    cpu_percent: float = 0.0  # the generator's, of one core, over the step
    lag_p99_ms: float | None = None  # the generator's event-loop lag over the step
    saturation: str = ""  # what saturated the generator; "" when nothing did


def next_rate(
    readings: Sequence[Reading],
    ladder: Sequence[float],
    max_rate: float,
    resolution: float = OVERLOAD_PROBE_RESOLUTION,
) -> float | None:
    """The rate the probe offers next, or None when it has found what it can.

    The ladder's rates come first, then doubling past the last while every step keeps up;
    once one does not, the midpoint between the highest rate that kept up and the lowest that
    did not, until they are within `resolution` of each other. A step in which the generator
    was saturated runs again at the same rate (once may be a busy machine's hiccup, not the
    generator's limit); saturated again, it caps every later rate below it. Only the last
    step at each rate counts. Nothing above max_rate is offered.
    """
    if not readings:
        return min(ladder[0], max_rate)
    last = readings[-1]
    if last.saturated and [r.rate for r in readings].count(last.rate) == 1:
        return last.rate
    readings = latest(readings)
    kept = [r.rate for r in readings if r.kept_up]
    if not kept:
        return None  # even the first rate did not keep up: nothing lower is tried
    low = max(kept)
    failed = [r.rate for r in readings if not r.kept_up]
    ceiling = min([max_rate, *(r.rate for r in readings if r.saturated)])
    if failed:
        high = min(failed)
        if high <= low * (1 + resolution):
            return None
        candidate = (low + high) / 2
    else:
        above = [rate for rate in ladder if rate > low]
        candidate = above[0] if above else 2 * low
    candidate = min(round(candidate, 3), ceiling)
    return candidate if candidate > low else None


def latest(readings: Sequence[Reading]) -> list[Reading]:
    """The last reading at each rate, in the order they ran: a step run again replaces the
    first run's reading."""
    return [r for i, r in enumerate(readings) if all(s.rate != r.rate for s in readings[i + 1 :])]


@dataclass(frozen=True)
class Verdict:
    """What the probe found: a capacity and the server overloaded, or neither, and why."""

    capacity: float | None  # the highest rate that kept up, when a higher one overloaded it
    overloaded: bool  # some step did not keep up, and not because the generator was saturated
    highest_kept_up: float | None  # the highest rate the server kept up with
    reason: str
    generator_limit: str  # what the generator's own limit had to do with where the probe stopped


def read_probe(readings: Sequence[Reading], max_rate: float) -> Verdict:
    """The probe's conclusion from its steps, in the order they ran."""
    if not readings:
        return Verdict(None, False, None, "the probe was stopped before a step completed", "")
    readings = latest(readings)
    kept = [r for r in readings if r.kept_up]
    top = max(kept, key=lambda r: r.rate) if kept else None
    top_rate = top.rate if top else None
    limit = generator_limit(readings, max_rate)
    server_failed = [r for r in readings if not r.kept_up and not r.saturated]
    if server_failed:
        first = min(server_failed, key=lambda r: r.rate)
        if top is None:
            reason = (
                f"even the lowest probe rate, {first.rate:,g}/s, did not keep up ({first.why});"
                " it is used as the capacity"
            )
            return Verdict(first.rate, True, None, reason, limit)
        reason = (
            f"{top.rate:,g}/s was the highest probe rate that kept up;"
            f" at {first.rate:,g}/s {first.why}"
        )
        return Verdict(top.rate, True, top.rate, reason, limit)
    if top is None:
        lowest = readings[0]
        reason = (
            f"not overloaded: at {lowest.rate:,g}/s, the lowest rate offered, the generator"
            f" itself was at its limit ({lowest.saturation}), so the shortfall is not the"
            f" server's; {limit}"
        )
        return Verdict(None, False, None, reason, limit)
    highest = max(r.rate for r in readings)
    offered = (
        "the highest rate offered"
        if highest == top.rate
        else f"the highest rate the generator could offer (at {highest:,g}/s it could not)"
    )
    reason = f"not overloaded: the server kept up at {top.rate:,g}/s, {offered}; {limit}"
    return Verdict(None, False, top_rate, reason, limit)


def generator_limit(readings: Sequence[Reading], max_rate: float) -> str:
    """Where the generator's own limit stood: reached at some step, or not, with its figures."""
    readings = latest(readings)
    saturated = [r for r in readings if r.saturated]
    if saturated:
        first = min(saturated, key=lambda r: r.rate)
        return f"the generator limit was reached at {first.rate:,g}/s ({first.saturation})"
    busiest = max(readings, key=lambda r: r.rate)
    lag = "—" if busiest.lag_p99_ms is None else f"{busiest.lag_p99_ms:.0f} ms"
    stop = (
        f"; max_rate ({max_rate:,g}/s) stopped the probe, raise it to push further"
        if busiest.rate >= max_rate
        else ""
    )
    return (
        f"the generator limit was not reached: at {busiest.rate:,g}/s the generator used"
        f" {busiest.cpu_percent:.0f}% of a core and its event loop ran {lag} late at p99"
        f" (saturated from {SATURATED_CPU_PERCENT:.0f}% or {SATURATED_LAG_MS:.0f} ms){stop}"
    )


# --- the probe -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """Where the capacity came from: configured, or the probe's steps and its reading of them."""

    capacity: float | None
    configured: bool
    verdict: Verdict
    steps: tuple[ScalingStep, ...] = ()
    readings: tuple[Reading, ...] = ()
    generator: tuple[GeneratorStats, ...] = ()
    recordings: tuple[Recording, ...] = ()
    sent: int = 0

    @classmethod
    def of_config(cls, capacity: float) -> Probe:
        return cls(capacity, True, Verdict(capacity, True, None, "", ""))

    def top_step(self) -> tuple[Reading, Recording] | None:
        """The step at the highest rate that kept up, with its recording; None without one."""
        kept = [
            (r, rec) for r, rec in zip(self.readings, self.recordings, strict=True) if r.kept_up
        ]
        return max(kept, key=lambda pair: pair[0].rate) if kept else None


async def probe_capacity(ctx: ScenarioContext, conn: Requester, workload: Workload) -> Probe:
    """Offer constant rates as `next_rate` picks them, each watched for the generator's own
    limit, until it has found what it can or the scenario is stopped."""
    scenario = ctx.scenario
    ladder = scenario.probe_rates()
    length = scenario.probe_step_s()
    bound = scenario.probe_step_bound()
    steps: list[ScalingStep] = []
    readings: list[Reading] = []
    stats: list[GeneratorStats] = []
    recordings: list[Recording] = []
    yardstick: Yardstick | None = None
    yardstick_saturated = False
    sent = 0
    while len(readings) < bound and not ctx.interrupt.is_set():
        rate = next_rate(readings, ladder, scenario.max_rate)
        if rate is None:
            break
        plan = probe_plan(rate, length)
        label = ProgressLabel(
            scenario.name,
            scenario.kind,
            ctx.target.name,
            f"probe step {len(readings) + 1} (rate {rate:,g}/s)",
        )
        if not readings:
            await warm_up(ctx, conn, workload, plan, label)
        async with watch(None, no_pid_reason=_NO_SERVER, live=ctx.exposed) as instruments:
            run = await drive(ctx, conn, workload, plan, label)
        sent += run.recording.sent
        if ctx.interrupt.is_set():
            break  # a step cut short says nothing about the rate
        generator = instruments.generator_stats(run.recording.sent)
        offered = len(scheduled(plan))
        step = probe_step(len(readings), rate, run.recording)
        p95 = step["latency_ms"]["p95"]
        # Steps are judged against the first one the generator drove without saturating: a
        # p95 inflated by our own lag would let later, truly slower steps pass.
        if yardstick is None or (yardstick_saturated and not generator["saturated"]):
            yardstick = Yardstick(p95, scenario.recovery_tolerance)
            yardstick_saturated = generator["saturated"]
        ok = step["totals"]["ok"]
        kept = yardstick.kept_up(offered, ok, p95)
        steps.append(step)
        stats.append(generator)
        recordings.append(run.recording)
        readings.append(
            Reading(
                rate=rate,
                kept_up=kept,
                saturated=generator["saturated"],
                why="" if kept else yardstick.why_not(offered, ok, p95),
                cpu_percent=generator["cpu_percent"],
                lag_p99_ms=generator["p99_loop_lag_ms"],
                saturation=generator["saturation_reason"],
            )
        )
    verdict = read_probe(readings, scenario.max_rate)
    return Probe(
        verdict.capacity,
        False,
        verdict,
        steps=tuple(steps),
        readings=tuple(readings),
        generator=tuple(stats),
        recordings=tuple(recordings),
        sent=sent,
    )


def probe_plan(rate: float, length: float) -> LoadPlan:
    return LoadPlan(
        model="open",
        level=constant(rate, length),
        duration=length,
        requests=None,
        max_in_flight=in_flight_for(rate),
        drop_when_full=True,
    )


def probe_step(index: int, rate: float, rec: Recording) -> ScalingStep:
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
