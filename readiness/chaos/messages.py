"""The messages an interposer reads and writes itself: what a request is (method, tool, id),
and the replies that stand in for the server's (injected errors, malformed replies).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from readiness.chaos.faults import ErrorFault
from readiness.protocol.jsonrpc import TRANSPORT_MARKER_KEY

RequestId = str | int | float | None


class RequestInfo:
    """What fault selection needs to know about one client request."""

    __slots__ = ("method", "request_id", "tool")

    def __init__(self, method: str, tool: str | None, request_id: RequestId) -> None:
        self.method = method
        self.tool = tool
        self.request_id = request_id


# Requests the relay answers itself, never forwarded: they let the client that started it line
# the faults' time windows up with its load and read its counts back.
CLOCK_METHOD = "readiness/chaos/start_clock"
STATS_METHOD = "readiness/chaos/statistics"


def control_reply(request_id: RequestId, result: dict[str, object]) -> bytes:
    """The relay's answer to one of its control requests (no newline)."""
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def inspect_message(message: Any) -> RequestInfo | None:
    """The request in a decoded JSON-RPC message; None for notifications, responses, batches."""
    if type(message) is not dict:
        return None
    method = message.get("method")
    request_id = message.get("id")
    if type(method) is not str or request_id is None:
        return None
    if type(request_id) not in (int, str, float):
        return None
    tool = None
    if method == "tools/call":
        params = message.get("params")
        name = params.get("name") if type(params) is dict else None
        tool = name if type(name) is str else None
    return RequestInfo(method, tool, request_id)


def error_reply(fault: ErrorFault, request_id: RequestId) -> bytes:
    """The JSON-RPC message an rpc or tool error fault answers with (no newline)."""
    if fault.kind == "tool":
        result = {"content": [{"type": "text", "text": fault.message}], "isError": True}
        return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    error = {"code": fault.code, "message": fault.message}
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


# The JSON-RPC error the relay answers for a server that is gone (the implementation-defined
# "server error" range); readiness tells it from a server's own by the marker in its data.
SERVER_GONE = -32000


def server_gone_reply(request_id: RequestId, message: str, marker: str | None) -> bytes:
    """The relay's answer to a request its server will never answer (no newline): marked in
    `error.data` with the client's secret, so readiness counts it as a transport error."""
    data: dict[str, object] = {"reason": "server exited"}
    if marker is not None:
        data[TRANSPORT_MARKER_KEY] = marker
    error = {"code": SERVER_GONE, "message": message, "data": data}
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


NOT_JSON = b"readiness chaos: this reply is not JSON"


def malformed_reply(shape: Literal["invalid", "not_json"], request_id: RequestId) -> bytes:
    """A reply that is no JSON-RPC response (no newline)."""
    if shape == "not_json":
        return NOT_JSON
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "unexpected": "injected fault"})


def reply_id(message: Any) -> RequestId:
    """The id of a decoded response (None for requests, notifications and garbage)."""
    if type(message) is not dict or "method" in message:
        return None
    request_id = message.get("id")
    return request_id if type(request_id) in (int, str, float) else None
