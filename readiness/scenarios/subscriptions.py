"""The subscriptions scenario: N sessions subscribe to one resource (`resources/subscribe`,
2025 rules), a tool call changes it `updates` times, and every subscriber should be told
(`notifications/resources/updated`); then they unsubscribe and should be told no more.

Each update opens a window on every session; the first notice a session gets inside it is the
delivery (its latency counts from the trigger call's send), any further ones are duplicates,
and notices outside every window are unexpected (late, or the server's own timer).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio

from readiness.config.subscribe import SubscribeConfig
from readiness.engine.workload import Operation, Workload
from readiness.errors import ConfigError, ProtocolError
from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.recorder import Recorder
from readiness.metrics.summary import latency_summary
from readiness.protocol.connection import MODERN_VERSIONS, Connection
from readiness.protocol.outcome import Outcome, Reply
from readiness.results import Method, ScenarioResult, SubscriptionResult
from readiness.scenarios.base import ScenarioContext, assemble, judge, now_iso
from readiness.scenarios.instruments import watch
from readiness.scenarios.twoway_figures import stream_figures
from readiness.target import open_another, open_target

UPDATED = "notifications/resources/updated"
SUBSCRIBE, TRIGGER, UNSUBSCRIBE = 0, 1, 2
SUBSCRIPTION_METRICS = ("delivery_ratio", "lost_updates", "fanout_p99", "after_unsubscribe")
_perf = time.perf_counter


@dataclass
class _Round:
    """One update: how many subscribers are still to be told."""

    waiting: int
    everyone_told: anyio.Event = field(default_factory=anyio.Event)

    def told(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.everyone_told.set()


@dataclass
class _Inbox:
    """One session's notices about the URI (a notification tap on its connection)."""

    uri: str
    subscribed: bool = False
    unsubscribed: bool = False
    window: list[float] | None = None  # arrival times in the open update's window
    round: _Round | None = None
    unexpected: int = 0
    after_unsubscribe: int = 0

    def __call__(self, message: dict[str, Any]) -> None:
        if message.get("method") != UPDATED:
            return
        params = message.get("params")
        if not isinstance(params, dict) or params.get("uri") != self.uri:
            return
        if self.unsubscribed:
            self.after_unsubscribe += 1
        elif self.window is None:
            self.unexpected += 1
        else:
            self.window.append(_perf())
            if len(self.window) == 1 and self.round is not None:
                self.round.told()


@dataclass
class _Figures:
    rounds: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    trigger_failures: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    spread: LatencyHistogram = field(default_factory=LatencyHistogram)


def _workload(config: SubscribeConfig) -> Workload:
    trigger = {"name": config.trigger.tool, "arguments": dict(config.trigger.arguments)}
    return Workload(
        [
            Operation(SUBSCRIBE, "resources/subscribe", "resources/subscribe", None, 0.0),
            Operation(TRIGGER, f"tools/call {config.trigger.tool}", "tools/call", trigger, 1.0),
            Operation(UNSUBSCRIBE, "resources/unsubscribe", "resources/unsubscribe", None, 0.0),
        ]
    )


async def _timed(
    recorder: Recorder, op: int, conn: Connection, method: str, params: dict[str, Any]
) -> Reply:
    recorder.on_sent(op)
    sent = time.perf_counter_ns()
    reply = await conn.request(method, params)
    recorder.record(op, reply.outcome, sent, sent, time.perf_counter_ns(), reply.error_code)
    return reply


async def run_subscriptions(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    config = scenario.subscribe
    assert config is not None  # the config requires it for this kind
    workload = _workload(config)
    recorder = Recorder(len(workload.operations))
    inboxes = [_Inbox(config.uri) for _ in range(config.sessions)]
    figures = _Figures()
    started_at = now_iso()
    started = time.perf_counter()
    logs = ctx.run_dir / "logs"
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            open_target(ctx.target, logs, scenario.name, listen=True)
        )
        ctx.on_connected(first)
        version = first.conn.protocol_version
        if version in MODERN_VERSIONS:
            raise ProtocolError(
                f"resources/subscribe belongs to the 2025 protocol generation; the target"
                f' negotiated {version}: set protocol = "2025-11-25" on the target'
            )
        conns: list[Connection] = [first.conn]
        for i in range(1, config.sessions):
            more = await stack.enter_async_context(
                open_another(ctx.target, logs, f"{scenario.name}-s{i + 1}", listen=True)
            )
            ctx.on_connected(more)
            conns.append(more.conn)
        for conn, inbox in zip(conns, inboxes, strict=True):
            tap = getattr(conn, "tap_notifications", None)
            if tap is None:
                raise ConfigError(
                    "a subscriptions scenario needs sessions of its own: use a target"
                    " without [targets.resilience.pool]",
                    key=f"scenarios ({scenario.name})",
                )
            tap(inbox)
        async with watch(first.pid) as instruments:
            await _subscribe_all(recorder, conns, inboxes, config)
            for _ in range(config.updates):
                if ctx.interrupt.is_set():
                    break
                await _one_update(recorder, conns, inboxes, config, figures)
                await anyio.sleep(config.interval)
            await _unsubscribe_all(recorder, conns, inboxes, config)
            if config.after_unsubscribe > 0 and any(i.unsubscribed for i in inboxes):
                await _trigger(recorder, conns, config, figures)
                await anyio.sleep(config.after_unsubscribe)
        stream = stream_figures(conns)
    rec = recorder.finish()
    result = assemble(
        ctx,
        rec,
        workload,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        partial=ctx.interrupt.is_set(),
        load={"model": "subscriptions", **config.model_dump()},
        method=Method(
            model="closed",
            corrected=False,
            note="each request is timed from its send: updates are paced, not scheduled",
        ),
        generator=instruments.generator_stats(rec.sent),
        server=instruments.server_resources(),
    )
    subscribed = sum(i.subscribed for i in inboxes)
    expected = figures.delivered + figures.lost
    subscriptions = SubscriptionResult(
        uri=config.uri,
        sessions=config.sessions,
        subscribed=subscribed,
        trigger_on=config.trigger_on,
        updates=figures.rounds,
        trigger_failures=figures.trigger_failures,
        expected=expected,
        delivered=figures.delivered,
        lost=figures.lost,
        delivery_ratio=round(figures.delivered / expected, 6) if expected else None,
        duplicates=figures.duplicates,
        unexpected=sum(i.unexpected for i in inboxes),
        latency_ms=latency_summary(figures.latency),
        spread_ms=latency_summary(figures.spread),
        settle_s=config.settle,
        unsubscribed=sum(i.unsubscribed for i in inboxes),
        after_unsubscribe=sum(i.after_unsubscribe for i in inboxes),
    )
    if stream is not None:
        subscriptions["stream"] = stream
    result["subscriptions"] = subscriptions
    return judge(result, scenario, subscription_metrics(subscriptions))


def subscription_metrics(figures: SubscriptionResult) -> dict[str, float | None]:
    p99 = figures["latency_ms"]["p99"]
    return {
        "delivery_ratio": figures["delivery_ratio"],
        "lost_updates": float(figures["lost"]),
        "fanout_p99": None if p99 is None else p99 / 1000.0,
        "after_unsubscribe": float(figures["after_unsubscribe"]),
    }


async def _subscribe_all(
    recorder: Recorder, conns: Sequence[Connection], inboxes: list[_Inbox], config: SubscribeConfig
) -> None:
    async def subscribe(conn: Connection, inbox: _Inbox) -> None:
        reply = await _timed(recorder, SUBSCRIBE, conn, "resources/subscribe", {"uri": config.uri})
        inbox.subscribed = reply.outcome is Outcome.OK

    async with anyio.create_task_group() as tg:
        for conn, inbox in zip(conns, inboxes, strict=True):
            tg.start_soon(subscribe, conn, inbox)


async def _unsubscribe_all(
    recorder: Recorder, conns: Sequence[Connection], inboxes: list[_Inbox], config: SubscribeConfig
) -> None:
    async def unsubscribe(conn: Connection, inbox: _Inbox) -> None:
        params = {"uri": config.uri}
        reply = await _timed(recorder, UNSUBSCRIBE, conn, "resources/unsubscribe", params)
        inbox.unsubscribed = reply.outcome is Outcome.OK

    async with anyio.create_task_group() as tg:
        for conn, inbox in zip(conns, inboxes, strict=True):
            if inbox.subscribed:
                tg.start_soon(unsubscribe, conn, inbox)


async def _trigger(
    recorder: Recorder,
    conns: Sequence[Connection],
    config: SubscribeConfig,
    figures: _Figures,
    sent: list[float] | None = None,
) -> None:
    """Call the trigger (on the first session, or on each), noting in `sent` when each
    session's update began (for "one", every session's is the one call's)."""
    params = {"name": config.trigger.tool, "arguments": dict(config.trigger.arguments)}

    async def call(index: int) -> None:
        now = _perf()
        if sent is not None:
            if config.trigger_on == "one":
                sent[:] = [now] * len(sent)
            else:
                sent[index] = now
        reply = await _timed(recorder, TRIGGER, conns[index], "tools/call", params)
        if reply.outcome is not Outcome.OK:
            figures.trigger_failures += 1

    if config.trigger_on == "one":
        await call(0)
        return
    async with anyio.create_task_group() as tg:
        for index in range(len(conns)):
            tg.start_soon(call, index)


async def _one_update(
    recorder: Recorder,
    conns: Sequence[Connection],
    inboxes: list[_Inbox],
    config: SubscribeConfig,
    figures: _Figures,
) -> None:
    figures.rounds += 1
    watching = [i for i in inboxes if i.subscribed]
    round_ = _Round(len(watching))
    if not watching:
        round_.everyone_told.set()
    for inbox in watching:
        inbox.window = []
        inbox.round = round_
    sent = [_perf()] * len(conns)
    with anyio.move_on_after(config.settle):
        await _trigger(recorder, conns, config, figures, sent)
        await round_.everyone_told.wait()
    firsts: list[float] = []
    for index, inbox in enumerate(inboxes):
        window, inbox.window, inbox.round = inbox.window, None, None
        if window is None:
            continue
        if not window:
            figures.lost += 1
            continue
        figures.delivered += 1
        figures.duplicates += len(window) - 1
        firsts.append(window[0])
        figures.latency.record(max(0, int((window[0] - sent[index]) * 1e6)))
    if len(firsts) > 1:
        figures.spread.record(int((max(firsts) - min(firsts)) * 1e6))
