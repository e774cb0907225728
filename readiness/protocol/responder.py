"""The simulated client: the capabilities readiness declares (sampling, elicitation, roots) and
the answers it gives to what a server asks of them, with the simulated LLM's think time.

Every answer is measured: the time the client spent on it is charged to the tool call that
caused it (a CallLedger), so a report can separate the server's own time from the client's.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SIMULATED_METHODS = ("sampling/createMessage", "elicitation/create", "roots/list")
# Progress that arrives this soon after we cancelled may have crossed the cancellation on the
# wire: only later progress counts as the server working on after it was told to stop.
LATE_GRACE_S = 0.1
SEEN_LIMIT = 4096  # server request ids remembered to tell a request sent twice


class Delay(Protocol):
    """A latency distribution (readiness.config.latency's kinds satisfy it)."""

    def sample(self, rng: random.Random) -> float: ...


@dataclass(frozen=True)
class SamplingAnswer:
    """How the simulated LLM answers `sampling/createMessage`."""

    reply: str = "OK."
    latency: Delay | None = None
    model: str = "readiness-sim"
    stop_reason: str = "endTurn"
    reply_from: Literal["reply", "echo"] = "reply"  # echo: the last user message's text


class Schemas(Protocol):
    """Example values from a JSON Schema, and validation (readiness.init.synth offers both)."""

    def example(self, schema: Any) -> Any: ...

    def valid(self, value: Any, schema: Any) -> bool: ...


@dataclass(frozen=True)
class ElicitationAnswer:
    """How the simulated user answers `elicitation/create`: content is synthesised from the
    requestedSchema by `schemas` unless given, and validated by it before it is sent."""

    action: Literal["accept", "decline", "cancel"] = "accept"
    content: dict[str, Any] | None = None
    schemas: Schemas | None = None


@dataclass(frozen=True)
class ClientSimulation:
    """The client capabilities readiness declares and answers; None declares nothing."""

    sampling: SamplingAnswer | None = None
    elicitation: ElicitationAnswer | None = None
    roots: tuple[str, ...] | None = None
    seed: int | None = None

    def capabilities(self) -> dict[str, Any]:
        """The `capabilities` of initialize (and `_meta` clientCapabilities under 2026)."""
        declared: dict[str, Any] = {}
        if self.sampling is not None:
            declared["sampling"] = {}
        if self.elicitation is not None:
            declared["elicitation"] = {"form": {}}
        if self.roots is not None:
            declared["roots"] = {"listChanged": False}
        return declared


@dataclass
class CallLedger:
    """What one client request cost the client: server requests answered and time spent."""

    client_seconds: float = 0.0
    server_requests: int = 0
    methods: Counter[str] = field(default_factory=Counter)  # the server requests, by method


# The ledger of the request the current task is making (HTTP answers run in the caller's
# task, so they find it here; 2026 input-required rounds are run by the caller itself).
CURRENT_CALL: ContextVar[CallLedger | None] = ContextVar("readiness_call", default=None)


@dataclass
class ProgressWatch:
    """The progress notifications of one call that asked for them (a progressToken)."""

    started: float
    events: list[float] = field(default_factory=list)  # perf_counter() at each notification


@dataclass(frozen=True)
class ResponderStatistics:
    requests: dict[str, int]  # server-initiated requests by method
    client_seconds: dict[str, float]  # time spent answering them, by method
    failures: dict[str, int]  # answers we could not give, by reason
    unattributed: int  # answered while several calls were in flight on a stdio connection
    outside_calls: int = 0  # arrived while no call was in flight (e.g. right after initialize)
    late_progress: int = 0  # progress for a call already cancelled
    stray_progress: int = 0  # progress for a call already finished, or a token never sent
    duplicates: int = 0  # server requests whose id we had answered already (sent twice)
    # per cancelled call that went on reporting progress: seconds from the cancel to the last
    # progress it sent (how long the server kept working, as far as it shows)
    after_cancel_s: tuple[float, ...] = ()


@dataclass
class Responder:
    """Answers a connection's server-to-client requests as the simulation says."""

    simulation: ClientSimulation
    rng: random.Random = field(default_factory=random.Random)
    _ledgers: dict[int, CallLedger] = field(default_factory=dict)
    _requests: Counter[str] = field(default_factory=Counter)
    _seconds: dict[str, float] = field(default_factory=dict)
    _failures: Counter[str] = field(default_factory=Counter)
    _unattributed: int = 0
    _outside: int = 0
    _watches: dict[str, ProgressWatch] = field(default_factory=dict)
    _ended: dict[str, float | None] = field(default_factory=dict)  # token → cancelled at
    _late_progress: int = 0
    _stray_progress: int = 0
    _seen: dict[object, None] = field(default_factory=dict)  # recent server request ids
    _duplicates: int = 0
    _after_cancel: dict[str, float] = field(default_factory=dict)  # token → seconds

    def __post_init__(self) -> None:
        if self.simulation.seed is not None:
            self.rng.seed(self.simulation.seed)

    def begin(self, ledger: CallLedger) -> None:
        self._ledgers[id(ledger)] = ledger

    def end(self, ledger: CallLedger) -> None:
        self._ledgers.pop(id(ledger), None)

    def statistics(self) -> ResponderStatistics:
        return ResponderStatistics(
            dict(self._requests),
            dict(self._seconds),
            dict(self._failures),
            self._unattributed,
            self._outside,
            self._late_progress,
            self._stray_progress,
            self._duplicates,
            tuple(self._after_cancel.values()),
        )

    def reset(self) -> None:
        """Count from now on (the measured load starts; warm-up and pre-flight are done)."""
        self._requests.clear()
        self._seconds.clear()
        self._failures.clear()
        self._unattributed = self._outside = 0
        self._late_progress = self._stray_progress = self._duplicates = 0
        self._after_cancel.clear()

    def watch(self, token: str) -> ProgressWatch:
        """Collect the progress notifications that carry `token` until `unwatch`."""
        watch = self._watches[token] = ProgressWatch(time.perf_counter())
        return watch

    def unwatch(self, token: str, *, cancelled: bool) -> None:
        """The call ended; progress for it from now on is late (cancelled) or stray."""
        self._watches.pop(token, None)
        self._ended[token] = time.perf_counter() if cancelled else None

    def on_notification(self, message: dict[str, Any]) -> None:
        """A server notification: progress is timed against the call it belongs to."""
        if message.get("method") != "notifications/progress":
            return
        params = message.get("params")
        token = params.get("progressToken") if isinstance(params, dict) else None
        watch = self._watches.get(token) if isinstance(token, str) else None
        now = time.perf_counter()
        if watch is not None:
            watch.events.append(now)
            return
        cancelled_at = self._ended.get(token) if isinstance(token, str) else None
        if cancelled_at is None:
            self._stray_progress += 1
            return
        assert isinstance(token, str)
        after = now - cancelled_at
        self._after_cancel[token] = max(after, self._after_cancel.get(token, 0.0))
        if after > LATE_GRACE_S:
            self._late_progress += 1

    async def respond(self, message: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC response to one server request (after the simulated think time)."""
        self._note_id(message.get("id"))
        result = await self.result_for(str(message.get("method")), message.get("params"))
        if "error" in result:
            return {"jsonrpc": "2.0", "id": message.get("id"), "error": result["error"]}
        return {"jsonrpc": "2.0", "id": message.get("id"), "result": result}

    async def result_for(self, method: str, params: Any) -> dict[str, Any]:
        """The result for one request (`{"error": …}` when we cannot give one), measured and
        charged to the call that caused it."""
        started = time.perf_counter()
        self._requests[method] += 1
        try:
            result = await self._answer(method, params if isinstance(params, dict) else {})
        finally:
            spent = time.perf_counter() - started
            self._seconds[method] = self._seconds.get(method, 0.0) + spent
            ledger = self._ledger()
            if ledger is not None:
                ledger.client_seconds += spent
                ledger.server_requests += 1
                ledger.methods[method] += 1
        if "error" in result:
            self._failures[str(result["error"].get("message", "error"))] += 1
        return result

    def _note_id(self, request_id: object) -> None:
        if not isinstance(request_id, str | int):
            return
        if request_id in self._seen:
            self._duplicates += 1
            return
        self._seen[request_id] = None
        if len(self._seen) > SEEN_LIMIT:
            del self._seen[next(iter(self._seen))]

    def _ledger(self) -> CallLedger | None:
        ledger = CURRENT_CALL.get()
        if ledger is not None:
            return ledger
        # A stdio reader has no caller: charge the only call in flight, if there is one.
        if len(self._ledgers) == 1:
            return next(iter(self._ledgers.values()))
        if self._ledgers:
            self._unattributed += 1
        else:
            self._outside += 1
        return None

    async def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        sim = self.simulation
        if method == "ping":
            return {}
        if method == "sampling/createMessage" and sim.sampling is not None:
            return await self._sample(sim.sampling, params)
        if method == "elicitation/create" and sim.elicitation is not None:
            return _elicit(sim.elicitation, params)
        if method == "roots/list" and sim.roots is not None:
            return {"roots": [{"uri": uri} for uri in sim.roots]}
        return {"error": {"code": METHOD_NOT_FOUND, "message": f"client does not support {method}"}}

    async def _sample(self, answer: SamplingAnswer, params: dict[str, Any]) -> dict[str, Any]:
        if answer.latency is not None:
            await anyio.sleep(max(0.0, answer.latency.sample(self.rng)))
        text = answer.reply
        if answer.reply_from == "echo":
            text = _last_user_text(params.get("messages")) or text
        return {
            "role": "assistant",
            "content": {"type": "text", "text": text},
            "model": answer.model,
            "stopReason": answer.stop_reason,
        }


def _last_user_text(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            parts = content if isinstance(content, list) else [content]
            for part in parts:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    return str(part["text"])
    return None


def _elicit(answer: ElicitationAnswer, params: dict[str, Any]) -> dict[str, Any]:
    if answer.action != "accept":
        return {"action": answer.action}
    schema = params.get("requestedSchema")
    if not isinstance(schema, dict):
        schema = {"type": "object", "properties": {}}
    schemas = answer.schemas
    content = answer.content
    if content is None:
        content = schemas.example(schema) if schemas is not None else {}
    if not isinstance(content, dict) or (
        schemas is not None and not schemas.valid(content, schema)
    ):
        why = "elicitation content does not match the requestedSchema"
        return {"error": {"code": INVALID_PARAMS, "message": why}}
    return {"action": "accept", "content": content}
