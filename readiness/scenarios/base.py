"""What every scenario shares: its context, the workload and load plan it runs, the
instruments that watch the generator and the server, and the checks that judge it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from readiness.compare.uncertainty import (
    FIGURES,
    FigureInterval,
    judged,
    scenario_figure_intervals,
)
from readiness.config.templates import parse_save_path
from readiness.engine.arguments import DataSource, Draw, Render, compile_render
from readiness.engine.load import LoadPlan, LoadRun, ProgressLabel, Requester, run_load
from readiness.engine.progress import ProgressSink
from readiness.engine.schedule import constant, staged
from readiness.engine.segment import WHOLE, Segment
from readiness.engine.workload import (
    Journey,
    Operation,
    Replayed,
    Step,
    Workload,
    operation_params,
)
from readiness.errors import ConfigError, ProtocolError
from readiness.metrics.recorder import Recorder, Recording
from readiness.metrics.summary import (
    histograms,
    latency_summary,
    operation_results,
    overall,
    recording_totals,
    timeline,
)
from readiness.protocol.client import McpClient, RequestFailed
from readiness.protocol.twoway import two_way_meta
from readiness.resilience.requester import ResilientRequester
from readiness.results import (
    CheckResult,
    GeneratorStats,
    Method,
    ResilienceStats,
    ScenarioResult,
    ServerResources,
)
from readiness.scenarios.resilience_results import resilience_result
from readiness.scenarios.twoway_figures import TWO_WAY_METRICS, measure_from_now, two_way_metric

if TYPE_CHECKING:
    from readiness.chaos.capture import Capture
    from readiness.config import LoadConfig, ScenarioConfig, Suite, TargetConfig
    from readiness.config.thresholds import Threshold
    from readiness.config.workload import DataConfig, JourneyConfig
    from readiness.health.poller import HealthWatch
    from readiness.metrics.live import Exposed, LiveMetrics
    from readiness.protocol.connection import Connection
    from readiness.target import TargetPool, TargetSession

DEFAULT_THRESHOLD = "success_rate >= 99%"
HEALTH_METRICS = (
    "liveness_lied",
    "readiness_availability",
    "readiness_down_after_fault",
    "readiness_up_after_restore",
    "metrics_disagreements",
)


@dataclass(frozen=True)
class ScenarioContext:
    suite: Suite
    scenario: ScenarioConfig
    target: TargetConfig
    run_dir: Path
    on_progress: ProgressSink
    on_connected: Callable[[TargetSession], None]
    interrupt: anyio.Event = field(default_factory=anyio.Event)
    started: float = field(default_factory=time.monotonic)  # breaker times count from here
    # The target's health endpoints, polled by the runner beside the scenario (when configured)
    health: HealthWatch | None = None
    seed: int = 0  # of templated arguments' draws ([run] seed, or drawn for the run)
    # This process's share of the load when several processes run it (readiness.distributed),
    # and the coordinated start each measured load waits on (given the load's phase).
    segment: Segment = WHOLE
    start_gate: Callable[[str], Awaitable[None]] | None = None
    # The run's live metrics (run --metrics-port / --pushgateway); None when not exposed.
    live: LiveMetrics | None = None
    # The target's resilience layer, made by the first drive() and kept for the scenario, so
    # breaker state, cache and tokens carry over from warm-up to load and from step to step.
    _resilience: list[ResilientRequester] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    # Every connection the scenario opened (through `connected`), for its two-way figures.
    _connections: list[object] = field(default_factory=list, init=False, repr=False, compare=False)
    # The pool behind each of them, when the target has one, for the pool's figures.
    _pools: list[TargetPool] = field(default_factory=list, init=False, repr=False, compare=False)
    # Set by the first measured load: the two-way figures count from there on.
    _measuring: list[bool] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        report = self.on_connected
        connections, pools = self._connections, self._pools

        def connected(session: TargetSession) -> None:
            connections.append(session.conn)
            if session.pool is not None:
                pools.append(session.pool)
            report(session)

        object.__setattr__(self, "on_connected", connected)

    @property
    def exposed(self) -> Exposed | None:
        """This scenario's labels at the run's live metrics, when they are exposed."""
        if self.live is None:
            return None
        from readiness.metrics.live import Exposed

        return Exposed(self.live, self.target.name, self.scenario.name)

    def resilient(self, conn: Requester) -> Requester:
        """`conn` behind the target's resilience layer; `conn` itself when none is configured."""
        config = self.target.resilience
        if config is None or not config.configured:
            return conn
        if not self._resilience:
            self._resilience.append(ResilientRequester(conn, config, origin=self.started))
        layer = self._resilience[0]
        layer.conn = conn
        return layer

    def resilience_stats(self) -> ResilienceStats | None:
        """What the resilience layer did in this scenario; None when it never ran."""
        if not self._resilience:
            return None
        return resilience_result(self._resilience[0].statistics())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _rows(data: DataConfig, segment: Segment) -> Sequence[Mapping[str, Any]]:
    """The rows this process picks from: with several workers, a `unique` or `sequential` set
    is dealt out (row i to worker i mod N), so a unique row is still sent once in all, and
    workers do not send the same row at the same moment."""
    rows = data.table.rows
    if (
        segment.whole
        or data.pick == "random"
        or (data.pick != "unique" and len(rows) < segment.count)
    ):
        return rows
    return rows[segment.index :: segment.count]


def build_workload(ctx: ScenarioContext) -> Workload:
    """The scenario's operation mix, templated arguments compiled (each scenario draws its
    data sets afresh: a unique data set gives every row once per scenario)."""
    config = ctx.scenario.workload or ctx.suite.workload
    sources = {d.name: DataSource(d.name, _rows(d, ctx.segment), d.pick) for d in config.data}
    if config.journeys:
        return _journey_workload(config.journeys, sources, ctx.seed)
    if config.capture is not None:
        return _replay_workload(config.capture, config.speed)
    ops = []
    for i, op in enumerate(config.operations):
        params = operation_params(
            op.call, tool=op.tool, uri=op.uri, prompt=op.prompt, arguments=dict(op.arguments)
        )
        if params is not None and ctx.target.client is not None:
            params["_meta"] = two_way_meta(
                op.name,
                progress=op.progress,
                cancel_after=op.cancel_after,
                task=op.poll_interval or 0.0 if op.task else None,
            )
        ops.append(
            Operation(
                index=i,
                name=op.name,
                method=op.call,
                params=params,
                weight=op.weight,
                render=_compiled(op.call, params, sources),
            )
        )
    return Workload(ops, data_seed=ctx.seed)


def _compiled(
    call: str, params: dict[str, Any] | None, sources: Mapping[str, DataSource]
) -> Render | None:
    render = compile_render(params, sources)
    if render is None or call != "prompts/get":
        return render
    inner = render

    def as_text(draw: Draw) -> dict[str, Any]:
        # Prompt arguments are strings: a whole-value placeholder's number is sent as text.
        rendered: dict[str, Any] = inner(draw)
        arguments = rendered.get("arguments") or {}
        rendered["arguments"] = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()
        }
        return rendered

    return as_text


def _journey_workload(
    journeys: Sequence[JourneyConfig], sources: Mapping[str, DataSource], seed: int
) -> Workload:
    """Users walk journeys; every step is an operation of its own, named after its journey."""
    ops: list[Operation] = []
    walks: list[Journey] = []
    for j, journey in enumerate(journeys):
        steps: list[Step] = []
        for i, step in enumerate(journey.steps):
            params = operation_params(
                step.call,
                tool=step.tool,
                uri=step.uri,
                prompt=step.prompt,
                arguments=dict(step.arguments),
            )
            op = Operation(
                index=len(ops),
                name=f"{journey.name} {i + 1}. {step.name}",
                method=step.call,
                params=params,
                weight=journey.weight,
                render=_compiled(step.call, params, sources),
            )
            ops.append(op)
            save = tuple((name, parse_save_path(path)) for name, path in step.save.items())
            steps.append(Step(op=op, think_s=step.think_time, save=save))
        walks.append(Journey(index=j, name=journey.name, weight=journey.weight, steps=tuple(steps)))
    return Workload(ops, data_seed=seed, journeys=walks)


def _replay_workload(capture: Capture, speed: float) -> Workload:
    """One operation per captured method/tool, in order of first appearance; the capture's
    requests as the schedule, times counted from its first request and divided by `speed`."""
    ops: dict[str, Operation] = {}
    replay: list[Replayed] = []
    sessions: dict[str, int] = {}
    first = capture.requests[0].t
    for request in capture.requests:
        session = sessions.setdefault(request.session, len(sessions))
        op = ops.get(request.name)
        if op is None:
            op = ops[request.name] = Operation(
                index=len(ops),
                name=request.name,
                method=request.method,
                params=request.params,
                weight=1.0,
            )
        replay.append(Replayed((request.t - first) / speed, op.index, request.params, session))
    return Workload(list(ops.values()), replay=replay)


def replay_plan(workload: Workload, load: LoadConfig | None) -> LoadPlan:
    """A replay's plan: the capture's own times (open), or a closed load's users as fast as
    they go; either way at most the captured requests."""
    count = len(workload.replay)
    if load is not None:
        plan = load_plan(load)
        return replace(plan, requests=min(plan.requests or count, count))
    span = workload.replay[-1].offset_s
    return LoadPlan(
        model="open",
        level=constant(count / span if span > 0 else float(count), span),
        duration=None,
        requests=count,
        max_in_flight=1024,
    )


def load_plan(load: LoadConfig) -> LoadPlan:
    stages = tuple((s.duration, s.target) for s in load.stages)
    base = float(load.concurrency or 0) if load.model == "closed" else float(load.rate or 0)
    if stages:
        level = staged(base, stages)
        duration = load.duration
    else:
        level = constant(base, load.duration or 0.0)
        duration = load.duration
    return LoadPlan(
        model=load.model,
        level=level,
        duration=duration,
        requests=load.requests,
        think_time=load.think_time,
        poisson=load.arrivals == "poisson",
        max_in_flight=load.max_in_flight,
        drop_when_full=load.on_max_in_flight == "drop",
    )


_OPEN_ONLY = ("rate", "arrivals", "max_in_flight", "on_max_in_flight")
_CLOSED_ONLY = ("concurrency", "think_time")


def describe_load(load: LoadConfig) -> dict[str, Any]:
    """The load as configured, without keys that do not apply to its model."""
    data = load.model_dump(mode="json", exclude_none=True)
    for key in _CLOSED_ONLY if load.model == "open" else _OPEN_ONLY:
        data.pop(key, None)
    if not data.get("stages"):
        data.pop("stages", None)
    return data


def deadline_for(
    plan: LoadPlan, *, grace: float, request_timeout: float, workload: Workload | None = None
) -> float:
    """The hard bound on a load: its planned length plus a grace period.

    A request-bounded closed run has no planned length; its worst case is every virtual user
    waiting out the request timeout on each of its requests. With journeys the budget counts
    journeys, and one journey's worst case is every step timing out after its think time.
    """
    per = request_timeout
    if workload is not None and workload.journeys:
        per = max(sum(request_timeout + s.think_s for s in j.steps) for j in workload.journeys)
    if plan.planned_s is not None:
        return plan.planned_s + grace + (per - request_timeout)
    assert plan.requests is not None
    if plan.model == "closed":
        # A shard's users each send about as many requests as the whole load's; a shard
        # with fewer users than its share of requests would take longer: count its own.
        share = plan.segment
        users = max(float(share.share(round(plan.level.start))), 1.0)
        rounds = math.ceil(share.share(plan.requests) / users)
        return rounds * (per + plan.think_time) + grace
    rate = max(plan.level.start, 1e-9)
    return plan.requests / rate + per + grace


async def drive(
    ctx: ScenarioContext,
    conn: Requester,
    workload: Workload,
    plan: LoadPlan,
    label: ProgressLabel,
    *,
    on_progress: ProgressSink | None = None,
    recorder: Recorder | None = None,
    sessions: Sequence[Requester] = (),
) -> LoadRun:
    """Run one load of this scenario, bounded by its deadline and the run's interrupt,
    through the target's resilience layer when it has one (`sessions`: a replay's
    connections, one per captured session, the first being `conn`). With health endpoints, the
    server's metrics are scraped before the first load and after each, and the load noted."""
    health = ctx.health
    if health is not None and not health.loads:
        await health.scrape_now()
    if recorder is None:
        recorder = Recorder(len(workload.operations))
    if not ctx.segment.whole:
        plan = replace(plan, segment=ctx.segment)
    if ctx.start_gate is not None and "warm-up" not in label.phase:
        await _wait_for_start(ctx, ctx.start_gate, label)
    if "warm-up" not in label.phase and not ctx._measuring:
        ctx._measuring.append(True)
        measure_from_now(ctx._connections)
    requester = ctx.resilient(conn)
    exposed = (
        nullcontext()
        if ctx.live is None or "warm-up" in label.phase  # warm-up is not in results either
        else ctx.live.load(
            ctx.target.name,
            ctx.scenario.name,
            [op.name for op in workload.operations],
            recorder,
            breaker=requester.breaker_state if isinstance(requester, ResilientRequester) else None,
        )
    )
    with exposed:
        run = await _run_load(
            ctx, requester, workload, plan, label, on_progress, recorder, sessions
        )
    if health is not None:
        methods = [op.method for op in workload.operations]
        health.note_load(recorder.start_ns, run.recording, methods, warmup="warm-up" in label.phase)
        await health.scrape_now()
    return run


async def _run_load(
    ctx: ScenarioContext,
    requester: Requester,
    workload: Workload,
    plan: LoadPlan,
    label: ProgressLabel,
    on_progress: ProgressSink | None,
    recorder: Recorder,
    sessions: Sequence[Requester],
) -> LoadRun:
    return await run_load(
        requester,
        workload,
        plan,
        deadline_s=deadline_for(
            plan,
            grace=ctx.scenario.grace,
            request_timeout=ctx.target.request_timeout,
            workload=workload,
        ),
        label=label,
        on_progress=on_progress or ctx.on_progress,
        interrupt=ctx.interrupt,
        recorder=recorder,
        sessions=sessions,
    )


async def _wait_for_start(
    ctx: ScenarioContext, gate: Callable[[str], Awaitable[None]], label: ProgressLabel
) -> None:
    """The coordinated start of this load across workers; an interrupt ends the wait (the
    load then ends at once, with nothing measured)."""
    async with anyio.create_task_group() as tg:

        async def start() -> None:
            await gate(label.phase)
            tg.cancel_scope.cancel()

        async def interrupted() -> None:
            await ctx.interrupt.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(start)
        tg.start_soon(interrupted)


async def warm_up(
    ctx: ScenarioContext, conn: Requester, workload: Workload, plan: LoadPlan, label: ProgressLabel
) -> None:
    """The scenario's warm-up: the plan's opening level for `warmup` seconds, not recorded."""
    seconds = ctx.scenario.warmup
    if seconds <= 0:
        return
    warm = replace(
        plan, level=constant(plan.level.level_at(0.0), seconds), duration=seconds, requests=None
    )
    if workload.templated:
        # Its own copy of the data sets: the measured load still starts at the first row and
        # still gets every row of a unique set.
        workload = build_workload(ctx)
    await drive(ctx, conn, workload, warm, replace(label, phase=f"{label.phase} warm-up".strip()))


async def preflight(conn: Connection, workload: Workload, ctx: ScenarioContext) -> None:
    """List tools once before load, and refuse a workload that names a tool the server lacks."""
    wanted = {
        str(op.params["name"])
        for op in workload.operations
        if op.method == "tools/call" and op.params is not None
    }
    if not wanted:
        return
    names: set[str] = set()
    try:
        async with aclosing(McpClient(conn).pages("tools/list", "tools")) as pages:
            async for page in pages:
                names.update(str(tool.get("name")) for tool in page)
                if wanted <= names:
                    return
    except RequestFailed as exc:
        if exc.reply is not None:
            return  # the server failed tools/list: the load itself will show it, classified
        # Broken pagination (a repeated cursor, say): the tools not seen cannot be checked.
        raise ProtocolError(
            f"target {ctx.target.name!r}: {exc}, before it listed tool "
            f"{sorted(wanted - names)[0]!r}, which the workload calls"
        ) from None
    missing = sorted(wanted - names)
    if missing:
        offered = ", ".join(sorted(names)) or "none"
        raise ConfigError(
            f"the workload calls tool {missing[0]!r}, which target {ctx.target.name!r} does not "
            f"offer (it offers: {offered})",
            file=ctx.suite.source,
            key="workload.operations",
        )


def method_of(plan: LoadPlan) -> Method:
    if plan.model == "open":
        return Method(
            model="open",
            corrected=True,
            note=(
                "Open model: requests were sent on a schedule without waiting for replies. "
                "Corrected latency runs from each request's intended start time, so a stall "
                "shows up in the percentiles (coordinated omission corrected); uncorrected "
                "latency runs from the actual send."
            ),
        )
    return Method(
        model="closed",
        corrected=False,
        note=(
            "Closed model: each virtual user waits for a reply before sending again, so a slow "
            "server also slows the arrival of requests. Latency runs from the actual send "
            "(corrected and uncorrected coincide); this model does not correct for "
            "coordinated omission — use an open model for that."
        ),
    )


def default_thresholds(scenario: ScenarioConfig) -> tuple[str, ...]:
    """The checks a scenario gets when it declares none: each kind's own notion of passing."""
    if scenario.kind == "memory":
        return (DEFAULT_THRESHOLD, "leak == false", "fd_leak == false")
    if scenario.kind == "payload":
        # Finding a limit is the point of a ladder, so failed requests alone do not fail it.
        largest = max(scenario.sizes)
        return (f"max_payload >= {largest}B",)
    if scenario.kind == "failure":
        return ("unaffected_success_rate >= 99%", "lost == 0")
    if scenario.kind == "recovery":
        return ("recovered == true", "recovery_time < 10s", "lost == 0")
    if scenario.kind == "pool":
        return (DEFAULT_THRESHOLD, "pool_timeouts == 0")
    if scenario.kind == "security":
        # Hostile input fails on purpose; what counts is what the failures revealed.
        return ("findings_critical == 0", "findings_high == 0", "crashed == false")
    if scenario.kind == "subscriptions":
        return ("delivery_ratio >= 99%", "after_unsubscribe == 0")
    if scenario.kind == "overload":
        # Failures while overloaded are the point; surviving and coming back are the test.
        return ("alive == true", "recovered == true")
    return (DEFAULT_THRESHOLD,)


def thresholds_of(scenario: ScenarioConfig) -> Sequence[Threshold]:
    from readiness.config.thresholds import parse_threshold

    if scenario.thresholds:
        return scenario.thresholds
    return tuple(parse_threshold(t) for t in default_thresholds(scenario))


def observed_value(result: ScenarioResult, metric: str) -> float | None:
    totals = result["totals"]
    latency = result["latency_ms"]
    errors = totals["errors"]
    if metric in ("p50", "p90", "p95", "p99", "p999", "max", "mean"):
        value = latency[metric]  # type: ignore[literal-required]
        return None if value is None else float(value) / 1000.0
    if metric in TWO_WAY_METRICS:
        return two_way_metric(result, metric)
    if metric in HEALTH_METRICS:
        from readiness.health.figures import health_metrics

        return health_metrics(result.get("health")).get(metric)
    simple: dict[str, float | None] = {
        "success_rate": totals["success_rate"],
        "error_rate": totals["error_rate"],
        "throughput": totals["throughput_rps"],
        "late": float(totals["late"]),
        "dropped": float(totals["dropped"]),
        "timeouts": float(errors["timeout"]),
        "errors": float(
            errors["tool_error"] + errors["rpc_error"] + errors["timeout"] + errors["transport"]
        ),
    }
    return simple.get(metric)


def evaluate_checks(
    result: ScenarioResult,
    scenario: ScenarioConfig,
    extra: Mapping[str, float | None] | None = None,
) -> list[CheckResult]:
    """Judge every threshold; `extra` supplies a scenario kind's own metrics (leak, …). A check
    on a percentile, the mean, a rate or throughput is judged by its figure's 95% interval."""
    checks: list[CheckResult] = []
    intervals: dict[str, FigureInterval] | None = None
    for threshold in thresholds_of(scenario):
        if extra is not None and threshold.metric in extra:
            observed = extra[threshold.metric]
        else:
            observed = observed_value(result, threshold.metric)
        passed = observed is not None and threshold.evaluate(observed)
        check = CheckResult(
            name=f"{scenario.name}: {threshold.expression}",
            expression=threshold.expression,
            metric=threshold.metric,
            unit=threshold.unit,
            observed=observed,
            passed=passed,
            op=threshold.op,
            limit=threshold.value,
            critical=threshold.critical,
            weight=threshold.weight,
            interval=None,
            verdict="pass" if passed else ("fail" if observed is not None else "inconclusive"),
        )
        if observed is None:
            check["reason"] = "not measured: nothing to judge"
        elif (
            threshold.op in ("<", "<=", ">", ">=")
            and threshold.metric in FIGURES
            and (extra is None or threshold.metric not in extra)
        ):
            if intervals is None:
                data = result.get("intervals")
                intervals = {} if data is None else scenario_figure_intervals(data)
            found = intervals.get(threshold.metric)
            if found is not None:
                check["interval"] = [min(found.low, observed), _upper(found.high, observed)]
                verdict, reason = judged(
                    threshold.metric, threshold.op, threshold.value, observed, threshold.unit, found
                )
                check["verdict"], check["reason"] = verdict, f"{reason} ({found.method})"
                check["passed"] = verdict == "pass"
        checks.append(check)
    return checks


def _upper(high: float | None, observed: float) -> float | None:
    return None if high is None else max(high, observed)


def assemble(
    ctx: ScenarioContext,
    rec: Recording,
    workload: Workload,
    *,
    started_at: str,
    duration_s: float,
    partial: bool,
    load: dict[str, Any],
    method: Method,
    generator: GeneratorStats,
    server: ServerResources,
) -> ScenarioResult:
    """A ScenarioResult whose measured part comes straight from one recording, checked."""
    names = [op.name for op in workload.operations]
    methods = [op.method for op in workload.operations]
    corrected, uncorrected, failures = overall(rec)
    result = ScenarioResult(
        name=ctx.scenario.name,
        kind=ctx.scenario.kind,
        target=ctx.target.name,
        status="passed",
        error=None,
        partial=partial,
        started_at=started_at,
        duration_s=round(duration_s, 3),
        load=load,
        method=method,
        totals=recording_totals(rec),
        latency_ms=latency_summary(corrected),
        latency_uncorrected_ms=latency_summary(uncorrected),
        failure_latency_ms=latency_summary(failures),
        operations=operation_results(rec, names, methods),
        timeline=timeline(rec.intervals),
        generator=generator,
        server=server,
        checks=[],
        histograms=histograms(rec, names),
    )
    result["intervals"] = rec.series.to_result(names)
    if (resilience := ctx.resilience_stats()) is not None:
        result["resilience"] = resilience
    if ctx._pools and ctx.scenario.kind != "pool":  # a pool scenario measures its own load's
        from readiness.scenarios.pool_figures import scenario_pool_result

        result["pool"] = scenario_pool_result(ctx._pools)
    if ctx.target.client is not None:
        from readiness.scenarios.twoway_figures import two_way_result

        if (two_way := two_way_result(ctx._connections)) is not None:
            result["two_way"] = two_way
    attach_health(ctx, result)
    return result


def attach_health(ctx: ScenarioContext, result: ScenarioResult) -> None:
    """The target's health block, from what its endpoints said up to now (when configured);
    a kind that adds fault figures to the result attaches it again, for the flips."""
    if ctx.health is not None:
        from readiness.health.figures import health_result

        result["health"] = health_result(ctx.health, result)


def judge(
    result: ScenarioResult,
    scenario: ScenarioConfig,
    extra: Mapping[str, float | None] | None = None,
) -> ScenarioResult:
    """Evaluate the scenario's thresholds and set its status: failed when a check failed on a
    value it observed; else inconclusive when a check had no value to judge (it cannot pass).
    A check whose interval straddles its limit leaves the status alone: [gate] on_inconclusive
    decides what it means for the run (see `apply_on_inconclusive`)."""
    result["checks"] = evaluate_checks(result, scenario, extra)
    unmet = [c for c in result["checks"] if not c["passed"] and not straddles(c)]
    if any(c["observed"] is not None for c in unmet):
        result["status"] = "failed"
    elif unmet:
        result["status"] = "inconclusive"
    return result


def straddles(check: CheckResult) -> bool:
    """Inconclusive by its interval (measured, but not proven either way)."""
    return check.get("verdict") == "inconclusive" and check["observed"] is not None


def apply_on_inconclusive(result: ScenarioResult, mode: str) -> None:
    """`[gate] on_inconclusive`: "fail" fails a scenario with a straddling check; "pass" and
    "warn" leave it passed (warn: the reports and the score still show it as not proven)."""
    straddling = any(straddles(c) for c in result["checks"])
    if mode == "fail" and result["status"] == "passed" and straddling:
        result["status"] = "failed"
