"""The payload scenario: a ladder of payload sizes, sent as large results and as large
arguments, up to the first size that fails — and how it failed (tool error, timeout,
disconnect, or readiness's own reply cap)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import anyio

from readiness.engine.load import LoadPlan, ProgressLabel, Requester
from readiness.engine.schedule import constant
from readiness.engine.workload import Operation, Workload, operation_params
from readiness.errors import ConfigError, unwrapped_groups
from readiness.metrics.recorder import OperationRecord, Recorder, Recording
from readiness.metrics.sampler import ProcessSampler
from readiness.metrics.summary import latency_summary, merge_recordings, overall, recording_totals
from readiness.protocol.outcome import OUTCOME_KEYS, Outcome, OversizedReply, Reply
from readiness.results import (
    PayloadFailure,
    PayloadStep,
    PayloadSummary,
    ScenarioResult,
    ServerResources,
)
from readiness.scenarios.base import (
    ScenarioContext,
    assemble,
    deadline_for,
    drive,
    judge,
    method_of,
    now_iso,
    preflight,
    warm_up,
)
from readiness.scenarios.instruments import NOT_STARTED_BY_US, unmeasured_server, watch
from readiness.target import open_target

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig
    from readiness.protocol.connection import Connection

Direction = Literal["result", "argument"]

# The outcome class of a reply our own cap refused: the server did nothing wrong.
REPLY_CAP = "reply_cap"
FAILURE_WORDS = {
    "tool_error": "tool error",
    "rpc_error": "JSON-RPC error",
    "timeout": "timeout",
    "transport": "transport failure",
    REPLY_CAP: "readiness's reply cap",
}
# After these the server cannot be trusted with the other direction (or is dead).
_BREAKING = ("timeout", "transport")
# A step of small payloads can finish between two readings at the usual 250 ms.
SAMPLE_INTERVAL_S = 0.1
_DETAIL_CHARS = 300
_KIB = 1024
_MIB = 1024 * 1024
_MB = 1024 * 1024


def directions_of(scenario: ScenarioConfig) -> tuple[Direction, ...]:
    if scenario.direction == "both":
        return ("result", "argument")
    return (scenario.direction,)


def size_label(size: int) -> str:
    """A ladder size as written: exact binary units where they fit ("512 KiB", "10 MiB")."""
    if size >= _MIB and size % _MIB == 0:
        return f"{size // _MIB} MiB"
    if size >= _KIB and size % _KIB == 0:
        return f"{size // _KIB} KiB"
    return f"{size} B"


def operation_name(scenario: ScenarioConfig, direction: Direction) -> str:
    if direction == "result":
        return f"large results (tools/call {scenario.result_tool})"
    return f"large arguments (tools/call {scenario.argument_tool})"


def payload_operation(
    scenario: ScenarioConfig, direction: Direction, size: int, *, index: int = 0
) -> Operation:
    """The call that moves `size` bytes: a result the tool is asked for, or an argument."""
    if direction == "result":
        tool = scenario.result_tool
        arguments: dict[str, Any] = {scenario.result_argument: max(size // _KIB, 1)}
    else:
        tool = scenario.argument_tool
        arguments = {scenario.argument_name: "x" * size}
    return Operation(
        index=index,
        name=operation_name(scenario, direction),
        method="tools/call",
        params=operation_params("tools/call", tool=tool, arguments=arguments),
        weight=1.0,
    )


class FirstFailure:
    """Passes requests through and keeps the first failed reply: the Recorder keeps counts
    only, and the report has to say how a size failed."""

    def __init__(self, conn: Requester) -> None:
        self._conn = conn
        self.first: Reply | None = None

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        reply = await self._conn.request(method, params, timeout=timeout)
        if reply.outcome is not Outcome.OK and self.first is None:
            self.first = reply
        return reply


def describe_failure(reply: Reply, size: int, *, request_timeout: float) -> PayloadFailure:
    """The outcome class and a one-line detail of a failed reply; our reply cap is its own class."""
    outcome = OUTCOME_KEYS[reply.outcome]
    if reply.outcome is Outcome.TOOL_ERROR:
        detail = _tool_error_text(reply.result) or "the tool reported isError without a message"
    elif reply.outcome is Outcome.RPC_ERROR:
        detail = f"code {reply.error_code}: {reply.detail or 'no message'}"
    elif reply.outcome is Outcome.TIMEOUT:
        detail = f"no reply within the request timeout ({request_timeout:g} s)"
    elif isinstance(reply, OversizedReply):
        outcome = REPLY_CAP
        detail = (
            f"{reply.detail}, the target's max_reply_bytes; readiness refused the reply to "
            "protect itself, so this is not a server failure (raise max_reply_bytes to measure "
            "larger replies)"
        )
    else:
        detail = reply.detail or "the connection failed"
    return PayloadFailure(size_bytes=size, outcome=outcome, detail=_one_line(detail))


def failure_text(failure: PayloadFailure) -> str:
    """ "tool error: blob of 512 KiB is over the limit …" — a step's `failure`."""
    return f"{FAILURE_WORDS.get(failure['outcome'], failure['outcome'])}: {failure['detail']}"


def _tool_error_text(result: dict[str, Any] | None) -> str:
    content = (result or {}).get("content")
    if not isinstance(content, list):
        return ""
    return " ".join(
        str(item.get("text", ""))
        for item in content
        if isinstance(item, dict) and item.get("type") == "text"
    )


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


@dataclass(frozen=True)
class StepRun:
    """One size of one direction as it ran; `t0` and `t1` count from the instruments' origin."""

    direction: Direction
    size: int
    recording: Recording
    failure: PayloadFailure | None
    complete: bool  # every planned request was sent and answered
    partial: bool
    t0: float
    t1: float
    sampler: ProcessSampler | None

    @property
    def breaks_server(self) -> bool:
        return self.failure is not None and self.failure["outcome"] in _BREAKING


async def run_payload(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    wanted = directions_of(scenario)
    started_at = now_iso()
    started = time.perf_counter()
    runs: list[StepRun] = []
    samplers: list[ProcessSampler] = []
    pending = list(wanted)
    sessions = 0
    # The instruments' task groups wrap what the body raised (a ConfigError from the
    # preflight, a TargetError from a restart): hand it back as it was.
    with unwrapped_groups():
        async with watch(
            None, live=ctx.exposed
        ) as instruments:  # the generator; each server is sampled below
            while pending and not ctx.interrupt.is_set():
                # After a timeout or a disconnect the server cannot be trusted (or is dead):
                # the next direction gets a fresh one, with a stderr log of its own.
                sessions += 1
                label = scenario.name if sessions == 1 else f"{scenario.name}-{sessions}"
                async with open_target(ctx.target, ctx.run_dir / "logs", label) as session:
                    ctx.on_connected(session)
                    if sessions == 1:
                        await _preflight(session.conn, ctx, wanted)
                    async with _sampling(session.pid, instruments.origin) as sampler:
                        if sampler is not None:
                            samplers.append(sampler)
                        while pending and not ctx.interrupt.is_set():
                            ladder = await _climb(
                                session.conn, ctx, pending.pop(0), sampler, instruments.origin
                            )
                            runs.extend(ladder)
                            if ladder and ladder[-1].breaks_server:
                                break
    n_ops = len(wanted)
    merged = merge_recordings(
        [_placed(run.recording, wanted.index(run.direction), n_ops) for run in runs]
        or [Recorder(n_ops).finish()]
    )
    operations = Workload(
        [payload_operation(scenario, d, 1, index=i) for i, d in enumerate(wanted)]
    )
    unfinished = any(run.partial or not (run.complete or run.failure) for run in runs)
    summary = summarize_ladder(runs, wanted)
    result = assemble(
        ctx,
        merged,
        operations,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=unfinished or {run.direction for run in runs} != set(wanted),
        load=describe_payload_load(scenario, wanted),
        method=method_of(payload_plan(scenario)),
        generator=instruments.generator_stats(merged.sent),
        server=server_resources(samplers, sessions=sessions),
    )
    result["payload_steps"] = [step_result(run) for run in runs]
    result["payload"] = summary
    return judge(result, scenario, extra={"max_payload": max_payload(summary)})


def payload_plan(scenario: ScenarioConfig) -> LoadPlan:
    """One size's load: `requests_per_size` requests from `concurrency` virtual users."""
    return LoadPlan(
        model="closed",
        level=constant(scenario.concurrency, 0),
        duration=None,
        requests=scenario.requests_per_size,
    )


def describe_payload_load(scenario: ScenarioConfig, wanted: Sequence[Direction]) -> dict[str, Any]:
    load: dict[str, Any] = {
        "model": "closed",
        "concurrency": scenario.concurrency,
        "requests_per_size": scenario.requests_per_size,
        "direction": scenario.direction,
        "sizes": list(scenario.sizes),
    }
    if "result" in wanted:
        load["result_tool"] = f"{scenario.result_tool}({scenario.result_argument}=size in KiB)"
    if "argument" in wanted:
        load["argument_tool"] = f"{scenario.argument_tool}({scenario.argument_name}=size bytes)"
    return load


async def _preflight(conn: Connection, ctx: ScenarioContext, wanted: Sequence[Direction]) -> None:
    """Refuse a ladder whose tool the server lacks, naming the scenario key to change."""
    scenario = ctx.scenario
    ops = [payload_operation(scenario, d, 1, index=i) for i, d in enumerate(wanted)]
    try:
        await preflight(conn, Workload(ops), ctx)
    except ConfigError as exc:
        index = ctx.suite.scenarios.index(scenario) if scenario in ctx.suite.scenarios else 0
        field = "argument_tool"
        if "result" in wanted and repr(scenario.result_tool) in exc.message:
            field = "result_tool"
        raise ConfigError(
            f"{exc.message}; set {field} to a tool it offers, or direction to the other one",
            file=exc.file,
            key=f'scenarios[{index}] (name="{scenario.name}").{field}',
        ) from None


@asynccontextmanager
async def _sampling(pid: int | None, origin: float) -> AsyncIterator[ProcessSampler | None]:
    """Sample one server process (tree) while the body runs; None when we cannot see it."""
    if pid is None:
        yield None
        return
    sampler = ProcessSampler(pid, interval=SAMPLE_INTERVAL_S, origin=origin)
    async with anyio.create_task_group() as tg:
        await tg.start(sampler.run)
        try:
            yield sampler
        finally:
            sampler.stop()


async def _climb(
    conn: Requester,
    ctx: ScenarioContext,
    direction: Direction,
    sampler: ProcessSampler | None,
    origin: float,
) -> list[StepRun]:
    """Climb the sizes in one direction; stop after the first size at which a request failed
    (a larger payload would fail too, and a server that died would fail everything)."""
    scenario = ctx.scenario
    target = ctx.target
    plan = payload_plan(scenario)
    deadline = deadline_for(plan, grace=scenario.grace, request_timeout=target.request_timeout)
    runs: list[StepRun] = []
    for i, size in enumerate(scenario.sizes):
        if ctx.interrupt.is_set():
            break
        watcher = FirstFailure(conn)
        workload = Workload([payload_operation(scenario, direction, size)])
        label = ProgressLabel(
            scenario.name,
            scenario.kind,
            target.name,
            f"{direction}s of {size_label(size)} ({i + 1}/{len(scenario.sizes)})",
        )
        if i == 0:  # `warmup` settles the server at the smallest size, unrecorded
            await warm_up(ctx, conn, workload, plan, label)
        t0 = time.monotonic()
        run = await drive(ctx, watcher, workload, plan, label)
        t1 = time.monotonic()
        rec = run.recording
        interrupted = ctx.interrupt.is_set()
        failure: PayloadFailure | None = None
        if watcher.first is not None:
            failure = describe_failure(watcher.first, size, request_timeout=target.request_timeout)
        elif rec.cancelled and not interrupted:
            failure = PayloadFailure(
                size_bytes=size,
                outcome="timeout",
                detail=f"{rec.cancelled} request(s) still unanswered when the step's"
                f" {deadline:g} s deadline expired",
            )
        runs.append(
            StepRun(
                direction=direction,
                size=size,
                recording=rec,
                failure=failure,
                complete=rec.sent == plan.requests and rec.cancelled == 0,
                partial=run.partial,
                t0=t0 - origin,
                t1=t1 - origin,
                sampler=sampler,
            )
        )
        if failure is not None or interrupted:
            break
    return runs


def step_result(run: StepRun) -> PayloadStep:
    rec = run.recording
    corrected, _, _ = overall(rec)
    totals = recording_totals(rec)
    moved_mb = totals["ok"] * run.size / 1e6
    return PayloadStep(
        direction=run.direction,
        size_bytes=run.size,
        totals=totals,
        latency_ms=latency_summary(corrected),
        mb_per_s=moved_mb / rec.window_s if rec.sent and rec.window_s > 0 else None,
        server_rss_peak_bytes=rss_peak(run.sampler, run.t0, run.t1),
        failure=None if run.failure is None else failure_text(run.failure),
    )


def rss_peak(sampler: ProcessSampler | None, t0: float, t1: float) -> int | None:
    """The largest RSS read during [t0, t1] or at the readings just before and just after it:
    a step of small payloads can fall between two readings, and the memory it held at its
    start or still holds just after it was held during it too."""
    if sampler is None:
        return None
    live = [s for s in sampler.samples if not s.exited]
    readings = [s.rss_bytes for s in live if t0 <= s.t_s <= t1]
    before = [s.rss_bytes for s in live if s.t_s < t0][-1:]
    after = [s.rss_bytes for s in live if s.t_s > t1][:1]
    readings += before + after
    return max(readings) if readings else None


def summarize_ladder(runs: Sequence[StepRun], wanted: Sequence[Direction]) -> PayloadSummary:
    """Per direction: the largest size at which every request succeeded, and the first failure.

    Sizes only grow and a direction stops at its first failure, so the last passing step is
    the largest. A direction that never ran reports neither.
    """
    max_ok: dict[str, int | None] = dict.fromkeys(wanted)
    first: dict[str, PayloadFailure | None] = dict.fromkeys(wanted)
    for run in runs:
        if run.failure is not None:
            first[run.direction] = first[run.direction] or run.failure
        elif run.complete and first[run.direction] is None:
            max_ok[run.direction] = run.size
    return PayloadSummary(max_ok_bytes=max_ok, first_failure=first)


def max_payload(summary: PayloadSummary) -> float | None:
    """The `max_payload` metric: the smallest direction's largest passing size; None (which
    fails any check) when a direction passed no size at all."""
    sizes = list(summary["max_ok_bytes"].values())
    if not sizes or any(size is None for size in sizes):
        return None
    return float(min(size for size in sizes if size is not None))


def _placed(rec: Recording, index: int, n_ops: int) -> Recording:
    """A one-operation recording as operation `index` of `n_ops`, so that the steps of both
    directions merge into one recording with an operation per direction."""
    operations = [rec.operations[0] if i == index else OperationRecord() for i in range(n_ops)]
    sent_by_op = [rec.sent_by_op[0] if i == index else 0 for i in range(n_ops)]
    return replace(rec, operations=operations, sent_by_op=sent_by_op)


def server_resources(samplers: Sequence[ProcessSampler], *, sessions: int) -> ServerResources:
    """Figures over every server process the scenario used (more than one after a restart)."""
    summaries = [(s.pid, s.summary()) for s in samplers]
    live = [(pid, summary) for pid, summary in summaries if summary is not None]
    if not live:
        if samplers:
            reason = "the server process exited before it could be sampled"
        elif sessions:
            reason = NOT_STARTED_BY_US
        else:
            reason = "the scenario was interrupted before it started the server"
        return unmeasured_server(reason, samplers[0].pid if samplers else None)
    reasons = []
    if len(samplers) > 1:
        pids = ", ".join(str(s.pid) for s in samplers)
        reasons.append(
            f"the server was restarted after a timeout or disconnect; figures span the "
            f"processes {pids}"
        )
    elif any(s.exited for s in samplers):
        reasons.append("server process exited during the run")
    duration = sum(summary.duration_s for _, summary in live)
    cpu = sum(summary.cpu_s for _, summary in live)
    return ServerResources(
        measured=True,
        reason="; ".join(reasons),
        pid=live[0][0],
        samples=sum(summary.samples for _, summary in live),
        cpu_percent_mean=round(100 * cpu / duration, 1) if duration > 0 else 0.0,
        cpu_percent_max=round(max(summary.cpu_percent_max for _, summary in live), 1),
        rss_initial_mb=live[0][1].rss_initial_bytes / _MB,
        rss_peak_mb=max(summary.rss_peak_bytes for _, summary in live) / _MB,
        rss_final_mb=live[-1][1].rss_final_bytes / _MB,
    )
