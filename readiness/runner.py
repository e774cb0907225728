"""Runs a suite: every selected scenario against its targets, writing results.json after each
so nothing measured is lost when a later step fails. A fleet (several targets) runs one target
after another, or with parallel_targets all side by side, each target's scenarios in order."""

from __future__ import annotations

import importlib
import math
import random
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from readiness import __version__
from readiness.config.placeholders import Redactor
from readiness.distributed.policy import ran_in_one, single_worker_reason
from readiness.engine.progress import ProgressSink, ignore_progress
from readiness.engine.segment import WHOLE, Segment
from readiness.environment import capture_environment
from readiness.errors import ConfigError, OutputError, ReadinessError, unwrapped_groups
from readiness.results import (
    SCHEMA_VERSION,
    CheckResult,
    FleetMode,
    LatencySummary,
    RunInfo,
    RunResult,
    ScenarioResult,
    TargetInfo,
    Totals,
    WorkersResult,
    dump_json,
    summarize,
    write_atomic,
)
from readiness.scenarios.base import (
    ScenarioContext,
    apply_on_inconclusive,
    describe_load,
    now_iso,
    thresholds_of,
)
from readiness.scenarios.instruments import unmeasured_server
from readiness.scenarios.protocol_notes import protocol_notes
from readiness.scenarios.repeats import pool_repetitions

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, Suite, TargetConfig
    from readiness.config.scoring import ScoringConfig
    from readiness.health.poller import HealthWatch
    from readiness.metrics.live import LiveMetrics
    from readiness.target import TargetSession

ScenarioRunner = Callable[[ScenarioContext], Awaitable[ScenarioResult]]


OVERRUN_MARGIN_S = 5.0  # past a scenario's timeout and grace, before it is cut off

_KINDS = {
    "throughput": ("readiness.scenarios.throughput", "run_throughput"),
    "scaling": ("readiness.scenarios.scaling", "run_scaling"),
    "memory": ("readiness.scenarios.memory", "run_memory"),
    "payload": ("readiness.scenarios.payload", "run_payload"),
    "failure": ("readiness.scenarios.chaos", "run_failure"),
    "recovery": ("readiness.scenarios.chaos", "run_recovery"),
    "overload": ("readiness.scenarios.overload", "run_overload"),
    "pool": ("readiness.scenarios.pool", "run_pool"),
    "security": ("readiness.scenarios.security", "run_security"),
    "subscriptions": ("readiness.scenarios.subscriptions", "run_subscriptions"),
}


def scenario_runner(kind: str) -> ScenarioRunner:
    """The coroutine that runs a scenario kind; each kind's module is imported when used."""
    module, name = _KINDS[kind]
    runner: ScenarioRunner = getattr(importlib.import_module(module), name)
    return runner


@dataclass
class RunState:
    """The run as it stands; the CLI keeps it so an interrupted run can still be written."""

    result: RunResult
    folder: Path
    scoring: ScoringConfig
    interrupt: anyio.Event = field(default_factory=anyio.Event)
    fatal: ReadinessError | None = None
    internal_errors: list[str] = field(default_factory=list)
    parallel_targets: bool = False  # a fleet's targets run side by side, each its own load
    live: LiveMetrics | None = None  # exposed at run --metrics-port / --pushgateway

    write: Callable[[Path, bytes], None] = write_atomic  # the filesystem, replaceable in tests
    # ${VAR} values back to their names in anything saved or shown (errors quote URLs)
    redact: Redactor = field(default_factory=lambda: Redactor(()))

    def save(self) -> Path:
        """Write results.json; a failure (folder missing, read-only, disk full) → OutputError."""
        from readiness.scoring import attach_scores

        self.result["summary"] = summarize(self.result["scenarios"])
        mode: FleetMode = "parallel" if self.parallel_targets else "sequential"
        attach_scores(self.result, self.scoring, mode)
        self.redact.scrub(self.result)
        path = self.folder / "results.json"
        try:
            self.write(path, dump_json(self.result))
        except OSError as exc:
            raise OutputError(str(path), exc) from None
        return path


def plan_pairs(
    suite: Suite, only: Sequence[str] = (), target: str | Sequence[str] | None = None
) -> list[tuple[ScenarioConfig, TargetConfig]]:
    """The (scenario, target) pairs to run, in suite order, validated against the suite;
    `target` narrows the run to one target or several (--target, repeatable)."""
    names = [s.name for s in suite.scenarios]
    for wanted in only:
        if wanted not in names:
            raise ConfigError(
                f"no scenario named {wanted!r} (the suite has: {', '.join(names)})",
                file=suite.source,
                key="-s/--scenario",
            )
    targets = {t.name: t for t in suite.targets}
    chosen_targets = (
        None if target is None else (target,) if isinstance(target, str) else tuple(target)
    )
    for name in chosen_targets or ():
        if name not in targets:
            raise ConfigError(
                f"no target named {name!r} (the suite has: {', '.join(targets)})",
                file=suite.source,
                key="--target",
            )
    pairs: list[tuple[ScenarioConfig, TargetConfig]] = []
    for scenario in suite.scenarios:
        if only and scenario.name not in only:
            continue
        for t in suite.targets_for(scenario):
            if chosen_targets is None or t.name in chosen_targets:
                pairs.append((scenario, t))
    return pairs


def new_state(
    suite: Suite,
    folder: Path,
    argv: Sequence[str],
    *,
    parallel_targets: bool = False,
    pairs: Sequence[tuple[ScenarioConfig, TargetConfig]] | None = None,
) -> RunState:
    """A run's state before any load. With `pairs`, only the targets they run against are the
    run's targets: a target `-s`/`--target` left out is not scored as a target with no checks."""
    planned = None if pairs is None else {t.name for _, t in pairs}
    info = RunInfo(
        name=suite.run.name,
        started_at=now_iso(),
        finished_at=None,
        tool_version=__version__,
        status="error",
        config=suite.source,
        argv=list(argv),
        seed=suite.run.seed
        if suite.run.seed is not None
        else random.SystemRandom().randrange(2**32),
    )
    targets = [
        TargetInfo(
            name=t.name,
            transport=t.transport,
            command=t.display_command() if t.command else None,
            url=t.display_url() if t.url else None,
            protocol=t.protocol,
            protocol_version=None,
            server_info={},
        )
        for t in suite.targets
        if planned is None or t.name in planned
    ]
    result = RunResult(
        schema_version=SCHEMA_VERSION,
        run=info,
        environment=capture_environment(),
        targets=targets,
        scenarios=[],
        summary=summarize([]),
    )
    secrets = Redactor(pair for t in suite.targets for pair in t.placeholder_values().items())
    return RunState(
        result=result,
        folder=folder,
        scoring=suite.scoring,
        redact=secrets,
        parallel_targets=parallel_targets,
    )


async def run_suite(
    suite: Suite,
    state: RunState,
    pairs: Sequence[tuple[ScenarioConfig, TargetConfig]],
    *,
    on_progress: ProgressSink = ignore_progress,
    on_scenario_done: Callable[[ScenarioResult], None] = lambda _: None,
    repeat: int = 1,
    segment: Segment = WHOLE,
    coordinator: Coordinated | None = None,
) -> RunState:
    """Run the pairs in order. A target that cannot be started ends the run (state.fatal);
    other scenario failures are recorded and the run goes on. With `repeat` > 1 the whole
    sequence runs that many times, interleaved (A1 B1 A2 B2 …, so a slow stretch of the
    machine falls on every scenario alike), and each scenario's entry pools its repetitions.
    A results.json that cannot be written (the disk filled, say) also ends the run: no load
    is sent that could not be kept."""
    try:
        state.save()
    except OutputError as exc:
        state.fatal = exc
        return state
    run_one = partial(
        _run_pair,
        suite,
        state,
        on_progress=on_progress,
        on_scenario_done=on_scenario_done,
        segment=segment,
        coordinator=coordinator,
        repeat=repeat,
        repetitions={},
    )
    sequence = [p for _ in range(repeat) for p in pairs]
    if state.parallel_targets:
        lanes: dict[str, list[tuple[ScenarioConfig, TargetConfig]]] = {}
        for pair in sequence:
            lanes.setdefault(pair[1].name, []).append(pair)
        async with anyio.create_task_group() as tg:
            for lane in lanes.values():
                tg.start_soon(_run_pairs, lane, run_one, state)
        order = {t["name"]: i for i, t in enumerate(state.result["targets"])}
        state.result["scenarios"].sort(key=lambda s: order.get(s["target"], len(order)))
    else:
        await _run_pairs(sequence, run_one, state)
    finish(state)
    return state


def _place(scenarios: list[ScenarioResult], entry: ScenarioResult) -> None:
    """Append a scenario's entry, or replace its earlier (pooled) entry in place."""
    for i, s in enumerate(scenarios):
        if (s["target"], s["name"]) == (entry["target"], entry["name"]) and "repeats" in entry:
            scenarios[i] = entry
            return
    scenarios.append(entry)


async def _run_pairs(
    pairs: Sequence[tuple[ScenarioConfig, TargetConfig]],
    run_one: Callable[[ScenarioConfig, TargetConfig], Awaitable[None]],
    state: RunState,
) -> None:
    """One after another, until the run is interrupted or something fatal happened (in any
    lane: a fleet side by side stops starting scenarios once one target could not start)."""
    for scenario, target in pairs:
        if state.interrupt.is_set() or state.fatal is not None:
            break
        await run_one(scenario, target)


async def _run_pair(
    suite: Suite,
    state: RunState,
    scenario: ScenarioConfig,
    target: TargetConfig,
    *,
    on_progress: ProgressSink,
    on_scenario_done: Callable[[ScenarioResult], None],
    segment: Segment,
    coordinator: Coordinated | None,
    repeat: int,
    repetitions: dict[tuple[str, str], list[ScenarioResult]],
) -> None:
    """Run one scenario against one target and keep its result; a target that cannot be
    started sets state.fatal, other failures are recorded in the result. As one worker of
    several, run this worker's share, or, for a scenario that cannot be split, run it whole in
    worker 0 while the others wait for it. With `repeat` > 1 the scenario's entry pools its
    repetitions so far (kept in `repetitions`)."""
    single = None if segment.whole else single_worker_reason(suite, scenario, target)
    key = f"{scenario.name} → {target.name}"
    if single is not None and segment.index != 0:
        if coordinator is not None:  # shard 0 runs it whole; the others wait for it
            await _finished(coordinator, key, state.interrupt)
        return
    stop = anyio.Event()  # the run's interrupt, or this scenario's own timeout
    connections: list[object] = []  # every connection the scenario opened, for its notes
    ctx = ScenarioContext(
        health=_health_watch(target),
        suite=suite,
        scenario=scenario,
        target=target,
        run_dir=state.folder,
        on_progress=on_progress,
        on_connected=partial(_note_connection, state, target, connections),
        interrupt=stop,
        seed=state.result["run"].get("seed", 0),
        segment=WHOLE if single is not None else segment,
        start_gate=None
        if single is not None or coordinator is None
        else partial(coordinator.ready, key),
        live=state.live,
    )
    started_at = now_iso()
    try:
        result, timed_out = await _bounded(ctx, state.interrupt, stop, connections)
        if timed_out:
            result["partial"] = True
            result["stopped"] = f"its timeout of {scenario.timeout:g} s passed"
    except _Overran as exc:  # not fatal: the next scenario gets its own target
        result = error_result(scenario, target, started_at, str(exc))
        result["partial"] = True
    except _InterruptedBeforeConnecting:
        message = "interrupted while its target was starting; nothing was measured"
        result = error_result(scenario, target, started_at, message)
    except ReadinessError as exc:
        result = error_result(scenario, target, started_at, str(exc))
        state.fatal = exc
    except Exception as exc:  # a bug of ours: record it, keep what was measured
        detail = "".join(traceback.format_exception_only(exc)).strip()
        state.internal_errors.append(traceback.format_exc())
        result = error_result(scenario, target, started_at, f"internal error: {detail}")
    notes = protocol_notes(connections, target.transport, target.max_reply_bytes)
    if notes is not None:
        result["protocol"] = notes
    if single is not None:
        result["workers"] = WorkersResult(count=1, note=ran_in_one(single), shards=[])
    if repeat > 1:
        done = repetitions.setdefault((target.name, scenario.name), [])
        result["repeat"] = len(done) + 1
        done.append(result)
        entry = pool_repetitions(done, scenario)
    else:
        entry = result
    apply_on_inconclusive(entry, suite.gate.on_inconclusive)
    _place(state.result["scenarios"], entry)
    try:
        state.save()
    except OutputError as exc:
        state.fatal = exc
    on_scenario_done(result)
    if coordinator is not None and state.fatal is None:
        await _finished(coordinator, key, state.interrupt)


class Coordinated(Protocol):
    """What a worker process of several does at the coordinator (readiness.distributed)."""

    async def ready(self, key: str, phase: str) -> None:
        """Wait until every worker is ready for this load, then until the shared start."""

    async def finished(self, key: str) -> None:
        """Wait until every worker is done with this scenario."""


async def _finished(coordinator: Coordinated, key: str, interrupt: anyio.Event) -> None:
    """Pass the end-of-scenario barrier, or stop waiting when the run is interrupted."""
    async with anyio.create_task_group() as tg:

        async def done() -> None:
            await coordinator.finished(key)
            tg.cancel_scope.cancel()

        async def interrupted() -> None:
            await interrupt.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(done)
        tg.start_soon(interrupted)


async def _bounded(
    ctx: ScenarioContext, interrupt: anyio.Event, stop: anyio.Event, connections: list[object]
) -> tuple[ScenarioResult, bool]:
    """Run one scenario; `stop` is set by the run's interrupt or when the scenario's timeout
    passes, and the scenario then ends its load and returns what it measured. An interrupt
    before the scenario connected (`connections` still empty) cancels it at once. Returns
    the result and whether the timeout stopped it."""
    timeout = ctx.scenario.timeout
    timed_out = False
    interrupted_early = False
    # A scenario stuck where it cannot see `stop` (starting its server, say) is cut off.
    hard = math.inf if timeout is None else timeout + ctx.scenario.grace + OVERRUN_MARGIN_S
    cut_off = anyio.CancelScope(deadline=anyio.current_time() + hard)

    async def follow_interrupt() -> None:
        nonlocal interrupted_early
        await interrupt.wait()
        stop.set()
        if not connections:
            # Starting a server or its handshake can take connect_timeout, and nothing is
            # measured yet: an interrupt does not wait for it.
            interrupted_early = True
            cut_off.cancel()

    async def expire(after: float) -> None:
        nonlocal timed_out
        await anyio.sleep(after)
        timed_out = True
        stop.set()

    result: ScenarioResult | None = None
    health = ctx.health
    with unwrapped_groups():  # the watchers never raise: a failure is the scenario's own
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow_interrupt)
            if timeout is not None:
                tg.start_soon(expire, timeout)
            try:
                with cut_off:
                    if health is not None:  # polled beside the scenario, off its hot path
                        await tg.start(health.run)
                    result = await scenario_runner(ctx.scenario.kind)(ctx)
            finally:
                tg.cancel_scope.cancel()
    if interrupted_early and result is None:
        raise _InterruptedBeforeConnecting
    if cut_off.cancelled_caught:
        raise _Overran(
            f"its timeout of {timeout:g} s passed and it did not stop within"
            f" {hard - (timeout or 0):g} s more; nothing it measured could be kept"
        )
    assert result is not None
    if health is not None and "health" not in result:  # a kind that did not assemble it
        from readiness.health.figures import health_result

        result["health"] = health_result(health, result)
    return result, timed_out and not interrupt.is_set()


def _health_watch(target: TargetConfig) -> HealthWatch | None:
    if target.health is None:
        return None
    from readiness.health.poller import HealthWatch

    return HealthWatch.for_target(target.health, target.url)


class _Overran(Exception):
    """A scenario went on past its timeout and its grace, and was cancelled."""


class _InterruptedBeforeConnecting(Exception):
    """The run was interrupted while the scenario's target was still starting."""


def finish(state: RunState) -> Path:
    info = state.result["run"]
    info["finished_at"] = now_iso()
    scenarios = state.result["scenarios"]
    if state.interrupt.is_set():
        info["status"] = "interrupted"
    elif state.fatal is not None or any(s["status"] == "error" for s in scenarios):
        info["status"] = "error"
    elif any(s["status"] == "failed" for s in scenarios):
        info["status"] = "failed"
    elif any(s["status"] == "inconclusive" for s in scenarios):
        info["status"] = "inconclusive"
    else:
        info["status"] = "passed"
    try:
        return state.save()
    except OutputError as exc:
        if state.fatal is None:
            state.fatal = exc
        return state.folder / "results.json"


def _note_connection(
    state: RunState, target: TargetConfig, connections: list[object], session: TargetSession
) -> None:
    connections.append(session.conn)
    for info in state.result["targets"]:
        if info["name"] == target.name:
            info["protocol_version"] = session.conn.protocol_version
            info["server_info"] = dict(session.conn.server_info)
            if target.transport == "http" and target.url is not None:
                from readiness.protocol.fasthttp import choose_client

                info["http_client"] = choose_client(target.http_client, target.url)


def _empty_latency() -> LatencySummary:
    return LatencySummary(
        count=0, p50=None, p90=None, p95=None, p99=None, p999=None, max=None, mean=None
    )


def error_result(
    scenario: ScenarioConfig, target: TargetConfig, started_at: str, message: str
) -> ScenarioResult:
    totals = Totals(
        sent=0,
        ok=0,
        errors={"tool_error": 0, "rpc_error": 0, "timeout": 0, "transport": 0},
        rpc_error_codes={},
        rejected=0,
        late=0,
        dropped=0,
        cancelled=0,
        success_rate=None,
        error_rate=None,
        throughput_rps=0.0,
    )
    return ScenarioResult(
        name=scenario.name,
        kind=scenario.kind,
        target=target.name,
        status="error",
        error=message,
        partial=True,
        started_at=started_at,
        duration_s=0.0,
        load=describe_load(scenario.load) if scenario.load else {},
        method={"model": "closed", "corrected": False, "note": "not run"},
        totals=totals,
        latency_ms=_empty_latency(),
        latency_uncorrected_ms=_empty_latency(),
        failure_latency_ms=_empty_latency(),
        operations=[],
        timeline=[],
        generator={
            "cpu_s": 0.0,
            "cpu_us_per_request": None,
            "cpu_percent": 0.0,
            "max_loop_lag_ms": None,
            "p99_loop_lag_ms": None,
            "rss_peak_mb": None,
            "saturated": False,
            "saturation_reason": "",
        },
        server=unmeasured_server("the scenario did not run"),
        # Its checks could not be judged: each counts as failed, not measured.
        checks=[
            CheckResult(
                name=f"{scenario.name}: {t.expression}",
                expression=t.expression,
                metric=t.metric,
                unit=t.unit,
                observed=None,
                passed=False,
                op=t.op,
                limit=t.value,
                critical=t.critical,
                weight=t.weight,
            )
            for t in thresholds_of(scenario)
        ],
        histograms={"corrected": "", "uncorrected": "", "failures": "", "operations": {}},
    )
