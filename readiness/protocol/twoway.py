"""A connection with a simulated client in front: every request's client time is measured, and
the 2026-07-28 input-required rounds are answered by retrying the request with the answers.

Per call it keeps end-to-end and client time (microseconds, raw) so a scenario can report the
server's own time as end-to-end − client time.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import anyio

from readiness.protocol.connection import Connection
from readiness.protocol.outcome import Outcome, Reply
from readiness.protocol.responder import CURRENT_CALL, CallLedger, Responder

MAX_INPUT_ROUNDS = 8  # a server that keeps asking after this many rounds is failing the call
# Private `_meta` keys by which an operation asks the wrapper for progress and cancellation;
# the wrapper takes them out before the request is sent.
PROGRESS_KEY = "io.readiness/progress"
CANCEL_AFTER_KEY = "io.readiness/cancelAfter"
OPERATION_KEY = "io.readiness/operation"  # the workload's name for the call, for the figures
TASK_KEY = "io.readiness/task"  # run as a task, polled at this interval (0: the server's)
_PRIVATE = (PROGRESS_KEY, CANCEL_AFTER_KEY, OPERATION_KEY, TASK_KEY)
TASK_DEADLINE_S = 120.0  # a task not finished by then is stuck
DEFAULT_POLL_S = 1.0  # when neither the operation nor the server says how often to poll
MIN_POLL_S = 0.01
_TERMINAL = ("completed", "failed", "cancelled")
_perf = time.perf_counter


def two_way_meta(
    operation: str,
    *,
    progress: bool = False,
    cancel_after: float | None = None,
    task: float | None = None,
) -> dict[str, Any]:
    """The `_meta` an operation carries: its name, and whether it asks for progress and for
    cancellation."""
    meta: dict[str, Any] = {OPERATION_KEY: operation}
    if progress:
        meta[PROGRESS_KEY] = True
    if cancel_after is not None:
        meta[CANCEL_AFTER_KEY] = cancel_after
    if task is not None:
        meta[TASK_KEY] = task
    return meta


@dataclass
class TwoWayCalls:
    """Raw per-call figures of one operation (`tools/call NAME`, or the method), in call order;
    times in microseconds, of successful calls only."""

    end_to_end_us: array[int] = field(default_factory=lambda: array("q"))
    client_us: array[int] = field(default_factory=lambda: array("q"))
    server_requests: array[int] = field(default_factory=lambda: array("q"))
    input_rounds: int = 0
    unfinished_rounds: int = 0  # calls still input-required after MAX_INPUT_ROUNDS
    asked_again: int = 0  # 2026 rounds that asked again for an input we had just given
    methods: Counter[str] = field(default_factory=Counter)  # server requests, by method
    failures: Counter[str] = field(default_factory=Counter)  # outcome name → count
    # progress = true: per call that finished, time to first progress and the longest gap
    progress_calls: int = 0
    progress_events: int = 0
    without_progress: int = 0  # finished without a single progress notification
    first_progress_us: array[int] = field(default_factory=lambda: array("q"))
    max_gap_us: array[int] = field(default_factory=lambda: array("q"))
    # cancel_after: calls cut at that time (and so cancelled), and calls that beat it
    cancel_after: float | None = None
    cancelled: int = 0
    finished_before_cancel: int = 0
    # task = true: what became of each task, and how long to accepted and to its result
    tasks: Counter[str] = field(default_factory=Counter)  # completed, failed, stuck, lost, …
    task_polls: int = 0
    task_input_rounds: int = 0  # times a task stopped for input (status input_required)
    task_accepted_us: array[int] = field(default_factory=lambda: array("q"))
    task_completed_us: array[int] = field(default_factory=lambda: array("q"))


class TwoWayConnection:
    """Wraps an open Connection whose transport answers server requests with `responder`."""

    def __init__(self, inner: Connection, responder: Responder) -> None:
        self.inner = inner
        self.responder = responder
        self.calls: dict[str, TwoWayCalls] = {}  # by operation
        self._tokens = 0

    @property
    def protocol_version(self) -> str:
        return self.inner.protocol_version

    @property
    def server_info(self) -> dict[str, Any]:
        return self.inner.server_info

    @property
    def pid(self) -> int | None:
        return self.inner.pid

    def statistics(self) -> Any:
        return getattr(self.inner, "statistics")()  # noqa: B009 - transports differ

    def __getattr__(self, name: str) -> Any:
        # Transport-specific counters (failures, write_pauses, …) read through the wrapper.
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<TwoWayConnection {self.inner!r} methods={sorted(self.calls)}>"

    async def aclose(self) -> None:
        await self.inner.aclose()

    def measure_from_now(self) -> None:
        """Forget the figures so far: the measured load starts (pre-flight and warm-up done)."""
        self.calls = {}
        self.responder.reset()

    async def _run_task(
        self, reply: Reply, poll: float, started: float, timeout: float | None
    ) -> tuple[Reply, _TaskFigures]:
        return await _poll_task(self.inner, reply, poll, started, timeout)

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        responder = self.responder
        task_poll: float | None = None
        token: str | None = None
        cancel_after: float | None = None
        meta = params.get("_meta") if params is not None else None
        operation: str | None = None
        if params is not None and isinstance(meta, dict) and any(k in meta for k in _PRIVATE):
            meta = dict(meta)
            named = meta.pop(OPERATION_KEY, None)
            operation = named if isinstance(named, str) else None
            if meta.pop(PROGRESS_KEY, False):
                self._tokens += 1
                token = f"readiness-{self._tokens}"
                meta["progressToken"] = token
            cancel_after = meta.pop(CANCEL_AFTER_KEY, None)
            task_poll = meta.pop(TASK_KEY, None)
            if task_poll is not None:
                params = {**params, "task": {}}
            if cancel_after is not None:
                # Cut by the request timeout: the transport then sends notifications/cancelled
                # (stdio) or closes the stream (HTTP), as it does for any request given up.
                timeout = cancel_after if timeout is None else min(timeout, cancel_after)
            params = (
                {**params, "_meta": meta}
                if meta
                else {k: v for k, v in params.items() if k != "_meta"}
            )
        watch = responder.watch(token) if token is not None else None
        ledger = CallLedger()
        context = CURRENT_CALL.set(ledger)
        responder.begin(ledger)
        started = _perf()
        rounds = 0
        answered: set[str] = set()
        asked_again = 0
        try:
            reply = await self.inner.request(method, params, timeout=timeout)
            if task_poll is not None:
                reply, task_figures = await self._run_task(reply, task_poll, started, timeout)
            while (asked := _input_required(reply)) is not None:
                if rounds == MAX_INPUT_ROUNDS:
                    detail = f"server still required input after {rounds} rounds"
                    reply = Reply(Outcome.RPC_ERROR, None, None, detail)
                    break
                rounds += 1
                requests, state = asked
                asked_again += bool(answered & requests.keys())
                answers = {}
                for key, asked_request in requests.items():
                    answer = await responder.result_for(
                        str(asked_request.get("method")), asked_request.get("params")
                    )
                    if "error" not in answer:
                        answers[key] = answer
                answered = set(answers)
                retry = {k: v for k, v in (params or {}).items() if k != "inputResponses"}
                retry["inputResponses"] = answers
                if state is not None:
                    retry["requestState"] = state
                reply = await self.inner.request(method, retry, timeout=timeout)
        finally:
            elapsed = _perf() - started
            CURRENT_CALL.reset(context)
            responder.end(ledger)
        cancelled = cancel_after is not None and reply.outcome is Outcome.TIMEOUT
        if token is not None:
            responder.unwatch(token, cancelled=cancelled)
        if cancelled:
            # Cancelled on purpose: not a server failure; its time is the time to cancel.
            reply = Reply(Outcome.OK, {"content": [], "cancelled": True})
        if operation is None:
            name = params.get("name") if params is not None else None
            operation = f"{method} {name}" if isinstance(name, str) else method
        calls = self.calls.get(operation)
        if calls is None:
            calls = self.calls[operation] = TwoWayCalls()
        if reply.outcome is Outcome.OK:
            calls.end_to_end_us.append(int(elapsed * 1e6))
            calls.client_us.append(int(ledger.client_seconds * 1e6))
            calls.server_requests.append(ledger.server_requests)
        else:
            calls.failures[reply.outcome.name.lower()] += 1
        calls.input_rounds += rounds
        calls.asked_again += asked_again
        calls.methods.update(ledger.methods)
        if rounds == MAX_INPUT_ROUNDS and reply.result is None:
            calls.unfinished_rounds += 1
        if cancel_after is not None:
            calls.cancel_after = cancel_after
            if cancelled:
                calls.cancelled += 1
            else:
                calls.finished_before_cancel += 1
        if task_poll is not None:
            outcome, polls, accepted, completed, stops = task_figures
            calls.tasks[outcome] += 1
            calls.task_polls += polls
            calls.task_input_rounds += stops
            if accepted is not None:
                calls.task_accepted_us.append(int(accepted * 1e6))
            if completed is not None:
                calls.task_completed_us.append(int(completed * 1e6))
        if watch is not None and not cancelled:
            _progress_figures(calls, watch.started, watch.events)
        return reply


_TaskFigures = tuple[str, int, float | None, float | None, int]


async def _poll_task(
    conn: Connection, reply: Reply, poll: float, started: float, timeout: float | None
) -> tuple[Reply, _TaskFigures]:
    """Follow a created task to its result: (the result's reply, (what became of it, polls,
    seconds to accepted, seconds to completion, times it stopped for input)).

    A task that stops for input (`input_required`) gets it through tasks/result, whose stream
    carries the server's requests (answered by the simulated client, counted on the call's
    ledger); every such request is one input round of the task."""
    result = reply.result
    task = result.get("task") if result is not None else None
    if reply.outcome is not Outcome.OK or not isinstance(task, dict):
        outcome = "not_created" if reply.outcome is Outcome.OK else "failed"
        return reply, (outcome, 0, None, None, 0)
    accepted = _perf() - started
    task_id = task.get("taskId")
    server_poll = task.get("pollInterval")
    if not poll:
        poll = server_poll / 1000 if isinstance(server_poll, int | float) else DEFAULT_POLL_S
    poll = max(poll, MIN_POLL_S)
    polls = 0
    status = task.get("status")
    while status not in _TERMINAL and status != "input_required":
        if _perf() - started > TASK_DEADLINE_S:
            stuck = Reply(Outcome.TIMEOUT, None, None, f"task still {status!r} at the deadline")
            return stuck, ("stuck", polls, accepted, None, 0)
        await anyio.sleep(poll)
        polls += 1
        got = await conn.request("tasks/get", {"taskId": task_id}, timeout=timeout)
        if got.outcome is not Outcome.OK or got.result is None:
            return got, ("lost", polls, accepted, None, 0)
        status = got.result.get("status")
    # tasks/result waits for the end (answering any input the task asks for on the way).
    ledger = CURRENT_CALL.get()
    asked_before = ledger.server_requests if ledger is not None else 0
    final = await conn.request("tasks/result", {"taskId": task_id}, timeout=timeout)
    completed = _perf() - started
    stops = (ledger.server_requests - asked_before) if ledger is not None else 0
    if status == "input_required":
        stops = max(stops, 1)
    if status in ("failed", "cancelled"):
        return final, (str(status), polls, accepted, completed, stops)
    outcome = "completed" if final.outcome is Outcome.OK else "failed"
    return final, (outcome, polls, accepted, completed, stops)


def _progress_figures(calls: TwoWayCalls, started: float, events: list[float]) -> None:
    calls.progress_calls += 1
    calls.progress_events += len(events)
    if not events:
        calls.without_progress += 1
        return
    calls.first_progress_us.append(int((events[0] - started) * 1e6))
    gaps = [b - a for a, b in pairwise(events)]
    calls.max_gap_us.append(int(max(gaps, default=0.0) * 1e6))


def _input_required(reply: Reply) -> tuple[dict[str, dict[str, Any]], str | None] | None:
    result = reply.result
    if result is None or result.get("resultType") != "input_required":
        return None
    requests = result.get("inputRequests")
    state = result.get("requestState")
    asked = (
        {k: v for k, v in requests.items() if isinstance(v, dict)}
        if isinstance(requests, dict)
        else {}
    )
    return asked, state if isinstance(state, str) else None
