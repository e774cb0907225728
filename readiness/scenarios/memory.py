"""The memory scenario (soak): warm up, hold a sustained load while sampling the server's
memory, file descriptors and threads, then idle to see what it gives back. The leak verdict
comes from a robust regression with a confidence interval, never from eyeballing a chart."""

from __future__ import annotations

import time
from typing import Literal

import anyio
import numpy as np

from readiness.engine.load import ProgressLabel
from readiness.engine.progress import Progress
from readiness.metrics.leak import (
    LeakVerdict,
    SlopeFit,
    count_verdict,
    rss_verdict,
    settle_fraction,
)
from readiness.results import MemoryResult, MemorySample, ScenarioResult, SlopeInfo, Verdict
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
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
from readiness.scenarios.instruments import Instruments, watch
from readiness.target import open_target

MAX_STORED_SAMPLES = 600


async def run_memory(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    assert scenario.load is not None
    plan = load_plan(scenario.load)
    workload = build_workload(ctx)
    started_at = now_iso()
    started = time.perf_counter()
    label = ProgressLabel(scenario.name, scenario.kind, ctx.target.name, "soak")
    progress: list[tuple[float, int]] = [(0.0, 0)]

    def note(snapshot: Progress) -> None:
        progress.append((snapshot.elapsed_s, snapshot.ok + snapshot.errors))
        ctx.on_progress(snapshot)

    async with open_target(ctx.target, ctx.run_dir / "logs", scenario.name) as session:
        ctx.on_connected(session)
        await preflight(session.conn, workload, ctx)
        async with watch(
            session.pid, interval=scenario.sample_interval, live=ctx.exposed
        ) as instruments:
            await warm_up(ctx, session.conn, workload, plan, label)
            load_start = time.monotonic()
            run = await drive(ctx, session.conn, workload, plan, label, on_progress=note)
            load_end = time.monotonic()
            progress.append((load_end - load_start, run.recording.completed))
            if scenario.settle > 0 and not ctx.interrupt.is_set():
                ctx.on_progress(progress_at_rest(label, scenario.settle))
                with anyio.move_on_after(scenario.settle):
                    await ctx.interrupt.wait()
    memory = memory_figures(
        instruments,
        load_start=load_start,
        load_end=load_end,
        progress=progress,
        warmup_s=scenario.warmup,
        settle_s=scenario.settle,
        threshold=scenario.leak_threshold,
        min_growth=scenario.leak_min_growth,
    )
    result = assemble(
        ctx,
        run.recording,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=run.partial,
        load=describe_load(scenario.load),
        method=method_of(plan),
        generator=instruments.generator_stats(run.recording.sent),
        server=instruments.server_resources(),
    )
    result["memory"] = memory
    return judge(result, scenario, extra=memory_metrics(memory))


def progress_at_rest(label: ProgressLabel, settle: float) -> Progress:
    return Progress(
        scenario=label.scenario,
        kind=label.kind,
        target=label.target,
        phase=f"idle settle ({settle:g} s, no load)",
        elapsed_s=0.0,
        planned_s=None,
        planned_requests=None,
        sent=0,
        ok=0,
        errors=0,
        in_flight=0,
        rps=0.0,
        p50_ms=None,
        p99_ms=None,
    )


def memory_metrics(memory: MemoryResult) -> dict[str, float | None]:
    """The figures memory thresholds name (leak == false, rss_growth < 50MB, fd_growth == 0)."""

    def is_leak(verdict: Verdict | None) -> float | None:
        return None if verdict is None else float(verdict["verdict"] == "leak")

    def growth(first: int | None, last: int | None) -> float | None:
        return None if first is None or last is None else float(last - first)

    return {
        "leak": is_leak(memory["rss"]),
        "fd_leak": is_leak(memory["fds"]),
        "rss_growth": None
        if memory["rss_growth_bytes"] is None
        else float(memory["rss_growth_bytes"]),
        "fd_growth": growth(memory["fd_initial"], memory["fd_final"]),
        "thread_growth": growth(memory["thread_initial"], memory["thread_final"]),
    }


def memory_figures(
    instruments: Instruments,
    *,
    load_start: float,
    load_end: float,
    progress: list[tuple[float, int]],
    warmup_s: float,
    settle_s: float,
    threshold: int,
    min_growth: int,
) -> MemoryResult:
    sampler = instruments.server
    own = instruments.own
    if sampler is None:
        return _unmeasured(
            "the server runs in a process readiness did not start; set pid or process_name"
            " on the target to measure it",
            warmup_s,
        )
    shift = load_start - instruments.origin  # sampler time of the load's start
    load_s = load_end - load_start
    samples = [s for s in sampler.samples if not s.exited]
    exited_at = next((s.t_s - shift for s in sampler.samples if s.exited), None)
    if not samples:
        return _unmeasured("the server exited before it could be sampled", warmup_s)

    done_t = np.array([t for t, _ in progress], dtype=float)
    done_n = np.array([n for _, n in progress], dtype=float)
    order = np.argsort(done_t, kind="stable")
    done_t, done_n = done_t[order], np.maximum.accumulate(done_n[order])

    rows: list[MemorySample] = []
    for s in samples:
        at = s.t_s - shift
        phase: Literal["baseline", "load", "settle"] = (
            "baseline" if at < 0 else ("load" if at <= load_s else "settle")
        )
        requests = int(np.interp(at, done_t, done_n)) if at >= 0 else 0
        rows.append(
            MemorySample(
                t_s=round(at, 3),
                phase=phase,
                rss_bytes=s.rss_bytes,
                fds=s.fds,
                threads=s.threads,
                requests=requests,
            )
        )
    under_load = [r for r in rows if r["phase"] == "load"]
    before = [r for r in rows if r["phase"] == "baseline"]
    after = [r for r in rows if r["phase"] == "settle"]
    if not under_load:
        return _unmeasured("no sample was taken under load", warmup_s)
    initial = before[-1] if before else under_load[0]
    final = under_load[-1]
    peak = max(r["rss_bytes"] for r in under_load)
    settled = after[-1]["rss_bytes"] if after else None

    t = np.array([r["t_s"] for r in under_load])
    n = np.array([r["requests"] for r in under_load], dtype=float)
    rss = _verdict(
        rss_verdict(
            t,
            np.array([r["rss_bytes"] for r in under_load], dtype=float),
            n,
            threshold_bytes_per_1k=threshold,
            min_growth_bytes=min_growth,
        )
    )
    fd_values = [r["fds"] for r in under_load]
    fds = (
        None
        if any(v is None for v in fd_values)
        else _verdict(
            count_verdict(t, np.array(fd_values, dtype=float), n, what="file descriptors")
        )
    )
    threads = _verdict(
        count_verdict(
            t, np.array([r["threads"] for r in under_load], dtype=float), n, what="threads"
        )
    )
    reason = ""
    if exited_at is not None:
        reason = f"the server exited {exited_at:.1f} s after the load started"
        for verdict in (rss, fds, threads):
            if verdict is not None:
                verdict["verdict"] = "inconclusive"
                verdict["reason"] = f"{reason}; {verdict['reason']}"
    own_summary = own.summary()
    growth = final["rss_bytes"] - initial["rss_bytes"]
    return MemoryResult(
        measured=True,
        reason=reason,
        pid=instruments.server_pid,
        warmup_s=warmup_s,
        load_s=round(load_s, 3),
        settle_s=settle_s,
        rss_initial_bytes=initial["rss_bytes"],
        rss_peak_bytes=peak,
        rss_final_bytes=final["rss_bytes"],
        rss_settled_bytes=settled,
        rss_growth_bytes=growth,
        rss_growth_percent=100.0 * growth / initial["rss_bytes"] if initial["rss_bytes"] else None,
        settle_recovered=None
        if settled is None
        else settle_fraction(initial["rss_bytes"], peak, settled),
        fd_initial=initial["fds"],
        fd_final=final["fds"],
        thread_initial=initial["threads"],
        thread_final=final["threads"],
        rss=rss,
        fds=fds,
        threads=threads,
        generator_rss_initial_bytes=None if own_summary is None else own_summary.rss_initial_bytes,
        generator_rss_peak_bytes=None if own_summary is None else own_summary.rss_peak_bytes,
        generator_rss_final_bytes=None if own_summary is None else own_summary.rss_final_bytes,
        server_exited_at_s=exited_at,
        samples=_thin(rows),
    )


def _thin(rows: list[MemorySample]) -> list[MemorySample]:
    if len(rows) <= MAX_STORED_SAMPLES:
        return rows
    picks = np.linspace(0, len(rows) - 1, MAX_STORED_SAMPLES).round().astype(int)
    return [rows[i] for i in sorted(set(picks.tolist()))]


def _slope(fit: SlopeFit | None, unit: str) -> SlopeInfo | None:
    if fit is None:
        return None
    return SlopeInfo(
        slope=fit.slope,
        low=fit.low,
        high=fit.high,
        unit=unit,
        method=fit.method,
        points=fit.n_points,
    )


def _verdict(verdict: LeakVerdict) -> Verdict:
    return Verdict(
        verdict=verdict.verdict,
        reason=verdict.reason,
        per_1k_requests=_slope(verdict.per_1k_requests, f"{verdict.unit} per 1,000 requests"),
        per_hour=_slope(verdict.per_hour, f"{verdict.unit} per hour"),
        growth=float(verdict.growth),
        growth_percent=verdict.growth_percent,
    )


def _unmeasured(reason: str, warmup_s: float) -> MemoryResult:
    return MemoryResult(
        measured=False,
        reason=reason,
        pid=None,
        warmup_s=warmup_s,
        load_s=0.0,
        settle_s=0.0,
        rss_initial_bytes=None,
        rss_peak_bytes=None,
        rss_final_bytes=None,
        rss_settled_bytes=None,
        rss_growth_bytes=None,
        rss_growth_percent=None,
        settle_recovered=None,
        fd_initial=None,
        fd_final=None,
        thread_initial=None,
        thread_final=None,
        rss=None,
        fds=None,
        threads=None,
        generator_rss_initial_bytes=None,
        generator_rss_peak_bytes=None,
        generator_rss_final_bytes=None,
        server_exited_at_s=None,
        samples=[],
    )
