"""How one request ended: exactly one classified outcome per request."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Outcome(IntEnum):
    """The class of a finished request. Integer-valued so the hot path can count cheaply."""

    OK = 0
    TOOL_ERROR = 1  # tools/call answered with isError: true (the tool ran and failed)
    RPC_ERROR = 2  # a JSON-RPC error object (see Reply.error_code)
    TIMEOUT = 3  # no reply within the request timeout
    TRANSPORT = 4  # refused, reset, process exited, HTTP failure, malformed or oversized reply
    REJECTED = 5  # refused by our own circuit breaker, never sent (the rate limiter waits)


OUTCOME_KEYS: dict[Outcome, str] = {
    Outcome.OK: "ok",
    Outcome.TOOL_ERROR: "tool_error",
    Outcome.RPC_ERROR: "rpc_error",
    Outcome.TIMEOUT: "timeout",
    Outcome.TRANSPORT: "transport",
    Outcome.REJECTED: "rejected",
}


class Reply:
    """The result of one request. A plain slotted class: one is made per request."""

    __slots__ = ("detail", "error", "error_code", "outcome", "result")

    def __init__(
        self,
        outcome: Outcome,
        result: dict[str, Any] | None = None,
        error_code: int | None = None,
        detail: str = "",
        error: dict[str, Any] | None = None,
    ) -> None:
        self.outcome = outcome
        self.result = result  # the result object (OK, TOOL_ERROR)
        self.error_code = error_code
        self.detail = detail
        self.error = error  # the JSON-RPC error object (RPC_ERROR), with its data if any

    def __repr__(self) -> str:
        extra = f" code={self.error_code}" if self.error_code is not None else ""
        extra += f" detail={self.detail!r}" if self.detail else ""
        return f"<Reply {self.outcome.name}{extra}>"


class OversizedReply(Reply):
    """A transport failure of our own making: the reply was over the client's `max_reply`
    bytes and was refused unread. The server did nothing wrong; callers tell it by its type."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__(Outcome.TRANSPORT, detail=f"reply exceeds {limit} bytes")
        self.limit = limit


class FailureTally:
    """How often each transport failure's detail was seen ("HTTP 500", "server closed its
    stdout"), for the report to say what happened; at most `limit` distinct details, the rest
    counted together under OTHER, so a server inventing a new message per reply stays cheap."""

    OTHER = "other transport errors"

    def __init__(self, limit: int = 16) -> None:
        self.counts: dict[str, int] = {}
        self._limit = limit

    def add(self, detail: str) -> None:
        detail = detail[:200]
        counts = self.counts
        if detail in counts:
            counts[detail] += 1
        elif len(counts) < self._limit:
            counts[detail] = 1
        else:
            counts[self.OTHER] = counts.get(self.OTHER, 0) + 1

    def __repr__(self) -> str:
        return f"<FailureTally {sum(self.counts.values())} in {len(self.counts)} kinds>"
