"""The standalone GET stream of a Streamable HTTP session (2025 rules): where a server sends
requests and notifications that belong to no call of ours (server-everything's `roots/list`
right after initialize, `notifications/resources/updated` to subscribers).

Opened once the session is negotiated, for a target with a simulated client or one that
subscribes to resources. A server request that arrives on it is answered in a task of its own,
so a slow answer never stalls the stream. When the stream breaks it is opened again after the
server's `retry:` (or a short backoff), with `Last-Event-ID` when the server numbered its
events, so a resumable server can replay what was sent while we were away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import orjson
from anyio.abc import TaskGroup

from readiness.protocol.responder import CURRENT_CALL, CallLedger
from readiness.protocol.sse import SseParser

LAST_EVENT_ID = "Last-Event-ID"
SESSION_ID = "Mcp-Session-Id"
MAX_FAILURES = 5  # opens in a row that fail (not 405) before we stop trying
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
MAX_RETRY_S = 5.0  # a server's `retry:` is honoured up to this
# How long the caller waits for the first open to be answered before its load starts (a
# server that holds the stream's headers until its first event is not waited for longer).
READY_WAIT_S = 5.0


@dataclass
class StreamStatistics:
    """What the standalone stream carried; counters only, read by the two-way figures."""

    opened: int = 0  # successful opens (the first one and every reconnect)
    resumed: int = 0  # reconnects that sent Last-Event-ID
    refused: int | None = None  # the HTTP status with which the server declined it (405: none)
    failures: int = 0  # opens that failed, or streams that broke
    server_requests: int = 0
    notifications: int = 0
    replies: int = 0  # responses on it (a server replaying a call's stream here)
    malformed: int = 0


class StreamOpener(Protocol):
    """The connection side: open a GET stream with these headers; yields (status,
    Content-Type, body chunks); raises one of `stream_errors` when it cannot."""

    stream_errors: tuple[type[BaseException], ...]

    def listen_headers(self) -> dict[str, str]: ...

    def get_stream(
        self, headers: dict[str, str]
    ) -> AbstractAsyncContextManager[tuple[int, str, AsyncIterator[bytes]]]: ...

    async def answer_standalone(self, message: dict[str, Any]) -> None: ...

    def notified(self, message: dict[str, Any]) -> None: ...

    @property
    def closed(self) -> bool: ...


class StandaloneStream:
    """Keeps one session's GET stream open until the connection closes."""

    def __init__(self, opener: StreamOpener, limit: int) -> None:
        self._opener = opener
        self._limit = limit
        self._last_id: str | None = None
        self._session: str | None = None  # the session the last id belongs to
        self._retry_s: float | None = None
        # Answers given on this stream belong to no call: they are charged here.
        self.ledger = CallLedger()
        self.stats = StreamStatistics()
        self.ready = anyio.Event()  # the first open was answered (or failed)

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"<StandaloneStream opened={s.opened} requests={s.server_requests}"
            f" notifications={s.notifications} refused={s.refused}>"
        )

    async def run(self) -> None:
        """Listen until the connection closes; `ready` is set once the first open was
        answered (or failed), so the caller's load need not race the server's first message."""
        CURRENT_CALL.set(self.ledger)
        failures = 0
        backoff = FIRST_BACKOFF_S
        async with anyio.create_task_group() as answers:
            while not self._opener.closed and failures < MAX_FAILURES:
                opened = await self._listen(answers)
                self.ready.set()
                if self.stats.refused is not None:
                    break
                failures = 0 if opened else failures + 1
                wait = self._retry_s if self._retry_s is not None else backoff
                backoff = FIRST_BACKOFF_S if opened else min(backoff * 2, MAX_BACKOFF_S)
                await anyio.sleep(wait)
            self.ready.set()
            answers.cancel_scope.cancel()

    async def _listen(self, answers: TaskGroup) -> bool:
        """One open of the stream, read to its end; True when it was open at all."""
        headers = self._opener.listen_headers()
        session = headers.get(SESSION_ID)
        if session != self._session:  # re-initialised: the old session's ids mean nothing
            self._session, self._last_id = session, None
        if self._last_id is not None:
            headers[LAST_EVENT_ID] = self._last_id
            self.stats.resumed += 1
        opened = False
        try:
            async with self._opener.get_stream(headers) as (status, content_type, chunks):
                self.ready.set()
                if status == 405 or (status >= 300 and self.stats.opened == 0 and status < 500):
                    # 405 is the spec's "no stream here"; a first open refused outright
                    # (400, 404) means the server does not offer one either.
                    self.stats.refused = status
                    return False
                if status >= 300 or not content_type.startswith("text/event-stream"):
                    self.stats.failures += 1
                    return False
                opened = True
                self.stats.opened += 1
                await self._read(chunks, answers)
        except self._opener.stream_errors:
            if not self._opener.closed:
                self.stats.failures += 1
        return opened

    async def _read(self, chunks: AsyncIterator[bytes], answers: TaskGroup) -> None:
        parser = SseParser(self._limit)
        async for chunk in chunks:
            events = parser.feed(chunk)
            if parser.last_id is not None:
                self._last_id = parser.last_id
            if parser.retry_ms is not None:
                self._retry_s = min(parser.retry_ms / 1000, MAX_RETRY_S)
            if events is None:
                self.stats.malformed += 1  # one event over the reply cap: start afresh
                return
            for data in events:
                self._on_event(data, answers)

    def _on_event(self, data: bytes, answers: TaskGroup) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.stats.malformed += 1
            return
        if type(message) is not dict:
            self.stats.malformed += 1
            return
        if "method" not in message:
            self.stats.replies += 1
            return
        if message.get("id") is None:
            self.stats.notifications += 1
            self._opener.notified(message)
            return
        self.stats.server_requests += 1
        answers.start_soon(self._opener.answer_standalone, message)
